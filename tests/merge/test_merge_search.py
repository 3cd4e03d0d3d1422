"""The merge search: grid expansion, ranking with a scoring callable, keep-best, resume, and a real eval run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from merge_fixtures import read_tensors, tiny_tensors, write_checkpoint

from merge import MergeError
from merge.grid import expand
from merge.search import run_search, search_from_config


def test_grid_expansion_names_and_recipes():
    cands = expand(
        ["x/a", "x/b", "x/c"],
        [
            {"method": "slerp", "grid": {"t": [0.3, 0.7]}},
            {"method": "linear", "models": [[0, 2]], "grid": {"weights": [[1, 1], [2, 1]]}},
            {"method": "ties", "grid": {"density": [0.5]}},
        ],
        base_model="x/base",
    )
    names = [c.name for c in cands]
    assert names[:3] == ["a", "b", "c"]
    assert (
        "slerp(a+b) t=0.3" in names
        and "slerp(b+c) t=0.7" in names
        and len([n for n in names if "slerp" in n]) == 6
    )
    lin = next(c for c in cands if c.name == "linear(a+c) w=[2,1]")
    assert lin.recipe["models"] == [
        {"model": "x/a", "parameters": {"weight": 2}},
        {"model": "x/c", "parameters": {"weight": 1}},
    ]
    ties = next(c for c in cands if c.name.startswith("ties"))
    assert ties.recipe["base_model"] == "x/base" and ties.recipe["parameters"] == {"density": 0.5}
    with pytest.raises(MergeError, match="weights"):
        expand(["a", "b"], [{"method": "linear", "grid": {"weights": [[1, 2, 3]]}}])


def _distance_scorer(target: dict[str, torch.Tensor], calls: list[str]):
    """A fake JMTEB score: 1 - mean |w - target| (higher is closer), as an eval.leaderboard.Entry."""
    from eval.leaderboard import Entry

    def score(model_dir, name, run_dir: Path):
        calls.append(name)
        w = read_tensors(Path(model_dir))
        d = sum(float((w[k] - target[k]).abs().mean()) for k in target) / len(target)
        summary = {"STS": {"jsts": {"spearman": 1 - d}}}
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "summary.json").write_text(json.dumps(summary))
        (run_dir / "meta.json").write_text(json.dumps({"model": name, "mode": "official", "tasks": {}}))
        return Entry(name, summary, str(run_dir))

    return score


def test_search_ranks_keeps_best_and_resumes(tmp_path):
    ta, tb = tiny_tensors(1), tiny_tensors(2)
    a, b = write_checkpoint(tmp_path / "a", ta), write_checkpoint(tmp_path / "b", tb)
    target = {k: 0.6 * ta[k] + 0.4 * tb[k] for k in ta}  # closest: linear/slerp near t=0.4
    calls: list[str] = []
    grid = [
        {"method": "linear", "grid": {"weights": [[1, 1], [3, 2], [1, 3]]}},
        {"method": "slerp", "grid": {"t": [0.1, 0.9]}},
    ]
    out = tmp_path / "search"
    rows = run_search([str(a), str(b)], grid, out, scorer=_distance_scorer(target, calls))
    assert len(rows) == 7 and len(calls) == 7
    assert rows[0].candidate.name == "linear(a+b) w=[3,2]"
    ranking = json.loads((out / "ranking.json").read_text())
    assert [r["rank"] for r in ranking] == list(range(1, 8))
    assert ranking[0]["kept_at"] == str(out / "best")
    assert ranking[0]["average"] > ranking[-1]["average"]
    for f in ("leaderboard.md", "leaderboard.csv", "leaderboard.png"):
        assert (out / f).is_file()
    assert "linear(a+b) w=[3,2]" in (out / "leaderboard.md").read_text()
    best = read_tensors(out / "best")
    assert all(torch.allclose(best[k], target[k], atol=1e-6) for k in target)
    assert not any((out / "candidates").iterdir())  # keep: best leaves only out/best
    # resume: every run folder exists, nothing is recomputed, the best stays
    calls.clear()
    rows2 = run_search([str(a), str(b)], grid, out, scorer=_distance_scorer(target, calls))
    assert calls == [] and rows2[0].candidate.name == rows[0].candidate.name and (out / "best").is_dir()
    # changed eval settings: every candidate is scored again (a stale score never ranks a new search)
    rescored = _distance_scorer(target, calls)
    rescored.settings = {"subsample": {"jsts": {"max_test_rows": 10}}}
    run_search([str(a), str(b)], grid, out, scorer=rescored)
    assert len(calls) == 7
    calls.clear()
    again = _distance_scorer(target, calls)
    again.settings = {"subsample": {"jsts": {"max_test_rows": 10}}}
    run_search([str(a), str(b)], grid, out, scorer=again)
    assert calls == []


def test_search_rejects_a_bad_grid_before_merging(tmp_path, tiny_pair):
    with pytest.raises(MergeError, match="no parameter"):
        run_search(
            [str(p) for p in tiny_pair],
            [{"method": "linear", "parameters": {"t": 1}}],
            tmp_path / "s",
            scorer=lambda *a: pytest.fail("scored before the grid was checked"),
        )
    assert not (tmp_path / "s").exists()


@pytest.mark.slow
def test_search_with_eval_on_jsts(tmp_path, qwen3_pair, shared_data):
    """A real ranking run through eval.runner.evaluate (JSTS subsample of the quick suite)."""
    cfg = {
        "checkpoints": [str(p) for p in qwen3_pair],
        "labels": ["ckA", "ckB"],
        "include_inputs": True,
        "keep": "best",
        "grid": [{"method": "slerp", "grid": {"t": [0.5]}}],
        "eval": {
            "suite": "quick",
            "prefix": "model",
            "tasks": ["jsts"],
            "subsample": {"jsts": {"max_test_rows": 40}},
            "cache_dir": str(tmp_path / "cache"),
            "data_root": str(shared_data),
        },
        "out_dir": str(tmp_path / "search"),
    }
    rows = search_from_config(cfg)
    assert {r.candidate.name for r in rows} == {"ckA", "ckB", "slerp(ckA+ckB) t=0.5"}
    assert all(0 < r.average <= 1 for r in rows)
    assert (tmp_path / "search" / "best" / "modules.json").is_file()
    assert (tmp_path / "search" / "runs" / "slerp_ckA+ckB_t=0.5" / "summary.json").is_file()
    sts = json.loads((tmp_path / "search" / "runs" / "ckA" / "STS" / "scores_jsts.json").read_text())
    assert sts["task"]["sizes"]["test"] == 40  # eval.subsample reached the scorer's suite


def test_subsampled_suite_caps_only_the_named_split(shared_data):
    from eval.data.task_data import load_task_data
    from eval.suite import get_suite

    suite = get_suite("local", str(shared_data)).subsampled({"jsts": {"max_val_rows": 100}})
    data = load_task_data(suite.task("jsts"), shared_data)
    assert (len(data.val), len(data.test)) == (100, 1457)
    assert not suite.task("jsquad_retrieval").subsample
    with pytest.raises(KeyError, match="jstss"):
        get_suite("local", str(shared_data)).subsampled({"jstss": {"max_val_rows": 100}})


def test_keep_from_all_keeps_an_input_no_merge_beats(tmp_path):
    """keep_from=all: the last checkpoint outscores every merge, so out/best is that checkpoint (its optimizer
    state left out) and ranking.json says so; keep_from=merges keeps the best merge as before."""
    ta, tb = tiny_tensors(1), tiny_tensors(2)
    a, b = write_checkpoint(tmp_path / "a", ta), write_checkpoint(tmp_path / "b", tb)
    (b / "trainer_state").mkdir()
    (b / "trainer_state" / "optimizer.bin").write_bytes(b"x" * 100)
    target = dict(tb)  # b itself is the best model: no merge of a and b reaches it
    grid = [{"method": "slerp", "grid": {"t": [0.5, 0.8]}}]
    calls: list[str] = []
    out = tmp_path / "all"
    rows = run_search(
        [str(a), str(b)],
        grid,
        out,
        scorer=_distance_scorer(target, calls),
        include_inputs=[-1],
        keep_from="all",
    )
    assert calls == ["b", "slerp(a+b) t=0.5", "slerp(a+b) t=0.8"]  # input a is not scored
    assert rows[0].candidate.name == "b"
    best = read_tensors(out / "best")
    assert all(torch.equal(best[k], tb[k]) for k in tb)
    assert not (out / "best" / "trainer_state").exists() and not (out / ".best.tmp").exists()
    assert not any((out / "candidates").iterdir())
    ranking = json.loads((out / "ranking.json").read_text())
    assert (
        ranking[0]["name"] == "b"
        and ranking[0]["kind"] == "input"
        and ranking[0]["kept_at"] == str(out / "best")
    )
    # resume: nothing re-scored, the kept input stays
    calls.clear()
    run_search(
        [str(a), str(b)],
        grid,
        out,
        scorer=_distance_scorer(target, calls),
        include_inputs=[-1],
        keep_from="all",
    )
    assert calls == [] and all(torch.equal(read_tensors(out / "best")[k], tb[k]) for k in tb)
    # keep_from=merges: the best merge is kept even though the input ranks first
    merges_out = tmp_path / "merges"
    run_search([str(a), str(b)], grid, merges_out, scorer=_distance_scorer(target, []), include_inputs=[-1])
    kept = read_tensors(merges_out / "best")
    assert not all(torch.equal(kept[k], tb[k]) for k in tb)
    ranking = json.loads((merges_out / "ranking.json").read_text())
    assert ranking[0]["name"] == "b" and ranking[0]["kept_at"] is None
    assert next(r for r in ranking if r["kept_at"])["name"] == "slerp(a+b) t=0.8"
    with pytest.raises(MergeError, match="include_inputs"):
        expand(["a", "b"], grid, include_inputs=[2])
    with pytest.raises(MergeError, match="keep_from"):
        run_search(
            [str(a), str(b)], grid, tmp_path / "x", scorer=_distance_scorer(target, []), keep_from="inputs"
        )
