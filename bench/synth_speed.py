"""Pipeline vs raw vLLM: output tokens/s of synth's generation loop against ``LLM.generate`` on the same prompts.

    .venv/bin/python bench/synth_speed.py [--model qwen3-tiny-lm] [--passages 64] [--batch-size 64]
    .venv/bin/python bench/synth_speed.py --preset demo --passages 32 --batch-size 32   # demo's model/settings

The pipeline run is ``synth.generate.generate`` (work items -> chat rendering -> vLLM -> JSON parsing, schema
and content checks, de-duplication, fsynced shards and manifest) for the retrieval task's two steps. Every engine
call it makes is recorded (token ids + SamplingParams, seeds included) and replayed through raw
``LLM.generate`` with the same batches. The prefix cache is reset before every timed run and the order
alternates per repeat (raw first, then pipeline first, ...); the table reports the median of ``--repeats``. Persona
candidates are assigned by hash (the embedding model is not part of this benchmark). Target: ratio >= 0.9.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path


class RecordingEngine:
    """Wraps VLLMEngine and keeps every call's prompts and sampling params for the raw replay."""

    def __init__(self, inner) -> None:
        self.inner, self.calls = inner, []
        self.counters = inner.counters

    def generate(self, requests):
        """Record the prepared call, then run it through the real engine."""
        prompts, params, too_long = self.inner.prepare(requests)
        assert not too_long, "benchmark prompts must fit the context"
        self.calls.append((prompts, params))
        return self.inner.generate(requests)

    def close(self) -> None:
        """Nothing: the inner engine is closed by the caller."""


def build_task(args):
    """A RetrievalTask over JaQuAD train passages with hash-assigned persona candidates."""
    from synth.app import load_vocab
    from synth.corpus import default_data_root, load_passages
    from synth.ids import stable_hash
    from synth.personas import real_persona_chat_personas
    from synth.tasks.base import Sampling
    from synth.tasks.retrieval import RetrievalTask
    from synth.validate import TextLimits

    root = default_data_root()
    passages = load_passages(
        root / "jaquad/jmteb_format/train/corpus.jsonl",
        min_chars=40,
        max_chars=args.max_passage_chars,
        limit=args.passages,
        sample_seed=0,
    )
    personas = real_persona_chat_personas(
        root / "real_persona_chat/original/interlocutors.json", group_size=args.persona_group_size
    )
    topk = {}
    for p in passages:
        order = sorted(personas, key=lambda x: stable_hash(p.id, x.id))[:5]
        topk[p.id] = [(x.id, 0.0) for x in order]
    limits = TextLimits(max_chars=args.max_chars, language_check=args.language_check)
    return RetrievalTask(
        passages,
        {x.id: x for x in personas},
        topk,
        prompt_set=args.prompt_set,
        vocab=load_vocab(args.prompt_set),
        sampling=Sampling(args.temperature, args.top_p, args.top_k),
        limits=limits,
        max_tokens={"config": args.config_tokens, "query": args.query_tokens},
        seed=args.seed,
    )


def apply_preset(args) -> None:
    """Overwrite model, prompt, sampling and length arguments with a preset's values (conf/synth/preset/)."""
    from omegaconf import OmegaConf

    from synth.cli import CONF_DIR

    p = OmegaConf.to_container(OmegaConf.load(Path(CONF_DIR) / "preset" / f"{args.preset}.yaml"))
    llm, engine = p.get("llm", {}), p.get("engine", {})
    args.model = llm.get("model", args.model)
    args.prompt_set = llm.get("prompt_set", args.prompt_set)
    args.chat_template = llm.get("chat_template", args.chat_template)
    args.temperature = llm.get("temperature", args.temperature)
    args.top_p = llm.get("top_p", args.top_p)
    args.top_k = llm.get("top_k", args.top_k)
    args.dtype = engine.get("dtype", args.dtype)
    args.max_model_len = engine.get("max_model_len", args.max_model_len)
    args.max_passage_chars = p.get("corpus", {}).get("max_chars", args.max_passage_chars)
    args.persona_group_size = p.get("personas", {}).get("group_size", args.persona_group_size)
    checks = p.get("checks", {})
    args.max_chars = checks.get("max_chars", args.max_chars)
    args.language_check = checks.get("language_check", True)
    budget = p.get("tasks", {}).get("retrieval", {}).get("max_tokens", {})
    args.config_tokens = budget.get("config", args.config_tokens)
    args.query_tokens = budget.get("query", args.query_tokens)


