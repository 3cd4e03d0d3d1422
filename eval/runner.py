"""``evaluate``: run a suite on one model and write a JMTEB v1-style run folder.

Run folder: ``summary.json`` (``{Category: {dataset: {metric_name: value}}}``, fractions),
``<Category>/scores_<dataset>.json`` (``TaskScore.to_json()`` + ``task`` and ``timing``), ``config.yaml`` (the
resolved configuration and prefixes), ``skipped.json``, ``meta.json`` (model, fingerprint, mode, labels) and
``table.md``; with ``dims``, the same layout per width under ``dim_<d>/``. Progress goes to stderr.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from embed.atomic import atomic_file

from .cache import EmbeddingCache
from .dims import model_normalizes
from .encoding import Encoder, TextEncoder
from .prefixes import PrefixPreset, load_preset
from .results import Results
from .run_task import TaskOutcome, run_task
from .suite import Suite, get_suite

DEFAULT_CACHE_DIR = Path("~/.cache/tsumugi/eval-embeddings")


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _write_json(path: Path, data: Any) -> None:
    with atomic_file(path, "w") as f:
        json.dump(data, f, ensure_ascii=False, indent=4)
        f.write("\n")


def load_model(name_or_path: str, **kwargs: Any) -> Encoder:
    """``embed.model.EmbeddingModel.load`` (short names such as ``me5-small`` resolve through the registry).

    An unset or ``auto`` dtype is the hardware's choice for *scoring* (fp32 on CPU, as the official runs)."""
    from embed.model import EmbeddingModel, resolve_device, resolve_dtype

    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    kwargs["dtype"] = resolve_dtype(kwargs.get("dtype"), resolve_device(kwargs.get("device")), "evaluate")
    return EmbeddingModel.load(name_or_path, **kwargs)


def model_name(model: Any, given: str | None = None) -> str:
    """A display name for tables."""
    if given:
        return given
    for attr in ("name", "name_or_path", "path", "source"):
        value = getattr(model, attr, None)
        if isinstance(value, str | Path) and str(value):
            return str(value)
    return type(model).__name__


def _renormalize(model: Any, enc: TextEncoder, dims: Sequence[int]) -> bool:
    if not dims:
        return False
    flag = getattr(model, "normalize", None)
    if isinstance(flag, bool):
        return flag
    probe = enc.embed(["テスト", "正規化の確認"], dataset="_probe", split="probe", side="text", prefix="")
    return model_normalizes(model, probe)


def _write_task(run_dir: Path, outcome: TaskOutcome, results: Results) -> None:
    t = outcome.task
    for dim, score in outcome.scores.items():
        base = run_dir if dim is None else run_dir / f"dim_{dim}"
        payload = {
            **score.to_json(),
            "task": {
                "label": t.label,
                "status": t.status,
                "stand_in_for": t.stand_in_for,
                "note": t.note,
                "mode": results.mode,
                "dim": dim,
                "prefixes": outcome.prefixes,
                "sizes": outcome.sizes,
            },
            "timing": outcome.timing,
        }
        _write_json(base / t.category / f"scores_{t.name}.json", payload)
        _write_json(base / "summary.json", results.summary(dim))


def _write_run(run_dir: Path, results: Results, config: Mapping[str, Any]) -> None:
    from omegaconf import OmegaConf

    with atomic_file(run_dir / "config.yaml", "w") as f:
        f.write(OmegaConf.to_yaml(OmegaConf.create(dict(config))))
    _write_json(run_dir / "skipped.json", [s.to_json() for s in results.skipped])
    tasks = {
        o.task.name: {
            "category": o.task.category,
            "label": o.task.label,
            "status": o.task.status,
            "stand_in_for": o.task.stand_in_for,
            "subsample": dict(o.task.subsample),
        }
        for o in results.outcomes
    }
    _write_json(
        run_dir / "meta.json",
        {
            "model": results.model,
            "fingerprint": results.fingerprint,
            "suite": results.suite,
            "mode": results.mode,
            "dims": results.dims,
            "elapsed_s": round(results.elapsed_s, 1),
            "tasks": tasks,
        },
    )
    for dim in [None, *results.dims]:
        base = run_dir if dim is None else run_dir / f"dim_{dim}"
        _write_json(base / "summary.json", results.summary(dim))
    with atomic_file(run_dir / "table.md", "w") as f:
        f.write(results.table())


