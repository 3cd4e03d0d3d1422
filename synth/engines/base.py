"""What every engine takes and returns: chat requests with an optional JSON schema -> completions with counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class ChatRequest:
    """One chat completion to run: messages, decoding limits, sampling seed and an optional JSON schema.

    ``top_k`` None (or 0) keeps the whole vocabulary; on CPU ``top_k`` with ``top_p=1`` avoids vLLM's full-vocabulary
    sort that top-p needs (2x decode speed for gemma-3's 262k vocabulary).
    """

    messages: list[dict]
    schema: dict | None = None
    max_tokens: int = 256
    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int | None = None
    seed: int | None = None


@dataclass
class Completion:
    """One engine answer: generated text, why it stopped, token counts, and an error message when it failed."""

    text: str
    finish_reason: str | None = None
    prompt_tokens: int = 0
    output_tokens: int = 0
    error: str | None = None


@dataclass
class EngineCounters:
    """Running totals an engine keeps: requests, prompt/output tokens, failures and seconds spent generating."""

    requests: int = 0
    prompt_tokens: int = 0
    output_tokens: int = 0
    failures: int = 0
    retries: int = 0
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    def add(self, completions: list[Completion], seconds: float) -> None:
        """Count a finished batch."""
        self.requests += len(completions)
        self.prompt_tokens += sum(c.prompt_tokens for c in completions)
        self.output_tokens += sum(c.output_tokens for c in completions)
        self.failures += sum(c.error is not None for c in completions)
        self.seconds += seconds

    def as_dict(self) -> dict:
        """Plain-dict view with output tokens/s."""
        tps = self.output_tokens / self.seconds if self.seconds > 0 else None
        return {
            "requests": self.requests,
            "prompt_tokens": self.prompt_tokens,
            "output_tokens": self.output_tokens,
            "failures": self.failures,
            "retries": self.retries,
            "seconds": round(self.seconds, 3),
            "output_tokens_per_s": round(tps, 2) if tps else None,
        }


class Engine(Protocol):
    """A batched chat-completion backend (vLLM offline, an OpenAI-compatible server, a test double)."""

    counters: EngineCounters

    def generate(self, requests: list[ChatRequest]) -> list[Completion]:
        """One completion per request, in order; failures come back as completions with ``error`` set."""
        ...

    def close(self) -> None:
        """Free the backend (GPU memory, worker processes, HTTP connections)."""
        ...
