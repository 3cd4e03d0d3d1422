"""The Hydra app: config composition (presets, engines) and all stages end to end with test doubles."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from synth_fakes import NgramEmbedder, ScriptedEngine

from synth import app
from synth.cli import CONF_DIR, to_plain


def compose(overrides):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return to_plain(hydra_compose(config_name="config", overrides=overrides))


@pytest.mark.parametrize("preset", ["demo", "pipeline", "ci", "gpu"])
def test_config_composes(preset, shared_data):
    cfg = compose([f"preset={preset}"])
    assert cfg["corpus"]["path"].endswith("jaquad/jmteb_format/train/corpus.jsonl")
    assert any(p.endswith("jaquad/jmteb_format/dev/corpus.jsonl") for p in cfg["corpus"]["exclude"])
    assert cfg["engine"]["kind"] == "vllm" and cfg["engine"]["disable_any_whitespace"] is True
    assert cfg["out_dir"] == f"runs/synth/{cfg['name']}"
    if preset in ("demo", "pipeline"):
        assert cfg["llm"]["model"] == "gemma3-270m" and cfg["llm"]["prompt_set"] == "base"
        assert cfg["llm"]["top_k"] == 64 and cfg["llm"]["top_p"] == 1.0  # no full-vocabulary sort on CPU
    if preset == "pipeline":  # the demo's settings, smaller (the preset extends demo)
        assert cfg["corpus"]["limit"] == 40 and cfg["tasks"]["sts"]["enabled"] is False
        assert cfg["mine"]["corpus_limit"] >= cfg["corpus"]["limit"] and cfg["filter"]["keep_fraction"] == 0.7
    openai = compose(["engine=openai", "engine.concurrency=4"])
    assert openai["engine"]["kind"] == "openai" and openai["engine"]["concurrency"] == 4


def test_all_stages_with_fakes(tmp_path, corpus_file, persona_file, monkeypatch):
    monkeypatch.setattr(app, "embedder", lambda cfg, name=None: NgramEmbedder())
    out = tmp_path / "run"
    cfg = compose(
        [
            f"out_dir={out}",
            f"corpus.path={corpus_file}",
            "corpus.exclude=[]",
            "corpus.min_chars=0",
            f"personas.path={persona_file}",
            "tasks.retrieval.per_passage=2",
            "tasks.sts.enabled=true",
            "tasks.bitext.enabled=true",
            "tasks.classification.enabled=true",
            "tasks.classification.per_label=1",
            "tasks.classification.only=[intent]",
            "filter.keep_fraction=0.75",
            "mine.num_negatives=2",
            "mine.margin=null",
            "generate.batch_size=7",
        ]
    )
    engine = ScriptedEngine()
    results = app.run(cfg, engine=engine)
    assert list(results) == ["generate", "filter", "mine", "export", "stats"]
    n_items = 6 * 2 + 6 + 6 + 6  # retrieval x2, sts, bitext, intent labels
    assert results["generate"]["attempted"] == n_items
    stats = json.loads((out / "stats.json").read_text())
    assert stats["generated"] + stats["rejected"] == n_items
    assert {"retrieval", "sts", "bitext", "classification"} <= set(stats["acceptance"])
    assert stats["filter"]["kept"] < stats["generated"] and stats["mine"]["queries"] > 0
    assert stats["mine"]["dropped_inconsistent"] == 0 and sum(stats["mine"]["positive_rank"].values()) > 0
    assert len(list((out / "cache").glob("corpus-*.npy"))) == 1
    train_manifest = json.loads((out / "train" / "manifest.json").read_text())
    assert set(train_manifest["files"]) == {"retrieval", "sts", "bitext", "classification/intent"}
    from train.data.readers import read_jsonl

    retrieval = read_jsonl(out / "train" / "retrieval.jsonl", fmt="tsumugi")
    assert len(retrieval) and all(len(r.negatives) == 2 for r in retrieval.records)
    assert all(r.instruction for r in retrieval.records)
    assert (out / "config.json").exists() and (out / "personas.jsonl").exists() is False
    assert (out / "persona_topk.json").exists() and (out / "stats.md").exists()
    # mining again with a consistency filter reuses the cached corpus embeddings and drops pairs
    strict = app.run({**cfg, "stages": ["mine", "export"], "mine": {**cfg["mine"], "max_positive_rank": 1}})
    assert strict["mine"]["dropped_inconsistent"] == strict["mine"]["queries"] - strict["mine"]["consistent"]
    assert strict["export"]["records"] == stats["export"]["records"] - strict["mine"]["dropped_inconsistent"]
    # resuming is a no-op; a changed generation setting is refused
    again = app.run({**cfg, "stages": ["generate"]}, engine=ScriptedEngine())
    assert again["generate"]["attempted"] == 0
    with pytest.raises(RuntimeError, match="fingerprint"):
        app.run({**cfg, "seed": 1, "stages": ["generate"]}, engine=ScriptedEngine())


def test_cli_prints_config():
    proc = subprocess.run(
        [sys.executable, "-m", "synth", "preset=demo", "--cfg", "job", "--resolve"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "gemma3-270m" in proc.stdout and "keep_fraction: 0.7" in proc.stdout


def test_build_engine_ignores_other_engines_settings(caplog):
    from synth.engines import build_engine
    from synth.engines.openai_server import OpenAIServerEngine

    cfg = compose(["preset=demo", "engine=openai", "engine.base_url=http://127.0.0.1:9/v1"])
    eng = build_engine(cfg["engine"], cfg["llm"]["model"], None)
    assert isinstance(eng, OpenAIServerEngine) and eng.model == "gemma3-270m"
    assert "ignores settings ['dtype', 'enforce_eager', 'max_model_len']" in caplog.text
    eng.close()
    with pytest.raises(ValueError, match="unknown engine"):
        build_engine({"kind": "nope"}, "m", None)


def test_edited_prompt_refuses_resume(tmp_path, corpus_file, persona_file, monkeypatch):
    import shutil

    from synth.prompts import PROMPTS_DIR

    monkeypatch.setattr(app, "embedder", lambda cfg, name=None: NgramEmbedder())
    prompts = tmp_path / "prompts"
    shutil.copytree(PROMPTS_DIR / "default", prompts)
    cfg = compose(
        [
            f"out_dir={tmp_path / 'run'}",
            f"corpus.path={corpus_file}",
            "corpus.exclude=[]",
            "corpus.min_chars=0",
            f"personas.path={persona_file}",
            f"llm.prompt_set={prompts}",
            "stages=[generate]",
        ]
    )
    assert app.run(cfg, engine=ScriptedEngine())["generate"]["accepted"] == 6
    (prompts / "retrieval_query.txt").write_text("{{passage}} {{character}} -> query?", encoding="utf-8")
    with pytest.raises(RuntimeError, match="fingerprint"):
        app.run(cfg, engine=ScriptedEngine())
