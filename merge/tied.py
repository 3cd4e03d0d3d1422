"""Tied weights: which stored tensor names alias another (``lm_head.weight`` -> ``model.embed_tokens.weight``)."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

_INPUT_EMBEDDINGS = ("embed_tokens.weight", "word_embeddings.weight", "wte.weight", "shared.weight")
_OUTPUT_HEADS = ("lm_head", "predictions.decoder", "predictions.bias", "embed_out", "output_projection")


def text_config(config: dict) -> dict:
    """The text part of a (possibly multimodal) config dict."""
    return config.get("text_config") or config


def ties_embeddings(config: dict) -> bool:
    """``tie_word_embeddings`` of a config dict (transformers' default: true)."""
    top = config.get("tie_word_embeddings")
    if top is not None:
        return bool(top)
    return bool(text_config(config).get("tie_word_embeddings", True))


def _class_ties(architecture: str) -> dict[str, str]:
    try:
        import transformers

        cls = getattr(transformers, architecture, None)
    except Exception:  # an architecture transformers cannot import here
        return {}
    keys = getattr(cls, "_tied_weights_keys", None) or {}
    if isinstance(keys, dict):
        return {str(k): str(v) for k, v in keys.items()}
    return {str(k): "" for k in keys}  # transformers 4: aliases only; targets found by name below


def tied_pairs(config: dict, names: set[str]) -> dict[str, str]:
    """{alias: target} for tied tensors present in ``names`` (empty unless the config ties embeddings)."""
    if not ties_embeddings(config) or not any(h in n for n in names for h in _OUTPUT_HEADS):
        return {}  # nothing that could alias: no need to import the model class (seconds of import time)
    pairs: dict[str, str] = {}
    for arch in config.get("architectures") or []:
        for alias, target in _class_ties(arch).items():
            if not target:
                target = next((n for n in sorted(names) if n.endswith(_INPUT_EMBEDDINGS)), "")
            if alias in names and target in names and alias != target:
                pairs[alias] = target
    if not pairs and "lm_head.weight" in names:
        target = next((n for n in sorted(names) if n.endswith(_INPUT_EMBEDDINGS)), None)
        if target:
            pairs["lm_head.weight"] = target
    return pairs
