"""``Reranker``: score (query, document) pairs with a causal-LM yes/no reranker or a cross-encoder.

- ``causal_lm`` (Qwen3-Reranker, gemma-3-270m, any ``*ForCausalLM``): the Qwen3-Reranker prompt
  (:mod:`embed.rerank.template`), the last position's logits of "yes" and "no", score = softmax over
  ``[no, yes]`` (the official code's version of the paper's formula). Only the last position goes through the LM
  head (``logits_to_keep=1``).
- ``cross_encoder`` (``*ForSequenceClassification`` with one label, e.g. me5-small with a fresh head): the pair
  encoding of the tokenizer, score = sigmoid(logit) (sentence-transformers' CrossEncoder default).

``score`` tokenises everything once, sorts pairs by length and cuts batches by a padded-token budget (as
``EmbeddingModel.encode`` does), shows a progress bar, and returns float64 scores in input order. ``forward`` is
the differentiable path the trainer uses. Folders: a Hugging Face model + tokenizer + ``tsumugi_reranker.json``
(kind, separator, instruction, answer tokens, max length), written atomically; a cross-encoder folder also loads
in sentence-transformers' ``CrossEncoder``, a causal one in transformers / vLLM as a plain causal LM.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from embed.atomic import atomic_dir
from embed.batching import plan_batches, token_budget
from embed.rerank.features import CausalEncoder, pad_encodings, pad_rows, pair_encode
from embed.rerank.template import DEFAULT_INSTRUCTION, RerankTemplate
from embed.rerank.tokens import LabelIds, resolve_label_ids

KINDS = ("causal_lm", "cross_encoder")
CONFIG_FILE = "tsumugi_reranker.json"
PROGRESS_MIN_PAIRS = 256


@dataclass(frozen=True)
class RerankerConfig:
    """How a folder is used as a reranker (saved as ``tsumugi_reranker.json``)."""

    kind: str = "causal_lm"
    field_sep: str = "\n"
    instruction: str = DEFAULT_INSTRUCTION
    yes_token: str = "yes"
    no_token: str = "no"
    max_length: int = 512

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"reranker kind must be one of {KINDS}, got {self.kind!r}")
        if self.max_length < 8:
            raise ValueError(f"reranker max_length must be >= 8, got {self.max_length}")

    @classmethod
    def read(cls, folder: Path) -> RerankerConfig | None:
        """The folder's ``tsumugi_reranker.json``, or None; ValueError names the file and the bad field."""
        path = folder / CONFIG_FILE
        if not path.is_file():
            return None
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as err:
            raise ValueError(f"{path}: invalid JSON ({err})") from err
        unknown = set(raw) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"{path}: unknown field(s) {sorted(unknown)}")
        try:
            return cls(**raw)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{path}: {err}") from err


def infer_kind(config) -> str:
    """``causal_lm`` for ``*ForCausalLM`` checkpoints and decoder backbones, else ``cross_encoder``."""
    from embed.model import is_decoder_config

    archs = list(getattr(config, "architectures", None) or [])
    if any(a.endswith("ForCausalLM") for a in archs):
        return "causal_lm"
    if any(a.endswith("ForSequenceClassification") for a in archs):
        return "cross_encoder"
    return "causal_lm" if is_decoder_config(config) else "cross_encoder"


def _accepts(module: nn.Module, name: str) -> bool:
    try:
        params = inspect.signature(module.forward).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


