"""Embedding cache: a re-run encodes nothing, keys separate what differs, files appear atomically; dims; NaN."""

from __future__ import annotations

import numpy as np
import pytest

from eval.cache import CacheKey, EmbeddingCache
from eval.data import EmbeddingError
from eval.dims import model_normalizes, truncate
from eval.encoding import TextEncoder
from eval.runner import evaluate
from eval.suite import get_suite


def test_cache_hit_needs_no_encode(tmp_path, make_encoder):
    texts = ["犬が走る", "猫が寝る", "犬が走る"]
    first = make_encoder()
    enc = TextEncoder(first, EmbeddingCache(tmp_path))
    a = enc.embed(texts, dataset="d", split="test", side="text", prefix="query: ")
    assert first.calls == [2]  # duplicates encoded once
    assert a.dtype == np.float32 and a.shape == (3, 32) and np.array_equal(a[0], a[2])
    second = make_encoder()  # a new process: only the disk cache is shared
    b = TextEncoder(second, EmbeddingCache(tmp_path)).embed(
        texts, dataset="d", split="test", side="text", prefix="query: "
    )
    assert second.calls == [] and np.array_equal(a, b)
    assert not list(tmp_path.rglob(".*tmp*"))  # atomic writes leave no temporaries
    npy = list(tmp_path.rglob("*.npy"))
    assert len(npy) == 1 and npy[0].with_suffix(".json").is_file()


@pytest.mark.parametrize("change", ["prefix", "texts", "max_length", "split", "model"])
def test_cache_key_separates(tmp_path, make_encoder, change):
    model = make_encoder()
    base = dict(dataset="d", split="test", side="text", prefix="")
    texts = ["a b", "c d"]
    TextEncoder(model, EmbeddingCache(tmp_path)).embed(texts, **base)
    other = make_encoder(dim=16) if change == "model" else make_encoder()
    enc = TextEncoder(other, EmbeddingCache(tmp_path), max_length=64 if change == "max_length" else None)
    kw = dict(base)
    if change == "prefix":
        kw["prefix"] = "query: "
    if change == "split":
        kw["split"] = "val"
    enc.embed(["a b", "c e"] if change == "texts" else texts, **kw)
    assert other.calls == [2]


def test_corrupt_cache_file_is_recomputed(tmp_path, make_encoder):
    cache = EmbeddingCache(tmp_path)
    key = CacheKey("m", "d", "s", "text", "", None)
    path = cache.path(key, ["x"])
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not an npy file")
    assert EmbeddingCache(tmp_path).get(key, ["x"]) is None


def test_memory_only_cache(make_encoder):
    m = make_encoder()
    enc = TextEncoder(m, EmbeddingCache(None))
    enc.embed(["x"], dataset="d", split="s", side="t", prefix="")
    enc.embed(["x"], dataset="d", split="s", side="t", prefix="")
    assert m.calls == [1]


def test_nan_embedding_names_dataset_split_row(tmp_path, make_encoder):
    enc = TextEncoder(make_encoder(nan_on="壊れた"), EmbeddingCache(tmp_path))
    with pytest.raises(
        EmbeddingError, match=r"dataset 'jsts', split 'test', side 'sentence1', row 1 .*壊れた"
    ):
        enc.embed(["普通の文", "壊れた文"], dataset="jsts", split="test", side="sentence1", prefix="")
    assert not list(tmp_path.rglob("*.npy"))  # nothing cached


def test_truncate_renormalises_only_normalising_models():
    rng = np.random.default_rng(0)
    raw = rng.normal(size=(5, 8)).astype(np.float32)
    unit = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    t = truncate(unit, 4, renormalize=True)
    assert np.allclose(np.linalg.norm(t, axis=1), 1.0)
    # truncating the stored unit vector then renormalising == what the model would output at width 4
    assert np.allclose(t, raw[:, :4] / np.linalg.norm(raw[:, :4], axis=1, keepdims=True), atol=1e-6)
    assert np.array_equal(truncate(raw, 4, renormalize=False), raw[:, :4])
    assert truncate(raw, None, renormalize=True) is raw
    with pytest.raises(ValueError):
        truncate(raw, 9, renormalize=True)


def test_model_normalizes(make_encoder):
    assert model_normalizes(make_encoder(normalize=True)) is True
    assert model_normalizes(make_encoder(normalize=False)) is False

    class NoFlag:
        pass

    unit = np.eye(3, dtype=np.float32)
    assert model_normalizes(NoFlag(), unit) and not model_normalizes(NoFlag(), 2 * unit)


def test_rerun_encodes_nothing_and_dims_share_one_encode(tiny_root, tmp_path, make_encoder):
    suite = get_suite("local", tiny_root)
    first = make_encoder()
    r1 = evaluate(first, suite, cache_dir=tmp_path / "cache", dims=[8, 16], print_table=False)
    n_calls = len(first.calls)
    assert n_calls > 0
    second = make_encoder()
    r2 = evaluate(second, suite, cache_dir=tmp_path / "cache", dims=[8, 16], print_table=False)
    assert second.calls == []
    assert r1.summary() == r2.summary() and r1.summary(8) == r2.summary(8)
    assert r1.summary(8) != r1.summary()  # truncation changed something
    third = make_encoder()  # more widths: still no encode
    evaluate(third, suite, cache_dir=tmp_path / "cache", dims=[4], print_table=False)
    assert third.calls == []


def test_texts_a_group_already_encoded_are_reused(make_encoder):
    """Within one cache group and prefix, a new text list encodes only texts not seen before, and the rows
    equal a fresh encode; another group or prefix shares nothing."""
    model = make_encoder()
    enc = TextEncoder(model, EmbeddingCache(None))
    enc.embed(["a", "b", "c"], dataset="g", split="test", side="doc", prefix="p: ")
    got = enc.embed(["c", "d", "a", "d"], dataset="g", split="corpus", side="doc", prefix="p: ")
    assert model.calls == [3, 1] and enc.texts_reused == 2
    fresh = make_encoder().encode(["c", "d", "a", "d"], prompt="p: ")
    np.testing.assert_array_equal(got, fresh)
    enc.embed(["a", "b"], dataset="other", split="test", side="doc", prefix="p: ")
    enc.embed(["a", "b"], dataset="g", split="test", side="doc", prefix="q: ")
    assert model.calls == [3, 1, 2, 2]


def test_reranking_reuses_retrieval_embeddings_without_changing_scores(tiny_root, make_encoder):
    """JSQuAD reranking after retrieval (one cache group) encodes no passage twice and scores as it does alone."""
    both_model = make_encoder()
    both = evaluate(
        both_model,
        "local",
        data_root=tiny_root,
        tasks=["jsquad_retrieval", "jsquad_reranking"],
        cache_dir=None,
        print_table=False,
    )
    alone_model = make_encoder()
    alone = evaluate(
        alone_model,
        "local",
        data_root=tiny_root,
        tasks=["jsquad_reranking"],
        cache_dir=None,
        print_table=False,
    )
    retrieval_only = make_encoder()
    evaluate(
        retrieval_only,
        "local",
        data_root=tiny_root,
        tasks=["jsquad_retrieval"],
        cache_dir=None,
        print_table=False,
    )
    assert sum(both_model.calls) < sum(alone_model.calls) + sum(retrieval_only.calls)
    assert both.summary()["Reranking"] == alone.summary()["Reranking"]
