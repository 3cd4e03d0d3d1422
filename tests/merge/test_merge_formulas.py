"""Every method against a float64 reference written from its formula (numpy, whole vectors, no shortcuts)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from merge_fixtures import read_tensors, tiny_tensors, write_checkpoint

from merge import run
from merge.methods.chain import chain_coefficients
from merge.methods.karcher import karcher_coefficients
from merge.methods.multislerp import multislerp_coefficients
from merge.methods.slerp import slerp_coefficients


def ref_slerp(v0: np.ndarray, v1: np.ndarray, t: float) -> np.ndarray:
    """slerp(v0, v1; t) from the formula, float64, lerp when |cos| > 0.9995."""
    a, b = v0.ravel() / np.linalg.norm(v0), v1.ravel() / np.linalg.norm(v1)
    cos = float(np.clip(a @ b, -1, 1))
    if abs(cos) > 0.9995:
        return (1 - t) * v0 + t * v1
    th = math.acos(cos)
    return math.sin((1 - t) * th) / math.sin(th) * v0 + math.sin(t * th) / math.sin(th) * v1


def apply(coeffs, vectors) -> np.ndarray:
    return sum(c * v for c, v in zip(coeffs, vectors))


def gram(vectors) -> np.ndarray:
    m = np.stack([v.ravel() for v in vectors])
    return m @ m.T


RNG = np.random.default_rng(0)


@pytest.mark.parametrize("t", [0.0, 0.25, 0.5, 0.9, 1.0])
def test_slerp_coefficients_random(t):
    v0, v1 = RNG.normal(size=200), RNG.normal(size=200)
    g = gram([v0, v1])
    got = apply(slerp_coefficients(g[0, 0], g[0, 1], g[1, 1], t), [v0, v1])
    np.testing.assert_allclose(got, ref_slerp(v0, v1, t), rtol=0, atol=1e-12)
    # for unit inputs the result is on the great circle, at angle t*theta from v0, with unit norm
    u0, u1 = v0 / np.linalg.norm(v0), v1 / np.linalg.norm(v1)
    gu = gram([u0, u1])
    r = apply(slerp_coefficients(gu[0, 0], gu[0, 1], gu[1, 1], t), [u0, u1])
    th = math.acos(u0 @ u1)
    assert math.isclose(np.linalg.norm(r), 1.0, abs_tol=1e-12)
    assert math.isclose(math.acos(np.clip(r @ u0, -1, 1)), t * th, abs_tol=1e-7)


@pytest.mark.parametrize("factor", [3.0, -2.0, -1.0])
def test_slerp_parallel_and_antiparallel_fall_back_to_lerp(factor):
    v0 = RNG.normal(size=100)
    v1 = factor * v0
    g = gram([v0, v1])
    c = slerp_coefficients(g[0, 0], g[0, 1], g[1, 1], 0.3)
    assert c == (0.7, 0.3)
    np.testing.assert_allclose(apply(c, [v0, v1]), 0.7 * v0 + 0.3 * v1, atol=1e-15)


def test_slerp_threshold_boundary():
    v0 = RNG.normal(size=1000)
    noise = RNG.normal(size=1000)
    noise -= (noise @ v0) / (v0 @ v0) * v0  # orthogonal to v0
    for cos, lerp in ((0.9990, False), (0.9999, True)):
        v1 = cos * v0 / np.linalg.norm(v0) + math.sqrt(1 - cos**2) * noise / np.linalg.norm(noise)
        g = gram([v0, v1])
        c = slerp_coefficients(g[0, 0], g[0, 1], g[1, 1], 0.4)
        assert (c == (0.6, 0.4)) == lerp
        np.testing.assert_allclose(apply(c, [v0, v1]), ref_slerp(v0, v1, 0.4), atol=1e-12)


def test_chain_matches_materialised_pairwise_slerps():
    xs = [RNG.normal(size=300) for _ in range(4)]
    m = xs[0]
    for k in range(1, 4):
        m = ref_slerp(m, xs[k], 1 / (k + 1))
    np.testing.assert_allclose(apply(chain_coefficients(gram(xs), [1, 1, 1, 1]), xs), m, atol=1e-12)
    g2 = gram(xs[:2])
    np.testing.assert_allclose(
        chain_coefficients(g2, [1, 1]), slerp_coefficients(g2[0, 0], g2[0, 1], g2[1, 1], 0.5)
    )


def ref_multislerp(xs, w, eps=1e-8):
    """mergekit's multislerp, step by step in float64: tangent space at the mean, exp map back, mean norm."""
    w = np.asarray(w, float) / np.sum(w)
    norms = np.array([np.linalg.norm(x) for x in xs])
    units = [x / (n + eps) for x, n in zip(xs, norms)]
    mean = sum(wi * u for wi, u in zip(w, units))
    mean = mean / np.linalg.norm(mean)
    tangents = [u - (u @ mean) * mean for u in units]
    tr = sum(wi * tv for wi, tv in zip(w, tangents))
    tn = np.linalg.norm(tr) + eps
    res = mean * math.cos(tn) + tr * (math.sin(tn) / tn)
    return res * float(norms @ w)