def run_pipeline(task, engine, batch_size: int, seed: int) -> tuple[float, int, int, float]:
    """(seconds, output tokens, accepted, seconds inside LLM.generate) of one generation into a fresh folder."""
    from synth.generate import generate
    from synth.store import ShardStore

    out = Path(tempfile.mkdtemp(prefix="synth-bench-"))
    try:
        before, in_llm = engine.counters.output_tokens, engine.counters.seconds
        t0 = time.perf_counter()
        res = generate([task], engine, ShardStore(out), batch_size=batch_size)
        secs = time.perf_counter() - t0
        return secs, engine.counters.output_tokens - before, res.accepted, engine.counters.seconds - in_llm
    finally:
        shutil.rmtree(out, ignore_errors=True)


def run_raw(llm, calls) -> tuple[float, int]:
    """(seconds, output tokens) of replaying the recorded calls through ``LLM.generate``."""
    t0, tokens = time.perf_counter(), 0
    for prompts, params in calls:
        for out in llm.generate(prompts, params, use_tqdm=False):
            tokens += len(out.outputs[0].token_ids)
    return time.perf_counter() - t0, tokens


def main() -> None:
    """Parse arguments, run both sides, print the table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="qwen3-tiny-lm")
    ap.add_argument("--dtype", default="auto", help="auto: embed.hardware decides (bf16 where native)")
    ap.add_argument("--prompt-set", default="default")
    ap.add_argument("--chat-template", default=None)
    ap.add_argument("--passages", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--max-passage-chars", type=int, default=500)
    ap.add_argument("--max-chars", type=int, default=24)
    ap.add_argument("--config-tokens", type=int, default=48)
    ap.add_argument("--query-tokens", type=int, default=64)
    ap.add_argument("--persona-group-size", type=int, default=5)
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--top-p", type=float, default=0.95)
    ap.add_argument("--top-k", type=int, default=None)
    ap.add_argument("--language-check", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-model-len", type=int, default=2048)
    ap.add_argument(
        "--preset", default=None, help="take model and generation settings from conf/synth/preset/"
    )
    args = ap.parse_args()
    if args.preset:
        apply_preset(args)

    from embed.bootstrap.registry import resolve_model
    from synth.engines.vllm_offline import VLLMEngine
    from synth.prompts import load_chat_template

    engine = VLLMEngine(
        resolve_model(args.model),
        dtype=args.dtype,
        max_model_len=args.max_model_len,
        enforce_eager=True,
        chat_template=load_chat_template(args.chat_template),
        chat_template_kwargs={"enable_thinking": False},
    )
    task = build_task(args)
    recorder = RecordingEngine(engine)
    run_pipeline(task, recorder, args.batch_size, args.seed)  # warm-up: grammar compilation, recorded calls
    calls = recorder.calls
    pipe, raw, outside = [], [], []
    accepted = 0
    for rep in range(args.repeats):
        for side in ("raw", "pipeline") if rep % 2 == 0 else ("pipeline", "raw"):
            engine.llm.reset_prefix_cache()
            if side == "raw":
                raw.append(run_raw(engine.llm, calls))
                secs, tokens = raw[-1]
            else:
                secs, tokens, accepted, in_llm = run_pipeline(task, engine, args.batch_size, args.seed)
                pipe.append((secs, tokens))
                outside.append(secs - in_llm)
            print(f"repeat {rep}: {side:8s} {tokens} tokens in {secs:.2f} s", file=sys.stderr, flush=True)
    engine.close()

    def rate(runs):
        return statistics.median(t / s for s, t in runs)

    r_raw, r_pipe = rate(raw), rate(pipe)
    pair_ratios = [(pt / ps) / (rt / rs) for (ps, pt), (rs, rt) in zip(pipe, raw, strict=True)]
    n_req = sum(len(p) for p, _ in calls)
    print(
        f"\nsynth_speed: {args.model} ({args.dtype}), {args.passages} passages x 2 steps = {n_req} requests "
        f"in {len(calls)} calls (batch {args.batch_size}); temperature {args.temperature}, top_p {args.top_p}, "
        f"top_k {args.top_k}, structured output on both sides; median of {args.repeats}"
    )
    print("| runner | output tokens | seconds | output tokens/s | ratio |")
    print("|---|---|---|---|---|")
    print(
        f"| raw vllm.LLM.generate (same prompts, params, batches) | {raw[-1][1]} | "
        f"{statistics.median(s for s, _ in raw):.2f} | {r_raw:.1f} | 1.00 |"
    )
    print(
        f"| synth pipeline (render, parse, validate, dedup, fsync) | {pipe[-1][1]} | "
        f"{statistics.median(s for s, _ in pipe):.2f} | {r_pipe:.1f} | {r_pipe / r_raw:.2f} |"
    )
    print(
        f"(pipeline accepted {accepted} of {args.passages} items in the last run; per-repeat ratios "
        f"{', '.join(f'{r:.2f}' for r in pair_ratios)}, median {statistics.median(pair_ratios):.2f}; "
        f"pipeline time outside LLM.generate: median {statistics.median(outside):.2f} s)"
    )


if __name__ == "__main__":
    main()