class Reranker(nn.Module):
    """A reranker: HF model, tokenizer and :class:`RerankerConfig`; ``score`` for inference, ``forward`` to train."""

    def __init__(
        self,
        model: nn.Module,
        tokenizer,
        config: RerankerConfig,
        source: Path | None = None,
        fresh: Sequence[str] = (),
    ) -> None:
        super().__init__()
        self.model, self.tokenizer, self.config, self.source = model, tokenizer, config, source
        self.fresh_parameters = frozenset(fresh)  # names in ``model`` initialised at load (a new head)
        self.template: RerankTemplate | None = None
        self.label_ids: LabelIds | None = None
        self._causal: CausalEncoder | None = None
        if tokenizer.pad_token is None and tokenizer.eos_token is not None:
            tokenizer.pad_token = tokenizer.eos_token
        if config.kind == "causal_lm":
            self.template = RerankTemplate(config.field_sep, default_instruction=config.instruction)
            self.label_ids = resolve_label_ids(tokenizer, config.yes_token, config.no_token)
            tokenizer.padding_side = "left"
            self._causal = CausalEncoder(tokenizer, self.template, config.max_length)
            self._keep_last = _accepts(model, "logits_to_keep")
        elif getattr(model.config, "num_labels", 1) != 1:
            raise ValueError(
                f"a cross-encoder reranker needs one output label, got {model.config.num_labels}"
            )

    # ----------------------------------------------------------------- loading
    @classmethod
    def load(
        cls,
        name_or_path: str | Path,
        *,
        kind: str | None = None,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = None,
        max_length: int | None = None,
        field_sep: str | None = None,
        instruction: str | None = None,
        yes_token: str | None = None,
        no_token: str | None = None,
    ) -> Reranker:
        """A local folder, short name or cached hub id; the folder's ``tsumugi_reranker.json`` unless overridden.

        Without that file the kind comes from the checkpoint (``*ForCausalLM`` or decoder: causal_lm; else a
        cross-encoder, with a fresh one-logit head on a bare encoder such as me5-small). Safetensors only.
        """
        from transformers import (
            AutoConfig,
            AutoModelForCausalLM,
            AutoModelForSequenceClassification,
            AutoTokenizer,
        )

        from embed.model import resolve_device, resolve_dtype
        from embed.resolve import ModelLoadError, check_weights, resolve_folder
        from embed.st_layout import read_st_layout

        folder = resolve_folder(name_or_path)
        try:
            layout = read_st_layout(folder)
            saved = RerankerConfig.read(folder)
        except ValueError as err:
            raise ModelLoadError(str(err)) from err
        sub = folder / (layout.transformer_path if layout else "")
        check_weights(sub)
        hf_config = AutoConfig.from_pretrained(str(sub))
        overrides = {
            k: v
            for k, v in dict(
                kind=kind,
                max_length=max_length,
                field_sep=field_sep,
                instruction=instruction,
                yes_token=yes_token,
                no_token=no_token,
            ).items()
            if v is not None
        }
        config = replace(saved or RerankerConfig(kind=infer_kind(hf_config)), **overrides)
        dev = resolve_device(device)
        dt = resolve_dtype(dtype, dev)
        kwargs = dict(dtype=dt, use_safetensors=True, output_loading_info=True)
        if config.kind == "causal_lm":
            model, info = AutoModelForCausalLM.from_pretrained(str(sub), **kwargs)
        else:
            archs = list(getattr(hf_config, "architectures", None) or [])
            if not any(a.endswith("ForSequenceClassification") for a in archs):
                kwargs["num_labels"] = 1  # a bare encoder: fresh one-logit head
            model, info = AutoModelForSequenceClassification.from_pretrained(str(sub), **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(str(sub))
        fresh = sorted(info.get("missing_keys") or ())
        return cls(model.to(dev).eval(), tokenizer, config, source=folder, fresh=fresh)

    # ------------------------------------------------------------- properties
    @property
    def kind(self) -> str:
        """``causal_lm`` or ``cross_encoder``."""
        return self.config.kind

    @property
    def max_length(self) -> int:
        """Tokens per input, template included."""
        return self.config.max_length

    @property
    def device(self) -> torch.device:
        """Where the weights are."""
        return next(self.model.parameters()).device

    def __repr__(self) -> str:
        return (
            f"Reranker(kind={self.kind!r}, model={type(self.model).__name__}, max_length={self.max_length})"
        )

    # ----------------------------------------------------------- tokenisation
    def encode_pairs(
        self,
        queries: Sequence[str],
        documents: Sequence[str],
        *,
        instruction: str | None = None,
        formatted: bool = False,
    ) -> list:
        """Unpadded encodings of pairs; ``formatted``: causal-LM parts already carry their field prompts."""
        if len(queries) != len(documents):
            raise ValueError(f"{len(queries)} queries for {len(documents)} documents")
        if self._causal is None:
            return pair_encode(self.tokenizer, queries, documents, self.max_length)
        t = self.template
        if formatted:
            bodies = [t.join(q, d) for q, d in zip(queries, documents)]
        else:
            bodies = [t.body(q, d, instruction) for q, d in zip(queries, documents)]
        return self._causal.encode(bodies)

    def collate(self, encodings: Sequence) -> dict[str, torch.Tensor]:
        """One padded batch on the model's device."""
        if self._causal is not None:
            features = pad_rows(encodings, self.tokenizer.pad_token_id, left=True)
        else:
            features = pad_encodings(self.tokenizer, encodings)
        return {k: v.to(self.device) for k, v in features.items()}

    def features(
        self,
        queries: Sequence[str],
        documents: Sequence[str],
        *,
        instruction: str | None = None,
        formatted=False,
    ) -> dict[str, torch.Tensor]:
        """Padded model inputs of pairs (input order)."""
        return self.collate(
            self.encode_pairs(queries, documents, instruction=instruction, formatted=formatted)
        )

    # ----------------------------------------------------------------- forward
    def forward(self, features: dict[str, torch.Tensor], full_vocab: bool = False) -> torch.Tensor:
        """Causal LM: last-position ``[no, yes]`` logits ``[B, 2]`` (``full_vocab``: all ``[B, V]``).
        Cross-encoder: one logit per pair ``[B]``."""
        if self._causal is None:
            return self.model(**features).logits.squeeze(-1)
        kwargs = {"logits_to_keep": 1} if self._keep_last else {}
        logits = self.model(
            input_ids=features["input_ids"], attention_mask=features["attention_mask"], **kwargs
        ).logits[:, -1, :]
        return logits if full_vocab else logits[:, self.label_ids.pair]

    def relevance_logits(self, output: torch.Tensor) -> torch.Tensor:
        """A ``[B]`` logit whose sigmoid is the score: ``yes - no`` (causal LM), the logit (cross-encoder)."""
        return output[..., 1] - output[..., 0] if self._causal is not None else output

    def probabilities(self, output: torch.Tensor) -> torch.Tensor:
        """Scores from ``forward`` output: softmax over ``[no, yes]`` (index 1), or sigmoid of the logit."""
        if self._causal is not None:
            return torch.softmax(output.float(), dim=-1)[..., 1]
        return torch.sigmoid(output.float())

    # ------------------------------------------------------------------- score
    @torch.inference_mode()
    def score(
        self,
        pairs: Sequence[tuple[str, str]],
        *,
        instruction: str | None = None,
        batch_size: int = 32,
        show_progress: bool | None = None,
    ) -> np.ndarray:
        """Relevance in [0, 1] of each (query, document) pair, float64, in input order."""
        if not len(pairs):
            return np.zeros(0, dtype=np.float64)
        queries, documents = zip(*pairs, strict=True)
        encodings = self.encode_pairs(list(queries), list(documents), instruction=instruction)
        lengths = [len(e) if self._causal is not None else len(e["input_ids"]) for e in encodings]
        batches = plan_batches(lengths, token_budget(batch_size, self.max_length, self.device))
        out = np.zeros(len(pairs), dtype=np.float64)
        was_training = self.training
        self.eval()
        show = len(pairs) >= PROGRESS_MIN_PAIRS if show_progress is None else show_progress
        from tqdm.auto import tqdm

        try:
            with tqdm(
                total=len(pairs), desc="rerank", unit="pair", disable=not show, dynamic_ncols=True
            ) as bar:
                for index in batches:
                    features = self.collate([encodings[i] for i in index])
                    out[index] = self.probabilities(self(features)).double().cpu().numpy()
                    bar.update(len(index))
        finally:
            self.train(was_training)
        return out

    # ------------------------------------------------------------------ saving
    def save(self, path: str | Path) -> Path:
        """Write model, tokenizer and ``tsumugi_reranker.json`` to ``path`` atomically (no PEFT adapters)."""
        if hasattr(self.model, "peft_config"):
            raise ValueError("merge the PEFT adapters first (merge_and_unload) before saving a reranker")
        path = Path(path)
        with atomic_dir(path) as tmp:
            self.model.save_pretrained(str(tmp), safe_serialization=True)
            self.tokenizer.save_pretrained(str(tmp))
            cfg_file = tmp / "tokenizer_config.json"
            if cfg_file.is_file():
                cfg = json.loads(cfg_file.read_text(encoding="utf-8"))
                cfg["model_max_length"] = self.max_length  # what CrossEncoder reads as its max length
                cfg["padding_side"] = self.tokenizer.padding_side
                cfg_file.write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            (tmp / CONFIG_FILE).write_text(json.dumps(asdict(self.config), indent=2) + "\n", encoding="utf-8")
        return path
