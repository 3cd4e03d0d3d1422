"""EmbeddingModel: the one way tsumugi turns text into vectors (train, eval and synth all use it).

Load any HF encoder or decoder (local folder, short name, cached hub id), read the sentence-transformers layout
when present, tokenise with the right EOS and padding side, pool, normalise, truncate (Matryoshka), and save
back in the sentence-transformers 6 layout. ``model`` is the trainable HF module; ``tokenize`` + ``forward``
give differentiable embeddings through the same code path as ``encode``.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from torch import nn

from embed import fingerprint as fp
from embed.atomic import atomic_dir
from embed.batching import (
    batch_bounds,
    chunk_bounds,
    contiguous_padding,
    length_order,
    token_budget,
    trim_columns,
)
from embed.dense import Dense
from embed.formatting import apply_prompt, check_texts, resolve_prompt
from embed.hardware import Purpose, choose_dtype, detect, parse_dtype
from embed.packing import (
    AUTO_MIN_WASTE,
    DEFAULT_ROW_TOKENS,
    check_packing,
    packable,
    packed_hidden,
    padding_waste,
    pool_packed,
)
from embed.pooling import check_pooling_mode, l2_normalize, pool
from embed.resolve import ModelLoadError, check_weights, resolve_folder
from embed.st_layout import read_st_layout, write_st_layout
from embed.tokenization import (
    add_eos_postprocessor,
    appends_token,
    default_eos_token,
    token_id,
    tokenize_texts,
)

log = logging.getLogger(__name__)

PROGRESS_MIN_TEXTS = 512  # encode() shows a progress bar from this many texts unless told otherwise
_MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """The given device, else CUDA when available, else CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"invalid device {device!r}: {err}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was requested but CUDA is not available")
    return dev


def resolve_dtype(
    dtype: str | torch.dtype | None, device: torch.device, purpose: Purpose = "encode"
) -> torch.dtype:
    """The given dtype (name or torch.dtype); ``None``/``auto``: the hardware's choice for ``purpose``
    (:func:`embed.hardware.choose_dtype`: bf16 on bf16-capable GPUs; on CPU fp32, bf16 encoding on AMX-class CPUs)."""
    if dtype is None or (isinstance(dtype, str) and dtype.lower() == "auto"):
        return choose_dtype(None, purpose, detect(device)).dtype
    return parse_dtype(dtype)


def _text_config(config):
    return config.get_text_config() if hasattr(config, "get_text_config") else config


