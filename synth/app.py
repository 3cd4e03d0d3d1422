"""``python -m synth``: the stages generate -> filter -> mine -> export -> stats over one run folder.

Each stage reads the previous stage's file in ``out_dir`` (``generated/``, ``filtered.jsonl``,
``mined.jsonl``), so stages can be re-run alone (``stages=[filter,mine,export,stats]``). Generation resumes:
re-running with the same ``out_dir`` skips finished units.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from synth.corpus import Passage, default_data_root, load_passages
from synth.ids import stable_hash
from synth.store import ShardStore, atomic_write_json, iter_generated, iter_rejects, read_jsonl

log = logging.getLogger(__name__)

STAGES = ("generate", "filter", "mine", "export", "stats")
REPO = Path(__file__).resolve().parents[1]
GENERATION_KEYS = ("seed", "corpus", "personas", "llm", "tasks", "checks")


def register_resolvers() -> None:
    """OmegaConf resolvers used by conf/synth: ``${data_path:rel}`` and ``${repo_path:rel}``."""
    from omegaconf import OmegaConf

    def data_path(rel: str, *, _root_) -> str:
        root = _root_.get("data_root")
        return str((Path(root).expanduser() if root else default_data_root()) / rel)

    if not OmegaConf.has_resolver("data_path"):
        OmegaConf.register_new_resolver("data_path", data_path)
    if not OmegaConf.has_resolver("repo_path"):
        OmegaConf.register_new_resolver("repo_path", lambda rel: str(REPO / rel))


def prompt_digest(cfg: Mapping[str, Any]) -> str:
    """Hash of the prompt set's files, the chat template and the classification taxonomies (their contents)."""
    from synth.prompts import load_chat_template, resolve_prompt_dir

    folder = resolve_prompt_dir(cfg["llm"]["prompt_set"])
    parts = [
        f"{p.name}={stable_hash(p.read_text(encoding='utf-8'))}"
        for p in sorted(folder.iterdir())
        if p.is_file()
    ]
    parts.append(str(load_chat_template(cfg["llm"].get("chat_template"))))
    tax = Path(cfg["tasks"]["classification"]["taxonomies"])
    if cfg["tasks"]["classification"]["enabled"] and tax.is_file():
        parts.append(tax.read_text(encoding="utf-8"))
    return stable_hash(*parts)[:16]


def generation_fingerprint(cfg: Mapping[str, Any]) -> str:
    """Hash of the settings and prompt files that decide what gets generated (a resumed run must match it)."""
    settings = json.dumps({k: cfg.get(k) for k in GENERATION_KEYS}, sort_keys=True, default=str)
    return stable_hash(settings, prompt_digest(cfg))[:16]


# --------------------------------------------------------------------------------------------- inputs
def load_corpus(cfg: Mapping[str, Any], limit: Any = "config") -> list[Passage]:
    """The passage corpus of the config (``limit`` overrides ``corpus.limit``)."""
    c = cfg["corpus"]
    return load_passages(
        c["path"],
        fmt=c["format"],
        split=c.get("split"),
        id_field=c["id_field"],
        text_field=c["text_field"],
        title_field=c.get("title_field"),
        min_chars=c["min_chars"],
        max_chars=c.get("max_chars"),
        limit=c.get("limit") if limit == "config" else limit,
        sample_seed=c.get("sample_seed"),
        exclude=c.get("exclude") or (),
    )


def load_persona_set(cfg: Mapping[str, Any], out_dir: Path):
    """Personas from ``personas.path``, else built from RealPersonaChat (and saved as ``personas.jsonl``)."""
    from synth.personas import load_personas, real_persona_chat_personas, write_personas

    p = cfg["personas"]
    if p.get("path"):
        return load_personas(p["path"], limit=p.get("limit"))
    personas = real_persona_chat_personas(p["real_persona_chat"], group_size=p["group_size"])
    personas = personas[: p["limit"]] if p.get("limit") else personas
    write_personas(personas, out_dir / "personas.jsonl", source="real_persona_chat")
    return personas


def embedder(cfg: Mapping[str, Any], name: str | None = None):
    """The shared embedding model named in the config (cached)."""
    from synth.embedding import load_embedder

    e = cfg["embedding"]
    return load_embedder(name or e["model"], e.get("device"), e.get("max_length"))


def load_vocab(prompt_set: str) -> dict:
    """``vocab.yaml`` of a prompt set."""
    from omegaconf import OmegaConf

    from synth.prompts import resolve_prompt_dir

    return OmegaConf.to_container(OmegaConf.load(resolve_prompt_dir(prompt_set) / "vocab.yaml"), resolve=True)