def test_multislerp_closed_form_equals_tangent_space_algorithm():
    xs = [RNG.normal(size=500) + 0.5 for _ in range(3)]
    w = [1.0, 2.0, 0.5]
    np.testing.assert_allclose(
        apply(multislerp_coefficients(gram(xs), w), xs), ref_multislerp(xs, w), atol=1e-7
    )


def ref_karcher(xs, w, max_iter=10, tol=1e-5):
    """The weighted Karcher mean on the unit sphere, iterated on full vectors (mergekit's algorithm), float64."""
    a = np.asarray(w, float) / np.sum(w)
    norms = [np.linalg.norm(x) for x in xs]
    units = [x / n for x, n in zip(xs, norms)]
    m = sum(ai * u for ai, u in zip(a, units))
    m /= np.linalg.norm(m)
    for _ in range(max_iter):
        tangent = np.zeros_like(m)
        for ai, u in zip(a, units):
            d = float(np.clip(m @ u, -1, 1))
            th = math.acos(d)
            if th < tol:
                continue
            tangent += ai * th / math.sin(th) * (u - d * m)
        tn = np.linalg.norm(tangent)
        if tn < tol:
            break
        m = math.cos(tn) * m + math.sin(tn) * tangent / tn
        m /= np.linalg.norm(m)
    return float(np.dot(a, norms)) * m


def test_karcher_matches_full_vector_iteration():
    xs = [RNG.normal(size=400) + 0.3 for _ in range(4)]
    w = [1, 1, 2, 1]
    np.testing.assert_allclose(apply(karcher_coefficients(gram(xs), w), xs), ref_karcher(xs, w), atol=1e-10)


def test_karcher_of_two_is_the_geodesic_midpoint():
    v0, v1 = RNG.normal(size=200), RNG.normal(size=200)
    v1 *= 3
    got = apply(karcher_coefficients(gram([v0, v1]), [1, 1], max_iter=50, tol=1e-12), [v0, v1])
    mid = ref_slerp(v0 / np.linalg.norm(v0), v1 / np.linalg.norm(v1), 0.5)
    np.testing.assert_allclose(got, mid * (np.linalg.norm(v0) + np.linalg.norm(v1)) / 2, atol=1e-9)


def ref_ties(base, xs, w, density, lam=1.0, normalize=True):
    """TIES from the formulas: top-k magnitudes, weights, sign election by sum, disjoint (weighted) mean."""
    deltas = []
    for x, d_ in zip(xs, density):
        d = x - base
        k = max(1, int(d_ * d.size))
        keep = np.zeros(d.size, bool)
        keep[np.argsort(-np.abs(d.ravel()), kind="stable")[:k]] = True
        deltas.append(d * keep.reshape(d.shape))
    deltas = [wi * d for wi, d in zip(w, deltas)]
    sign = np.where(sum(deltas) >= 0, 1.0, -1.0)
    agree = [np.sign(d) == sign for d in deltas]
    mixed = sum(d * a for d, a in zip(deltas, agree))
    div = sum(wi * a for wi, a in zip(w, agree))
    if normalize:
        div = np.where(div == 0, 1, div)
        mixed = mixed / div
    return base + lam * mixed


def _merge(tmp_path, recipe, tensors_list, base=None):
    paths = [write_checkpoint(tmp_path / f"m{i}", t) for i, t in enumerate(tensors_list)]
    r = {**recipe, "models": [str(p) for p in paths], "out": str(tmp_path / "out")}
    if base is not None:
        r["base_model"] = str(write_checkpoint(tmp_path / "base", base))
    run(r)
    return read_tensors(tmp_path / "out")


def test_ties_engine_matches_reference(tmp_path):
    base = tiny_tensors(0)
    xs = [tiny_tensors(s) for s in (1, 2, 3)]
    w, dens = [1.0, 0.5, 2.0], [0.3, 0.5, 0.8]
    models = [{"model": "", "parameters": {"weight": wi, "density": di}} for wi, di in zip(w, dens)]
    paths = [write_checkpoint(tmp_path / f"m{i}", t) for i, t in enumerate(xs)]
    for m, p in zip(models, paths):
        m["model"] = str(p)
    run(
        {
            "method": "ties",
            "models": models,
            "base_model": str(write_checkpoint(tmp_path / "base", base)),
            "parameters": {"lambda": 0.8},
            "out": str(tmp_path / "out"),
            "chunk_elements": 64,
        }
    )
    got = read_tensors(tmp_path / "out")
    for name in base:
        ref = ref_ties(base[name].double().numpy(), [x[name].double().numpy() for x in xs], w, dens, lam=0.8)
        np.testing.assert_allclose(got[name].double().numpy(), ref, atol=2e-6, err_msg=name)


