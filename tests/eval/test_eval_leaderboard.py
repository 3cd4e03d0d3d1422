"""Leaderboard: from run folders and published summaries; md/csv/png written, sorted, best in bold; modes apart."""

from __future__ import annotations

import csv
import json

import pytest

from eval.leaderboard import Leaderboard, collect, make_leaderboard, read_run
from eval.runner import evaluate
from eval.suite import get_suite


def _fake_run(path, model, summary, mode="official"):
    path.mkdir(parents=True)
    (path / "summary.json").write_text(json.dumps(summary))
    (path / "meta.json").write_text(json.dumps({"model": model, "mode": mode, "tasks": {}}))
    return path


A = {
    "STS": {"jsts": {"spearman": 0.80}},
    "Classification": {"amazon_counterfactual_classification": {"macro_f1": 0.60}},
}
B = {
    "STS": {"jsts": {"spearman": 0.70}},
    "Classification": {"amazon_counterfactual_classification": {"macro_f1": 0.90}},
}
C = {
    "STS": {"jsts": {"spearman": 0.75}},
    "Classification": {"amazon_counterfactual_classification": {"macro_f1": 0.50}},
}


def test_files_sorting_and_bold(tmp_path):
    runs = [_fake_run(tmp_path / n, n, s) for n, s in (("a", A), ("b", B), ("c", C))]
    board = make_leaderboard([str(p) for p in runs], tmp_path / "lb")
    assert [e.name for e in board.entries] == ["b", "a", "c"]  # Avg 80.0, 70.0, 62.5
    for name in ("leaderboard.md", "leaderboard.csv", "leaderboard_datasets.csv", "leaderboard.png"):
        assert (tmp_path / "lb" / name).stat().st_size > 0
    assert (tmp_path / "lb/leaderboard.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = list(csv.DictReader((tmp_path / "lb/leaderboard.csv").open()))
    assert [r["model"] for r in rows] == ["b", "a", "c"] and [r["rank"] for r in rows] == ["1", "2", "3"]
    assert list(rows[0])[:5] == ["rank", "model", "Avg.", "STS", "Classification"]
    assert rows[0]["Avg."] == "80.0" and rows[1]["STS"] == "80.0"
    md = (tmp_path / "lb/leaderboard.md").read_text()
    assert "| b | **80.00** | 70.00 | **90.00** |" in md
    assert "| a | 70.00 | **80.00** | 60.00 |" in md


def test_glob_and_published_results(shared_data, tmp_path):
    refs = str(shared_data / "jmteb_fixtures/reference_results/intfloat/*")
    board = Leaderboard.build(collect([refs]))
    assert [e.name for e in board.entries][:1] == ["intfloat/multilingual-e5-large"]
    assert round(100 * board.entries[-1].average, 2) == 67.71  # e5-small last
    with pytest.raises(FileNotFoundError):
        collect([str(tmp_path / "nothing*")])


def test_modes_never_mixed(tmp_path):
    a = read_run(_fake_run(tmp_path / "a", "a", A))
    b = read_run(_fake_run(tmp_path / "b", "b", B, mode="corrected"))
    with pytest.raises(ValueError, match="cannot mix modes"):
        Leaderboard.build([a, b])
    board = Leaderboard.build([b])
    assert "CORRECTED mode" in board.markdown()


def test_common_only_and_different_dataset_sets(tmp_path):
    a = read_run(_fake_run(tmp_path / "a", "a", A))
    d = read_run(_fake_run(tmp_path / "d", "d", {"STS": {"jsts": {"spearman": 0.5}}}))
    assert "Rows cover different datasets" in Leaderboard.build([a, d]).markdown()
    board = Leaderboard.build([a, d], common_only=True)
    assert board.entries[0].average == pytest.approx(0.8)


def test_scores_models_then_reads_their_runs(tiny_root, tmp_path, make_encoder, monkeypatch):
    import eval.runner as runner

    monkeypatch.setattr(runner, "load_model", lambda name, **kw: make_encoder())
    board = make_leaderboard(
        ["fake-1", "fake-2"],
        tmp_path / "lb",
        evaluate_kwargs={"suite": get_suite("quick", tiny_root), "cache_dir": None},
    )
    assert {e.name for e in board.entries} == {"fake-1", "fake-2"}
    run_dir = tmp_path / "lb/runs/fake-1"
    assert (run_dir / "summary.json").is_file()
    again = Leaderboard.build(collect([str(run_dir)]))  # from the run folder, no encoding
    assert again.entries[0].summary == board.entries[0].summary and "subsample" in "".join(
        again.entries[0].labels.values()
    )


def test_dim_subfolder_is_a_row(tiny_root, tmp_path, make_encoder):
    evaluate(
        make_encoder(),
        get_suite("quick", tiny_root),
        dims=[8],
        out_dir=tmp_path / "r",
        cache_dir=None,
        print_table=False,
    )
    assert read_run(tmp_path / "r/dim_8").name == "HashEncoder @8"


def test_baseline_differences_table_and_chart(tmp_path):
    runs = [_fake_run(tmp_path / n, n, s) for n, s in (("a", A), ("b", B), ("c", C))]
    # given as the item (a path) -> its display name "base"
    board = make_leaderboard(
        [str(p) for p in runs], tmp_path / "lb", names=["base", "b", "c"], baseline=str(runs[0])
    )
    assert board.baseline == "base"
    d = board.deltas()
    assert set(d) == {"b", "c"}  # the baseline has no row of its own
    assert d["b"]["Avg."] == pytest.approx(10.0) and d["b"]["STS"] == pytest.approx(-10.0)
    assert d["c"]["Classification"] == pytest.approx(-10.0) and d["c"]["Avg."] == pytest.approx(-7.5)
    md = (tmp_path / "lb/leaderboard.md").read_text()
    summary, delta, per_category = (
        md.index("## Summary"),
        md.index("## Difference from base"),
        md.index("## STS"),
    )
    assert summary < delta < per_category  # differences right after the summary table
    assert "| b | +10.00 | -10.00 | +30.00 |" in md and "| c | -7.50 | -5.00 | -10.00 |" in md
    assert (tmp_path / "lb/leaderboard.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in (tmp_path / "lb").iterdir() if "tmp" in p.name]  # temp files renamed, none left
    with pytest.raises(ValueError, match="baseline 'nope' is not a row"):
        Leaderboard.build(board.entries, baseline="nope")
    assert "Difference from" not in Leaderboard.build(board.entries).markdown()