def build_tasks(cfg: Mapping[str, Any], passages: list[Passage], out_dir: Path) -> list:
    """The enabled tasks of the config, their templates checked."""
    from synth.embedding import Side
    from synth.persona_retrieval import cached_retrieve_personas
    from synth.tasks.base import Sampling
    from synth.tasks.classification import ClassificationTask, load_taxonomies
    from synth.tasks.pairs import BitextTask, STSTask
    from synth.tasks.retrieval import RetrievalTask
    from synth.validate import TextLimits

    t, llm, ch = cfg["tasks"], cfg["llm"], cfg["checks"]
    prompt_set = llm["prompt_set"]
    vocab = load_vocab(prompt_set)
    sampling = Sampling(temperature=llm["temperature"], top_p=llm["top_p"], top_k=llm.get("top_k"))
    limits = TextLimits(
        ch["min_chars"],
        ch["max_chars"],
        ch["language_check"],
        ch["min_language_ratio"],
        ch["schema_max_length"],
        ch.get("reject_truncated", True),
    )
    common = {
        "prompt_set": prompt_set,
        "vocab": vocab,
        "sampling": sampling,
        "limits": limits,
        "seed": cfg["seed"],
    }
    tasks = []
    personas = None
    if t["retrieval"]["enabled"] or t["classification"]["enabled"]:
        personas = load_persona_set(cfg, out_dir)
    if t["retrieval"]["enabled"]:
        r, p = t["retrieval"], cfg["personas"]
        topk = cached_retrieve_personas(
            out_dir / "persona_topk.json",
            passages,
            personas,
            cfg["embedding"]["model"],
            lambda: embedder(cfg),
            k=p["top_k"],
            passage_side=Side(p["passage_prompt"]),
            persona_side=Side(p["persona_prompt"]),
            batch_size=cfg["embedding"]["batch_size"],
        )
        tasks.append(
            RetrievalTask(
                passages,
                {x.id: x for x in personas},
                topk,
                instruction=r["instruction"],
                per_passage=r["per_passage"],
                corpus_language=r["corpus_language"],
                query_languages=r["query_languages"],
                config_mode=r["config_mode"],
                lengths=r["lengths"],
                max_tokens=r["max_tokens"],
                **common,
            )
        )
    for name, cls in (("bitext", BitextTask), ("sts", STSTask)):
        s = t[name]
        if s["enabled"]:
            tasks.append(
                cls(
                    passages,
                    instruction=s["instruction"],
                    per_passage=s["per_passage"],
                    sentence_chars=s["sentence_chars"],
                    max_tokens=s["max_tokens"],
                    **common,
                )
            )
    if t["classification"]["enabled"]:
        c = t["classification"]
        tasks.append(
            ClassificationTask(
                load_taxonomies(c["taxonomies"]),
                personas or [],
                per_label=c["per_label"],
                max_negatives=c["max_negatives"],
                max_tokens=c["max_tokens"],
                only=c.get("only"),
                **common,
            )
        )
    for task in tasks:
        task.check_templates()
    if not tasks:
        raise ValueError("no task enabled (tasks.<name>.enabled)")
    return tasks


# --------------------------------------------------------------------------------------------- stages
def stage_generate(cfg: Mapping[str, Any], out_dir: Path, engine=None) -> dict:
    """Generate (or resume) into ``generated/w<NN>/``; returns the session summary."""
    from synth.engines import build_engine
    from synth.generate import generate
    from synth.prompts import load_chat_template

    g = cfg["generate"]
    if cfg["engine"]["kind"] == "ray":
        return stage_generate_sharded(cfg, out_dir, engine)
    store = ShardStore(out_dir, worker=g["worker_index"], shard_size=g["shard_size"])
    fingerprint = generation_fingerprint(cfg)
    previous = store.read_manifest().get("fingerprint")
    if previous and previous != fingerprint and not g.get("allow_config_change", False):
        raise RuntimeError(
            f"{store.dir} was generated with other settings (fingerprint {previous}, now {fingerprint}); "
            "use a new out_dir or generate.allow_config_change=true"
        )
    passages = load_corpus(cfg)
    tasks = build_tasks(cfg, passages, out_dir)
    own_engine = engine is None
    if own_engine:
        engine = build_engine(
            cfg["engine"], cfg["llm"]["model"], load_chat_template(cfg["llm"]["chat_template"])
        )
    try:
        result = generate(
            tasks,
            engine,
            store,
            batch_size=g["batch_size"],
            dedup=cfg["checks"]["dedup"],
            dedup_normalized=cfg["checks"]["dedup_normalized"],
            num_workers=g["num_workers"],
            worker=g["worker_index"],
            max_items=g.get("max_items"),
            manifest_fields={
                "fingerprint": fingerprint,
                "model": cfg["llm"]["model"],
                "passages": len(passages),
            },
        )
    finally:
        store.close()
        if own_engine:
            engine.close()
    summary = {k: v for k, v in result.__dict__.items() if k != "manifest"}
    log.info("generate: %s", summary)
    return summary


