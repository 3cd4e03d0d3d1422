"""The OpenAI-compatible client against a local HTTP test double: payload, concurrency, retries, give-up."""

from __future__ import annotations

import json
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

pytest.importorskip("httpx")

from synth.engines.base import ChatRequest  # noqa: E402
from synth.engines.openai_server import OpenAIServerEngine, backoff_delay  # noqa: E402

SCHEMA = {"type": "object", "properties": {"Query": {"type": "string"}}, "required": ["Query"]}


class FakeServer:
    """A chat-completions endpoint whose failures are scripted per request content."""

    def __init__(self, plan):
        self.plan = plan  # content -> list of statuses to return before succeeding
        self.bodies, self.active, self.max_active = [], 0, 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.bodies.append(body)
                    server.active += 1
                    server.max_active = max(server.max_active, server.active)
                    content = body["messages"][0]["content"]
                    statuses = server.plan.get(content, [])
                    status = statuses.pop(0) if statuses else 200
                time.sleep(0.05)
                with server.lock:
                    server.active -= 1
                if status != 200:
                    self.send_response(status)
                    if status == 429:
                        self.send_header("Retry-After", "0")
                    self.end_headers()
                    self.wfile.write(b'{"error": "scripted"}')
                    return
                reply = {
                    "choices": [
                        {
                            "message": {"content": json.dumps({"Query": content.upper()})},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 7, "completion_tokens": 5},
                }
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def server():
    s = FakeServer({"flaky": [500, 503], "limited": [429], "doomed": [500] * 10, "bad": [400]})
    yield s
    s.close()


def _req(content, schema=SCHEMA):
    return ChatRequest(messages=[{"role": "user", "content": content}], schema=schema, max_tokens=16, seed=3)


def test_concurrent_requests_in_order_with_retries(server):
    eng = OpenAIServerEngine(
        server.url,
        "m",
        concurrency=4,
        max_retries=3,
        backoff_base=0.01,
        backoff_max=0.05,
        chat_template="{{x}}",
        chat_template_kwargs={"enable_thinking": False},
    )
    contents = [f"q{i}" for i in range(10)] + ["flaky", "limited"]
    out = eng.generate([_req(c) for c in contents])
    assert [json.loads(o.text)["Query"] for o in out] == [c.upper() for c in contents]
    assert all(o.error is None and o.finish_reason == "stop" and o.output_tokens == 5 for o in out)
    assert 1 < server.max_active <= 4
    assert eng.counters.retries == 3 and eng.counters.requests == 12 and eng.counters.output_tokens == 60
    body = server.bodies[0]
    assert (
        body["response_format"]["type"] == "json_schema"
        and body["response_format"]["json_schema"]["schema"] == SCHEMA
    )
    assert body["seed"] == 3 and body["max_tokens"] == 16 and body["model"] == "m"
    assert body["chat_template"] == "{{x}}" and body["chat_template_kwargs"] == {"enable_thinking": False}
    eng.close()


def test_gives_up_and_does_not_retry_client_errors(server):
    eng = OpenAIServerEngine(
        server.url, "m", concurrency=2, max_retries=2, backoff_base=0.01, backoff_max=0.02
    )
    doomed, bad = eng.generate([_req("doomed"), _req("bad")])
    assert doomed.error and "3 attempts" in doomed.error and "HTTP 500" in doomed.error
    assert bad.error and "HTTP 400" in bad.error
    assert eng.counters.retries == 2 and eng.counters.failures == 2
    eng.close()


def test_connection_refused_is_an_engine_error():
    eng = OpenAIServerEngine("http://127.0.0.1:9/v1", "m", max_retries=1, backoff_base=0.01, backoff_max=0.01)
    (out,) = eng.generate([_req("x")])
    assert out.error and "ConnectError" in out.error
    eng.close()


@pytest.mark.parametrize(
    ("mode", "key"),
    [("structured_outputs", "structured_outputs"), ("json_object", "response_format"), ("none", None)],
)
def test_structured_output_modes(mode, key):
    eng = OpenAIServerEngine("http://127.0.0.1:9/v1", "m", structured=mode)
    body = eng.payload(_req("x"))
    if key:
        assert key in body
    if mode == "structured_outputs":
        assert body["structured_outputs"] == {"json": SCHEMA}
    if mode == "none":
        assert "response_format" not in body and "structured_outputs" not in body
    with pytest.raises(ValueError):
        OpenAIServerEngine("http://x/v1", "m", structured="guided_json")


def test_top_k_is_sent_only_when_set():
    from dataclasses import replace

    eng = OpenAIServerEngine("http://127.0.0.1:9/v1", "m")
    assert "top_k" not in eng.payload(_req("x"))
    assert eng.payload(replace(_req("x"), top_k=64))["top_k"] == 64


def test_backoff_is_bounded_full_jitter():
    rng = random.Random(0)
    delays = [backoff_delay(a, 0.5, 4.0, rng) for a in range(10) for _ in range(20)]
    assert all(0.0 <= d <= 4.0 for d in delays) and max(delays) > 2.0