def test_ties_keeps_first_of_equal_magnitudes(tmp_path):
    base = {"w": torch.zeros(2, 4)}
    x = {"w": torch.tensor([[1.0, -1.0, 1.0, 1.0], [-1.0, 1.0, 1.0, 0.5]])}
    got = _merge(tmp_path, {"method": "ties", "parameters": {"density": 0.5}}, [x], base=base)["w"]
    # k = 4 of 8: the first four of the seven magnitude-1 entries in row-major order
    assert torch.equal(got, torch.tensor([[1.0, -1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]]))


def test_ties_rescale_restores_l1(tmp_path):
    base = {"w": torch.zeros(10)}
    x = {"w": torch.arange(1.0, 11.0)}
    got = _merge(
        tmp_path, {"method": "ties", "parameters": {"density": 0.3, "rescale": True}}, [x], base=base
    )["w"]
    assert torch.count_nonzero(got) == 3
    assert math.isclose(float(got.abs().sum()), 55.0, rel_tol=1e-6)


def test_linear_and_task_arithmetic_engine(tmp_path):
    xs = [tiny_tensors(s) for s in (1, 2, 3)]
    w = [1.0, 3.0, 0.5]
    models = []
    for i, (t, wi) in enumerate(zip(xs, w)):
        models.append({"model": str(write_checkpoint(tmp_path / f"m{i}", t)), "parameters": {"weight": wi}})
    run({"method": "linear", "models": models, "out": str(tmp_path / "lin")})
    base = tiny_tensors(0)
    bpath = str(write_checkpoint(tmp_path / "base", base))
    run(
        {
            "method": "task_arithmetic",
            "models": models,
            "base_model": bpath,
            "parameters": {"lambda": 0.7},
            "out": str(tmp_path / "ta"),
        }
    )
    lin, ta = read_tensors(tmp_path / "lin"), read_tensors(tmp_path / "ta")
    for name in base:
        v = [x[name].double() for x in xs]
        ref_lin = sum(wi * vi for wi, vi in zip(w, v)) / sum(w)
        ref_ta = base[name].double() + 0.7 * sum(wi * (vi - base[name].double()) for wi, vi in zip(w, v))
        torch.testing.assert_close(lin[name].double(), ref_lin, atol=1e-6, rtol=0)
        torch.testing.assert_close(ta[name].double(), ref_ta, atol=2e-6, rtol=0)


@pytest.mark.parametrize("precision", ["float32", "float64"])
def test_slerp_engine_random_parallel_antiparallel(tmp_path, precision):
    a = tiny_tensors(1)
    b = tiny_tensors(2)
    b["norm.weight"] = 2.5 * a["norm.weight"]  # parallel
    b["layers.0.self_attn.q_proj.weight"] = -a["layers.0.self_attn.q_proj.weight"]  # anti-parallel
    got = _merge(
        tmp_path,
        {"method": "slerp", "parameters": {"t": 0.3, "precision": precision}, "chunk_elements": 100},
        [a, b],
    )
    for name in a:
        ref = ref_slerp(a[name].double().numpy(), b[name].double().numpy(), 0.3)
        np.testing.assert_allclose(got[name].double().numpy(), ref, atol=1e-6, err_msg=name)
    assert torch.allclose(
        got["layers.0.self_attn.q_proj.weight"], 0.4 * a["layers.0.self_attn.q_proj.weight"]
    )


def test_slerp_gradient_and_filters(tmp_path):
    a, b = tiny_tensors(1), tiny_tensors(2)
    t = [
        {"filter": "self_attn", "value": [0.0, 1.0]},
        {"filter": "mlp", "value": [1.0, 0.5, 0.0]},
        {"value": 0.25},
    ]
    got = _merge(tmp_path, {"method": "slerp", "parameters": {"t": t}}, [a, b])
    # 3 layers: positions 0, 0.5, 1; outside the stack: 0 -> the last rule's scalar 0.25
    expect = {
        "layers.0.self_attn.q_proj.weight": 0.0,
        "layers.1.self_attn.q_proj.weight": 0.5,
        "layers.2.self_attn.k_proj.weight": 1.0,
        "layers.0.mlp.up_proj.weight": 1.0,
        "layers.1.mlp.down_proj.weight": 0.5,
        "layers.2.mlp.up_proj.weight": 0.0,
        "layers.1.input_layernorm.weight": 0.25,
        "embed_tokens.weight": 0.25,
        "norm.weight": 0.25,
    }
    for name, tv in expect.items():
        ref = ref_slerp(a[name].double().numpy(), b[name].double().numpy(), tv)
        np.testing.assert_allclose(got[name].double().numpy(), ref, atol=1e-6, err_msg=name)
