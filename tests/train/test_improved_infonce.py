"""The improved InfoNCE loss against a loop-by-loop reference of Eq. 1, sentence-transformers MNRL and ms-swift."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from _infonce_reference import K, N, make_batch, reference_loss

from train.losses import (
    MNRL,
    MS_SWIFT,
    PRESETS,
    QWEN3,
    QWEN3_V1,
    InfoNCEConfig,
    improved_infonce_loss,
    infonce_masks,
    infonce_preset,
    text_ids,
    token_row_ids,
)

CONFIGS: dict[str, InfoNCEConfig] = {
    **PRESETS,
    "inbatch_positives": QWEN3.replace(inbatch_docs="positives"),
    "dd_mask_none": QWEN3.replace(dd_mask="none"),
    "dd_mask_self": QWEN3.replace(dd_mask="self"),
    "dup_index": QWEN3.replace(dup_mask="index"),
    "dd_own_negatives": QWEN3.replace(dd_own_negatives=True),
    "dd_own_negatives_self": QWEN3.replace(dd_own_negatives=True, dd_mask="self"),
    "dd_own_negatives_hn_unmasked": QWEN3.replace(dd_own_negatives=True, mask_hard_negatives=False),
    "hn_unmasked": QWEN3.replace(mask_hard_negatives=False),
    "margin_none": QWEN3.replace(mask_margin=None),
    "margin_none_index": QWEN3.replace(mask_margin=None, dup_mask="index"),
    "margin_0.05": QWEN3.replace(mask_margin=0.05),
    "tau_0.1": QWEN3.replace(temperature=0.1),
    "terms_pos": QWEN3.replace(terms=("pos",)),
    "terms_pos_hn": QWEN3.replace(terms=("pos", "hn")),
    "terms_pos_qq": QWEN3.replace(terms=("pos", "qq")),
    "terms_pos_dd": QWEN3.replace(terms=("pos", "dd")),
    "terms_pos_qd": QWEN3.replace(terms=("pos", "qd")),
    "terms_pos_dd_self_positives": QWEN3.replace(
        terms=("pos", "dd"), dd_mask="self", inbatch_docs="positives"
    ),
}
IDS = ("pos_ids", "neg_ids", "query_ids")


def _batch(variant: str = "k2", dtype: torch.dtype = torch.float64) -> dict[str, torch.Tensor | None]:
    """The planted batch; ``k0`` drops the hard negatives, ``no_query_ids`` the query ids."""
    b: dict[str, torch.Tensor | None] = dict(make_batch())
    if variant == "k0":
        b["d_neg"], b["neg_ids"] = b["d_neg"][:, :0], b["neg_ids"][:, :0]
    if variant == "no_query_ids":
        b["query_ids"] = None
    for key in ("q", "d_pos", "d_neg"):
        b[key] = b[key].to(dtype)
    return b


def _ours(b: dict, cfg: InfoNCEConfig, **kw) -> torch.Tensor:
    return improved_infonce_loss(b["q"], b["d_pos"], b["d_neg"], *(b[k] for k in IDS), config=cfg, **kw)


def _ref(b: dict, cfg: InfoNCEConfig, **kw) -> torch.Tensor:
    return reference_loss(b["q"], b["d_pos"], b["d_neg"], *(b[k] for k in IDS), cfg, **kw)


@pytest.mark.parametrize("variant", ["k2", "k0", "no_query_ids"])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_matches_loop_reference_float64(name: str, variant: str) -> None:
    b = _batch(variant)
    cfg = CONFIGS[name]
    ours = _ours(b, cfg, reduction="none")
    ref = _ref(b, cfg, reduction="none")
    assert ours.dtype == torch.float64
    torch.testing.assert_close(ours, ref, atol=1e-10, rtol=0)
    torch.testing.assert_close(_ours(b, cfg), ref.mean(), atol=1e-10, rtol=0)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_matches_loop_reference_float32(name: str) -> None:
    b64, b32 = _batch(), _batch(dtype=torch.float32)
    ours = _ours(b32, CONFIGS[name], reduction="none")
    assert ours.dtype == torch.float32
    torch.testing.assert_close(
        ours.double(), _ref(b64, CONFIGS[name], reduction="none"), atol=1e-5, rtol=1e-5
    )


@pytest.mark.parametrize("name", list(CONFIGS))
def test_gradients_match_reference_autograd(name: str) -> None:
    b = _batch()
    grads = []
    for fn in (_ours, _ref):
        leaves = {key: b[key].clone().requires_grad_() for key in ("q", "d_pos", "d_neg")}
        fn({**b, **leaves}, CONFIGS[name]).backward()
        grads.append([torch.zeros_like(x) if x.grad is None else x.grad for x in leaves.values()])
    for ours, ref in zip(*grads):
        torch.testing.assert_close(ours, ref, atol=1e-10, rtol=0)
    if len(CONFIGS[name].terms) > 1:
        assert grads[0][0].abs().max() > 1e-3


@pytest.mark.parametrize("name", ["qwen3", "ms_swift", "dd_own_negatives_self"])
def test_gradcheck(name: str) -> None:
    b = _batch()
    leaves = tuple(
        b[key][:6, :, :8].clone() if key == "d_neg" else b[key][:6, :8].clone()
        for key in ("q", "d_pos", "d_neg")
    )
    leaves = tuple(F.normalize(x, dim=-1).requires_grad_() for x in leaves)
    ids = (b["pos_ids"][:6], b["neg_ids"][:6], b["query_ids"][:6])

    def fn(q: torch.Tensor, dp: torch.Tensor, dn: torch.Tensor) -> torch.Tensor:
        return improved_infonce_loss(q, dp, dn, *ids, config=CONFIGS[name], local_rows=slice(1, 5))

    assert torch.autograd.gradcheck(fn, leaves, eps=1e-6, atol=1e-6)


def test_the_planted_batch_exercises_every_switch() -> None:
    """Each switch changes the loss on the planted batch, so the reference comparisons can fail."""
    b = _batch()
    base = _ours(b, QWEN3).item()
    for change in (
        {"inbatch_docs": "positives"},
        {"dd_mask": "none"},
        {"dd_mask": "self"},
        {"dup_mask": "index"},
        {"dd_own_negatives": True},
        {"mask_hard_negatives": False},
        {"mask_margin": None},
        {"mask_margin": 0.05},
        {"terms": ("pos", "hn", "qq", "dd")},
    ):
        assert abs(_ours(b, QWEN3.replace(**change)).item() - base) > 1e-6, change
    own = QWEN3.replace(dd_own_negatives=True)
    assert _ours(b, own).item() != pytest.approx(_ours(b, own.replace(mask_hard_negatives=False)).item())
    no_margin = QWEN3.replace(mask_margin=None)  # the query-text rule alone (q_5 is q_4's text)
    assert _ours(b, no_margin).item() != pytest.approx(_ours({**b, "query_ids": None}, no_margin).item())


def test_masks_hit_the_planted_cases() -> None:
    b = _batch()
    m = infonce_masks(b["q"], b["d_pos"], b["d_neg"], *(b[k] for k in IDS), config=QWEN3)
    assert m.hn[0].tolist() == [True, False]  # own hard negatives 0.01 above / below the threshold
    assert m.hn[3, 1]  # hard negative with the positive's text
    assert m.qq[6, 7] and not m.qq[2, 3]  # near-duplicate queries above / below
    assert m.qq[4, 5] and m.qq[0, 1]  # same query text; another query for the same positive text
    pos, neg = lambda j: j, lambda j, k: N + j * K + k  # noqa: E731  (columns of the candidate pool)
    assert m.qd[0, neg(4, 1)] and not m.qd[0, neg(5, 0)]
    assert m.qd[0, pos(1)] and m.qd[0, neg(2, 0)] and m.qd[1, pos(0)]  # d_j = d_i+ by text id
    assert m.qd[0, pos(0)] and m.qd[0, neg(0, 0)] and m.dd[0, neg(0, 1)]  # own documents are not in-batch
    assert (m.dd == m.qd).all()  # dd_mask='qd' with dd_own_negatives=False reuses the q–d mask
    self_mask = infonce_masks(
        b["q"], b["d_pos"], b["d_neg"], *(b[k] for k in IDS), config=QWEN3.replace(dd_mask="self")
    )
    assert self_mask.dd[6, neg(7, 1)] and not m.dd[6, neg(7, 1)]


@pytest.mark.parametrize(
    "name", ["qwen3", "qwen3_v1", "dd_mask_self", "dd_own_negatives", "margin_none", "inbatch_positives"]
)
def test_planted_duplicate_of_the_positive_does_not_change_the_loss(name: str) -> None:
    """An extra sample whose positive and negatives are d_2+'s text (under dropout) is invisible to row 2."""
    b = _batch()
    gen = torch.Generator().manual_seed(1)

    def dropout_copy(x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x + 1e-3 * torch.randn(x.shape, generator=gen, dtype=x.dtype), dim=-1)

    extra = {
        "q": F.normalize(torch.randn(1, b["q"].shape[1], generator=gen, dtype=torch.float64), dim=-1),
        "d_pos": dropout_copy(b["d_pos"][2:3]),
        "d_neg": torch.stack([dropout_copy(b["d_pos"][2]) for _ in range(K)]).unsqueeze(0),
        "pos_ids": b["pos_ids"][2:3],
        "neg_ids": b["pos_ids"][2].repeat(1, K),
        "query_ids": torch.tensor([999]),
    }
    bigger = {key: torch.cat([b[key], extra[key]]) for key in b}
    cfg = CONFIGS[name]
    before, after = _ours(b, cfg, reduction="none")[2], _ours(bigger, cfg, reduction="none")[2]
    torch.testing.assert_close(after, before, atol=1e-12, rtol=0)
    index_cfg = cfg.replace(dup_mask="index")  # without the text rule the duplicate leaks into Z_2
    assert _ours(bigger, index_cfg, reduction="none")[2] > _ours(b, index_cfg, reduction="none")[2] + 1e-3


