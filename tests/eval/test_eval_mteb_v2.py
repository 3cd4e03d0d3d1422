"""mteb 2.26 bridge: our encoder protocol wrapper, offline local tasks, JMTEB(v2) skipped without the hub."""

from __future__ import annotations

import pytest

pytest.importorskip("mteb")

from mteb.types import PromptType  # noqa: E402

from eval.data.hub import hub_unreachable_reason  # noqa: E402
from eval.mteb_v2 import LocalJSQuADRetrieval, LocalJSTS, MtebEncoder, run_jmteb_v2, run_tasks  # noqa: E402


def test_prompt_resolution(make_encoder):
    enc = MtebEncoder(
        make_encoder(prompts={"query": "query: ", "passage": "passage: ", "TsumugiLocalJSTS": "sts: "})
    )
    assert enc.prompt_for(LocalJSTS.metadata, None) == "sts: "
    r = LocalJSQuADRetrieval.metadata
    assert (
        enc.prompt_for(r, PromptType.query) == "query: "
        and enc.prompt_for(r, PromptType.document) == "passage: "
    )
    bare = MtebEncoder(make_encoder())
    assert bare.prompt_for(r, PromptType.query) == ""
    sym = MtebEncoder(make_encoder(prompts={"query": "q: "}))
    assert sym.prompt_for(LocalJSTS.metadata, None) == "q: "  # symmetric tasks: query prompt on both sides


@pytest.mark.slow
def test_local_tasks_run_offline(shared_data, make_encoder):
    model = make_encoder(prompts={"query": "query: ", "document": "passage: "})
    scores = run_tasks(
        model, [LocalJSTS(shared_data, max_rows=60), LocalJSQuADRetrieval(shared_data, max_queries=20)]
    )
    assert scores["TsumugiLocalJSTS"]["main_metric"] == "cosine_spearman"
    assert scores["TsumugiJSQuADRetrieval"]["main_metric"] == "ndcg_at_10"
    assert 0.0 < scores["TsumugiLocalJSTS"]["main_score"] <= 1.0
    assert 0.0 < scores["TsumugiJSQuADRetrieval"]["main_score"] <= 1.0
    assert "passage: " in model.seen_prompts and "query: " in model.seen_prompts
    assert 1159 in model.calls  # the whole JSQuAD test corpus


def test_jmteb_v2_skipped_offline(make_encoder, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub_unreachable_reason.cache_clear()
    out = run_jmteb_v2(make_encoder())
    hub_unreachable_reason.cache_clear()
    assert len(out) == 28 and "JSTS" in out and "JaqketRetrieval" in out
    assert all(v["skipped"].startswith("hub unreachable") for v in out.values())


def test_v2_summary_layout():
    from eval.mteb_v2 import v2_summary

    s = v2_summary(
        {
            "TsumugiLocalJSTS": {
                "main_metric": "cosine_spearman",
                "main_score": 0.8,
                "task_type": "STS",
                "eval_time_s": 1.5,
            },
            "JSTS": {"skipped": "hub unreachable"},
        }
    )
    assert s == {
        "STS": {
            "TsumugiLocalJSTS": {"main_metric": "cosine_spearman", "main_score": 80.0, "eval_time (s)": 1.5}
        }
    }
