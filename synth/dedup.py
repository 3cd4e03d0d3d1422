"""Exact and normalised de-duplication of generated queries (per task), rebuilt from shards on resume."""

from __future__ import annotations

from synth.textnorm import normalize_for_dedup


class Deduplicator:
    """Remembers the queries seen so far; ``check`` names the duplicate kind or returns None for a new text."""

    def __init__(self, normalized: bool = True, per_task: bool = True) -> None:
        self.normalized = normalized
        self.per_task = per_task
        self._exact: set[tuple[str, str]] = set()
        self._norm: set[tuple[str, str]] = set()

    def _scope(self, task: str) -> str:
        return task if self.per_task else ""

    def check(self, text: str, task: str = "") -> str | None:
        """``duplicate_exact``, ``duplicate_normalized`` or None (not seen); does not remember the text."""
        scope = self._scope(task)
        if (scope, text.strip()) in self._exact:
            return "duplicate_exact"
        if self.normalized and (scope, normalize_for_dedup(text)) in self._norm:
            return "duplicate_normalized"
        return None

    def add(self, text: str, task: str = "") -> None:
        """Remember a kept text."""
        scope = self._scope(task)
        self._exact.add((scope, text.strip()))
        if self.normalized:
            self._norm.add((scope, normalize_for_dedup(text)))

    def check_and_add(self, text: str, task: str = "") -> str | None:
        """``check``, then remember the text when it is new."""
        reason = self.check(text, task)
        if reason is None:
            self.add(text, task)
        return reason

    def __len__(self) -> int:
        return len(self._exact)


def dedup_records(
    records: list[dict], key: str = "query", normalized: bool = True
) -> tuple[list[dict], dict]:
    """Keep the first record per (task, exact / normalised ``key``); returns (kept, counts of dropped by kind)."""
    seen = Deduplicator(normalized=normalized)
    kept, dropped = [], {"duplicate_exact": 0, "duplicate_normalized": 0}
    for rec in records:
        reason = seen.check_and_add(rec[key], rec.get("task", ""))
        if reason is None:
            kept.append(rec)
        else:
            dropped[reason] += 1
    return kept, dropped