@pytest.mark.parametrize("name", ["qwen3", "ms_swift", "dd_mask_self"])
def test_local_rows_compute_the_same_rows(name: str) -> None:
    b, cfg = _batch(), CONFIGS[name]
    full = _ours(b, cfg, reduction="none")
    part = _ours(b, cfg, reduction="none", local_rows=slice(2, 5))
    torch.testing.assert_close(part, full[2:5], atol=1e-12, rtol=0)
    torch.testing.assert_close(part, _ref(b, cfg, rows=range(2, 5), reduction="none"), atol=1e-10, rtol=0)


def test_precomputed_masks_and_none_negatives() -> None:
    b = _batch("k0")
    masks = infonce_masks(b["q"], b["d_pos"], None, b["pos_ids"], None, b["query_ids"])
    with_masks = improved_infonce_loss(
        b["q"], b["d_pos"], None, b["pos_ids"], None, b["query_ids"], masks=masks
    )
    torch.testing.assert_close(with_masks, _ours(b, QWEN3), atol=1e-12, rtol=0)


def test_half_precision_is_upcast() -> None:
    b = _batch(dtype=torch.bfloat16)
    loss = _ours(b, QWEN3)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)


# --- against peer implementations -------------------------------------------------------------------------------


def _mnrl(directions: tuple[str, ...], tau: float):
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    return MultipleNegativesRankingLoss(None, scale=1.0 / tau, directions=directions, partition_mode="joint")


