"""The Hydra configs: loss presets mirror train.losses, model presets come from conf/model/, recipes and
command-line overrides compose, and the builders turn the config into components."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from train.app import strip_launcher_args
from train.builders import (
    build_engine_spec,
    build_infonce,
    build_objective,
    build_optim_spec,
    build_step_config,
    dataset_specs,
)
from train.cli import CONF_DIR, compose_config
from train.engine import deepspeed_config
from train.losses import PRESETS
from train.optim import lr_factor


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_loss_yaml_mirrors_the_python_preset(name: str) -> None:
    loss = yaml.safe_load((CONF_DIR / "loss" / f"{name}.yaml").read_text(encoding="utf-8"))
    assert build_infonce(loss) == PRESETS[name]


def test_defaults_compose_with_model_presets_from_conf_model() -> None:
    c = compose_config(["data.datasets=[x.jsonl]"])
    assert c["model"]["name"] == "qwen3-tiny" and c["loss"]["preset"] == "qwen3"
    assert Path(c["output_dir"]).parts[:2] == ("runs", "train")
    assert build_objective(c).infonce == PRESETS["qwen3"]
    for name in ("me5-small", "qwen3-embedding-0.6b", "qwen3-embedding-4b", "qwen3-embedding-8b"):
        assert compose_config([f"model={name}"])["model"]["name"] == name


def test_overrides_and_recipes() -> None:
    c = compose_config(
        [
            "model=me5-small",
            "loss=mnrl",
            "loss.temperature=0.05",
            "loss.mrl.dims=[32,64,full]",
            "recipe=stage2",
            "trainer.max_steps=7",
            "deepspeed.zero_stage=3",
            "+deepspeed.extra.zero_optimization.overlap_comm=false",
        ]
    )
    assert c["model"]["prompts"] == {"query": "query: ", "document": "passage: "}
    objective = build_objective(c)
    assert objective.infonce == PRESETS["mnrl"].replace(temperature=0.05)
    assert objective.mrl_dims == (32, 64, "full")
    assert c["data"]["hard_negatives_k"] == 7 and c["finetune"]["method"] == "lora"  # from stage2
    assert [s.format for s in dataset_specs(c)] == ["jmteb", "tsumugi"]
    step = build_step_config(c)
    assert step.grad_cache and step.mini_batch_size == 64
    ds = deepspeed_config(build_engine_spec(c), 8, 3, build_optim_spec(c).max_grad_norm)
    assert ds["zero_optimization"] == {
        "stage": 3,
        "stage3_gather_16bit_weights_on_model_save": False,
        "overlap_comm": False,
    }
    # stage2 says bf16: auto, which is the hardware's training dtype: fp32 on every CPU
    assert ds["gradient_accumulation_steps"] == 3 and ds["bf16"] == {"enabled": False}
    pinned = compose_config(["recipe=stage2", "deepspeed.bf16=true"])
    assert deepspeed_config(build_engine_spec(pinned), 8, 1, 1.0)["bf16"] == {"enabled": True}
    stage1 = compose_config(["recipe=stage1"])
    assert stage1["data"]["hard_negatives_k"] == 0 and stage1["finetune"]["method"] == "full"


def test_launcher_arguments_are_dropped() -> None:
    assert strip_launcher_args(["prog", "--local_rank=1", "a=b", "--local_rank", "2", "c=d"]) == [
        "prog",
        "a=b",
        "c=d",
    ]


def test_schedule() -> None:
    assert lr_factor(0, 100, 10, "cosine", 0.0) == pytest.approx(0.1)
    assert lr_factor(10, 100, 10, "cosine", 0.0) == pytest.approx(1.0)
    assert lr_factor(100, 100, 10, "linear", 0.1) == pytest.approx(0.1)
    assert lr_factor(55, 100, 10, "cosine", 0.0) == pytest.approx(0.5)
    assert lr_factor(50, 100, 0, "constant", 0.0) == 1.0


def test_launch_scripts_build_the_right_commands(tmp_path) -> None:
    import os
    import subprocess

    scripts = CONF_DIR.parents[1] / "scripts"
    env = {**os.environ, "DRY_RUN": "1", "PYTHON": "python"}

    def run(*cmd: str, **extra: str) -> str:
        return subprocess.run(cmd, env={**env, **extra}, capture_output=True, text=True, check=True).stdout

    single = run(str(scripts / "launch_train.sh"), "model=me5-small", NPROC="2")
    assert (
        "torch.distributed.run --standalone --nnodes=1 --nproc_per_node=2 -m train model=me5-small" in single
    )
    ds = run(str(scripts / "launch_train.sh"), "a=b", NPROC="4", LAUNCHER="deepspeed")
    assert "deepspeed.launcher.runner --num_gpus 4 --module train a=b" in ds
    hostfile = tmp_path / "hostfile"
    hostfile.write_text("node-a slots=8\n# spare\nnode-b slots=8\n", encoding="utf-8")
    multi = run(str(scripts / "launch_multinode.sh"), str(hostfile), "a=b")
    assert f"--hostfile {hostfile} --master_addr node-a --master_port 29500 --module train a=b" in multi
    per_node = run(str(scripts / "launch_multinode.sh"), str(hostfile), LAUNCHER="torchrun", NODE_RANK="1")
    assert "--nnodes=2 --node_rank=1 --nproc_per_node=8 --master_addr=node-a" in per_node
