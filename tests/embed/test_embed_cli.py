"""``python -m embed encode``: similarity table, --file, --output, and one-line errors with exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from embed import EmbeddingModel
from embed.cli import main, read_texts

JA = ["今日は良い天気です。", "本日は晴天なり。", "株価が急落した。"]


@pytest.fixture(scope="module")
def e5_like(tmp_path_factory, tiny_bert_dir):
    """The tiny BERT saved as an ST folder with e5 prompts."""
    model = EmbeddingModel.load(tiny_bert_dir, prompts={"query": "query: ", "document": "passage: "})
    return model.save(tmp_path_factory.mktemp("cli") / "e5_like")


def test_prints_similarity_table_and_saves_npy(e5_like, tmp_path, capsys):
    out = tmp_path / "emb.npy"
    assert main(["encode", "--model", str(e5_like), "--prompt-name", "query", *JA, "--output", str(out)]) == 0
    stdout = capsys.readouterr().out
    lines = stdout.splitlines()
    assert "prompt: 'query: '" in stdout
    row = next(line for line in lines if line.startswith("[1]"))
    assert row.endswith("本日は晴天なり。") and len(row.split()) == 5
    emb = np.load(out)
    expected = EmbeddingModel.load(e5_like).encode(JA, prompt_name="query")
    np.testing.assert_allclose(emb, expected, atol=1e-6)
    sims = emb @ emb.T
    assert f"{sims[1, 2]:7.3f}".strip() in row and "1.000" in row


def test_reads_texts_from_file(e5_like, tmp_path, capsys):
    path = tmp_path / "texts.txt"
    path.write_bytes("\ufeff今日は良い天気です。\r\n\n株価が急落した。\n".encode())
    assert read_texts(path) == ["今日は良い天気です。", "株価が急落した。"]
    assert main(["--model", str(e5_like), "--file", str(path)]) == 0  # "encode" is optional
    assert "[1]" in capsys.readouterr().out


def _error(argv, capsys) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1
    return captured.err


def test_non_utf8_file_names_file_and_line(e5_like, tmp_path, capsys):
    path = tmp_path / "bad.txt"
    path.write_bytes("一行目\n二行目\n".encode() + b"\xff\xfe\n")
    err = _error(["encode", "--model", str(e5_like), "--file", str(path)], capsys)
    assert "bad.txt" in err and "line 3" in err and "UTF-8" in err


def test_unknown_model_and_empty_input(e5_like, tmp_path, capsys):
    assert "no-such-model" in _error(["encode", "--model", "no-such-model", "x"], capsys)
    assert "does not exist" in _error(["encode", "--model", str(tmp_path / "nope"), "x"], capsys)
    assert "no texts" in _error(["encode", "--model", str(e5_like)], capsys)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    assert "no texts" in _error(["encode", "--model", str(e5_like), "--file", str(empty)], capsys)
    assert "missing.txt" in _error(
        ["encode", "--model", str(e5_like), "--file", str(tmp_path / "missing.txt")], capsys
    )
    assert "unknown prompt name" in _error(
        ["encode", "--model", str(e5_like), "--prompt-name", "q", "x"], capsys
    )


@pytest.mark.slow
def test_module_entry_point_runs_the_readme_demo(real_me5):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "embed", "encode", "--model", "me5-small", "--prompt-name", "query", *JA]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines() if line.startswith("[")]
    sims = np.array([[float(v) for v in row[1:4]] for row in rows])
    assert sims.shape == (3, 3) and np.allclose(np.diag(sims), 1.0, atol=1e-3)
    assert sims[0, 1] > sims[0, 2]  # the paraphrase outranks the unrelated sentence