def stage_generate_sharded(cfg: Mapping[str, Any], out_dir: Path, engine=None) -> dict:
    """``engine=ray``: exactly-once generation into ``generated/shards/`` (``synth.distributed``).

    With an ``engine`` object (tests) the shards run in this process on it instead of on Ray workers.
    """
    from synth.distributed import ShardSettings, generate_sharded, inline_executor
    from synth.prompts import load_chat_template
    from synth.ray_engine import ray_executor
    from synth.shards import check_job

    g, ch = cfg["generate"], cfg["checks"]
    settings = ShardSettings(
        num_shards=int(g["num_shards"]),
        batch_size=int(g["batch_size"]),
        dedup=bool(ch["dedup"]),
        dedup_normalized=bool(ch["dedup_normalized"]),
    )
    fingerprint = generation_fingerprint(cfg)
    check_job(out_dir, fingerprint, settings.num_shards, bool(g.get("allow_config_change", False)))
    passages = load_corpus(cfg)
    tasks = build_tasks(cfg, passages, out_dir)
    if engine is not None:
        execute = inline_executor(tasks, engine, settings)
    else:
        template = load_chat_template(cfg["llm"]["chat_template"])
        execute = ray_executor(tasks, cfg["engine"], cfg["llm"]["model"], template, settings)
    result = generate_sharded(
        tasks,
        out_dir,
        execute,
        settings,
        manifest_fields={"fingerprint": fingerprint, "model": cfg["llm"]["model"], "passages": len(passages)},
        max_shards=g.get("max_shards"),
    )
    summary = dict(result.__dict__)
    log.info("generate: %s", summary)
    return summary


def stage_filter(cfg: Mapping[str, Any], out_dir: Path) -> dict:
    """Score query-positive cosine, keep by threshold / fraction -> ``filtered.jsonl`` + report."""
    from synth.dedup import dedup_records
    from synth.filter import filter_report, score_records, select

    f = cfg["filter"]
    records = list(iter_generated(out_dir))
    if not records:
        raise RuntimeError(f"no generated records under {out_dir / 'generated'}")
    dropped = {}
    if cfg["checks"]["dedup"]:  # across workers (each worker de-duplicates only its own shards)
        records, dropped = dedup_records(records, normalized=cfg["checks"]["dedup_normalized"])
    scores = score_records(records, embedder(cfg, f["scorer"]), batch_size=f["batch_size"])
    keep = select(records, scores, f.get("threshold"), f.get("keep_fraction"), f["per_task"])
    settings = {
        "scorer": f["scorer"],
        "threshold": f.get("threshold"),
        "keep_fraction": f.get("keep_fraction"),
    }
    report = {**filter_report(records, scores, keep, **settings), "cross_worker_duplicates": dropped}
    _write_records(
        out_dir / "filtered.jsonl",
        [{**r, "score": round(float(s), 4)} for r, s, k in zip(records, scores, keep, strict=True) if k],
    )
    atomic_write_json(out_dir / "filter_report.json", report)
    return report


