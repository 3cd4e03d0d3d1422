"""Sentence-transformers interoperability: our saves load in ST with the same embeddings, and vice versa."""

from __future__ import annotations

import json

import numpy as np
import pytest

from embed import EmbeddingModel, qwen3_instruct
from embed.st_layout import read_st_layout

JA = ["今日は良い天気です。", "本日は晴天なり。", "株価が急落した。", "猫が窓辺で眠っている。" * 4]
E5_PROMPTS = {"query": "query: ", "document": "passage: "}
QWEN_PROMPTS = {"query": qwen3_instruct("Retrieve semantically similar text"), "document": ""}


@pytest.fixture(scope="module")
def st_cls():
    return pytest.importorskip("sentence_transformers").SentenceTransformer


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def _assert_same(ours: EmbeddingModel, st, prompt_name: str | None):
    a = ours.encode(JA, prompt_name=prompt_name)
    b = st.encode(JA, prompt_name=prompt_name, convert_to_numpy=True)
    assert a.shape == b.shape
    assert _cos(a, b).min() >= 0.9999
    np.testing.assert_allclose(a, b, atol=1e-4)


def test_st_loads_our_encoder_save(tmp_path, tiny_bert_dir, st_cls):
    ours = EmbeddingModel.load(tiny_bert_dir, prompts=E5_PROMPTS)
    ours.default_prompt_name = "query"
    folder = ours.save(tmp_path / "bert_st")
    st = st_cls(str(folder), device="cpu")
    assert st.prompts["query"] == "query: " and st.default_prompt_name == "query"
    assert st.max_seq_length == ours.max_length
    _assert_same(ours, st, "query")
    _assert_same(ours, st, "document")
    again = EmbeddingModel.load(folder)
    assert again.default_prompt_name == "query"
    np.testing.assert_array_equal(again.encode(JA), ours.encode(JA))  # default prompt applied on both


def test_st_loads_our_decoder_save_with_eos(tmp_path, tiny_qwen3_dir, st_cls):
    ours = EmbeddingModel.load(tiny_qwen3_dir, prompts=QWEN_PROMPTS, max_length=24)
    assert ours.appends_eos  # the raw tokenizer does not append <|endoftext|>: we do
    folder = ours.save(tmp_path / "qwen_st")
    st = st_cls(str(folder), device="cpu")
    assert st.tokenizer.padding_side == "left"
    assert st.tokenizer("abc")["input_ids"][-1] == 256  # the saved tokenizer appends it itself
    _assert_same(ours, st, "query")  # includes a text longer than max_length: truncation keeps the EOS
    reloaded = EmbeddingModel.load(folder)
    assert not reloaded.appends_eos and reloaded.max_length == 24
    np.testing.assert_allclose(reloaded.encode(JA), ours.encode(JA), atol=1e-6)


def test_we_load_st_saves_with_dense_and_lasttoken(tmp_path, tiny_qwen3_eos_dir, st_cls):
    import torch
    from sentence_transformers.base.modules import Dense, Normalize, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    torch.manual_seed(0)
    modules = [
        Transformer(str(tiny_qwen3_eos_dir), max_seq_length=20, processor_kwargs={"padding_side": "left"}),
        Pooling(64, "lasttoken"),
        Dense(64, 16, activation_function=torch.nn.Tanh()),
        Normalize(),
    ]
    st = st_cls(modules=modules, prompts=QWEN_PROMPTS, device="cpu")
    st.save(str(tmp_path / "st_saved"))
    ours = EmbeddingModel.load(tmp_path / "st_saved")
    assert (ours.pooling, ours.dim, ours.max_length, ours.normalize) == ("lasttoken", 16, 20, True)
    _assert_same(ours, st_cls(str(tmp_path / "st_saved"), device="cpu"), "query")
    # ...and our re-save of it still loads in ST with the Dense layer intact.
    ours.save(tmp_path / "resaved")
    _assert_same(ours, st_cls(str(tmp_path / "resaved"), device="cpu"), "query")


def test_our_layout_files_equal_what_st_writes(tmp_path, tiny_bert_dir, st_cls):
    from sentence_transformers.base.modules import Normalize, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    ours = EmbeddingModel.load(tiny_bert_dir, prompts=E5_PROMPTS)
    ours.save(tmp_path / "ours")
    modules = [Transformer(str(tiny_bert_dir)), Pooling(32, "mean"), Normalize()]
    st_cls(modules=modules, prompts=E5_PROMPTS, device="cpu").save(str(tmp_path / "st"))
    for name in [
        "modules.json",
        "sentence_bert_config.json",
        "1_Pooling/config.json",
        "2_Normalize/config.json",
        "config_sentence_transformers.json",
    ]:
        assert (tmp_path / "ours" / name).read_text() == (tmp_path / "st" / name).read_text(), name


def test_legacy_st_configs_are_read(tmp_path, bert):
    folder = bert.save(tmp_path / "legacy")
    (folder / "1_Pooling" / "config.json").write_text(
        json.dumps(
            {
                "word_embedding_dimension": 32,
                "pooling_mode_cls_token": True,
                "pooling_mode_mean_tokens": False,
            }
        )
    )
    (folder / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": 12, "do_lower_case": False})
    )
    modules = json.loads((folder / "modules.json").read_text())
    for m in modules:
        m["type"] = "sentence_transformers.models." + m["type"].rsplit(".", 1)[-1]
    (folder / "modules.json").write_text(json.dumps(modules))
    layout = read_st_layout(folder)
    assert (layout.pooling, layout.max_seq_length, layout.normalize) == ("cls", 12, True)
    assert EmbeddingModel.load(folder).max_length == 12


def test_save_is_atomic(tmp_path, bert, monkeypatch):
    target = bert.save(tmp_path / "ckpt")
    (target / "marker").write_text("old")
    bert.save(target)  # overwriting replaces the whole folder
    assert not (target / "marker").exists() and (target / "modules.json").is_file()
    (target / "marker").write_text("old")

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("embed.model.write_st_layout", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        bert.save(target)
    assert (target / "marker").read_text() == "old"  # the previous checkpoint is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]  # no temp folder left behind


@pytest.mark.slow
def test_real_me5_small_matches_st_both_ways(tmp_path, real_me5, me5_model, st_cls):
    ours = me5_model
    _assert_same(ours, st_cls(str(real_me5), device="cpu"), "query")
    ours.save(tmp_path / "me5")
    _assert_same(ours, st_cls(str(tmp_path / "me5"), device="cpu"), "document")


def test_real_qwen3_tiny_matches_st_both_ways(tmp_path, real_qwen3_tiny, st_cls):
    ours = EmbeddingModel.load(real_qwen3_tiny, prompts=QWEN_PROMPTS)
    _assert_same(ours, st_cls(str(real_qwen3_tiny), device="cpu", prompts=QWEN_PROMPTS), "query")
    ours.save(tmp_path / "q")
    _assert_same(ours, st_cls(str(tmp_path / "q"), device="cpu"), "query")
