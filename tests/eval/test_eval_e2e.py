"""End to end on the real multilingual-e5-small (bootstrapped): a subsampled ``quick`` run, then a cached re-run."""

from __future__ import annotations

import json

import pytest

from eval.runner import evaluate
from eval.suite import Suite, get_suite


class CountingModel:
    """Delegates to an EmbeddingModel and counts the texts it is asked to encode."""

    def __init__(self, model):
        self.model = model
        self.texts = 0

    def __getattr__(self, name):
        return getattr(self.model, name)

    def encode(self, texts, **kwargs):
        self.texts += len(texts)
        return self.model.encode(texts, **kwargs)


@pytest.mark.slow
def test_quick_suite_on_me5_small(me5_small_path, shared_data, tmp_path):
    from embed.model import EmbeddingModel

    quick = get_suite("quick", shared_data)
    limits = {
        "jsts": {"max_rows": 120},
        "amazon_counterfactual_classification": {"max_train": 240, "max_rows": 120},
        "jsquad_retrieval": {"max_queries": 30, "max_corpus": 60},
    }
    suite = Suite(
        "quick", [t.with_subsample(**limits[t.name]) for t in quick.tasks], quick.skipped, shared_data
    )
    model = CountingModel(EmbeddingModel.load(me5_small_path))
    kw = dict(
        prefixes="model", cache_dir=tmp_path / "cache", max_length=192, batch_size=32, print_table=False
    )
    res = evaluate(model, suite, out_dir=tmp_path / "run", name="me5-small", **kw)
    assert model.texts > 0
    s = res.summary()
    assert s["STS"]["jsts"]["spearman"] > 0.6  # 78.6 on the full split
    assert s["Retrieval"]["jsquad_retrieval"]["ndcg@10"] > 0.6
    assert 0.3 < s["Classification"]["amazon_counterfactual_classification"]["macro_f1"] <= 1.0
    assert json.loads((tmp_path / "run/summary.json").read_text()) == s

    again = CountingModel(model.model)
    res2 = evaluate(again, suite, out_dir=tmp_path / "run2", name="me5-small", **kw)
    assert again.texts == 0 and res2.summary() == s
