"""JMTEB v2 through mteb 2.26: our model as an mteb encoder, the ``JMTEB(v2)`` benchmark (needs the hub), and
offline local tasks (JSTS, JSQuAD retrieval stand-in) built on mteb's abstract task classes.

Prompts follow mteb's lookup (``mteb.models.abs_encoder.get_prompt``): ``<TaskName>-<query|document>``,
``<TaskName>``, ``<TaskType>-<query|document>``, ``<TaskType>``, ``query`` / ``document``. Default: the model's own
prompts (``passage`` is accepted for ``document``, as JMTEB v2 prompt profiles use). Scores are mteb's main scores
(``cosine_spearman``, ``ndcg_at_10``, ...): not comparable with JMTEB v1 numbers.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from mteb.abstasks.retrieval import AbsTaskRetrieval
from mteb.abstasks.retrieval_dataset_loaders import RetrievalSplitData
from mteb.abstasks.sts import AbsTaskSTS
from mteb.abstasks.task_metadata import TaskMetadata
from mteb.models.abs_encoder import AbsEncoder, get_prompt
from mteb.models.model_meta import ModelMeta, ScoringFunction

from .data.hub import hub_unreachable_reason
from .data.loaders import read_corpus, read_pairs, read_retrieval
from .suite import default_data_root

JMTEB_V2 = "JMTEB(v2)"


class MtebEncoder(AbsEncoder):
    """Wrap an ``EmbeddingModel`` (anything with ``encode(texts, prompt=..., batch_size=...)``) for ``mteb.evaluate``."""

    def __init__(
        self,
        model: Any,
        *,
        name: str = "tsumugi/local-model",
        prompts: Mapping[str, str] | None = None,
        batch_size: int = 32,
        max_length: int | None = None,
    ) -> None:
        self.model = model
        own = dict(getattr(model, "prompts", None) or {})
        chosen = dict(prompts) if prompts is not None else own
        if "passage" in chosen and "document" not in chosen:
            chosen["document"] = chosen.pop("passage")
        self.model_prompts = chosen
        self.batch_size = batch_size
        self.max_length = max_length
        normalizes = bool(getattr(model, "normalize", False))
        self.mteb_model_meta = ModelMeta.create_empty(
            overwrites=dict(
                name=name if "/" in name else f"tsumugi/{name}",
                revision=(model.fingerprint()[:12] if hasattr(model, "fingerprint") else None),
                embed_dim=getattr(model, "dim", None),
                max_tokens=getattr(model, "max_length", None),
                similarity_fn_name=ScoringFunction.COSINE if normalizes else None,
                framework=["PyTorch"],
            )
        )

    def prompt_for(self, task_metadata: TaskMetadata, prompt_type: Any) -> str:
        """The prefix mteb's priority order picks for this task and side (``""`` when none).

        Symmetric tasks (mteb passes no prompt type: STS, classification, clustering) fall back to the ``query``
        prompt, the convention of our v1 presets (e5: ``"query: "`` on both sides; Qwen3: instruction on both).
        """
        found = get_prompt(self.model_prompts, task_metadata, prompt_type)
        if found is None and prompt_type is None:
            found = self.model_prompts.get("query")
        return found or ""

    def encode(
        self,
        inputs,
        *,
        task_metadata: TaskMetadata,
        hf_split: str,
        hf_subset: str,
        prompt_type=None,
        **kwargs: Any,
    ) -> np.ndarray:
        """Encode every ``text`` of mteb's batches with the resolved prompt; float32 ``(n, dim)``."""
        texts = [t for batch in inputs for t in batch["text"]]
        kw: dict[str, Any] = {
            "prompt": self.prompt_for(task_metadata, prompt_type),
            "batch_size": self.batch_size,
        }
        if self.max_length is not None:
            kw["max_length"] = self.max_length
        emb = np.asarray(self.model.encode(texts, **kw), dtype=np.float32)
        if not np.isfinite(emb).all():
            row = int(np.flatnonzero(~np.isfinite(emb).all(axis=1))[0])
            raise ValueError(
                f"non-finite embedding in mteb task {task_metadata.name}, split {hf_split}, row {row}"
            )
        return emb


