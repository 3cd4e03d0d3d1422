"""Suites: every JMTEB v1 dataset is either run or skipped with a reason; stand-ins are labelled."""

from __future__ import annotations

import pytest

from eval.data import DataError
from eval.data.hub import hub_rows, hub_unreachable_reason
from eval.suite import get_suite
from eval.tasks import JMTEB_V1, MAIN_METRIC

JMTEB_NAMES = {d.name for d in JMTEB_V1}


def test_jmteb_v1_has_16_datasets_with_main_metrics():
    assert len(JMTEB_V1) == 16
    counts = {}
    for d in JMTEB_V1:
        counts[d.category] = counts.get(d.category, 0) + 1
    assert counts == {
        "Retrieval": 6,
        "STS": 2,
        "Classification": 4,
        "Reranking": 1,
        "Clustering": 2,
        "PairClassification": 1,
    }
    assert MAIN_METRIC["PairClassification"] == "binary_f1" and MAIN_METRIC["Clustering"] == "v_measure_score"
    jsts = next(d for d in JMTEB_V1 if d.name == "jsts")
    assert jsts.hub_splits["val"]["data"].split == "train"  # JMTEB selects on JSTS train
    assert jsts.local_task.splits["test"]["data"].path.endswith("valid-v1.3.json")  # JMTEB test = JGLUE valid


def test_jmteb_v1_offline_runs_local_copies_and_skips_the_rest(shared_data, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub_unreachable_reason.cache_clear()
    suite = get_suite("jmteb-v1", shared_data)
    assert [t.name for t in suite.tasks] == ["jsts", "jsick", "amazon_counterfactual_classification"]
    assert suite.task("jsick").status == "approximate" and "approx" in suite.task("jsick").label
    assert {s.name for s in suite.skipped} | {t.name for t in suite.tasks} == JMTEB_NAMES
    for s in suite.skipped:
        assert "data not available offline" in s.reason and "hub unreachable" in s.reason


def test_local_suite_accounts_for_all_16(shared_data):
    suite = get_suite("local", shared_data)
    covered = {t.stand_in_for or t.name for t in suite.tasks}
    skipped = {s.name: s.reason for s in suite.skipped}
    assert covered | set(skipped) == JMTEB_NAMES
    assert skipped["jaqket"] == "data not available offline; stand-in jsquad_retrieval reported instead"
    assert skipped["jagovfaqs_22k"] == "data not available offline"
    assert suite.task("jsquad_retrieval").label == "jsquad_retrieval (stand-in for jaqket)"
    assert suite.task("jnli_pair_classification").label_map["entailment"] == 1
    for t in suite.tasks:
        assert (t.status == "stand-in") == (t.stand_in_for is not None)
    # categories in JMTEB order
    order = ["Retrieval", "STS", "Classification", "Reranking", "Clustering", "PairClassification"]
    cats = [t.category for t in suite.tasks]
    assert cats == sorted(cats, key=order.index)


def test_quick_suite_is_subsampled(shared_data):
    suite = get_suite("quick", shared_data)
    assert [t.name for t in suite.tasks] == [
        "jsts",
        "amazon_counterfactual_classification",
        "jsquad_retrieval",
    ]
    assert all(t.subsample for t in suite.tasks) and all("subsample" in t.label for t in suite.tasks)
    assert all(s.reason for s in suite.skipped)


def test_missing_local_data_is_skipped_not_dropped(tmp_path):
    suite = get_suite("local", tmp_path)
    assert suite.tasks == []
    reasons = {s.name: s.reason for s in suite.skipped}
    assert reasons["jsts"].startswith("local data missing: ") and str(tmp_path) in reasons["jsts"]


def test_unknown_suite_and_task_selection(shared_data):
    with pytest.raises(KeyError, match="unknown suite"):
        get_suite("nope", shared_data)
    sub = get_suite("local", shared_data).only(["jsts"])
    assert [t.name for t in sub.tasks] == ["jsts"]
    assert any(s.reason.startswith("not selected") for s in sub.skipped)
    with pytest.raises(KeyError):
        get_suite("local", shared_data).only(["nope"])


def test_hub_rows_offline_reports_skip(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub_unreachable_reason.cache_clear()
    with pytest.raises(DataError, match=r"hf://sbintuitions/JMTEB/jsts\[test\]: skipped: hub unreachable"):
        hub_rows("jsts", "test")
    hub_unreachable_reason.cache_clear()


def test_hub_code_path_with_a_fake_hub(monkeypatch, tmp_path):
    """With the hub "reachable", jmteb-v1 reads every dataset from sbintuitions/JMTEB via datasets.load_dataset."""
    import datasets

    import eval.data.hub as hub
    import eval.suite as suite_mod
    from eval.data import load_task_data

    calls = []

    def fake_load_dataset(path, name=None, split=None, **kw):
        calls.append((path, name, split))
        return [
            {"sentence1": f"{split} {i}", "sentence2": f"文 {i}", "label": float(i % 5)} for i in range(4)
        ]

    monkeypatch.setattr(hub, "hub_unreachable_reason", lambda: None)
    monkeypatch.setattr(suite_mod, "hub_unreachable_reason", lambda: None)
    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    suite = get_suite("jmteb-v1", tmp_path)
    assert len(suite.tasks) == 16 and not suite.skipped and all(t.status == "hub" for t in suite.tasks)
    data = load_task_data(suite.task("jsts"), tmp_path)
    assert calls == [("sbintuitions/JMTEB", "jsts", "train"), ("sbintuitions/JMTEB", "jsts", "test")]
    assert data.val.sentence1[0] == "train 0" and len(data.test) == 4
    mrtydi = suite.task("mrtydi")
    assert mrtydi.splits["val"]["corpus"] == mrtydi.splits["test"]["corpus"]  # one corpus, one cache entry
    assert (mrtydi.splits["val"]["corpus"].path, mrtydi.splits["val"]["corpus"].split) == (
        "mrtydi-corpus",
        "corpus",
    )
    assert mrtydi.score_kwargs == {"doc_chunk_size": 10000}


def test_subsampled_caps_tasks_and_rejects_unknown_names():
    from eval.suite import get_suite

    suite = get_suite("local")
    capped = suite.subsampled({"*": {"max_val_rows": 50}, "jsts": {"max_val_rows": 10, "max_test_rows": 20}})
    jsts = capped.task("jsts")
    assert dict(jsts.subsample) == {"max_val_rows": 10, "max_test_rows": 20}
    assert "subsample" in jsts.label
    other = [t for t in capped.tasks if t.name != "jsts"]
    assert other and all(dict(t.subsample).get("max_val_rows") == 50 for t in other)
    assert [t.name for t in capped.tasks] == [t.name for t in suite.tasks]
    assert all(not t.subsample for t in suite.tasks)  # the original is untouched
    with pytest.raises(KeyError, match="no_such_task"):
        suite.subsampled({"no_such_task": {"max_rows": 1}})