@pytest.mark.parametrize("k", [0, 2])
def test_mask_off_pos_hn_qd_equals_sentence_transformers_mnrl(k: int) -> None:
    b = _batch("k2" if k else "k0")
    cfg = MNRL if k else QWEN3.replace(terms=("pos", "qd"), mask_margin=None, dup_mask="index")
    st = _mnrl(("query_to_doc",), cfg.temperature)
    columns = [b["q"], b["d_pos"], *(b["d_neg"][:, kk] for kk in range(k))]
    torch.testing.assert_close(
        _ours(b, cfg), st.compute_loss_from_embeddings(columns, None), atol=1e-12, rtol=0
    )


def test_five_terms_mask_off_equal_sentence_transformers_mnrl_directions() -> None:
    b = _batch()
    cfg = QWEN3.replace(mask_margin=None, dup_mask="index")
    st = _mnrl(("query_to_doc", "query_to_query", "doc_to_doc"), cfg.temperature)
    columns = [b["q"], b["d_pos"], *(b["d_neg"][:, kk] for kk in range(K))]
    torch.testing.assert_close(
        _ours(b, cfg), st.compute_loss_from_embeddings(columns, None), atol=1e-12, rtol=0
    )


def _ms_swift_infonce(q: torch.Tensor, d_pos: torch.Tensor, d_neg: torch.Tensor, tau: float, margin: float):
    """ms-swift ``InfonceLoss`` (swift/loss/embedding.py), batched path, USE_BATCH + INCLUDE_QQ/DD + MASK_FAKE_NEGATIVE."""
    b, k = d_neg.shape[:2]
    groups = torch.cat(
        [q[:, None], d_pos[:, None], d_neg], dim=1
    )  # [B, 2 + K, D]: anchor, positive, negatives
    queries, docs = groups[:, 0], groups[:, 1:].reshape(-1, q.shape[1])
    labels = torch.arange(0, b * (k + 1), k + 1)  # each group's positive column
    rows = torch.arange(b)
    qd = queries @ docs.T
    qq = (queries @ queries.T).clone()
    qq.fill_diagonal_(float("-inf"))
    dd = groups[:, 1] @ docs.T
    dd[rows, rows * (k + 1)] = float("-inf")
    threshold = qd[rows, labels].detach().view(-1, 1) + margin
    qd_block, qq_block = qd.clone(), qq.clone()
    qd_block[qd_block > threshold] = float("-inf")
    qq_block[qq_block > threshold] = float("-inf")
    return F.cross_entropy(torch.cat([qd_block, qq_block, dd], dim=1) / tau, labels)


