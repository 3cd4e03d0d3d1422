"""Read and write the sentence-transformers folder layout (modules.json and the per-module configs).

We write exactly what sentence-transformers 6.x writes: ``modules.json``; the HF model + tokenizer at the root
with ``sentence_bert_config.json``; ``1_Pooling/config.json``; optional ``N_Dense/``; ``N_Normalize/config.json``;
``config_sentence_transformers.json`` (prompts, default prompt, similarity). ST 6 keeps ``max_seq_length`` as
the tokenizer's ``model_max_length``; older folders have it in ``sentence_bert_config.json``: we read both.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from embed.pooling import check_pooling_mode

TRANSFORMER_TYPE = "sentence_transformers.base.modules.transformer.Transformer"
POOLING_TYPE = "sentence_transformers.sentence_transformer.modules.pooling.Pooling"
DENSE_TYPE = "sentence_transformers.base.modules.dense.Dense"
NORMALIZE_TYPE = "sentence_transformers.base.modules.normalize.Normalize"

SENTENCE_BERT_CONFIG = {
    "transformer_task": "feature-extraction",
    "modality_config": {"text": {"method": "forward", "method_output_name": "last_hidden_state"}},
    "module_output_name": "token_embeddings",
}

# ST < 6 stored one boolean per pooling mode.
_LEGACY_POOLING_KEYS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}


@dataclass
class StLayout:
    """What a sentence-transformers folder says about how to turn token states into an embedding."""

    transformer_path: str = ""
    pooling: str | None = None
    dense_paths: list[str] = field(default_factory=list)
    normalize: bool = False
    prompts: dict[str, str] = field(default_factory=dict)
    default_prompt_name: str | None = None
    similarity_fn_name: str | None = None
    max_seq_length: int | None = None
    do_lower_case: bool = False


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot read {path}: {err}") from err


def _pooling_mode(cfg: dict, where: Path) -> str:
    mode = cfg.get("pooling_mode")
    if mode is None:
        active = [m for k, m in _LEGACY_POOLING_KEYS.items() if cfg.get(k)]
        mode = active if active else "mean"
    if isinstance(mode, list | tuple):
        if len(mode) != 1:
            raise ValueError(f"combined pooling modes {list(mode)} in {where} are not supported")
        mode = mode[0]
    if not cfg.get("include_prompt", True):
        raise ValueError(f"include_prompt=false in {where} is not supported")
    try:
        return check_pooling_mode(mode)
    except ValueError as err:
        raise ValueError(f"{err} (in {where})") from None


def read_st_layout(folder: str | Path) -> StLayout | None:
    """Parse a sentence-transformers folder; None when it has no ``modules.json`` (a plain HF folder)."""
    folder = Path(folder)
    modules_file = folder / "modules.json"
    if not modules_file.is_file():
        return None
    layout = StLayout()
    seen_transformer = False
    for entry in sorted(_read_json(modules_file), key=lambda e: e.get("idx", 0)):
        kind = str(entry.get("type", "")).rsplit(".", 1)[-1]
        sub = entry.get("path", "") or ""
        if layout.normalize and kind != "Normalize":
            raise ValueError(f"module {kind} after Normalize in {modules_file} is not supported")
        if kind == "Transformer":
            if seen_transformer:
                raise ValueError(f"more than one Transformer module in {modules_file}")
            seen_transformer = True
            layout.transformer_path = sub
            sbert = next(
                (
                    folder / sub / n
                    for n in ("sentence_bert_config.json", "sentence_xlm-roberta_config.json")
                    if (folder / sub / n).is_file()
                ),
                None,
            )
            cfg = _read_json(sbert) if sbert else {}
            layout.max_seq_length = cfg.get("max_seq_length")
            layout.do_lower_case = bool(cfg.get("do_lower_case", False))
        elif kind == "Pooling":
            layout.pooling = _pooling_mode(
                _read_json(folder / sub / "config.json"), folder / sub / "config.json"
            )
        elif kind == "Dense":
            layout.dense_paths.append(sub)
        elif kind == "Normalize":
            layout.normalize = True
        else:
            raise ValueError(
                f"unsupported sentence-transformers module {entry.get('type')!r} in {modules_file}"
            )
    if not seen_transformer:
        raise ValueError(f"no Transformer module in {modules_file}")
    st_cfg_file = folder / "config_sentence_transformers.json"
    if st_cfg_file.is_file():
        st_cfg = _read_json(st_cfg_file)
        layout.prompts = {str(k): str(v) for k, v in (st_cfg.get("prompts") or {}).items()}
        layout.default_prompt_name = st_cfg.get("default_prompt_name")
        layout.similarity_fn_name = st_cfg.get("similarity_fn_name")
    return layout


def _dump(path: Path, obj: object, indent: int, sort_keys: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=indent, sort_keys=sort_keys, ensure_ascii=False), encoding="utf-8")


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


def write_st_layout(
    folder: str | Path,
    *,
    embedding_dimension: int,
    pooling: str,
    dense_paths: list[str],
    normalize: bool,
    prompts: dict[str, str],
    default_prompt_name: str | None,
    do_lower_case: bool = False,
) -> None:
    """Write the ST 6 module files into ``folder`` (the HF model, tokenizer and Dense weights are saved elsewhere)."""
    folder = Path(folder)
    modules = [{"idx": 0, "name": "0", "path": "", "type": TRANSFORMER_TYPE}]
    modules.append({"idx": 1, "name": "1", "path": "1_Pooling", "type": POOLING_TYPE})
    for sub in dense_paths:
        idx = len(modules)
        modules.append({"idx": idx, "name": str(idx), "path": sub, "type": DENSE_TYPE})
    if normalize:
        idx = len(modules)
        modules.append({"idx": idx, "name": str(idx), "path": f"{idx}_Normalize", "type": NORMALIZE_TYPE})
        _dump(
            folder / f"{idx}_Normalize" / "config.json",
            {"module_input_name": "sentence_embedding", "module_output_name": "sentence_embedding"},
            indent=4,
        )
    _dump(folder / "modules.json", modules, indent=2)
    sbert = dict(SENTENCE_BERT_CONFIG)
    if do_lower_case:
        sbert["do_lower_case"] = True
    _dump(folder / "sentence_bert_config.json", sbert, indent=4)
    _dump(
        folder / "1_Pooling" / "config.json",
        {"embedding_dimension": embedding_dimension, "pooling_mode": pooling, "include_prompt": True},
        indent=4,
    )
    st_cfg = {
        "__version__": {
            "pytorch": _version("torch"),
            "sentence_transformers": _version("sentence-transformers"),
            "transformers": _version("transformers"),
        },
        "default_prompt_name": default_prompt_name,
        "model_type": "SentenceTransformer",
        "prompts": dict(prompts),
        "similarity_fn_name": "cosine",
    }
    _dump(folder / "config_sentence_transformers.json", st_cfg, indent=2, sort_keys=True)