def cached_corpus_embeddings(out_dir: Path, corpus: list[Passage], model_name: str, model, mcfg) -> Any:
    """Document-side corpus embeddings, cached in ``out_dir/cache/`` by model, prompt and corpus content."""
    import numpy as np

    from synth.mine import encode_corpus

    key = stable_hash(model_name, repr(mcfg.doc_side), *(f"{p.id}={stable_hash(p.text)}" for p in corpus))[
        :16
    ]
    path = out_dir / "cache" / f"corpus-{key}.npy"
    if path.exists():
        return np.load(path)
    emb = encode_corpus([p.text for p in corpus], model, mcfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.npy")
    np.save(tmp, emb)
    tmp.replace(path)
    return emb


def stage_mine(cfg: Mapping[str, Any], out_dir: Path) -> dict:
    """Mine corpus negatives for ``mine.tasks`` records -> ``mined.jsonl`` + report.

    With ``mine.max_positive_rank`` the pairs whose positive ranks worse among the corpus are dropped.
    """
    from synth.corpus import load_passages
    from synth.embedding import Side
    from synth.mine import MineConfig, mine_hard_negatives, mining_report

    m = cfg["mine"]
    records = _latest(out_dir, ("filtered.jsonl",))
    corpus = (
        load_passages(m["corpus"], exclude=cfg["corpus"].get("exclude") or ())
        if m.get("corpus")
        else load_corpus(cfg, limit=m.get("corpus_limit"))
    )
    targets = [i for i, r in enumerate(records) if r["task"].split("/")[0] in m["tasks"]]
    mcfg = MineConfig(
        num_negatives=m["num_negatives"],
        range_start=m["range_start"],
        range_end=m["range_end"],
        margin=m.get("margin"),
        sampling=m["sampling"],
        seed=cfg["seed"],
        query_side=Side("query"),
        doc_side=Side("document"),
        batch_size=m["batch_size"],
        max_positive_rank=m.get("max_positive_rank"),
    )
    model = embedder(cfg, m["model"])
    mined = mine_hard_negatives(
        [records[i]["query"] for i in targets],
        [records[i]["positive"] for i in targets],
        [(records[i].get("meta") or {}).get("passage_id") for i in targets],
        [p.id for p in corpus],
        [p.text for p in corpus],
        model,
        mcfg,
        corpus_embeddings=cached_corpus_embeddings(out_dir, corpus, m["model"], model, mcfg)
        if targets
        else None,
    )
    drop = set()
    for i, got in zip(targets, mined, strict=True):
        if not got.consistent(mcfg.max_positive_rank):
            drop.add(i)
        records[i] = {
            **records[i],
            "negatives": got.negatives,
            "mined": {
                "ids": got.negative_ids,
                "scores": got.negative_scores,
                "positive_score": got.positive_score,
                "positive_rank": got.positive_rank,
            },
        }
    records = [r for i, r in enumerate(records) if i not in drop]
    report = {**mining_report(mined, mcfg), "corpus_size": len(corpus), "dropped_inconsistent": len(drop)}
    _write_records(out_dir / "mined.jsonl", records)
    atomic_write_json(out_dir / "mine_report.json", report)
    return report


def stage_export(cfg: Mapping[str, Any], out_dir: Path) -> dict:
    """Write train/'s records per task under ``train/``."""
    from synth.export import write_train_files

    records = _latest(out_dir, ("mined.jsonl", "filtered.jsonl"))
    return write_train_files(records, out_dir / "train", min_negatives=cfg["mine"].get("min_negatives", 0))


def stage_stats(cfg: Mapping[str, Any], out_dir: Path) -> dict:
    """Write ``stats.json`` / ``stats.md``."""
    from synth.stats import build_stats, write_stats

    reports = {}
    for key, name in (
        ("filter", "filter_report.json"),
        ("mine", "mine_report.json"),
        ("export", "train/manifest.json"),
    ):
        path = out_dir / name
        if path.exists():
            reports[key] = json.loads(path.read_text(encoding="utf-8"))
    stats = build_stats(iter_generated(out_dir), iter_rejects(out_dir), out_dir, reports)
    write_stats(stats, out_dir)
    return stats


def _latest(out_dir: Path, names: tuple[str, ...]) -> list[dict]:
    for name in names:
        if (out_dir / name).exists():
            return list(read_jsonl(out_dir / name))
    records = list(iter_generated(out_dir))
    if not records:
        raise RuntimeError(f"nothing to read in {out_dir}: none of {names} nor generated/")
    return records


def _write_records(path: Path, records: list[dict]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for rec in records:
            handle.write(json.dumps(rec, ensure_ascii=False) + "\n")
    tmp.replace(path)


def run(cfg: Mapping[str, Any], engine=None) -> dict:
    """Run the configured stages over ``cfg["out_dir"]``; returns ``{stage: summary}`` (also saved)."""
    unknown = [s for s in cfg["stages"] if s not in STAGES]
    if unknown:
        raise ValueError(f"unknown stages {unknown}; choose from {STAGES}")
    out_dir = Path(cfg["out_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out_dir / "config.json", dict(cfg))
    fns = {
        "generate": lambda: stage_generate(cfg, out_dir, engine),
        "filter": lambda: stage_filter(cfg, out_dir),
        "mine": lambda: stage_mine(cfg, out_dir),
        "export": lambda: stage_export(cfg, out_dir),
        "stats": lambda: stage_stats(cfg, out_dir),
    }
    results, timings = {}, {}
    for stage in STAGES:
        if stage in cfg["stages"]:
            t0 = time.perf_counter()
            results[stage] = fns[stage]()
            timings[stage] = round(time.perf_counter() - t0, 2)
            log.info("stage %s done in %.1f s", stage, timings[stage])
    atomic_write_json(out_dir / "run_summary.json", {"timings_s": timings, "stages": list(results)})
    return results
