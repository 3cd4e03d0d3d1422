"""Test helpers for the improved InfoNCE: a loop-by-loop reference of Eq. 1, planted test batches, a DDP worker.

The reference is written straight from the formula (recipe.md §2) with explicit Python loops over i, j, k and
no vectorisation, resolving the ambiguities as train/losses/improved_infonce.py documents them.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from train.losses import InfoNCEConfig

N, K, DIM = 8, 2, 16


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm()


def _with_cosine(anchor: torch.Tensor, c: float, gen: torch.Generator) -> torch.Tensor:
    """A unit vector whose cosine with the unit vector ``anchor`` is exactly ``c``."""
    u = torch.randn(anchor.shape, generator=gen, dtype=anchor.dtype)
    u = _unit(u - (u @ anchor) * anchor)
    return c * anchor + math.sqrt(1.0 - c * c) * u


def _jitter(x: torch.Tensor, eps: float, gen: torch.Generator) -> torch.Tensor:
    """``x`` moved by a relative ``eps`` and re-normalised (the same text under dropout when eps is small)."""
    g = torch.randn(x.shape, generator=gen, dtype=x.dtype) / math.sqrt(x.numel())
    return _unit(x + eps * g)


def make_batch(seed: int = 0, n: int = N, k: int = K, dim: int = DIM) -> dict[str, torch.Tensor]:
    """A float64 batch of unit vectors with planted exact duplicates and near-duplicates around the 0.1 margin.

    Plants (need n >= 8, k >= 2): pos 1 is pos 0's text (jittered); query 5 is query 4's text (jittered); hard
    negative (2, 0) is pos 0's text; hard negative (3, 1) is its own positive's text; q_7 lies 0.01 above row
    6's threshold, q_3 0.01 below row 2's; own hard negatives (0, 0) / (0, 1) lie 0.01 above / below row 0's
    threshold, in-batch hard negatives (4, 1) / (5, 0) too; hard negative (7, 1) is a near copy of pos 6 (a
    ``dd_mask='self'`` case that the q–d threshold keeps).
    """
    assert n >= 8 and k >= 2
    gen = torch.Generator().manual_seed(seed)
    f64 = torch.float64

    def uniform(lo: float, hi: float) -> float:
        return lo + (hi - lo) * torch.rand((), generator=gen, dtype=f64).item()

    q = [_unit(torch.randn(dim, generator=gen, dtype=f64)) for _ in range(n)]
    d_pos: list[torch.Tensor | None] = [None] * n
    pos_ids = list(range(100, 100 + n))
    query_ids = list(range(200, 200 + n))
    neg_ids = [[300 + i * k + j for j in range(k)] for i in range(n)]

    def new_pos(i: int) -> None:
        d_pos[i] = _with_cosine(q[i], uniform(0.45, 0.7), gen)

    for i in range(n):
        new_pos(i)
    # query 5 = query 4's text (another positive)
    q[5], query_ids[5] = _jitter(q[4], 1e-3, gen), query_ids[4]
    new_pos(5)
    # near-duplicate queries: q_7 just above row 6's threshold, q_3 just below row 2's
    q[7] = _with_cosine(q[6], float(q[6] @ d_pos[6]) + 0.11, gen)
    new_pos(7)
    q[3] = _with_cosine(q[2], float(q[2] @ d_pos[2]) + 0.09, gen)
    new_pos(3)
    # pos 1 = pos 0's text (under dropout), asked by a query close to it
    d_pos[1], pos_ids[1] = _jitter(d_pos[0], 1e-3, gen), pos_ids[0]
    q[1] = _with_cosine(d_pos[0], 0.6, gen)

    d_neg = [[_with_cosine(q[i], uniform(0.0, 0.35), gen) for _ in range(k)] for i in range(n)]
    s_pos0 = float(q[0] @ d_pos[0])
    d_neg[0][0] = _with_cosine(q[0], s_pos0 + 0.11, gen)
    d_neg[0][1] = _with_cosine(q[0], s_pos0 + 0.09, gen)
    d_neg[4][1] = _with_cosine(q[0], s_pos0 + 0.11, gen)
    d_neg[5][0] = _with_cosine(q[0], s_pos0 + 0.09, gen)
    d_neg[2][0], neg_ids[2][0] = _jitter(d_pos[0], 1e-3, gen), pos_ids[0]
    d_neg[3][1], neg_ids[3][1] = _jitter(d_pos[3], 1e-3, gen), pos_ids[3]
    d_neg[7][1] = _jitter(d_pos[6], 0.15, gen)
    return {
        "q": torch.stack(q),
        "d_pos": torch.stack(d_pos),
        "d_neg": torch.stack([torch.stack(row) for row in d_neg]),
        "pos_ids": torch.tensor(pos_ids),
        "neg_ids": torch.tensor(neg_ids),
        "query_ids": torch.tensor(query_ids),
    }


def reference_loss(
    q: torch.Tensor,
    d_pos: torch.Tensor,
    d_neg: torch.Tensor,
    pos_ids: torch.Tensor,
    neg_ids: torch.Tensor,
    query_ids: torch.Tensor | None,
    cfg: InfoNCEConfig,
    rows: range | None = None,
    mask_embeddings: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """Eq. 1 by loops. ``mask_embeddings`` (q, d+, d-) decide the threshold masks (default: the same inputs)."""
    n, k = d_neg.shape[0], d_neg.shape[1]
    mq, mdp, mdn = mask_embeddings if mask_embeddings is not None else (q, d_pos, d_neg)
    tau, margin = cfg.temperature, cfg.mask_margin
    text = cfg.dup_mask == "text"
    pid, nid = pos_ids.tolist(), neg_ids.tolist()
    qid = query_ids.tolist() if query_ids is not None else None

    def s(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.dot(a, b)  # cosine of unit vectors

    def doc(j: int, kk: int | None) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Embedding, mask embedding and text id of sample j's positive (kk=None) or k-th hard negative."""
        if kk is None:
            return d_pos[j], mdp[j], pid[j]
        return d_neg[j, kk], mdn[j, kk], nid[j][kk]

    losses = []
    for i in rows if rows is not None else range(n):
        s_pos = s(q[i], d_pos[i])
        threshold = None if margin is None else s(mq[i], mdp[i]).item() + margin

        def above(score: torch.Tensor, threshold: float | None = threshold) -> bool:
            return threshold is not None and score.item() > threshold

        # other samples' documents d_j (j != i): positives, plus hard negatives when inbatch_docs == "all"
        others = []
        for j in range(n):
            if j == i:
                continue
            others.append((j, None))
            if cfg.inbatch_docs == "all":
                for kk in range(k):
                    others.append((j, kk))

        z = torch.exp(s_pos / tau)  # (1)
        if "hn" in cfg.terms:  # (2)
            for kk in range(k):
                m = 1
                if cfg.mask_hard_negatives and above(s(mq[i], mdn[i, kk])):
                    m = 0
                if text and nid[i][kk] == pid[i]:
                    m = 0
                z = z + m * torch.exp(s(q[i], d_neg[i, kk]) / tau)
        if "qq" in cfg.terms:  # (3)
            for j in range(n):
                if j == i:
                    continue
                m = 1
                if above(s(mq[i], mq[j])):
                    m = 0
                if text and (pid[j] == pid[i] or (qid is not None and qid[j] == qid[i])):
                    m = 0
                z = z + m * torch.exp(s(q[i], q[j]) / tau)
        if "dd" in cfg.terms:  # (4)
            pool = others + ([(i, kk) for kk in range(k)] if cfg.dd_own_negatives else [])
            for j, kk in pool:
                d_j, md_j, id_j = doc(j, kk)
                m = 1
                if cfg.dd_mask == "qd":
                    own_negative = j == i
                    if (not own_negative or cfg.mask_hard_negatives) and above(s(mq[i], md_j)):
                        m = 0
                elif cfg.dd_mask == "self" and above(s(mdp[i], md_j)):
                    m = 0
                if text and id_j == pid[i]:
                    m = 0
                z = z + m * torch.exp(s(d_pos[i], d_j) / tau)
        if "qd" in cfg.terms:  # (5)
            for j, kk in others:
                d_j, md_j, id_j = doc(j, kk)
                m = 1
                if above(s(mq[i], md_j)):
                    m = 0
                if text and id_j == pid[i]:
                    m = 0
                z = z + m * torch.exp(s(q[i], d_j) / tau)
        losses.append(-torch.log(torch.exp(s_pos / tau) / z))
    out = torch.stack(losses)
    return out.mean() if reduction == "mean" else out