def evaluate(
    model: Encoder | str,
    suite: Suite | str = "local",
    *,
    prefixes: str | Mapping[str, Any] | PrefixPreset = "model",
    out_dir: str | Path | None = None,
    dims: Sequence[int] | None = None,
    mode: str = "official",
    batch_size: int = 32,
    max_length: int | None = None,
    cache_dir: str | Path | None = DEFAULT_CACHE_DIR,
    data_root: str | Path | None = None,
    tasks: Sequence[str] | None = None,
    model_kwargs: Mapping[str, Any] | None = None,
    name: str | None = None,
    config: Mapping[str, Any] | None = None,
    print_table: bool = True,
    subsample: Mapping[str, Mapping[str, int]] | None = None,
    split: str = "test",
) -> Results:
    """Score ``model`` on ``suite`` as JMTEB v1 does; write the run folder to ``out_dir`` when given.

    ``prefixes``: preset name (``model``, ``e5``, ``qwen3``, ``none``), mapping or ``PrefixPreset``. ``dims``: extra
    Matryoshka widths scored from the same full-width encode. ``cache_dir=None`` keeps embeddings in memory only.
    ``subsample``: seeded row caps per task (:meth:`Suite.subsampled`); capped tasks are labelled "subsample".
    ``split="val"``: score the validation splits alone (JMTEB's protocol with val as the test set), for ranking
    candidates without reading any test row; such tasks are labelled "val split".
    """
    if split not in ("test", "val"):
        raise ValueError(f"split must be 'test' or 'val', got {split!r}")
    if mode not in ("official", "corrected"):
        raise ValueError(f"mode must be 'official' or 'corrected', got {mode!r}")
    started = time.perf_counter()
    given_name = name or (model if isinstance(model, str) else None)
    if isinstance(model, str):
        model = load_model(model, **dict(model_kwargs or {}))
    if isinstance(suite, str):
        suite = get_suite(suite, data_root)
    elif data_root is not None:
        suite = Suite(suite.name, suite.tasks, suite.skipped, Path(data_root))
    if tasks:
        suite = suite.only(list(tasks))
    if subsample:
        suite = suite.subsampled(subsample)
    if split == "val":
        suite = suite.on_val()
    preset = load_preset(prefixes)
    dims = sorted({int(d) for d in dims or []})
    width = getattr(model, "dim", None)
    if dims and (dims[0] < 1 or (isinstance(width, int) and dims[-1] > width)):
        raise ValueError(f"dims must be in [1, {width}] for this model, got {dims}")
    enc = TextEncoder(model, EmbeddingCache(cache_dir), batch_size=batch_size, max_length=max_length)
    results = Results(
        model_name(model, given_name),
        enc.fingerprint,
        suite.name,
        mode,
        dims=dims,
        skipped=list(suite.skipped),
    )
    run_dir = Path(out_dir) if out_dir else None
    results.run_dir = run_dir
    renormalize = _renormalize(model, enc, dims)
    model_prompts = getattr(model, "prompts", None) or {}
    resolved = {t.name: preset.resolve(t.name, t.category, t.kind, model_prompts) for t in suite.tasks}
    cfg = {
        **(config or {}),
        "resolved": {
            "model": results.model,
            "fingerprint": results.fingerprint,
            "suite": suite.name,
            "mode": mode,
            "split": split,
            "data_root": str(suite.data_root),
            "prefix_preset": preset.name,
            "dims": dims,
            "renormalize_truncations": renormalize,
            "batch_size": batch_size,
            "max_length": max_length,
            "cache_dir": str(cache_dir) if cache_dir else None,
            "prefixes": resolved,
            "skipped": {s.name: s.reason for s in suite.skipped},
        },
    }
    if run_dir:
        run_dir.mkdir(parents=True, exist_ok=True)
        _write_run(run_dir, results, cfg)
    _log(
        f"[eval] {results.model} on suite {suite.name} ({len(suite.tasks)} tasks, {len(suite.skipped)} skipped), "
        f"mode {mode}, prefixes {preset.name}" + (f", dims {dims}" if dims else "")
    )
    for i, task in enumerate(suite.tasks, 1):
        _log(f"[{i}/{len(suite.tasks)}] {task.label} ({task.category}) ...")
        outcome = run_task(
            task,
            suite.data_root,
            enc,
            resolved[task.name],
            mode=mode,
            dims=[None, *dims],
            renormalize=renormalize,
        )
        results.outcomes.append(outcome)
        s = outcome.scores[None]
        _log(
            f"[{i}/{len(suite.tasks)}] {task.name}: {s.metric_name} {100 * s.metric_value:.2f} "
            f"(encoded {outcome.timing['texts_encoded']} texts in {outcome.timing['encode_s']:.1f}s, "
            f"scored in {outcome.timing['score_s']:.1f}s; elapsed {time.perf_counter() - started:.0f}s)"
        )
        if run_dir:
            _write_task(run_dir, outcome, results)
    results.elapsed_s = time.perf_counter() - started
    if run_dir:
        _write_run(run_dir, results, cfg)
    if print_table:
        print(results.table(), flush=True)
    _log(
        f"[eval] done in {results.elapsed_s:.0f}s; embeddings cache: {enc.cache.hits} hits, "
        f"{enc.cache.misses} misses, {enc.texts_encoded} texts encoded"
        + (f"; run folder {run_dir}" if run_dir else "")
    )
    return results
