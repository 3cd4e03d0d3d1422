"""The OpenAI-compatible engine against vLLM's real api_server (CPU build) serving qwen3-tiny-lm on 127.0.0.1."""

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
        "bfloat16",
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


def test_pipeline_through_server(server, tmp_path, corpus_file, persona_file):
    from hydra import compose, initialize_config_dir

    from synth import app
    from synth.cli import CONF_DIR, to_plain
    from synth.store import iter_generated, iter_rejects

    overrides = [
        "preset=ci",
        "engine=openai",
        f"engine.base_url={server}",
        "engine.served_model_name=tiny",
        "engine.concurrency=8",
        f"out_dir={tmp_path / 'run'}",
        f"corpus.path={corpus_file}",
        "corpus.exclude=[]",
        "corpus.min_chars=0",
        f"personas.path={persona_file}",
        "embedding.model=qwen3-tiny",
        "stages=[generate,stats]",
    ]
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = to_plain(compose(config_name="config", overrides=overrides))
    app.run(cfg)
    recs, rejects = list(iter_generated(tmp_path / "run")), list(iter_rejects(tmp_path / "run"))
    assert len(recs) + len(rejects) == 6 and len(recs) >= 5
    assert not [r for r in rejects if r["reason"] in ("invalid_json", "schema", "engine_error")]
