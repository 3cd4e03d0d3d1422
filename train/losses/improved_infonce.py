"""The improved InfoNCE loss of Qwen3-Embedding (arXiv 2506.05176, §3.1, Eq. 1), on precomputed embeddings.

Formula (``s`` = cosine of L2-normalised embeddings, ``τ`` = temperature)::

    L = -1/N Σ_i log( e^{s(q_i, d_i+)/τ} / Z_i )

    Z_i = e^{s(q_i, d_i+)/τ}                           (1) pos  positive
        + Σ_k      m_ik e^{s(q_i, d_ik-)/τ}             (2) hn   the K hard negatives of sample i
        + Σ_{j≠i}  m_ij e^{s(q_i, q_j)/τ}               (3) qq   other in-batch queries
        + Σ_{j≠i}  m_ij e^{s(d_i+, d_j)/τ}              (4) dd   other in-batch documents vs the positive
        + Σ_{j≠i}  m_ij e^{s(q_i, d_j)/τ}               (5) qd   other in-batch documents vs the query

    m_ij = 0  if  s_ij > s(q_i, d_i+) + margin  (raw cosine, before τ)  or  d_j = d_i+ ;  else 1

``m = 0`` is a ``-inf`` logit; the loss is the cross-entropy of the concatenated logits with the positive as
target, computed as ``log Z_i - s(q_i, d_i+)/τ`` with a log-sum-exp (numerically stable). Terms (3)-(5) need
no ``j ≠ i`` special case in the data: the sample's own texts are excluded structurally.

Inputs (the trainer computes the embeddings and L2-normalises them; this module does not normalise):

- ``q`` ``[N, D]`` queries, ``d_pos`` ``[N, D]`` positives, ``d_neg`` ``[N, K, D]`` hard negatives (``K`` may be 0,
  or ``None``);
- ``pos_ids`` ``[N]``, ``neg_ids`` ``[N, K]``, ``query_ids`` ``[N]`` (optional): integer ids of the *texts* (a hash
  of the text or of its token ids, see :func:`train.losses.text_ids.text_ids`). "``d_j`` is the same text as
  ``d_i+``" is decided by id equality, never by embedding equality (dropout makes identical texts' embeddings
  differ, huggingface/sentence-transformers#3260);
- ``local_rows``: with a gathered global batch (see :mod:`train.distributed`) the inputs span all ranks and the
  loss is computed only for this rank's queries ``q[local_rows]``, while terms (3)-(5) draw on the whole batch.

Switches (:class:`InfoNCEConfig`) resolve the ambiguities listed in ``docs/recipe.md`` §2:

- ``terms``: subset of ``pos, hn, qq, dd, qd`` (``pos`` is mandatory: it is the target);
- ``inbatch_docs``: ``all`` — ``d_j`` ranges over other samples' positives *and* hard negatives; ``positives`` —
  positives only;
- ``dd_mask``: threshold of term (4): ``qd`` reuses column j's q–d mask (``s_ij = s(q_i, d_j)``), ``self``
  thresholds ``s(d_i+, d_j)`` against the same ``s(q_i, d_i+) + margin``, ``none`` applies no threshold;
- ``dup_mask``: ``text`` — masks every candidate whose text id equals ``d_i+``'s (hard negatives included; in
  term (3) a query ``q_j`` whose own positive is ``d_i+``'s text, or whose text equals ``q_i``'s when
  ``query_ids`` are given); ``index`` — only ``j = i`` is excluded, which the sums already do (no text rule);
- ``dd_own_negatives``: term (4) also contrasts ``d_i+`` with ``i``'s own hard negatives (ms-swift) when true;
- ``mask_hard_negatives``: the threshold applies to term (2) (the formula's ``m_ik``); the text rule always does;
- ``mask_margin``: the 0.1 margin; ``None`` disables every threshold and keeps only the text rule;
- ``temperature``: ``τ`` (the paper gives none; recipe default 0.02).

The masks are boolean and computed without gradient (as in the paper, whether the threshold is detached makes
no difference). They can be computed once and passed in (``masks=``), e.g. from full-dimension scores in
Matryoshka training. Half-precision inputs are upcast to float32.

References: Zhang et al., *Qwen3 Embedding*, arXiv 2506.05176, Eq. 1 (five terms; the 2025-06-05 revision had
four: pos, hn, qq, dd — see QwenLM/Qwen3-Embedding#20); ms-swift ``swift/loss/embedding.py`` ``InfonceLoss``;
sentence-transformers ``MultipleNegativesRankingLoss`` (``directions``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

TERMS = ("pos", "hn", "qq", "dd", "qd")
INBATCH_DOCS = ("all", "positives")
DD_MASKS = ("qd", "none", "self")
DUP_MASKS = ("text", "index")


@dataclass(frozen=True)
class InfoNCEConfig:
    """Switches of the improved InfoNCE loss; the defaults are the paper's five-term loss (preset ``qwen3``)."""

    temperature: float = 0.02
    terms: tuple[str, ...] = TERMS
    inbatch_docs: Literal["all", "positives"] = "all"
    dd_mask: Literal["qd", "none", "self"] = "qd"
    dup_mask: Literal["text", "index"] = "text"
    dd_own_negatives: bool = False
    mask_hard_negatives: bool = True
    mask_margin: float | None = 0.1

    def __post_init__(self) -> None:
        terms = (self.terms,) if isinstance(self.terms, str) else tuple(self.terms)
        object.__setattr__(self, "terms", terms)
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if unknown := set(terms) - set(TERMS):
            raise ValueError(f"unknown InfoNCE terms {sorted(unknown)}; supported: {', '.join(TERMS)}")
        if "pos" not in terms:
            raise ValueError("InfoNCE terms must include 'pos' (the positive is the cross-entropy target)")
        for name, allowed in (("inbatch_docs", INBATCH_DOCS), ("dd_mask", DD_MASKS), ("dup_mask", DUP_MASKS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        if self.dd_own_negatives and self.inbatch_docs == "positives":
            raise ValueError(
                "dd_own_negatives=True needs inbatch_docs='all' (the pool holds no hard negatives)"
            )

    def replace(self, **changes: object) -> InfoNCEConfig:
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes)


#: The paper's loss (arXiv 2506.05176 revision of 2025-06-09): five terms, mask on every term.
QWEN3 = InfoNCEConfig()
#: The 2025-06-05 revision: positive, hard negatives, in-batch queries, in-batch documents vs d_i+ (no q–d term).
QWEN3_V1 = InfoNCEConfig(terms=("pos", "hn", "qq", "dd"))
#: ms-swift ``InfonceLoss`` with INCLUDE_QQ/INCLUDE_DD/MASK_FAKE_NEGATIVE on: threshold on q–d (own hard negatives
#: included) and q–q; d–d contrasts d_i+ with every document but its own positive, unmasked; no text rule.
#: (ms-swift's code default temperature is 0.1; presets keep 0.02 so that ablations change one thing at a time.)
MS_SWIFT = InfoNCEConfig(dd_mask="none", dup_mask="index", dd_own_negatives=True)
#: sentence-transformers MultipleNegativesRankingLoss: q vs all positives and hard negatives of the batch, no mask.
MNRL = InfoNCEConfig(terms=("pos", "hn", "qd"), dup_mask="index", mask_hard_negatives=False, mask_margin=None)

PRESETS: dict[str, InfoNCEConfig] = {"qwen3": QWEN3, "qwen3_v1": QWEN3_V1, "ms_swift": MS_SWIFT, "mnrl": MNRL}


def infonce_preset(name: str = "qwen3", **overrides: object) -> InfoNCEConfig:
    """The named preset (``qwen3``, ``qwen3_v1``, ``ms_swift``, ``mnrl``) with optional field overrides."""
    if name not in PRESETS:
        raise ValueError(f"unknown InfoNCE preset {name!r}; available: {', '.join(PRESETS)}")
    return PRESETS[name].replace(**overrides) if overrides else PRESETS[name]


@dataclass(frozen=True)
class InfoNCEMasks:
    """Boolean exclusion masks (True = ``m = 0``, a ``-inf`` logit) for the local rows, one per term.

    ``hn`` ``[n, K]``; ``qq`` ``[n, N]``; ``dd`` and ``qd`` ``[n, C]`` over the candidate document pool (``C = N``
    positives, followed by the ``N*K`` hard negatives when ``inbatch_docs='all'``). Structural exclusions
    (``j = i``, the sample's own documents) are included.
    """

    hn: Tensor
    qq: Tensor | None = None
    dd: Tensor | None = None
    qd: Tensor | None = None


@dataclass
class _Batch:
    """Validated inputs: the local rows' queries and positives, and the candidate pool of the whole batch."""

    q: Tensor  # [N, D] all queries (the q_j of term 3)
    q_i: Tensor  # [n, D] local queries
    d_i_pos: Tensor  # [n, D] local positives
    d_i_neg: Tensor  # [n, K, D] local hard negatives
    docs: Tensor  # [C, D] candidate pool d_j
    rows: Tensor  # [n] global index i of each local row
    doc_owner: Tensor  # [C] sample index j owning each candidate document
    doc_is_pos: Tensor  # [C] whether the candidate is a positive
    pos_ids: Tensor | None  # [N]
    neg_ids_i: Tensor | None  # [n, K]
    doc_ids: Tensor | None  # [C]
    query_ids: Tensor | None  # [N]


def _prepare(
    q: Tensor,
    d_pos: Tensor,
    d_neg: Tensor | None,
    pos_ids: Tensor | None,
    neg_ids: Tensor | None,
    query_ids: Tensor | None,
    config: InfoNCEConfig,
    local_rows: slice | None,
) -> _Batch:
    """Check shapes, upcast half precision, and lay out the candidate pool ``[positives; hard negatives]``."""
    if q.dim() != 2 or d_pos.shape != q.shape:
        raise ValueError(f"q and d_pos must both be [N, D]; got {tuple(q.shape)} and {tuple(d_pos.shape)}")
    n_all, dim = q.shape
    if d_neg is None:
        d_neg = q.new_zeros((n_all, 0, dim))
    if d_neg.dim() != 3 or d_neg.shape[0] != n_all or d_neg.shape[2] != dim:
        raise ValueError(f"d_neg must be [N, K, D] = [{n_all}, K, {dim}]; got {tuple(d_neg.shape)}")
    k = d_neg.shape[1]
    dtype = torch.promote_types(torch.promote_types(q.dtype, d_pos.dtype), d_neg.dtype)
    dtype = torch.promote_types(dtype, torch.float32)  # half precision is upcast; float64 stays float64
    q, d_pos, d_neg = q.to(dtype), d_pos.to(dtype), d_neg.to(dtype)

    if config.dup_mask == "text":
        if pos_ids is None or (k > 0 and neg_ids is None):
            raise ValueError("dup_mask='text' needs pos_ids (and neg_ids when there are hard negatives)")
    if pos_ids is not None and pos_ids.shape != (n_all,):
        raise ValueError(f"pos_ids must be [N] = [{n_all}]; got {tuple(pos_ids.shape)}")
    if neg_ids is not None and neg_ids.shape != (n_all, k):
        raise ValueError(f"neg_ids must be [N, K] = [{n_all}, {k}]; got {tuple(neg_ids.shape)}")
    if query_ids is not None and query_ids.shape != (n_all,):
        raise ValueError(f"query_ids must be [N] = [{n_all}]; got {tuple(query_ids.shape)}")

    device = q.device
    rows = torch.arange(n_all, device=device)[local_rows if local_rows is not None else slice(None)]
    if rows.numel() == 0:
        raise ValueError(f"local_rows {local_rows} selects no row of a batch of {n_all}")
    sample = torch.arange(n_all, device=device)
    if config.inbatch_docs == "all":
        docs = torch.cat([d_pos, d_neg.reshape(n_all * k, dim)])
        doc_owner = torch.cat([sample, sample.repeat_interleave(k)])
        doc_is_pos = torch.arange(n_all * (1 + k), device=device) < n_all
    else:
        docs, doc_owner = d_pos, sample
        doc_is_pos = torch.ones(n_all, dtype=torch.bool, device=device)

    doc_ids = None
    if pos_ids is not None:
        pos_ids = pos_ids.to(device)
        if config.inbatch_docs == "all" and k > 0:
            doc_ids = torch.cat([pos_ids, neg_ids.to(device).reshape(-1)]) if neg_ids is not None else None
        else:
            doc_ids = pos_ids
    neg_ids_i = neg_ids.to(device)[rows] if neg_ids is not None else None
    query_ids = query_ids.to(device) if query_ids is not None else None
    return _Batch(
        q=q,
        q_i=q[rows],
        d_i_pos=d_pos[rows],
        d_i_neg=d_neg[rows],
        docs=docs,
        rows=rows,
        doc_owner=doc_owner,
        doc_is_pos=doc_is_pos,
        pos_ids=pos_ids,
        neg_ids_i=neg_ids_i,
        doc_ids=doc_ids,
        query_ids=query_ids,
    )


def _cosines(b: _Batch, config: InfoNCEConfig, for_masks: bool) -> dict[str, Tensor]:
    """Raw cosines of every block the loss (``for_masks=False``) or its masks (``True``) need."""
    terms = set(config.terms)
    thresholds = config.mask_margin is not None
    mask_qd = thresholds and ("qd" in terms or ("dd" in terms and config.dd_mask == "qd"))
    mask_dd = thresholds and "dd" in terms and config.dd_mask == "self"
    need_qd = mask_qd if for_masks else "qd" in terms or mask_qd
    need_dd = mask_dd if for_masks else "dd" in terms
    s = {"pos": (b.q_i * b.d_i_pos).sum(-1)}  # s(q_i, d_i+)           [n]
    if "hn" in terms:
        s["hn"] = torch.einsum("nd,nkd->nk", b.q_i, b.d_i_neg)  # s(q_i, d_ik-)   [n, K]
    if "qq" in terms:
        s["qq"] = b.q_i @ b.q.T  # s(q_i, q_j)                                 [n, N]
    if need_dd:
        s["dd"] = b.d_i_pos @ b.docs.T  # s(d_i+, d_j)                         [n, C]
    if need_qd:
        s["qd"] = b.q_i @ b.docs.T  # s(q_i, d_j)                              [n, C]
    return s


def _masks_from_cosines(b: _Batch, s: dict[str, Tensor], config: InfoNCEConfig) -> InfoNCEMasks:
    """The exclusion masks ``m = 0`` of every term, from raw (detached) cosines."""
    terms = set(config.terms)
    margin = config.mask_margin
    text = config.dup_mask == "text"
    # s_ij > s(q_i, d_i+) + margin, on raw cosine (before τ)
    threshold = (s["pos"] + margin).unsqueeze(1) if margin is not None else None

    def false_negative(block: str, like: Tensor) -> Tensor:
        if threshold is None or block not in s:
            return torch.zeros_like(like, dtype=torch.bool)
        return s[block] > threshold

    pos_id_i = b.pos_ids[b.rows].unsqueeze(1) if b.pos_ids is not None else None

    # (2) m_ik: threshold (optional for curated negatives) or d_ik- = d_i+ (same text)
    hn = torch.zeros(b.d_i_neg.shape[:2], dtype=torch.bool, device=b.rows.device)
    if "hn" in terms:
        if config.mask_hard_negatives:
            hn = hn | false_negative("hn", hn)
        if text and b.neg_ids_i is not None:
            hn = hn | (b.neg_ids_i == pos_id_i)

    qq = None
    if "qq" in terms:
        # (3) j ≠ i; s(q_i, q_j) over threshold; q_j is another query for d_i+'s text, or q_i's own text again
        qq = b.rows.unsqueeze(1) == torch.arange(b.q.shape[0], device=b.rows.device).unsqueeze(0)
        qq = qq | false_negative("qq", qq)
        if text:
            qq = qq | (b.pos_ids.unsqueeze(0) == pos_id_i)
            if b.query_ids is not None:
                qq = qq | (b.query_ids.unsqueeze(0) == b.query_ids[b.rows].unsqueeze(1))

    own = b.doc_owner.unsqueeze(0) == b.rows.unsqueeze(1)  # d_j belongs to sample i        [n, C]
    same_text = (b.doc_ids.unsqueeze(0) == pos_id_i) if text else torch.zeros_like(own)  # d_j = d_i+

    qd = None
    fn_qd = false_negative("qd", own)
    if "qd" in terms:
        # (5) j ≠ i (own positive and own hard negatives are terms 1-2); s(q_i, d_j) over threshold; d_j = d_i+
        qd = own | fn_qd | same_text

    dd = None
    if "dd" in terms:
        # (4) j ≠ i (optionally keeping i's own hard negatives); threshold per dd_mask; d_j = d_i+
        own_neg = own & ~b.doc_is_pos.unsqueeze(0)
        dd = (own & b.doc_is_pos.unsqueeze(0)) if config.dd_own_negatives else own
        if config.dd_mask == "qd":
            # the same m_ij as term (5); on i's own hard negatives it is m_ik, so mask_hard_negatives applies
            dd = dd | (fn_qd if config.mask_hard_negatives else fn_qd & ~own_neg)
        elif config.dd_mask == "self":
            dd = dd | false_negative("dd", own)
        dd = dd | same_text
    return InfoNCEMasks(hn=hn, qq=qq, dd=dd, qd=qd)


def infonce_masks(
    q: Tensor,
    d_pos: Tensor,
    d_neg: Tensor | None = None,
    pos_ids: Tensor | None = None,
    neg_ids: Tensor | None = None,
    query_ids: Tensor | None = None,
    *,
    config: InfoNCEConfig = QWEN3,
    local_rows: slice | None = None,
) -> InfoNCEMasks:
    """The boolean masks ``m = 0`` of :func:`improved_infonce_loss` for these embeddings (no gradient)."""
    with torch.no_grad():
        b = _prepare(q, d_pos, d_neg, pos_ids, neg_ids, query_ids, config, local_rows)
        return _masks_from_cosines(b, _cosines(b, config, for_masks=True), config)


def improved_infonce_loss(
    q: Tensor,
    d_pos: Tensor,
    d_neg: Tensor | None = None,
    pos_ids: Tensor | None = None,
    neg_ids: Tensor | None = None,
    query_ids: Tensor | None = None,
    *,
    config: InfoNCEConfig = QWEN3,
    local_rows: slice | None = None,
    masks: InfoNCEMasks | None = None,
    reduction: Literal["mean", "none"] = "mean",
) -> Tensor:
    """Qwen3-Embedding's improved InfoNCE (Eq. 1) of L2-normalised embeddings: mean over ``local_rows``."""
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    b = _prepare(q, d_pos, d_neg, pos_ids, neg_ids, query_ids, config, local_rows)
    s = _cosines(b, config, for_masks=False)
    if masks is None:
        masks = _masks_from_cosines(b, {name: block.detach() for name, block in s.items()}, config)
    tau = config.temperature
    neg_inf = float("-inf")

    # (1) s(q_i, d_i+)/τ — the target of the cross-entropy
    logits = {"pos": (s["pos"] / tau).unsqueeze(1)}  # [n, 1]
    # (2) m_ik s(q_i, d_ik-)/τ
    if "hn" in config.terms:
        logits["hn"] = (s["hn"] / tau).masked_fill(masks.hn, neg_inf)  # [n, K]
    # (3) m_ij s(q_i, q_j)/τ, j ≠ i
    if "qq" in config.terms:
        logits["qq"] = (s["qq"] / tau).masked_fill(masks.qq, neg_inf)  # [n, N]
    # (4) m_ij s(d_i+, d_j)/τ, j ≠ i
    if "dd" in config.terms:
        logits["dd"] = (s["dd"] / tau).masked_fill(masks.dd, neg_inf)  # [n, C]
    # (5) m_ij s(q_i, d_j)/τ, j ≠ i
    if "qd" in config.terms:
        logits["qd"] = (s["qd"] / tau).masked_fill(masks.qd, neg_inf)  # [n, C]

    # -log(e^{s(q_i,d_i+)/τ} / Z_i) = log Z_i - s(q_i,d_i+)/τ: cross-entropy with the positive as target
    log_z = torch.logsumexp(torch.cat(list(logits.values()), dim=1), dim=1)  # [n]
    loss = log_z - logits["pos"].squeeze(1)
    return loss.mean() if reduction == "mean" else loss