_COMMON = dict(
    reference="https://github.com/yahoojapan/JGLUE",
    dataset={"path": "local", "revision": "local"},
    category="t2t",
    eval_langs=["jpn-Jpan"],
    main_score=None,
    date=("2021-01-01", "2022-12-31"),
    dialect=[],
    domains=["Written"],
    task_subtypes=[],
    license="cc-by-sa-4.0",
    annotations_creators="human-annotated",
    modalities=["text"],
    sample_creation="found",
    bibtex_citation="",
)


def _meta(**kw: Any) -> TaskMetadata:
    return TaskMetadata(**{**_COMMON, **kw})


class LocalJSTS(AbsTaskSTS):
    """JSTS as mteb's ``JSTS`` task scores it (split ``validation`` = JGLUE valid), read from local JSONL."""

    metadata = _meta(
        name="TsumugiLocalJSTS",
        type="STS",
        main_score="cosine_spearman",
        eval_splits=["validation"],
        description="JGLUE JSTS valid (mteb JSTS eval split), local copy",
    )
    min_score = 0
    max_score = 5

    def __init__(self, data_root: str | Path | None = None, max_rows: int | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.data_root = Path(data_root) if data_root else default_data_root()
        self.max_rows = max_rows

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        """Fill ``self.dataset`` from ``jsts/original/valid-v1.3.json``."""
        from datasets import Dataset

        s1, s2, raw = read_pairs(self.data_root / "jsts/original/valid-v1.3.json")
        n = self.max_rows or len(s1)
        self.dataset = {
            "default": {
                "validation": Dataset.from_dict(
                    {"sentence1": s1[:n], "sentence2": s2[:n], "score": raw.as_float()[:n].tolist()}
                )
            }
        }
        self.data_loaded = True


class LocalJSQuADRetrieval(AbsTaskRetrieval):
    """Stand-in for JAQKET / MIRACL / JQaRA: JSQuAD test questions against their 1,159 Wikipedia paragraphs."""

    metadata = _meta(
        name="TsumugiJSQuADRetrieval",
        type="Retrieval",
        main_score="ndcg_at_10",
        eval_splits=["test"],
        description="JSQuAD (JGLUE) test questions -> paragraphs; local stand-in",
    )

    def __init__(self, data_root: str | Path | None = None, max_queries: int | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.data_root = Path(data_root) if data_root else default_data_root()
        self.max_queries = max_queries

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        """Fill ``self.dataset`` from ``jsquad/jmteb_format/test``."""
        from datasets import Dataset

        folder = self.data_root / "jsquad/jmteb_format/test"
        corpus = read_corpus(folder / "corpus.jsonl")
        data = read_retrieval(folder / "retrieval_queries.jsonl", corpus)
        n = self.max_queries or len(data)
        qids, queries, relevant = data.qids[:n], data.queries[:n], data.relevant[:n]
        split = RetrievalSplitData(
            queries=Dataset.from_dict({"id": qids, "text": queries}),
            corpus=Dataset.from_dict({"id": corpus.ids, "text": corpus.texts, "title": [""] * len(corpus)}),
            relevant_docs={q: {d: 1 for d in rel} for q, rel in zip(qids, relevant)},
            top_ranked=None,
        )
        self.dataset = {"default": {"test": split}}
        self.data_loaded = True


def local_tasks(
    data_root: str | Path | None = None, *, max_rows: int | None = None, max_queries: int | None = None
) -> list:
    """The offline mteb tasks: local JSTS and the JSQuAD retrieval stand-in."""
    return [LocalJSTS(data_root, max_rows=max_rows), LocalJSQuADRetrieval(data_root, max_queries=max_queries)]


def _main_scores(result: Any, tasks: Sequence) -> dict[str, dict[str, Any]]:
    meta = {t.metadata.name: t.metadata for t in tasks}
    out = {}
    for tr in result.task_results:
        m = meta.get(tr.task_name)
        out[tr.task_name] = {
            "main_metric": m.main_score if m else None,
            "main_score": float(tr.get_score()),
            "task_type": m.type if m else None,
            "eval_time_s": tr.evaluation_time,
        }
    return out


def run_tasks(
    model: Any,
    tasks: Sequence,
    *,
    name: str = "tsumugi/local-model",
    prompts: Mapping[str, str] | None = None,
    batch_size: int = 32,
    max_length: int | None = None,
) -> dict[str, dict[str, Any]]:
    """Run mteb tasks on ``model`` (no result cache, no CO2 tracking); ``{task: {"main_score": value}}``."""
    import mteb

    encoder = (
        model
        if isinstance(model, MtebEncoder)
        else MtebEncoder(model, name=name, prompts=prompts, batch_size=batch_size, max_length=max_length)
    )
    result = mteb.evaluate(encoder, tasks=list(tasks), cache=None, co2_tracker=False, show_progress_bar=False)
    return _main_scores(result, tasks)


def run_jmteb_v2(model: Any, **kwargs: Any) -> dict[str, dict[str, Any]]:
    """mteb's ``JMTEB(v2)`` benchmark (28 tasks; needs the hub). Offline: every task ``{"skipped": reason}``."""
    import mteb

    bench = mteb.get_benchmark(JMTEB_V2)
    reason = hub_unreachable_reason()
    if reason is not None:
        print(f"[mteb] {JMTEB_V2}: skipped: {reason}", file=sys.stderr)
        return {t.metadata.name: {"skipped": reason} for t in bench.tasks}
    return run_tasks(model, bench.tasks, **kwargs)


V2_CATEGORY = {
    "STS": "STS",
    "Retrieval": "Retrieval",
    "Reranking": "Reranking",
    "Classification": "Classification",
    "Clustering": "Clustering",
}


def v2_summary(scores: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """JMTEB v2 ``summary.json`` layout: ``{Category: {task: {main_metric, main_score (x100), eval_time (s)}}}``."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for task, s in scores.items():
        if "skipped" in s:
            continue
        cat = V2_CATEGORY.get(s.get("task_type") or "", s.get("task_type") or "Other")
        out.setdefault(cat, {})[task] = {
            "main_metric": s["main_metric"],
            "main_score": 100 * s["main_score"],
            "eval_time (s)": s.get("eval_time_s"),
        }
    return out


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m eval.mteb_v2 --model me5-small [--benchmark] [--out DIR]``: local tasks, or JMTEB(v2) via the hub."""
    import argparse
    import json

    ap = argparse.ArgumentParser(description="JMTEB v2 via mteb (local stand-in tasks offline)")
    ap.add_argument("--model", default="me5-small")
    ap.add_argument("--benchmark", action="store_true", help="run mteb's JMTEB(v2) (needs the hub)")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--max-rows", type=int, default=None, help="JSTS pairs (local tasks)")
    ap.add_argument("--max-queries", type=int, default=None, help="JSQuAD queries (local tasks)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--out", default=None, help="write summary.json here")
    args = ap.parse_args(argv)

    from .runner import load_model

    model = load_model(args.model)
    kw = {"name": args.model, "batch_size": args.batch_size}
    if args.benchmark:
        scores = run_jmteb_v2(model, **kw)
    else:
        scores = run_tasks(
            model, local_tasks(args.data_root, max_rows=args.max_rows, max_queries=args.max_queries), **kw
        )
    summary = v2_summary(scores)
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    skipped = {t: s["skipped"] for t, s in scores.items() if "skipped" in s}
    if skipped:
        print(f"skipped {len(skipped)} tasks: {next(iter(skipped.values()))}", file=sys.stderr)
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=4) + "\n")


if __name__ == "__main__":
    main()
