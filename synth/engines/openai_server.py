"""Any OpenAI-compatible chat server (vLLM's api_server, SGLang, hosted APIs): concurrent requests, retries.

Structured output is requested three ways, chosen by ``structured``: ``json_schema`` (OpenAI
``response_format``), ``structured_outputs`` (vLLM's ``extra_body`` field) or ``json_object``. vLLM's old
``guided_json`` is ignored by current servers (environment.md §4), so it is not offered.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from synth.engines.base import ChatRequest, Completion, EngineCounters

log = logging.getLogger(__name__)

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
STRUCTURED_MODES = ("json_schema", "structured_outputs", "json_object", "none")


class RetryableError(Exception):
    """A failure worth retrying (connection error, timeout, 429 or 5xx); ``retry_after`` from the server."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base * 2**attempt)]."""
    return rng.uniform(0.0, min(cap, base * (2**attempt)))


class OpenAIServerEngine:
    """Chat completions against ``{base_url}/chat/completions`` with a thread pool and retries with backoff."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        concurrency: int = 16,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        timeout: float = 300.0,
        structured: str = "json_schema",
        chat_template: str | None = None,
        chat_template_kwargs: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        seed: int = 0,
    ) -> None:
        import httpx

        if structured not in STRUCTURED_MODES:
            raise ValueError(f"structured must be one of {STRUCTURED_MODES}, got {structured!r}")
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.backoff_base, self.backoff_max = backoff_base, backoff_max
        self.structured = structured
        self.chat_template = chat_template
        self.chat_template_kwargs = dict(chat_template_kwargs or {})
        self.extra_body = dict(extra_body or {})
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self.client = httpx.Client(headers=headers, timeout=timeout, limits=limits)
        self.counters = EngineCounters()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def payload(self, req: ChatRequest) -> dict:
        """The JSON body of one request."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": req.messages,
            "max_tokens": req.max_tokens,
            "temperature": req.temperature,
            "top_p": req.top_p,
        }
        if req.top_k:
            body["top_k"] = req.top_k  # vLLM and SGLang accept it; OpenAI itself does not
        if req.seed is not None:
            body["seed"] = req.seed
        if req.schema is not None:
            if self.structured == "json_schema":
                body["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": "output", "schema": req.schema, "strict": True},
                }
            elif self.structured == "structured_outputs":
                body["structured_outputs"] = {"json": req.schema}
            elif self.structured == "json_object":
                body["response_format"] = {"type": "json_object"}
        if self.chat_template is not None:
            body["chat_template"] = self.chat_template
        if self.chat_template_kwargs:
            body["chat_template_kwargs"] = self.chat_template_kwargs
        body.update(self.extra_body)
        return body

    def _post(self, body: dict) -> dict:
        import httpx

        try:
            resp = self.client.post(self.url, json=body)
        except (httpx.TransportError, httpx.TimeoutException) as err:
            raise RetryableError(f"{type(err).__name__}: {err}") from None
        if resp.status_code in RETRY_STATUS:
            retry_after = resp.headers.get("retry-after")
            try:
                delay = float(retry_after) if retry_after is not None else None
            except ValueError:
                delay = None
            raise RetryableError(f"HTTP {resp.status_code}: {resp.text[:200]}", delay)
        if resp.status_code >= 400:
            raise RuntimeError(f"HTTP {resp.status_code}: {resp.text[:300]}")
        try:
            return resp.json()
        except ValueError:
            raise RetryableError(f"unparsable response body: {resp.text[:200]}") from None

    def _one(self, req: ChatRequest) -> Completion:
        body = self.payload(req)
        for attempt in range(self.max_retries + 1):
            try:
                data = self._post(body)
                choice = data["choices"][0]
                usage = data.get("usage") or {}
                return Completion(
                    text=choice["message"].get("content") or "",
                    finish_reason=choice.get("finish_reason"),
                    prompt_tokens=int(usage.get("prompt_tokens") or 0),
                    output_tokens=int(usage.get("completion_tokens") or 0),
                )
            except RetryableError as err:
                if attempt == self.max_retries:
                    return Completion("", error=f"gave up after {attempt + 1} attempts: {err}")
                with self._lock:
                    self.counters.retries += 1
                    delay = backoff_delay(attempt, self.backoff_base, self.backoff_max, self._rng)
                if err.retry_after is not None:
                    delay = max(delay, min(err.retry_after, self.backoff_max))
                log.debug("retry %d in %.2f s: %s", attempt + 1, delay, err)
                time.sleep(delay)
            except (RuntimeError, KeyError, IndexError, TypeError) as err:
                return Completion("", error=f"{type(err).__name__}: {err}")
        raise AssertionError("unreachable")

    def generate(self, requests: list[ChatRequest]) -> list[Completion]:
        """All requests, ``concurrency`` at a time; results in request order."""
        if not requests:
            return []
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(requests))) as pool:
            results = list(pool.map(self._one, requests))
        self.counters.add(results, time.perf_counter() - t0)
        return results

    def close(self) -> None:
        """Close the HTTP connections."""
        self.client.close()
