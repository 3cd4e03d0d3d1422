"""EmbeddingModel: loading rules, batch-mate independence, order, Matryoshka, gradients, fingerprints, errors."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from embed import EmbeddingModel, ModelLoadError, qwen3_instruct

JA = ["今日は良い天気です。", "本日は晴天なり。", "株価が急落した。", "猫が窓辺で眠っている。"]
LONG = "東京都は日本の首都であり、人口は約千四百万人である。" * 3
SHORT = "雨"


def test_plain_folder_infers_pooling_padding_and_normalisation(bert, qwen):
    assert (bert.pooling, bert.is_decoder, bert.normalize, bert.dim) == ("mean", False, True, 32)
    assert bert.tokenizer.padding_side == "right" and bert.eos_token is None
    assert (qwen.pooling, qwen.is_decoder, qwen.dim) == ("lasttoken", True, 64)
    assert qwen.tokenizer.padding_side == "left"
    assert bert.max_length == 64  # min(tokenizer.model_max_length, max_position_embeddings)
    assert qwen.max_length == 128  # tokenizer says 131072, the model has 128 positions


def test_load_overrides(tiny_bert_dir):
    model = EmbeddingModel.load(
        tiny_bert_dir, pooling="cls", normalize=False, max_length=16, prompts={"query": "query: "}
    )
    assert (model.pooling, model.normalize, model.max_length, model.prompts) == (
        "cls",
        False,
        16,
        {"query": "query: "},
    )
    emb = model.encode(["abc"], prompt_name="query")
    assert not np.isclose(np.linalg.norm(emb), 1.0)


def _alone_vs_batched(model, prompt=None):
    alone = model.encode([JA[0]], prompt=prompt)
    batched = model.encode([LONG, JA[0], SHORT, JA[2]], prompt=prompt, batch_size=4)
    return alone[0], batched[1]


@pytest.mark.parametrize("which", ["bert", "qwen"])
def test_embedding_does_not_depend_on_batch_mates(which, request):
    model = request.getfixturevalue(which)
    alone, batched = _alone_vs_batched(model, prompt=qwen3_instruct("Retrieve semantically similar text"))
    np.testing.assert_allclose(alone, batched, atol=1e-5)


def test_decoder_right_padding_gives_the_same_embeddings(tiny_qwen3_dir, qwen):
    right = EmbeddingModel.load(tiny_qwen3_dir)
    right.tokenizer.padding_side = "right"
    texts = [LONG, JA[0], SHORT]
    np.testing.assert_allclose(right.encode(texts), qwen.encode(texts), atol=1e-5)
    alone, batched = _alone_vs_batched(right)
    np.testing.assert_allclose(alone, batched, atol=1e-5)


def test_output_is_in_input_order_and_deterministic(qwen):
    texts = [SHORT, LONG, *JA]
    emb = qwen.encode(texts, batch_size=2)
    perm = [3, 0, 5, 1, 4, 2]
    np.testing.assert_allclose(qwen.encode([texts[i] for i in perm], batch_size=3), emb[perm], atol=1e-5)
    np.testing.assert_array_equal(qwen.encode(texts, batch_size=2), emb)
    singles = np.stack([qwen.encode([t])[0] for t in texts])
    np.testing.assert_allclose(emb, singles, atol=1e-5)
    assert len({tuple(np.round(r, 4)) for r in emb}) == len(texts)  # distinct texts, distinct vectors


def test_matryoshka_dim_is_prefix_renormalised(bert):
    full = bert.encode(JA)
    small = bert.encode(JA, dim=8)
    assert small.shape == (4, 8)
    expected = full[:, :8] / np.linalg.norm(full[:, :8], axis=1, keepdims=True)
    np.testing.assert_allclose(small, expected, atol=1e-6)
    raw = bert.encode(JA, dim=8, normalize=False)
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0)
    with pytest.raises(ValueError, match="dim must be"):
        bert.encode(JA, dim=33)


def test_as_tensor_and_prompts(bert):
    out = bert.encode(JA[:2], as_numpy=False)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and not out.requires_grad
    with_prompt = bert.encode(JA[:1], prompt="query: ")
    np.testing.assert_allclose(with_prompt, bert.encode(["query: " + JA[0]]), atol=1e-6)
    assert not np.allclose(with_prompt, bert.encode(JA[:1]), atol=1e-3)


def test_forward_is_differentiable_and_matches_encode(tiny_qwen3_dir):
    model = EmbeddingModel.load(tiny_qwen3_dir)
    model.train()
    model.model.config.attention_dropout = 0.0
    feats = model.tokenize(JA, prompt=qwen3_instruct("t"))
    emb = model(feats)
    assert emb.requires_grad and emb.shape == (4, 64)
    (emb @ emb.T).sum().backward()
    grads = [p.grad for p in model.model.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)
    np.testing.assert_allclose(emb.detach().numpy(), model.encode(JA, prompt=qwen3_instruct("t")), atol=1e-5)
    assert model.training  # encode() restores the caller's mode


def test_progress_bar_reports_texts_per_second(bert, capsys):
    bert.encode(JA, show_progress=True)
    assert "texts/s" in capsys.readouterr().err
    bert.encode(JA)
    assert "texts/s" not in capsys.readouterr().err


def test_bad_inputs(bert):
    with pytest.raises(ValueError, match="empty list of texts"):
        bert.encode([])
    with pytest.raises(TypeError, match="index 1 is NoneType"):
        bert.encode(["a", None])
    with pytest.raises(ValueError, match="unknown prompt name"):
        bert.encode(["a"], prompt_name="query")
    with pytest.raises(ValueError, match="batch_size"):
        bert.encode(["a"], batch_size=0)


def test_load_errors(tmp_path, tiny_bert_dir):
    with pytest.raises(ValueError, match="unknown pooling mode 'max'"):
        EmbeddingModel.load(tiny_bert_dir, pooling="max")
    empty = tmp_path / "noweights"
    shutil.copytree(tiny_bert_dir, empty)
    (empty / "model.safetensors").unlink()
    with pytest.raises(ModelLoadError, match=r"no model weights in .*noweights: expected model\.safetensors"):
        EmbeddingModel.load(empty)
    (empty / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(ModelLoadError, match=r"only pickle weights \(pytorch_model\.bin\)"):
        EmbeddingModel.load(empty)
    with pytest.raises(ModelLoadError, match="no config.json"):
        EmbeddingModel.load(tmp_path)
    with pytest.raises(ModelLoadError, match="does not exist"):
        EmbeddingModel.load(tmp_path / "missing")
    with pytest.raises(ModelLoadError, match="not-a-model"):
        EmbeddingModel.load("not-a-model")


def test_unknown_pooling_in_st_config(tmp_path, bert):
    folder = bert.save(tmp_path / "st")
    (folder / "1_Pooling" / "config.json").write_text('{"embedding_dimension": 32, "pooling_mode": "max"}')
    with pytest.raises(ModelLoadError, match=r"unknown pooling mode 'max'.*1_Pooling"):
        EmbeddingModel.load(folder)


def test_fingerprint_tracks_weights_and_config(tmp_path, tiny_bert_dir):
    a = EmbeddingModel.load(tiny_bert_dir)
    copy = tmp_path / "copy"
    shutil.copytree(tiny_bert_dir, copy)
    assert EmbeddingModel.load(copy).fingerprint() == a.fingerprint() == a.fingerprint()
    assert EmbeddingModel.load(tiny_bert_dir, max_length=16).fingerprint() != a.fingerprint()
    assert EmbeddingModel.load(tiny_bert_dir, pooling="cls").fingerprint() != a.fingerprint()
    assert EmbeddingModel.load(tiny_bert_dir, normalize=False).fingerprint() != a.fingerprint()
    before = a.fingerprint()
    with torch.no_grad():
        next(a.model.parameters()).add_(0.01)  # an optimizer step changes weights in place
    changed = a.fingerprint()
    assert changed != before
    with torch.no_grad():
        next(a.model.parameters()).sub_(0.01)
    b = EmbeddingModel.load(tiny_bert_dir)
    with torch.no_grad():
        next(b.model.parameters()).add_(0.01)
    assert b.fingerprint() == changed  # same in-memory weights, same fingerprint


def test_fingerprint_changes_with_file_contents(tmp_path, tiny_bert_dir):
    from safetensors.torch import load_file, save_file

    folder = tmp_path / "m"
    shutil.copytree(tiny_bert_dir, folder)
    before = EmbeddingModel.load(folder).fingerprint()
    state = load_file(folder / "model.safetensors")
    key = sorted(state)[0]
    state[key] = state[key] + 1.0
    save_file(state, folder / "model.safetensors", metadata={"format": "pt"})
    assert EmbeddingModel.load(folder).fingerprint() != before


def test_real_me5_small_ranks_paraphrase_above_unrelated(me5_model):
    model = me5_model
    assert (model.pooling, model.normalize, model.dim) == ("mean", True, 384)
    assert model.prompts.get("query") == "query: " and model.prompts.get("document") == "passage: "
    emb = model.encode(JA[:3], prompt_name="query")
    sims = emb @ emb.T
    assert sims[0, 1] > sims[0, 2] and sims[0, 1] > sims[1, 2]
    alone = model.encode([JA[0]], prompt_name="query")
    np.testing.assert_allclose(
        alone[0], model.encode([LONG, JA[0], SHORT], prompt_name="query")[1], atol=1e-5
    )


def test_real_qwen3_tiny_batch_mates(real_qwen3_tiny):
    model = EmbeddingModel.load(real_qwen3_tiny)
    assert model.pooling == "lasttoken" and model.tokenizer.padding_side == "left"
    assert not model.appends_eos  # the bootstrapped tokenizer appends <|endoftext|> itself
    alone, batched = _alone_vs_batched(model, prompt=qwen3_instruct("Retrieve semantically similar text"))
    np.testing.assert_allclose(alone, batched, atol=1e-5)


def test_batches_are_sorted_longest_first(bert, monkeypatch):
    seen: list[list[str]] = []
    original = bert._tokenize

    def spy(texts, max_length):
        seen.append(list(texts))
        return original(texts, max_length)

    monkeypatch.setattr(bert, "_tokenize", spy)
    texts = [SHORT, JA[0], LONG, JA[2], "ab"]
    bert.encode(texts, batch_size=2)
    assert seen[0][0] == LONG
    lengths = [len(t) for batch in seen for t in batch]
    assert lengths == sorted(lengths, reverse=True) and len(lengths) == len(texts)


def test_bf16_path_returns_fp32_close_to_fp32(tiny_qwen3_dir, qwen):
    half = EmbeddingModel.load(tiny_qwen3_dir, dtype="bfloat16")
    assert half.dtype == torch.bfloat16
    emb = half.encode(JA)
    assert emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert ((emb * qwen.encode(JA)).sum(1) > 0.99).all()


def test_device_and_dtype_defaults():
    from embed import resolve_device, resolve_dtype

    assert resolve_dtype(None, torch.device("cpu")) == torch.float32
    assert (
        resolve_dtype("auto", torch.device("cpu")) == torch.float32
    )  # CPU encoding stays fp32 (hardware.py)
    assert resolve_dtype("bf16", torch.device("cpu")) == torch.bfloat16
    with pytest.raises(ValueError, match="unknown dtype"):
        resolve_dtype("int3", torch.device("cpu"))
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


def test_uncached_hub_id_is_one_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="'tsumugi-test/not-cached' is not a local folder"):
        EmbeddingModel.load("tsumugi-test/not-cached")


def test_lasttoken_on_encoder_without_eos_reads_last_real_token(tiny_bert_dir):
    model = EmbeddingModel.load(tiny_bert_dir, pooling="lasttoken")
    assert model.eos_token is None and not model.appends_eos
    feats = model.tokenize(["abc", "a"])
    sep = model.tokenizer.sep_token_id
    assert feats["input_ids"][0, -1].item() == sep and feats["input_ids"][1, 2].item() == sep
    alone = model.encode(["a"])
    np.testing.assert_allclose(alone[0], model.encode([LONG, "a"])[1], atol=1e-5)


def test_cpu_encode_rule_reaches_loading_but_not_scoring(monkeypatch, me5_small_path):
    """``auto`` encoding follows the CPU encode rule (forced to bf16 here); JMTEB scoring loads stay fp32."""
    from embed import EmbeddingModel
    from eval.runner import load_model

    monkeypatch.setenv("TSUMUGI_CPU_ENCODE_DTYPE", "bfloat16")
    fast = EmbeddingModel.load(me5_small_path, device="cpu")
    scoring = load_model(str(me5_small_path), device="cpu", dtype=None)
    pinned = load_model(str(me5_small_path), device="cpu", dtype="bfloat16")
    assert fast.dtype == torch.bfloat16 and scoring.dtype == torch.float32 and pinned.dtype == torch.bfloat16
    a, b = fast.encode(JA), scoring.encode(JA)
    assert ((a * b).sum(1) > 0.999).all()  # bf16 embeddings point the same way as fp32 ones
