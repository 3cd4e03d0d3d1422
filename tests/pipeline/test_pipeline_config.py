"""The pipeline's Hydra config and the overrides it passes to each stage's app."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from pipeline.stages import hydra_value, overrides

CONF = str(Path(__file__).resolve().parents[2] / "conf" / "pipeline")


def _cfg(*over: str) -> dict:
    with initialize_config_dir(version_base="1.3", config_dir=CONF):
        return OmegaConf.to_container(compose("config", overrides=list(over)), resolve=True)


def test_hydra_values_round_trip_through_the_override_grammar():
    from hydra.core.override_parser.overrides_parser import OverridesParser

    value = {"path": "/tmp/a b/it's.jsonl", "weight": 1.0, "ids": [1, 2], "flag": True, "none": None}
    parsed = OverridesParser.create().parse_override(f"data.datasets={hydra_value([value])}")
    assert parsed.value() == [value]


def test_nested_sets_become_one_override_per_leaf_and_whole_values_stay_whole():
    got = overrides({"trainer": {"max_steps": 40, "save_every": 10}, "subsample": {"*": {"max_rows": 5}}})
    assert got == ["trainer.max_steps=40", "trainer.save_every=10", "subsample={*: {max_rows: 5}}"]


@pytest.mark.parametrize("scale", ["default", "ci", "gpu"])
def test_every_scale_composes_and_names_its_run_dir(scale):
    cfg = _cfg(f"scale={scale}")
    assert cfg["run_dir"] == f"runs/pipeline/{scale}"
    assert cfg["stages"] == ["synth", "stage1", "stage2", "merge", "eval"]
    assert cfg["merge"]["grid"], "a merge grid is configured"


def test_command_line_overrides_reach_nested_stage_settings():
    default = _cfg()["stage2"]["set"]
    cfg = _cfg("stage2.set.trainer.max_steps=400", "stages=[stage2,eval]")
    assert cfg["stage2"]["set"]["trainer"]["max_steps"] == 400 != default["trainer"]["max_steps"]
    # the rest of the scale's settings kept
    assert cfg["stage2"]["set"]["trainer"]["save_every"] == default["trainer"]["save_every"]
    assert cfg["stage2"]["set"]["data"] == default["data"]
    assert cfg["stages"] == ["stage2", "eval"]


def test_unknown_stage_is_a_clear_error(tmp_path):
    from pipeline.__main__ import run

    cfg = _cfg(f"run_dir={tmp_path}", "stages=[synth,bogus]")
    with pytest.raises(SystemExit, match="bogus"):
        run(cfg)


def test_merge_inputs_take_the_last_checkpoints_and_optionally_the_base():
    from pipeline.stages import merge_inputs

    ckpts = [f"runs/p/stage2/checkpoints/step-0000000{i}" for i in (2, 4, 6)] + ["runs/p/stage2/final"]
    cfg = {"model": "me5-small", "merge": {"last_n": 2}}
    assert merge_inputs(cfg, ckpts) == (ckpts[-2:], ["stage2/step-00000006", "stage2/final"])
    cfg["merge"]["with_base"] = True
    assert merge_inputs(cfg, ckpts) == (
        [*ckpts[-2:], "me5-small"],
        ["stage2/step-00000006", "stage2/final", "base"],
    )
    with pytest.raises(RuntimeError, match="two or more stage-2 checkpoints"):
        merge_inputs(cfg, ckpts[:1])


def test_summary_prints_the_summary_and_difference_tables_only():
    from pipeline.__main__ import leaderboard_head

    md = "# T\n\nintro\n\n## Summary\n\n| a |\n\n## Difference from base\n\n| d |\n\n## STS\n\n| s |\n"
    head = leaderboard_head(md)
    assert "| a |" in head and "| d |" in head and "| s |" not in head and "## STS" not in head
    assert head.startswith("# T")
    assert "| s |" not in leaderboard_head(md.replace("## Difference from base\n\n| d |\n\n", ""))
