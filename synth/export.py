"""train/'s record format: ``{query, positive, negatives[], instruction, task}`` JSONL, one file per task.

One file per task lets train/ treat each as its own dataset (``batch_by_dataset``: no cross-task in-batch
negatives). ``all.jsonl`` holds everything for quick inspection.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

from synth.store import atomic_write_json

TRAIN_KEYS = ("query", "positive", "negatives", "instruction", "task")


def to_train_record(rec: Mapping) -> dict:
    """The five train/ fields of a generated (filtered, mined) record; empty negatives dropped."""
    negatives = [n for n in rec.get("negatives") or [] if isinstance(n, str) and n.strip()]
    return {
        "query": rec["query"],
        "positive": rec["positive"],
        "negatives": negatives,
        "instruction": rec.get("instruction"),
        "task": rec["task"],
    }


def task_file_name(task: str) -> str:
    """A file-system-safe name for a task: ``classification/topic`` -> ``classification-topic.jsonl``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", task).strip("-") + ".jsonl"


def write_train_files(records: Iterable[Mapping], out_dir: str | Path, min_negatives: int = 0) -> dict:
    """Write ``<out_dir>/<task>.jsonl`` + ``all.jsonl`` (atomically) and ``manifest.json``; returns the manifest."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    by_task: dict[str, list[dict]] = {}
    dropped = Counter()
    for rec in records:
        row = to_train_record(rec)
        if len(row["negatives"]) < min_negatives:
            dropped[row["task"]] += 1
            continue
        by_task.setdefault(row["task"], []).append(row)
    files = {}
    for task, rows in sorted(by_task.items()):
        files[task] = _write_jsonl(out_dir / task_file_name(task), rows)
    _write_jsonl(out_dir / "all.jsonl", [r for rows in by_task.values() for r in rows])
    manifest = {
        "format": "tsumugi",
        "files": {task: {"file": task_file_name(task), "records": n} for task, n in files.items()},
        "records": sum(files.values()),
        "dropped_for_few_negatives": dict(dropped),
    }
    atomic_write_json(out_dir / "manifest.json", manifest)
    return manifest


def _write_jsonl(path: Path, rows: list[dict]) -> int:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)
    return len(rows)
