"""The OpenAI-compatible engine against vLLM's real api_server (CPU build) serving qwen3-tiny-lm on 127.0.0.1.

One server per module. The crash test SIGKILLs a running ``python -m synth`` (engine=openai) mid-generation and
resumes it: the shards must then hold every unit exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from embed.hardware import choose_dtype

pytest.importorskip("vllm")
httpx = pytest.importorskip("httpx")

from synth.engines.base import ChatRequest  # noqa: E402
from synth.engines.openai_server import OpenAIServerEngine  # noqa: E402

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from embed.bootstrap.registry import resolve_model

    port = _free_port()
    log_path = tmp_path_factory.mktemp("server") / "server.log"
    cmd = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        resolve_model("qwen3-tiny-lm"),
        "--served-model-name",
        "tiny",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--dtype",
        choose_dtype("auto", "generate").name,
        "--max-model-len",
        "2048",
        "--enforce-eager",
        "--no-enable-chunked-prefill",
        "--max-num-batched-tokens",
        "8192",
        "--structured-outputs-config",
        '{"backend": "xgrammar", "disable_any_whitespace": true}',
    ]
    log = log_path.open("w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 600
        while time.time() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"api_server exited ({proc.returncode}); see {log_path}")
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        else:
            pytest.fail(f"api_server not healthy in time; see {log_path}")
        yield url + "/v1"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@pytest.mark.parametrize("mode", ["json_schema", "structured_outputs"])
def test_server_structured_output(server, mode):
    schema = {
        "type": "object",
        "properties": {"Query": {"type": "string", "minLength": 1, "maxLength": 12}},
        "required": ["Query"],
        "additionalProperties": False,
    }
    eng = OpenAIServerEngine(
        server, "tiny", concurrency=4, structured=mode, chat_template_kwargs={"enable_thinking": False}
    )
    reqs = [
        ChatRequest([{"role": "user", "content": f"質問を書いて {i}"}], schema=schema, max_tokens=48, seed=i)
        for i in range(6)
    ]
    outs = eng.generate(reqs)
    for o in outs:
        assert o.error is None and o.finish_reason == "stop", o
        obj = json.loads(o.text, strict=False)
        assert set(obj) == {"Query"} and 1 <= len(obj["Query"]) <= 12
        assert o.prompt_tokens > 0 and o.output_tokens > 0
    assert eng.counters.requests == 6
    eng.close()


def _overrides(server: str, out: Path, corpus: Path, personas: Path) -> list[str]:
    return [
        "preset=ci",
        "engine=openai",
        f"engine.base_url={server}",
        "engine.served_model_name=tiny",
        "engine.concurrency=8",
        f"out_dir={out}",
        f"corpus.path={corpus}",
        "corpus.exclude=[]",
        "corpus.min_chars=0",
        f"personas.path={personas}",
        "embedding.model=qwen3-tiny",
    ]


def _compose(overrides: list[str]) -> dict:
    from hydra import compose, initialize_config_dir

    from synth.cli import CONF_DIR, to_plain

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return to_plain(compose(config_name="config", overrides=overrides))


def test_pipeline_through_server(server, tmp_path, corpus_file, persona_file):
    from synth import app
    from synth.store import iter_generated, iter_rejects

    out = tmp_path / "run"
    app.run(_compose([*_overrides(server, out, corpus_file, persona_file), "stages=[generate,stats]"]))
    recs, rejects = list(iter_generated(out)), list(iter_rejects(out))
    assert len(recs) + len(rejects) == 6 and len(recs) >= 5
    assert not [r for r in rejects if r["reason"] in ("invalid_json", "schema", "engine_error")]


def test_resume_after_sigkill(server, tmp_path, corpus_file, persona_file):
    from synth import app
    from synth.store import iter_generated, iter_rejects, read_jsonl

    out, per_passage = tmp_path / "killed", 4
    overrides = [
        *_overrides(server, out, corpus_file, persona_file),
        f"tasks.retrieval.per_passage={per_passage}",
        "generate.batch_size=2",
        "stages=[generate]",
    ]
    log = (tmp_path / "child.log").open("w")
    child = subprocess.Popen(
        [sys.executable, "-m", "synth", *overrides],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    shard = out / "generated" / "w00" / "records-00000.jsonl"
    deadline = time.time() + 600
    try:
        while time.time() < deadline and child.poll() is None:
            if shard.exists() and len(shard.read_bytes().splitlines()) >= 2:
                break
            time.sleep(0.1)
        assert child.poll() is None, f"child ended early: see {tmp_path / 'child.log'}"
        os.killpg(child.pid, signal.SIGKILL)  # no cleanup: requests in flight, files possibly mid-write
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
        log.close()
    before = {r["id"] for r in read_jsonl(shard)} | {r["id"] for r in iter_rejects(out)}
    total = 6 * per_passage
    assert 0 < len(before) < total, "the kill must land mid-run"
    # generate.* is not part of the fingerprint: the resume may use larger batches
    result = app.run(_compose([*overrides, "generate.batch_size=12"]))["generate"]
    assert result["skipped_done"] >= len(before) and result["attempted"] == total - result["skipped_done"]
    ids = [r["id"] for r in iter_generated(out)] + [r["id"] for r in iter_rejects(out)]
    assert len(ids) == len(set(ids)) == total  # nothing lost, nothing twice
    manifest = json.loads((out / "generated" / "w00" / "manifest.json").read_text())
    assert manifest["complete"] and manifest["done"] == total
