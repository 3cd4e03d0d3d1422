"""Real vLLM (CPU build) integration: qwen3-tiny-lm with the real Qwen3 tokenizer and chat template.

Random weights produce gibberish, but structured output must still give schema-valid JSON (strings bounded by
``maxLength``) for every task's steps. One ``LLM`` is shared by the module (each costs ~20 s, 60+ s on a loaded
machine). The SIGKILL/resume test drives ``python -m synth`` against the real api_server instead
(test_synth_vllm_server.py): a killed child then costs no second engine start-up.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

pytest.importorskip("vllm")

from synth import app  # noqa: E402
from synth.store import iter_generated, iter_rejects  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engine():
    from embed.bootstrap.registry import resolve_model
    from synth.engines.vllm_offline import VLLMEngine

    eng = VLLMEngine(
        resolve_model("qwen3-tiny-lm"),
        dtype="auto",
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
        _overrides(tmp_path / "run", corpus_file, persona_file, 1, 24)
        + ["tasks.sts.enabled=true", "tasks.bitext.enabled=true", "stages=[generate,stats]"]
    )
    t0 = time.perf_counter()
    app.run(cfg, engine=engine)
    took = time.perf_counter() - t0
    recs, rejects = list(iter_generated(tmp_path / "run")), list(iter_rejects(tmp_path / "run"))
    assert len(recs) + len(rejects) == 6 + 6 + 6
    # JSON and schema never fail under structured output; only content checks may reject
    assert not [r for r in rejects if r["reason"] in ("invalid_json", "schema", "too_long", "engine_error")]
    assert len(recs) >= 14
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
    params = engine.sampling_params(ChatRequest(req.messages, schema, 32, top_p=1.0, top_k=64, seed=1))
    assert params.top_k == 64 and params.top_p == 1.0 and params.structured_outputs.json == schema
    assert engine.sampling_params(req).top_k in (0, -1)  # None: the whole vocabulary


def test_interrupted_run_resumes_in_process(engine, tmp_path, corpus_file, persona_file):
    out = tmp_path / "partial"
    overrides = _overrides(out, corpus_file, persona_file, per_passage=2, batch=4)
    first = app.run(_compose([*overrides, "generate.max_items=5"]), engine=engine)["generate"]
    shard = out / "generated" / "w00" / "records-00000.jsonl"
    head = shard.read_bytes()
    assert first["attempted"] == 5
    assert not json.loads((out / "generated" / "w00" / "manifest.json").read_text())["complete"]
    second = app.run(_compose(overrides), engine=engine)["generate"]
    assert second["skipped_done"] == 5 and second["attempted"] == 7
    assert shard.read_bytes().startswith(head)  # appended to, never rewritten
    ids = [r["id"] for r in iter_generated(out)] + [r["id"] for r in iter_rejects(out)]
    assert len(ids) == len(set(ids)) == 12
    assert json.loads((out / "generated" / "w00" / "manifest.json").read_text())["complete"]