def is_decoder_config(config) -> bool:
    """True for causal-LM backbones (Qwen, Gemma, Llama, ...); False for encoders and bidirectional variants."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    config = _text_config(config)
    if getattr(config, "use_bidirectional_attention", False):
        return False
    if getattr(config, "is_decoder", False):
        return True
    model_type = getattr(config, "model_type", None)
    return (
        model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
        and model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES
    )


def default_max_length(tokenizer, config) -> int:
    """min(tokenizer.model_max_length, max_position_embeddings), as sentence-transformers does; 512 if neither."""
    limits = []
    tml = getattr(tokenizer, "model_max_length", None)
    if isinstance(tml, int) and 0 < tml < 10**7:  # transformers uses 1e30 for "no limit"
        limits.append(tml)
    mpe = getattr(_text_config(config), "max_position_embeddings", None)
    if isinstance(mpe, int) and mpe > 0:
        limits.append(mpe)
    return min(limits) if limits else 512


class _InlineExecutor:
    """``submit`` runs the call at once (CPU: tokenising on a thread would fight torch's intra-op threads)."""

    def submit(self, fn: Callable, *args) -> Future:
        future: Future = Future()
        future.set_result(fn(*args))
        return future


def _prefetch_tokens(device: torch.device) -> bool:
    """Tokenise the next chunk on a thread while the model runs? Only where the model is not on the CPU."""
    return device.type != "cpu"


def _forward_params(module: nn.Module) -> set[str] | None:
    """Named parameters of ``module.forward`` (looking through PEFT wrappers); None if it takes anything."""
    base = module.get_base_model() if hasattr(module, "get_base_model") else module
    params = inspect.signature(base.forward).parameters
    return set(params) or None


def _drop_absent_pooler(model: torch.nn.Module, missing: Sequence[str]) -> None:
    """A BERT-style pooler the checkpoint does not have (e.g. multilingual-e5) would be randomly initialised, never
    used by the pooling modes here, and then saved with every fine-tuned copy, so that the copy no longer merges
    with its base: remove it."""
    if (
        missing
        and all(k.startswith("pooler.") for k in missing)
        and getattr(model, "pooler", None) is not None
    ):
        model.pooler = None


class EmbeddingModel(nn.Module):
    """A text-embedding model: HF backbone + pooling (+ Dense) (+ L2 normalisation), with its tokenizer and prompts."""

    def __init__(
        self,
        model: nn.Module,
        tokenizer,
        *,
        pooling: str | None = None,
        normalize: bool = True,
        max_length: int | None = None,
        prompts: dict[str, str] | None = None,
        default_prompt_name: str | None = None,
        dense: Sequence[Dense] = (),
        eos_token: str | None = None,
        is_decoder: bool | None = None,
        do_lower_case: bool = False,
        source: str | Path | None = None,
        weight_dirs: Sequence[str] = ("",),
        packing: str | bool = "auto",
        pack_row_tokens: int = DEFAULT_ROW_TOKENS,
    ) -> None:
        super().__init__()
        self.model = model
        self.dense = nn.ModuleList(dense)
        self.packing = packing
        self.pack_row_tokens = int(pack_row_tokens)
        self.tokenizer = tokenizer
        config = model.config
        self.is_decoder = is_decoder_config(config) if is_decoder is None else bool(is_decoder)
        self.pooling = check_pooling_mode(pooling or ("lasttoken" if self.is_decoder else "mean"))
        self.normalize = bool(normalize)
        self.prompts = dict(prompts or {})
        if default_prompt_name is not None and default_prompt_name not in self.prompts:
            raise ValueError(
                f"default prompt {default_prompt_name!r} is not one of the prompts {sorted(self.prompts)}"
            )
        self.default_prompt_name = default_prompt_name
        self.do_lower_case = bool(do_lower_case)
        if tokenizer.pad_token is None and tokenizer.eos_token is not None:
            tokenizer.pad_token = tokenizer.eos_token
        if self.is_decoder:
            tokenizer.padding_side = "left"
        self.max_length = max_length if max_length is not None else default_max_length(tokenizer, config)
        self.eos_token: str | None = None
        self.eos_token_id: int | None = None
        self._append_eos_id: int | None = None
        if self.pooling == "lasttoken":
            self._setup_eos(eos_token)
        self.source = Path(source) if source is not None else None
        self._weight_dirs = tuple(weight_dirs)
        self._files = fp.model_files(self.source, self._weight_dirs) if self.source else []
        self._files_stat = fp.stat_files(self.source, self._files) if self.source else ()
        self._file_hash: str | None = None
        self._weights_token = fp.weights_state(self)

    # ----------------------------------------------------------------- loading
    @classmethod
    def load(
        cls,
        name_or_path: str | Path,
        *,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = None,
        max_length: int | None = None,
        pooling: str | None = None,
        normalize: bool | None = None,
        prompts: dict[str, str] | None = None,
        trust_remote_code: bool = False,
        eos_token: str | None = None,
        packing: str | bool = "auto",
    ) -> EmbeddingModel:
        """Load a local folder, short name or cached hub id (sentence-transformers layout or plain HF folder).

        A sentence-transformers folder gives pooling, Dense layers, normalisation, prompts and max length; a
        plain HF folder gets last-token pooling for decoders, mean pooling for encoders, and normalisation.
        Explicit arguments override both. Weights must be safetensors; ``trust_remote_code`` is off by default.
        ``packing`` (``auto|true|false``): see :mod:`embed.packing`.
        """
        from transformers import AutoModel, AutoTokenizer

        if pooling is not None:
            check_pooling_mode(pooling)
        folder = resolve_folder(name_or_path)
        try:
            layout = read_st_layout(folder)
        except ValueError as err:
            raise ModelLoadError(str(err)) from err
        sub = layout.transformer_path if layout else ""
        check_weights(folder / sub)
        dev = resolve_device(device)
        dt = resolve_dtype(dtype, dev)
        model, info = AutoModel.from_pretrained(
            str(folder / sub),
            dtype=dt,
            use_safetensors=True,
            trust_remote_code=trust_remote_code,
            output_loading_info=True,
        )
        _drop_absent_pooler(model, info["missing_keys"])
        tokenizer = AutoTokenizer.from_pretrained(str(folder / sub), trust_remote_code=trust_remote_code)
        dense = []
        for path in layout.dense_paths if layout else []:
            try:
                dense.append(Dense.load(folder / path).to(dt))
            except ValueError as err:
                raise ModelLoadError(str(err)) from err
        model.to(dev).eval()
        for layer in dense:
            layer.to(dev).eval()
        if layout and prompts is None:
            prompts, default_prompt_name = layout.prompts, layout.default_prompt_name
        else:
            default_prompt_name = None
        return cls(
            model,
            tokenizer,
            pooling=pooling or (layout.pooling if layout else None),
            normalize=normalize if normalize is not None else (layout.normalize if layout else True),
            max_length=max_length if max_length is not None else (layout.max_seq_length if layout else None),
            prompts=prompts,
            default_prompt_name=default_prompt_name,
            dense=dense,
            eos_token=eos_token,
            do_lower_case=layout.do_lower_case if layout else False,
            source=folder,
            weight_dirs=(sub, *(layout.dense_paths if layout else ())),
            packing=packing,
        )

    def _setup_eos(self, eos_token: str | None) -> None:
        token = eos_token or default_eos_token(self.tokenizer, getattr(self.model.config, "model_type", None))
        if token is None:  # nothing to append: pool whatever the tokenizer puts last
            log.info("tokenizer has no pad/eos token: last-token pooling reads the last token as tokenised")
            return
        try:
            tid = token_id(self.tokenizer, token)
        except ValueError as err:
            raise ModelLoadError(str(err)) from None
        self.eos_token, self.eos_token_id = token, tid
        self._append_eos_id = None if appends_token(self.tokenizer, tid) else tid

    # -------------------------------------------------------------- properties
    @property
    def max_length(self) -> int:
        """Maximum tokens per text (prompt and EOS included); longer inputs are truncated."""
        return self._max_length

    @max_length.setter
    def max_length(self, value: int) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or value < 2:
            raise ValueError(f"max_length must be an int >= 2, got {value!r}")
        self._max_length = value

    @property
    def packing(self) -> str:
        """``auto``, ``true`` or ``false``: whether forward packs the texts of a batch (:mod:`embed.packing`)."""
        return self._packing

    @packing.setter
    def packing(self, value: str | bool) -> None:
        mode = check_packing(value)
        if mode == "true" and (why := packable(self.model)) is not None:
            raise ValueError(f"packing=true is not exact for this model: {why}")
        self._packing = mode

    def packs(self, attention_mask: torch.Tensor) -> bool:
        """Whether a batch with this attention mask goes through the packed forward."""
        if self._packing == "false" or attention_mask.shape[0] < 2:
            return False
        if self._packing == "true":
            return True
        return packable(self.model) is None and padding_waste(attention_mask) >= AUTO_MIN_WASTE

    @property
    def hidden_size(self) -> int:
        """Width of the backbone's token states (the pooled vector before any Dense layer)."""
        return int(_text_config(self.model.config).hidden_size)

    @property
    def dim(self) -> int:
        """Dimension of the full embedding."""
        return self.dense[-1].out_features if len(self.dense) else self.hidden_size

    @property
    def device(self) -> torch.device:
        """Device of the backbone's weights."""
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        """Dtype of the backbone's weights."""
        return next(self.model.parameters()).dtype

    @property
    def appends_eos(self) -> bool:
        """True when tsumugi appends the EOS id itself because the tokenizer does not."""
        return self._append_eos_id is not None

    def __repr__(self) -> str:
        return (
            f"EmbeddingModel(source={str(self.source) if self.source else None!r}, "
            f"backbone={type(self.model).__name__}, pooling={self.pooling!r}, normalize={self.normalize}, "
            f"dim={self.dim}, max_length={self.max_length}, eos={self.eos_token!r}, "
            f"padding_side={self.tokenizer.padding_side!r}, prompts={sorted(self.prompts)})"
        )

    # ------------------------------------------------------- tokenise/forward
    def tokenize(
        self,
        texts: Sequence[str],
        *,
        prompt: str | None = None,
        prompt_name: str | None = None,
        max_length: int | None = None,
    ) -> dict[str, torch.Tensor]:
        """Prompt, tokenise, truncate (keeping the EOS) and pad a batch; the features ``forward`` expects."""
        texts = check_texts(texts)
        prefix = resolve_prompt(self.prompts, self.default_prompt_name, prompt, prompt_name)
        return self._tokenize(apply_prompt(texts, prefix), max_length)

    def _tokenize(self, texts: list[str], max_length: int | None) -> dict[str, torch.Tensor]:
        if self.do_lower_case:
            texts = [t.lower() for t in texts]
        return tokenize_texts(self.tokenizer, texts, max_length or self.max_length, self._append_eos_id)

    def forward(self, features: dict[str, torch.Tensor], normalize: bool | None = None) -> torch.Tensor:
        """Differentiable embeddings (fp32) of tokenised features: backbone -> pooling -> Dense -> normalise."""
        emb = self._embed(features, _forward_params(self.model))
        return l2_normalize(emb) if (self.normalize if normalize is None else normalize) else emb

    def _embed(self, features: dict[str, torch.Tensor], params: set[str] | None) -> torch.Tensor:
        """Backbone -> pooling -> Dense, as fp32, not normalised; ``params`` from :func:`_forward_params`."""
        device = self.device
        mask = features["attention_mask"].to(device)
        if self.packs(mask):
            return self._embed_packed(features, params)
        inputs = {
            k: features[k].to(device)
            for k in _MODEL_INPUTS
            if k in features and (params is None or k in params)
        }
        if self.is_decoder and params is not None:
            if "position_ids" in params:  # positions count real tokens only, whatever the padding side
                inputs["position_ids"] = (mask.long().cumsum(-1) - 1).clamp(min=0)
            if "use_cache" in params:
                inputs["use_cache"] = False
        out = self.model(**inputs)
        hidden = out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]
        emb = pool(hidden, mask, self.pooling)
        for layer in self.dense:
            emb = layer(emb.to(layer.linear.weight.dtype))
        return emb.float()

    def _embed_packed(self, features: dict[str, torch.Tensor], params: set[str] | None) -> torch.Tensor:
        """:meth:`_embed` through the packed forward (texts share rows, block-diagonal attention)."""
        feats = {
            k: features[k]
            for k in _MODEL_INPUTS
            if k in features and (k == "attention_mask" or params is None or k in params)
        }
        extra = (
            {"use_cache": False} if self.is_decoder and params is not None and "use_cache" in params else {}
        )
        pad = self.tokenizer.pad_token_id
        hidden, packed = packed_hidden(
            self.model,
            feats,
            causal=is_decoder_config(self.model.config),
            pad_id=0 if pad is None else int(pad),
            row_tokens=self.pack_row_tokens,
            extra=extra,
        )
        emb = pool_packed(hidden, packed, self.pooling)
        for layer in self.dense:
            emb = layer(emb.to(layer.linear.weight.dtype))
        return emb.float()

    # ------------------------------------------------------------------ encode
    def encode(
        self,
        texts: Sequence[str],
        *,
        prompt: str | None = None,
        prompt_name: str | None = None,
        batch_size: int = 32,
        max_length: int | None = None,
        normalize: bool | None = None,
        dim: int | None = None,
        show_progress: bool | None = None,
        as_numpy: bool = True,
    ) -> np.ndarray | torch.Tensor:
        """Embed texts in length-sorted batches; rows in input order, float32, ``(len(texts), dim or self.dim)``.

        Texts are tokenised together (in chunks of :data:`embed.batching.TOKENIZE_CHUNK`), ordered by token
        count, and cut into batches of at most ``batch_size x min(max_length, 512)`` padded tokens (128 instead
        of 512 on CPU), each padded only to its own longest text: short texts share big batches, long ones
        small batches, and no batch is larger than ``batch_size`` maximum-length texts. Embeddings do not depend
        on the batching.
        """
        from tqdm.auto import tqdm

        texts = check_texts(texts)
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if dim is not None and (
            not isinstance(dim, int) or isinstance(dim, bool) or not 1 <= dim <= self.dim
        ):
            raise ValueError(f"dim must be an int in [1, {self.dim}], got {dim!r}")
        if max_length is not None and (not isinstance(max_length, int) or max_length < 2):
            raise ValueError(f"max_length must be an int >= 2, got {max_length!r}")
        prefix = resolve_prompt(self.prompts, self.default_prompt_name, prompt, prompt_name)
        normalize = self.normalize if normalize is None else normalize
        prompted = apply_prompt(texts, prefix)
        # characters first (free), so each tokenised chunk pads little; batches then follow token counts
        order = sorted(range(len(prompted)), key=lambda i: -len(prompted[i]))  # stable: ties keep input order
        budget = token_budget(batch_size, max_length or self.max_length, self.device)
        show = len(texts) >= PROGRESS_MIN_TEXTS if show_progress is None else bool(show_progress)
        out = torch.empty((len(texts), dim or self.dim), dtype=torch.float32)
        was_training = self.training

        def tokenize(start: int, end: int) -> dict[str, torch.Tensor]:
            return self._tokenize([prompted[i] for i in order[start:end]], max_length)

        prefetch = _prefetch_tokens(self.device)
        self.eval()
        try:
            with (
                torch.inference_mode(),
                tqdm(total=len(texts), unit="texts", desc="encode", disable=not show) as bar,
                ThreadPoolExecutor(1, "tsumugi-tokenize")
                if prefetch
                else contextlib.nullcontext() as executor,
            ):
                pool = executor or _InlineExecutor()
                chunks = chunk_bounds(len(order))
                pending = pool.submit(tokenize, *chunks[0])
                for k, (start, end) in enumerate(chunks):
                    feats = pending.result()
                    if k + 1 < len(chunks):  # on an accelerator: tokenised while this chunk runs
                        pending = pool.submit(tokenize, *chunks[k + 1])
                    emb = self._encode_chunk(feats, budget, dim, normalize, bar)
                    out[torch.tensor(order[start:end])] = emb.to("cpu", torch.float32)
        finally:
            self.train(was_training)
        return out.numpy() if as_numpy else out

    def _encode_chunk(
        self, feats: dict[str, torch.Tensor], budget: int, dim: int | None, normalize: bool, bar
    ) -> torch.Tensor:
        """Embeddings of one tokenised chunk (rows in the chunk's order), in token-budget batches."""
        params = _forward_params(self.model)
        device = self.device
        keep = {"attention_mask", *_MODEL_INPUTS}
        mask = feats["attention_mask"]
        lengths = mask.sum(dim=1)
        left = self.tokenizer.padding_side == "left"
        if not contiguous_padding(mask, lengths, left):  # never seen with HF tokenizers: keep the full width
            lengths = torch.full_like(lengths, mask.shape[1])
        perm = length_order(lengths.numpy())
        sorted_lengths = lengths.numpy()[perm]
        index = torch.from_numpy(perm)
        # one gather (and one host-to-device copy) per chunk; batches are then views of contiguous rows
        feats = {k: v.index_select(0, index).to(device) for k, v in feats.items() if k in keep}
        chunk_out = torch.empty((len(perm), dim or self.dim), dtype=torch.float32, device=device)
        for s, e in batch_bounds(sorted_lengths, budget):
            emb = self._embed(trim_columns(feats, s, e, int(sorted_lengths[s]), left), params)
            if dim is not None:
                emb = emb[:, :dim]
            if normalize:
                emb = l2_normalize(emb)
            chunk_out[s:e] = emb
            bar.update(e - s)
        return torch.empty_like(chunk_out).index_copy_(0, index.to(device), chunk_out)

    # ------------------------------------------------------------- identity
    def fingerprint(self) -> str:
        """Stable hash of the weights (file contents, or tensors if changed since loading) and embedding config."""
        try:
            unchanged = (
                self.source is not None
                and fp.weights_state(self) == self._weights_token
                and fp.stat_files(self.source, self._files) == self._files_stat
            )
        except OSError:  # files deleted or replaced since loading
            unchanged = False
        if unchanged:
            if self._file_hash is None:
                self._file_hash = fp.hash_files(self.source, self._files)
            weights = "files:" + self._file_hash
        else:
            weights = "tensors:" + fp.hash_tensors(self.state_dict().items())
            weights += f":{type(self.tokenizer).__name__}:{len(self.tokenizer)}"
        return fp.combine(
            {
                "weights": weights,
                "pooling": self.pooling,
                "normalize": self.normalize,
                "max_length": self.max_length,
                "eos": [self.eos_token_id, self._append_eos_id],
                "padding_side": self.tokenizer.padding_side,
                "dtype": str(self.dtype),
                "dense": [layer.config() for layer in self.dense],
                "do_lower_case": self.do_lower_case,
                "prompts": self.prompts,
                "default_prompt_name": self.default_prompt_name,
            }
        )

    # ------------------------------------------------------------------ saving
    def save(self, path: str | Path) -> Path:
        """Write a sentence-transformers 6 folder (HF model + tokenizer + module configs), atomically."""
        if hasattr(self.model, "merge_and_unload"):
            raise ValueError("merge the PEFT adapters first (model.merge_and_unload()) before saving")
        path = Path(path)
        with atomic_dir(path) as tmp:
            self.model.save_pretrained(str(tmp), safe_serialization=True)
            self.tokenizer.save_pretrained(str(tmp))
            self._patch_tokenizer_config(tmp)
            if self._append_eos_id is not None:
                self._save_eos(tmp)
            dense_paths = []
            for i, layer in enumerate(self.dense):
                dense_paths.append(f"{2 + i}_Dense")
                layer.save(tmp / dense_paths[-1])
            write_st_layout(
                tmp,
                embedding_dimension=self.hidden_size,
                pooling=self.pooling,
                dense_paths=dense_paths,
                normalize=self.normalize,
                prompts=self.prompts,
                default_prompt_name=self.default_prompt_name,
                do_lower_case=self.do_lower_case,
            )
        return path

    def _patch_tokenizer_config(self, folder: Path) -> None:
        import json

        cfg_file = folder / "tokenizer_config.json"
        if not cfg_file.is_file():
            return
        cfg = json.loads(cfg_file.read_text(encoding="utf-8"))
        cfg["model_max_length"] = self.max_length  # where sentence-transformers 6 keeps max_seq_length
        cfg["padding_side"] = self.tokenizer.padding_side
        cfg_file.write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    def _save_eos(self, folder: Path) -> None:
        """Make the saved tokenizer append the EOS itself, so other tools reproduce our inputs."""
        from transformers import AutoTokenizer

        done = add_eos_postprocessor(folder / "tokenizer.json", self.eos_token, self._append_eos_id)
        if done and appends_token(AutoTokenizer.from_pretrained(str(folder)), self._append_eos_id):
            return
        log.warning(
            "saved tokenizer in %s does not append %r itself: tools other than tsumugi will not add it",
            folder,
            self.eos_token,
        )