def gather_worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    """One gloo rank: gather local embeddings with gradients, compute the local loss, save loss and grads."""
    import torch.distributed as dist

    from train.distributed import gather_no_grad, gather_with_grad, local_rows
    from train.losses import MS_SWIFT, QWEN3, improved_infonce_loss, matryoshka_loss

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        batch = make_batch()
        n_local = N // world
        mine = slice(rank * n_local, (rank + 1) * n_local)
        results = {}
        cases = {
            "qwen3": lambda *a, **kw: improved_infonce_loss(*a, **kw, config=QWEN3),
            "ms_swift": lambda *a, **kw: improved_infonce_loss(*a, **kw, config=MS_SWIFT),
            "mrl": lambda *a, **kw: matryoshka_loss(*a, **kw, dims=[4, 8, 16], config=QWEN3),
        }
        for name, fn in cases.items():
            leaves = [batch[key][mine].clone().requires_grad_() for key in ("q", "d_pos", "d_neg")]
            ids = [gather_no_grad(batch[key][mine]) for key in ("pos_ids", "neg_ids", "query_ids")]
            loss = fn(*[gather_with_grad(x) for x in leaves], *ids, local_rows=local_rows(n_local))
            loss.backward()
            results[name] = {"loss": loss.detach(), "grads": [x.grad for x in leaves]}
        torch.save(results, Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()
