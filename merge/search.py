"""Merge and rank: build every candidate merge of a search space, score each through eval/, write a ranked
leaderboard and keep the best merged model.

    python -m merge.search 'checkpoints=[runs/a/ckpt,runs/b/ckpt,runs/c/ckpt]' eval.suite=quick
    # conf/merge/search.yaml: grid (methods x models x parameters), eval settings, keep: best | all

Output folder: ``leaderboard.{md,csv,png}`` and ``leaderboard_datasets.csv`` (eval.leaderboard), ``ranking.json``
(rank, name, Avg., recipe, run folder, kept model), ``runs/<candidate>/`` (eval run folders), ``best/`` (the best
merged model; with ``keep: all`` every merge stays under ``candidates/``). A candidate whose run folder already
has a ``summary.json`` scored with the same recipe and eval settings (``search_stamp.json``) is read, not
recomputed, so an interrupted search resumes; changed settings re-score. Merges are built one at a time
and, with ``keep: best``, only the best so far stays on disk. The embedding cache is eval's (shared).
"""

from __future__ import annotations

import json
import logging
import math
import re
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embed.atomic import atomic_file
from merge.checkpoint import resolve as resolve_checkpoint
from merge.engine import run as run_merge
from merge.engine import validate
from merge.errors import MergeError
from merge.grid import Candidate, expand

log = logging.getLogger(__name__)

Scorer = Callable[[str, str, Path], Any]
"""``scorer(model_dir, name, run_dir) -> eval.leaderboard.Entry`` (its ``.average`` is JMTEB's Avg.)."""


def slug(name: str) -> str:
    """A folder name for a candidate name."""
    return re.sub(r"[^A-Za-z0-9._=+-]+", "_", name).strip("_") or "candidate"


def eval_scorer(**eval_kwargs: Any) -> Scorer:
    """A scorer running ``eval.runner.evaluate`` with ``eval_kwargs`` (suite, prefixes, mode, cache_dir, ...)."""

    def score(model_dir: str, name: str, run_dir: Path):
        from eval.leaderboard import Entry
        from eval.runner import evaluate

        res = evaluate(model_dir, out_dir=run_dir, name=name, print_table=False, **eval_kwargs)
        return Entry(name, res.summary(), str(run_dir), res.mode, res.labels)

    # part of the resume stamp (where embeddings are cached does not change a score)
    score.settings = {k: v for k, v in eval_kwargs.items() if k != "cache_dir"}  # type: ignore[attr-defined]
    return score


STAMP = "search_stamp.json"


def _stamp(cand: Candidate, scorer: Scorer) -> str:
    """What a candidate's score depends on: its recipe (or input model) and the scorer's settings."""
    what = {
        "recipe": cand.recipe,
        "model": None if cand.recipe is not None else str(cand.model),
        "scoring": getattr(scorer, "settings", None),
    }
    return json.dumps(what, sort_keys=True, ensure_ascii=False, default=str)


def _read_previous(run_dir: Path, name: str, stamp: str):
    """The finished run of this candidate, or ``None`` when there is none or it was scored differently."""
    from eval.leaderboard import read_run

    if not (run_dir / "summary.json").is_file() or not (run_dir / "meta.json").is_file():
        return None
    stamp_file = run_dir / STAMP
    if not stamp_file.is_file() or stamp_file.read_text(encoding="utf-8") != stamp:
        log.info("%s: recipe or eval settings changed since %s was scored; scoring again", name, run_dir)
        return None
    entry = read_run(run_dir)
    entry.name = name
    return entry


@dataclass
class Ranked:
    """One scored candidate."""

    candidate: Candidate
    entry: Any  # eval.leaderboard.Entry
    run_dir: Path

    @property
    def average(self) -> float:
        """JMTEB Avg. (fraction; NaN sorts last)."""
        return float(self.entry.average)


def _key(r: Ranked) -> tuple[float, str]:
    avg = r.average
    return (-avg if not math.isnan(avg) else math.inf, r.candidate.name)


