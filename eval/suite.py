"""Named suites (``jmteb-v1``, ``local``, ``quick``): the runnable tasks plus every dataset skipped, with why."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .data.hub import hub_unreachable_reason
from .tasks import (
    AMAZON_CF_LOCAL,
    JMTEB_V1,
    JSQUAD_RETRIEVAL,
    JSTS_LOCAL,
    STAND_INS,
    TaskSpec,
    hub_task,
)

REPO = Path(__file__).resolve().parents[1]
SUITES = ("jmteb-v1", "local", "quick")
NOT_OFFLINE = "data not available offline"


@dataclass(frozen=True)
class Skipped:
    """A dataset a suite names but cannot run, and the reason."""

    name: str
    category: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"dataset": self.name, "category": self.category, "reason": self.reason}


@dataclass
class Suite:
    """The tasks to run (in order) and the datasets skipped; ``data_root`` anchors local paths."""

    name: str
    tasks: list[TaskSpec]
    skipped: list[Skipped] = field(default_factory=list)
    data_root: Path = REPO.parent / "shared" / "data"

    def task(self, name: str) -> TaskSpec:
        """The task called ``name``."""
        for t in self.tasks:
            if t.name == name:
                return t
        raise KeyError(f"suite {self.name!r} has no task {name!r}; it has {[t.name for t in self.tasks]}")

    def only(self, names: list[str]) -> Suite:
        """The same suite restricted to ``names`` (the others reported as skipped: not selected)."""
        unknown = set(names) - {t.name for t in self.tasks} - {s.name for s in self.skipped}
        if unknown:
            raise KeyError(f"suite {self.name!r} has no dataset {sorted(unknown)}")
        kept = [t for t in self.tasks if t.name in names]
        dropped = [
            Skipped(t.name, t.category, "not selected (tasks=...)") for t in self.tasks if t.name not in names
        ]
        return Suite(self.name, kept, self.skipped + dropped, self.data_root)

    def on_val(self) -> Suite:
        """The same suite scored on validation splits only (:meth:`TaskSpec.scored_on_val`), for selection."""
        return Suite(self.name, [t.scored_on_val() for t in self.tasks], self.skipped, self.data_root)

    def subsampled(self, caps: Mapping[str, Mapping[str, int]]) -> Suite:
        """The same suite with seeded row caps per task (``{task: {max_test_rows: N, ...}}``; key ``"*"``: every
        task; a named task wins over ``"*"`` key by key). Keys are ``TaskSpec.subsample``'s; an unknown task
        name is an error."""
        names = {t.name for t in self.tasks} | {s.name for s in self.skipped}
        unknown = sorted(set(caps) - names - {"*"})
        if unknown:
            raise KeyError(f"subsample names {unknown}, not datasets of suite {self.name!r}")
        tasks = []
        for t in self.tasks:
            limits = {**dict(caps.get("*") or {}), **dict(caps.get(t.name) or {})}
            tasks.append(t.with_subsample(**{k: int(v) for k, v in limits.items()}) if limits else t)
        return Suite(self.name, tasks, self.skipped, self.data_root)


def default_data_root() -> Path:
    """``$TSUMUGI_DATA``, else ``../shared/data`` beside the repository."""
    env = os.environ.get("TSUMUGI_DATA")
    return Path(env).expanduser() if env else REPO.parent / "shared" / "data"


def _missing_local(task: TaskSpec, root: Path) -> str | None:
    for roles in task.splits.values():
        for ref in roles.values():
            if ref.where == "local" and not (root / ref.path).is_file():
                return str(root / ref.path)
    return None


def _jmteb_v1(root: Path, use_hub: bool | None) -> Suite:
    hub_reason = hub_unreachable_reason() if use_hub is not False else "hub disabled (use_hub=false)"
    tasks, skipped = [], []
    for ds in JMTEB_V1:
        if hub_reason is None:
            tasks.append(hub_task(ds))
        elif ds.local_task is not None and _missing_local(ds.local_task, root) is None:
            tasks.append(ds.local_task)
        else:
            skipped.append(Skipped(ds.name, ds.category, f"{NOT_OFFLINE} ({hub_reason}; no local copy)"))
    return Suite("jmteb-v1", tasks, skipped, root)


def _local(root: Path) -> Suite:
    tasks, skipped = [], []
    stand_in = {t.stand_in_for: t for t in STAND_INS}
    by_category: dict[str, list[TaskSpec]] = {}
    for ds in JMTEB_V1:
        if ds.local_task is not None:
            by_category.setdefault(ds.category, []).append(ds.local_task)
        elif ds.name in stand_in:
            sub = stand_in[ds.name]
            by_category.setdefault(ds.category, []).append(sub)
            skipped.append(
                Skipped(ds.name, ds.category, f"{NOT_OFFLINE}; stand-in {sub.name} reported instead")
            )
        else:
            skipped.append(Skipped(ds.name, ds.category, NOT_OFFLINE))
    for cat in by_category.values():
        for t in cat:
            missing = _missing_local(t, root)
            if missing:
                skipped.append(Skipped(t.name, t.category, f"local data missing: {missing}"))
            else:
                tasks.append(t)
    return Suite("local", tasks, skipped, root)


def _quick(root: Path) -> Suite:
    picked = [
        JSTS_LOCAL.with_subsample(max_rows=300),
        AMAZON_CF_LOCAL.with_subsample(max_train=500, max_rows=250),
        JSQUAD_RETRIEVAL.with_subsample(max_queries=100, max_corpus=150),
    ]
    tasks, skipped = [], []
    for t in picked:
        missing = _missing_local(t, root)
        (
            skipped.append(Skipped(t.name, t.category, f"local data missing: {missing}"))
            if missing
            else tasks.append(t)
        )
    names = {t.name for t in picked} | {t.stand_in_for for t in picked}
    skipped += [
        Skipped(d.name, d.category, "not in the quick suite (dev subset)")
        for d in JMTEB_V1
        if d.name not in names
    ]
    return Suite("quick", tasks, skipped, root)


def get_suite(name: str, data_root: str | Path | None = None, *, use_hub: bool | None = None) -> Suite:
    """Build a named suite; ``use_hub=None`` uses the hub when reachable (``jmteb-v1`` only), ``False`` never."""
    root = Path(data_root).expanduser() if data_root else default_data_root()
    if name == "jmteb-v1":
        return _jmteb_v1(root, use_hub)
    if name == "local":
        return _local(root)
    if name == "quick":
        return _quick(root)
    raise KeyError(f"unknown suite {name!r}; choose one of {SUITES}")