def test_ms_swift_preset_equals_ms_swift_infonce() -> None:
    b = _batch()
    expected = _ms_swift_infonce(b["q"], b["d_pos"], b["d_neg"], MS_SWIFT.temperature, MS_SWIFT.mask_margin)
    torch.testing.assert_close(_ours(b, MS_SWIFT), expected, atol=1e-12, rtol=0)


# --- config and helpers ---------------------------------------------------------------------------------------------


def test_presets_and_validation() -> None:
    assert QWEN3.terms == ("pos", "hn", "qq", "dd", "qd") and QWEN3.temperature == 0.02
    assert QWEN3_V1.terms == ("pos", "hn", "qq", "dd")
    assert infonce_preset("ms_swift", temperature=0.1).temperature == 0.1
    assert InfoNCEConfig(terms=["pos", "qd"]).terms == ("pos", "qd")  # lists from YAML become tuples
    for bad in (
        {"terms": ("hn", "qd")},
        {"terms": ("pos", "xx")},
        {"temperature": 0.0},
        {"dd_mask": "both"},
        {"dup_mask": "embedding"},
        {"inbatch_docs": "none"},
        {"dd_own_negatives": True, "inbatch_docs": "positives"},
    ):
        with pytest.raises(ValueError):
            InfoNCEConfig(**bad)
    with pytest.raises(ValueError, match="preset"):
        infonce_preset("gte")
    b = _batch()
    with pytest.raises(ValueError, match="pos_ids"):
        improved_infonce_loss(b["q"], b["d_pos"], b["d_neg"])
    with pytest.raises(ValueError, match="d_neg"):
        improved_infonce_loss(b["q"], b["d_pos"], b["d_neg"][:3], b["pos_ids"], b["neg_ids"])
    improved_infonce_loss(b["q"], b["d_pos"], b["d_neg"], config=MS_SWIFT)  # no text rule: ids optional


def test_text_ids() -> None:
    ids = text_ids(["東京", "京都", "東京", ""])
    assert ids.dtype == torch.long and ids[0] == ids[2] and len(set(ids.tolist())) == 3
    assert (ids >= 0).all()
    left = token_row_ids(
        torch.tensor([[0, 0, 5, 6], [7, 8, 9, 1]]), torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    )
    right = token_row_ids(torch.tensor([[5, 6, 0, 0]]), torch.tensor([[1, 1, 0, 0]]))
    assert left[0] == right[0] and left[0] != left[1]