def run_search(
    checkpoints: Sequence[str],
    grid: Sequence[Mapping[str, Any]],
    out_dir: str | Path,
    *,
    scorer: Scorer,
    base_model: str | None = None,
    labels: Sequence[str] | None = None,
    include_inputs: bool | Sequence[int] = True,
    keep: str = "best",
    keep_from: str = "merges",
    recipe_defaults: Mapping[str, Any] | None = None,
    title: str | None = None,
) -> list[Ranked]:
    """Merge, score and rank every candidate; returns the rows best first (see the module docstring).

    ``keep_from``: ``merges`` keeps the best merge at ``out/best``; ``all`` keeps the best candidate, so when a
    scored input (``include_inputs``) beats every merge, ``out/best`` is a copy of that checkpoint: a merge is
    kept only when it beats what it was made from."""
    if keep not in ("best", "all"):
        raise MergeError(f"keep must be 'best' or 'all', got {keep!r}")
    if keep_from not in ("merges", "all"):
        raise MergeError(f"keep_from must be 'merges' or 'all', got {keep_from!r}")
    if len(checkpoints) < 2:
        raise MergeError("a merge search needs at least two checkpoints")
    out = Path(out_dir)
    candidates = expand(
        checkpoints,
        grid,
        base_model=base_model,
        labels=labels,
        include_inputs=include_inputs,
        recipe_defaults=recipe_defaults,
    )
    log.info(
        "search: %d candidates (%d merges) into %s",
        len(candidates),
        sum(c.recipe is not None for c in candidates),
        out,
    )
    for c in candidates:  # fail on a bad recipe before spending time on any merge or evaluation
        if c.recipe is not None:
            validate({**c.recipe, "out": str(out / "candidates" / slug(c.name))})
    rows: list[Ranked] = []
    best_merge: Ranked | None = None
    for i, cand in enumerate(candidates, 1):
        run_dir = out / "runs" / slug(cand.name)
        model_dir = out / "candidates" / slug(cand.name)
        stamp = _stamp(cand, scorer)
        entry = _read_previous(run_dir, cand.name, stamp)
        if entry is None:
            log.info("[%d/%d] %s", i, len(candidates), cand.name)
            if cand.recipe is None:
                entry = scorer(str(cand.model), cand.name, run_dir)
            else:
                run_merge({**cand.recipe, "out": str(model_dir), "overwrite": True, "name": cand.name})
                entry = scorer(str(model_dir), cand.name, run_dir)
            with atomic_file(run_dir / STAMP, "w") as f:
                f.write(stamp)
        else:
            log.info("[%d/%d] %s: read from %s", i, len(candidates), cand.name, run_dir)
        row = Ranked(cand, entry, run_dir)
        rows.append(row)
        if cand.recipe is None:
            continue
        if best_merge is None or _key(row) < _key(best_merge):
            if keep == "best" and best_merge is not None:
                shutil.rmtree(out / "candidates" / slug(best_merge.candidate.name), ignore_errors=True)
            best_merge = row
        elif keep == "best":
            shutil.rmtree(model_dir, ignore_errors=True)
    rows.sort(key=_key)
    kept = best_merge
    if keep_from == "all" and rows and rows[0].candidate.recipe is None:
        kept = rows[0]
        log.info(
            "search: no merge beat the input %s (Avg. %.4f against the best merge's %s); kept the input",
            kept.candidate.name,
            100 * kept.average,
            "none" if best_merge is None else f"{100 * best_merge.average:.4f}",
        )
    if kept is not None:
        _keep_best(kept, out, keep)
        if kept is not best_merge and best_merge is not None and keep == "best":
            shutil.rmtree(out / "candidates" / slug(best_merge.candidate.name), ignore_errors=True)
    _write_outputs(rows, out, kept, title)
    return rows


