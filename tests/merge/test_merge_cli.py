"""``python -m merge``: the method subcommands and the Hydra recipes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch
from merge_fixtures import read_tensors

from merge.cli import build_parser, main, recipe_from_args

REPO = Path(__file__).resolve().parents[2]


def test_parser_builds_recipes():
    args = build_parser().parse_args(
        [
            "ties",
            "a",
            "b",
            "--base",
            "z",
            "--weights",
            "1",
            "2",
            "--density",
            "0.4",
            "--lambda",
            "0.8",
            "--out",
            "o",
            "--dtype",
            "bfloat16",
        ]
    )
    r = recipe_from_args(args)
    assert r["method"] == "ties" and r["base_model"] == "z" and r["dtype"] == "bfloat16"
    assert r["models"] == [
        {"model": "a", "parameters": {"weight": 1.0}},
        {"model": "b", "parameters": {"weight": 2.0}},
    ]
    assert r["parameters"] == {"density": 0.4, "lambda": 0.8}
    r = recipe_from_args(build_parser().parse_args(["slerp", "a", "b", "--t", "0,0.5,1", "--out", "o"]))
    assert r["parameters"] == {"t": [0.0, 0.5, 1.0]} and r["models"] == ["a", "b"]


def test_cli_merges_and_reports_errors(tmp_path, tiny_pair, capsys):
    a, b = (str(p) for p in tiny_pair)
    assert main(["slerp", a, b, "--t", "0.25", "--out", str(tmp_path / "o")]) == 0
    assert "merged 2 inputs" in capsys.readouterr().out
    assert main(["ties", a, b, "--out", str(tmp_path / "o2")]) == 2
    assert "needs a base_model" in capsys.readouterr().err
    assert main(["methods"]) == 0 and "karcher" in capsys.readouterr().out


def test_hydra_recipe_equals_cli(tmp_path, tiny_pair):
    a, b = (str(p) for p in tiny_pair)
    assert main(["linear", a, b, "--weights", "2", "1", "--out", str(tmp_path / "cli")]) == 0
    cmd = [
        sys.executable,
        "-m",
        "merge",
        "recipe=linear",
        f"models=[{{model: {a}, parameters: {{weight: 2}}}},{b}]",
        f"out={tmp_path / 'hydra'}",
    ]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    x, y = read_tensors(tmp_path / "cli"), read_tensors(tmp_path / "hydra")
    assert all(torch.equal(x[k], y[k]) for k in x)
    assert "method: linear" in (tmp_path / "hydra" / "merge_recipe.yaml").read_text()
