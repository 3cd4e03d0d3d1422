"""Where the improved InfoNCE's partition function goes, model by model: why a loss does well or badly early on.

For one batch of JaQuAD train pairs (the query with the model's query instruction, its positive passage and one
same-article hard negative), each model's embeddings give, per loss preset (``qwen3``: the paper's five terms with
the false-negative mask; ``mnrl``: sentence-transformers' MultipleNegativesRankingLoss):

- the loss, and the share of ``Z_i`` each term holds (pos, hn, qq, dd, qd; mean over the batch);
- the share of each term's candidates the mask removes (``s_ij > s(q_i, d_i+) + 0.1``);
- mean cosines: q-d+ (the target), q-q' (other queries), q-d' (other documents).

    .venv/bin/python bench/infonce_terms.py [--models gemma3-270m RUN/stage1/final ...] [--batch 16]
        [--temperature 0.05] [--max-length 128]

A model whose queries all look alike (a shared instruction dominating a last-token state) has large q-q cosines:
term (3) then fills ``Z`` and the mask, thresholded on ``s(q_i, d_i+)``, removes most of the in-batch candidates.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TERMS = ("pos", "hn", "qq", "dd", "qd")
QUERY_PROMPT = "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery:"


def batch_records(n: int, seed: int = 0):
    """``n`` JaQuAD train records with at least one same-article hard negative, sampled with ``seed``."""
    from eval.suite import default_data_root
    from train.data.readers import read_retrieval

    folder = default_data_root() / "jaquad" / "jmteb_format" / "train"
    records = [r for r in read_retrieval(folder, negatives="same_title").records if r.negatives]
    return random.Random(seed).sample(records, n)


def term_shares(q, d_pos, d_neg, config, ids):
    """Loss, each term's mean share of ``Z_i``, and each term's masked share of candidates, for one preset."""
    import torch

    from train.losses.improved_infonce import improved_infonce_loss, infonce_masks

    loss = float(improved_infonce_loss(q, d_pos, d_neg, **ids, config=config))
    masks = infonce_masks(q, d_pos, d_neg, **ids, config=config)
    tau = config.temperature
    n = q.shape[0]
    docs = torch.cat([d_pos, d_neg.reshape(-1, d_neg.shape[-1])])
    owner = torch.cat([torch.arange(n), torch.arange(n).repeat_interleave(d_neg.shape[1])])
    own = owner.unsqueeze(0) == torch.arange(n).unsqueeze(1)
    blocks = {
        "pos": ((q * d_pos).sum(-1, keepdim=True) / tau, torch.zeros(n, 1, dtype=torch.bool), None),
        "hn": (torch.einsum("nd,nkd->nk", q, d_neg) / tau, masks.hn, None),
        "qq": (q @ q.T / tau, masks.qq, torch.eye(n, dtype=torch.bool)),
        "dd": (d_pos @ docs.T / tau, masks.dd, own),
        "qd": (q @ docs.T / tau, masks.qd, own),
    }
    logits, masked = {}, {}
    for name, (block, mask, structural) in blocks.items():
        if name not in config.terms or mask is None:
            continue
        logits[name] = block.masked_fill(mask, float("-inf"))
        candidates = ~structural if structural is not None else torch.ones_like(mask)
        masked[name] = float((mask & candidates).sum()) / max(int(candidates.sum()), 1)
    log_z = torch.logsumexp(torch.cat(list(logits.values()), dim=1), dim=1, keepdim=True)
    shares = {
        name: float(torch.exp(torch.logsumexp(b, 1, keepdim=True) - log_z).mean())
        for name, b in logits.items()
    }
    return loss, shares, masked


def measure(model_name: str, records, args) -> dict:
    """Embeddings of the batch under ``model_name`` and the term table rows for both presets."""
    import torch

    from embed.model import EmbeddingModel
    from train.losses.improved_infonce import infonce_preset

    model = EmbeddingModel.load(model_name, device="cpu", max_length=args.max_length)
    enc = {"batch_size": 8, "show_progress": False, "as_numpy": False}
    # the instruction training gives queries (train.data.default_instruction in Qwen3's template), also for a raw
    # backbone that ships no prompts
    prompt = (model.prompts or {}).get("query") or QUERY_PROMPT
    q = model.encode([r.query for r in records], prompt=prompt, **enc).double()
    d_pos = model.encode([r.positives[0] for r in records], **enc).double()
    d_neg = model.encode([r.negatives[0] for r in records], **enc).double().unsqueeze(1)
    off = ~torch.eye(len(records), dtype=torch.bool)
    cos = {
        "q-d+": float((q * d_pos).sum(-1).mean()),
        "q-q'": float((q @ q.T)[off].mean()),
        "q-d'": float((q @ d_pos.T)[off].mean()),
    }
    # text ids, so that the same passage met twice is a duplicate, not a negative (dup_mask="text")
    text_id: dict[str, int] = {}
    pos_ids = torch.tensor([text_id.setdefault(r.positives[0], len(text_id)) for r in records])
    neg_ids = torch.tensor([[text_id.setdefault(r.negatives[0], len(text_id))] for r in records])
    query_ids = torch.tensor([text_id.setdefault("q:" + r.query, len(text_id)) for r in records])
    ids = {"pos_ids": pos_ids, "neg_ids": neg_ids, "query_ids": query_ids}
    rows = {}
    for preset in ("qwen3", "mnrl"):
        config = infonce_preset(preset, temperature=args.temperature)
        rows[preset] = term_shares(q, d_pos, d_neg, config, ids)
    return {"cos": cos, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["gemma3-270m"])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--temperature", type=float, default=0.05)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    records = batch_records(args.batch, args.seed)
    print(
        f"one batch: {args.batch} JaQuAD train pairs + 1 same-article hard negative each, τ {args.temperature}"
    )
    print()
    shares = " | ".join(f"Z share {t}" for t in TERMS)
    masked = " | ".join(f"masked {t}" for t in TERMS[1:])
    print(f"| model | loss | loss value | q-d+ cos | q-q' cos | q-d' cos | {shares} | {masked} |")
    print("|:--|:--|--:|--:|--:|--:|" + "--:|" * (2 * len(TERMS) - 1))
    for name in args.models:
        result = measure(name, records, args)
        c = result["cos"]
        for preset, (loss, shares, masked) in result["rows"].items():
            share = " | ".join(f"{shares[t]:.2f}" if t in shares else "-" for t in TERMS)
            mask = " | ".join(f"{masked[t]:.2f}" if t in masked else "-" for t in TERMS[1:])
            cosines = " | ".join(f"{c[k]:.3f}" for k in ("q-d+", "q-q'", "q-d'"))
            print(f"| {name} | {preset} | {loss:.3f} | {cosines} | {share} | {mask} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