def _keep_best(best: Ranked, out: Path, keep: str) -> None:
    """Put the best model at ``out/best``: a merge moved (copied with ``keep: all``; re-merged if a resumed run
    lost it), an input checkpoint copied (through a temporary folder, so ``best`` is never half-written)."""
    best_dir = out / "best"
    recipe_file = best_dir / "merge_recipe.yaml"
    if recipe_file.is_file():
        import yaml

        if (yaml.safe_load(recipe_file.read_text(encoding="utf-8")) or {}).get("name") == best.candidate.name:
            return
    if best.candidate.recipe is None:
        import yaml

        tmp = out / ".best.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        # a training checkpoint's optimizer and RNG state (train/ writes them under trainer_state/) is not the model
        shutil.copytree(
            resolve_checkpoint(best.candidate.model), tmp, ignore=shutil.ignore_patterns("trainer_state")
        )
        note = {"name": best.candidate.name, "input": str(best.candidate.model), "merged": False}
        (tmp / "merge_recipe.yaml").write_text(yaml.safe_dump(note, allow_unicode=True), encoding="utf-8")
        shutil.rmtree(best_dir, ignore_errors=True)
        tmp.rename(best_dir)
        return
    src = out / "candidates" / slug(best.candidate.name)
    if not src.is_dir():
        run_merge({**best.candidate.recipe, "out": str(src), "overwrite": True, "name": best.candidate.name})
    shutil.rmtree(best_dir, ignore_errors=True)
    if keep == "all":
        shutil.copytree(src, best_dir)
    else:
        src.rename(best_dir)


def _write_outputs(rows: list[Ranked], out: Path, best: Ranked | None, title: str | None) -> None:
    from eval.leaderboard import Leaderboard

    board = Leaderboard.build([r.entry for r in rows], title=title or "Merge search (JMTEB)")
    paths = board.write(out)
    ranking = []
    for rank, r in enumerate(rows, 1):
        ranking.append(
            {
                "rank": rank,
                "name": r.candidate.name,
                "average": None if math.isnan(r.average) else round(100 * r.average, 4),
                "kind": "input" if r.candidate.recipe is None else "merge",
                "model": r.candidate.model,
                "recipe": r.candidate.recipe,
                "run_dir": str(r.run_dir),
                "kept_at": str(out / "best") if best is not None and r is best else None,
            }
        )
    (out / "ranking.json").write_text(
        json.dumps(ranking, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    print(board.markdown())
    top = ranking[0] if ranking else None
    if top:
        print(
            f"[search] best: {top['name']} (Avg. {top['average']}); "
            f"{'best merge' if best.candidate.recipe is not None else 'input'} {best.candidate.name} "
            f"kept at {out / 'best'}"
            if best is not None
            else f"[search] best: {top['name']}"
        )
    print(f"[search] wrote {', '.join(str(p) for p in paths.values())}, {out / 'ranking.json'}")


def _inputs_setting(value: Any) -> bool | list[int]:
    """``include_inputs`` from a config: a bool, or a list of checkpoint indices."""
    if isinstance(value, bool) or value is None:
        return bool(value)
    if isinstance(value, int):
        return [value]
    return [int(i) for i in value]


def search_from_config(cfg: Mapping[str, Any], scorer: Scorer | None = None) -> list[Ranked]:
    """Run a search from the plain ``conf/merge/search.yaml`` mapping."""
    ev = dict(cfg.get("eval") or {})
    suite = ev.pop("suite", "quick")
    prefixes = ev.pop("prefix", ev.pop("prefixes", "model"))
    out = Path(cfg["out_dir"])
    return run_search(
        list(cfg["checkpoints"]),
        list(cfg.get("grid") or []),
        out,
        scorer=scorer
        or eval_scorer(suite=suite, prefixes=prefixes, **{k: v for k, v in ev.items() if v is not None}),
        base_model=cfg.get("base_model"),
        labels=cfg.get("labels"),
        include_inputs=_inputs_setting(cfg.get("include_inputs", True)),
        keep=cfg.get("keep", "best"),
        keep_from=cfg.get("keep_from", "merges"),
        recipe_defaults=cfg.get("merge") or None,
        title=cfg.get("title"),
    )


def main() -> None:
    """``python -m merge.search key=value ...`` (Hydra, ``conf/merge/search.yaml``)."""
    import sys

    import hydra
    from omegaconf import DictConfig, OmegaConf

    from merge.cli import CONF_DIR

    logging.basicConfig(level=logging.INFO, format="[merge.search] %(message)s", stream=sys.stderr)

    @hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="search")
    def _main(cfg: DictConfig) -> None:
        search_from_config(OmegaConf.to_container(cfg, resolve=True))

    _main()


if __name__ == "__main__":
    from embed.procs import install_reaper

    install_reaper()
    main()
