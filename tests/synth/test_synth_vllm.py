"""Real vLLM (CPU build) integration: qwen3-tiny-lm with the real Qwen3 tokenizer and chat template.

Random weights produce gibberish, but structured output must still give schema-valid JSON (strings bounded by
``maxLength``), and a generation run killed with SIGKILL must resume without losing or duplicating records.
One ``LLM`` is shared by the module (each costs ~20 s, far more on a loaded machine).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("vllm")

from synth import app  # noqa: E402
from synth.store import iter_generated, iter_rejects, read_jsonl  # noqa: E402

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def engine():
    from embed.bootstrap.registry import resolve_model
    from synth.engines.vllm_offline import VLLMEngine

    eng = VLLMEngine(
        resolve_model("qwen3-tiny-lm"),
        dtype="bfloat16",
        max_model_len=2048,
        enforce_eager=True,
        chat_template_kwargs={"enable_thinking": False},
    )
    yield eng
    eng.close()


def _overrides(out: Path, corpus: Path, personas: Path, per_passage: int, batch: int) -> list[str]:
    return [
        "preset=ci",
        f"out_dir={out}",
        f"corpus.path={corpus}",
        "corpus.exclude=[]",
        "corpus.min_chars=0",
        f"personas.path={personas}",
        "embedding.model=qwen3-tiny",
        f"tasks.retrieval.per_passage={per_passage}",
        f"generate.batch_size={batch}",
        "stages=[generate]",
    ]


def _compose(overrides):
    from hydra import compose, initialize_config_dir

    from synth.cli import CONF_DIR, to_plain

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return to_plain(compose(config_name="config", overrides=overrides))


def test_chat_rendering_uses_the_qwen3_template(engine):
    ids = engine.render([{"role": "user", "content": "こんにちは"}])
    text = engine.tokenizer.decode(ids)
    assert text.startswith("<|im_start|>user\nこんにちは<|im_end|>\n<|im_start|>assistant\n")
    assert "<think>" in text  # enable_thinking=False writes an empty think block


def test_structured_output_is_valid_json_for_every_step(engine, tmp_path, corpus_file, persona_file):
    cfg = _compose(
        _overrides(tmp_path / "run", corpus_file, persona_file, 2, 16)
        + ["tasks.sts.enabled=true", "tasks.bitext.enabled=true", "stages=[generate,stats]"]
    )
    t0 = time.perf_counter()
    app.run(cfg, engine=engine)
    took = time.perf_counter() - t0
    recs, rejects = list(iter_generated(tmp_path / "run")), list(iter_rejects(tmp_path / "run"))
    assert len(recs) + len(rejects) == 6 * 2 + 6 + 6
    # JSON and schema never fail under structured output; only content checks may reject
    assert not [r for r in rejects if r["reason"] in ("invalid_json", "schema", "too_long", "engine_error")]
    assert len(recs) >= 18
    for r in recs:
        for raw in r["raw"].values():
            assert isinstance(json.loads(raw, strict=False), dict)
        generated = (
            r["query"] if r["task"] == "retrieval" else r["positive"]
        )  # the others start from a sentence
        assert 0 < len(generated) <= 16
    cfg_out = [r for r in recs if r["task"] == "retrieval"]
    assert all(json.loads(r["raw"]["config"])["Question_Type"] == r["meta"]["question_type"] for r in cfg_out)
    stats = json.loads((tmp_path / "run" / "stats.json").read_text())
    assert stats["engine"]["output_tokens"] > 0 and stats["engine"]["output_tokens_per_s"] > 0
    print(f"\n{len(recs)} records, {len(rejects)} rejects in {took:.1f} s; engine {stats['engine']}")


def test_same_seed_same_output(engine):
    from synth.engines.base import ChatRequest

    schema = {"type": "object", "properties": {"a": {"type": "string", "maxLength": 8}}, "required": ["a"]}
    req = ChatRequest([{"role": "user", "content": "テスト"}], schema=schema, max_tokens=32, seed=42)
    a, b, c = engine.generate([req, req, ChatRequest(req.messages, schema, 32, seed=43)])
    assert a.text == b.text and json.loads(a.text)["a"] is not None
    assert a.output_tokens > 0 and a.prompt_tokens > 0 and a.finish_reason == "stop"
    assert c.text  # other seed: some other valid output


def test_resume_after_sigkill(engine, tmp_path, corpus_file, persona_file):
    out = tmp_path / "killed"
    overrides = _overrides(out, corpus_file, persona_file, per_passage=8, batch=2)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    log = (tmp_path / "child.log").open("w")
    child = subprocess.Popen(
        [sys.executable, "-m", "synth", *overrides],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    shard = out / "generated" / "w00" / "records-00000.jsonl"
    deadline = time.time() + 900
    try:
        while time.time() < deadline and child.poll() is None:
            if shard.exists() and len(shard.read_bytes().splitlines()) >= 3:
                break
            time.sleep(0.2)
        assert child.poll() is None, f"child ended early: see {tmp_path / 'child.log'}"
        os.killpg(child.pid, signal.SIGKILL)  # the run and vLLM's engine-core processes, no cleanup
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
        log.close()
    before = {r["id"] for r in read_jsonl(shard)} | {r["id"] for r in iter_rejects(out)}
    total = 6 * 8
    assert 0 < len(before) < total, "the kill must land mid-run"
    cfg = _compose(overrides)
    result = app.run(cfg, engine=engine)["generate"]
    assert result["skipped_done"] >= len(before) and result["attempted"] == total - result["skipped_done"]
    ids = [r["id"] for r in iter_generated(out)] + [r["id"] for r in iter_rejects(out)]
    assert len(ids) == len(set(ids)) == total  # nothing lost, nothing twice
    manifest = json.loads((out / "generated" / "w00" / "manifest.json").read_text())
    assert manifest["complete"] and manifest["done"] == total
