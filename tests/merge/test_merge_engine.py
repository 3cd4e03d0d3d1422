"""The streaming engine: round trips, dtypes, shards, atomicity, checks, pickle refusal, ties, memory."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from merge_fixtures import TINY_CONFIG, read_tensors, tiny_tensors, write_checkpoint

from merge import IncompatibleCheckpoints, MergeError, PickleRefused, run
from merge.params import depth, evaluate, layer_count, layer_index
from merge.shard_writer import ShardedWriter
from merge.tensor_file import TensorFile, TensorSpec

REPO = Path(__file__).resolve().parents[2]

SELF_RECIPES = [
    {"method": "slerp", "parameters": {"t": 0.3}},
    {"method": "slerp", "parameters": {"t": 0.7, "precision": "float64"}},
    {"method": "chain"},
    {"method": "multislerp"},
    {"method": "karcher"},
    {"method": "linear", "parameters": {"weight": 0.3}},
    {"method": "task_arithmetic", "parameters": {"lambda": 0.5}, "base": True},
    {"method": "ties", "parameters": {"density": 0.5}, "base": True},
    {"method": "multislerp", "base": True},
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize(
    "recipe", SELF_RECIPES, ids=lambda r: r["method"] + ("+base" if r.get("base") else "")
)
def test_merging_a_checkpoint_with_itself_is_bit_exact(tmp_path, recipe, dtype):
    tensors = {k: v.to(dtype) for k, v in tiny_tensors(3).items()}
    a = write_checkpoint(tmp_path / "a", tensors)
    n = 2 if recipe["method"] == "slerp" else 3
    r = {k: v for k, v in recipe.items() if k != "base"}
    r.update(models=[str(a)] * n, out=str(tmp_path / "out"), chunk_elements=50)
    if recipe.get("base"):
        r["base_model"] = str(a)
    run(r)
    got = read_tensors(tmp_path / "out")
    assert got.keys() == tensors.keys()
    for name, t in tensors.items():
        assert got[name].dtype == dtype
        assert torch.equal(
            got[name].view(torch.int16 if dtype == torch.bfloat16 else torch.int32),
            t.view(torch.int16 if dtype == torch.bfloat16 else torch.int32),
        ), name


def test_output_dtype_and_config(tmp_path, tiny_pair):
    run(
        {
            "method": "slerp",
            "models": [str(p) for p in tiny_pair],
            "parameters": {"t": 0.5},
            "dtype": "bf16",
            "out": str(tmp_path / "out"),
        }
    )
    assert all(t.dtype == torch.bfloat16 for t in read_tensors(tmp_path / "out").values())
    assert json.loads((tmp_path / "out" / "config.json").read_text())["dtype"] == "bfloat16"
    assert (tmp_path / "out" / "merge_recipe.yaml").is_file()


def test_sharded_output_with_index_equals_single_file(tmp_path, tiny_pair):
    base = {"method": "slerp", "models": [str(p) for p in tiny_pair], "parameters": {"t": 0.4}}
    run({**base, "out": str(tmp_path / "one")})
    run({**base, "out": str(tmp_path / "many"), "max_shard_size": 3000})
    shards = sorted((tmp_path / "many").glob("model-*-of-*.safetensors"))
    assert len(shards) > 2
    index = json.loads((tmp_path / "many" / "model.safetensors.index.json").read_text())
    assert set(index["weight_map"].values()) == {s.name for s in shards}
    one, many = read_tensors(tmp_path / "one"), read_tensors(tmp_path / "many")
    assert one.keys() == many.keys() and all(torch.equal(one[k], many[k]) for k in one)
    assert index["metadata"]["total_size"] == sum(t.numel() * t.element_size() for t in one.values())
    # a sharded checkpoint is a valid input (a one-model linear merge is a copy)
    run(
        {
            "method": "linear",
            "models": [str(tiny_pair[0])],
            "out": str(tmp_path / "a3"),
            "max_shard_size": 3000,
        }
    )
    assert len(list((tmp_path / "a3").glob("model-*.safetensors"))) > 2
    run({**base, "models": [str(tmp_path / "a3"), str(tiny_pair[1])], "out": str(tmp_path / "again")})
    assert all(torch.equal(one[k], v) for k, v in read_tensors(tmp_path / "again").items())


def test_failure_leaves_nothing_behind(tmp_path, tiny_pair):
    bad = tiny_tensors(2)
    bad["layers.2.mlp.up_proj.weight"][0, 0] = float("nan")
    b = write_checkpoint(tmp_path / "nan", bad)
    with pytest.raises(MergeError, match="non-finite"):
        run(
            {
                "method": "slerp",
                "models": [str(tiny_pair[0]), str(b)],
                "parameters": {"t": 0.5},
                "out": str(tmp_path / "out"),
            }
        )
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_existing_output_needs_overwrite(tmp_path, tiny_pair):
    (tmp_path / "out").mkdir()
    r = {"method": "linear", "models": [str(p) for p in tiny_pair], "out": str(tmp_path / "out")}
    with pytest.raises(MergeError, match="exists"):
        run(r)
    run({**r, "overwrite": True})
    assert (tmp_path / "out" / "model.safetensors").is_file()


def test_one_error_lists_every_mismatch(tmp_path, tiny_pair):
    t = tiny_tensors(5)
    del t["norm.weight"]
    t["extra.weight"] = torch.zeros(3)
    t["layers.1.mlp.up_proj.weight"] = torch.zeros(7, 16)
    cfg = {**TINY_CONFIG, "architectures": ["LlamaModel"], "model_type": "llama"}
    c = write_checkpoint(tmp_path / "c", t, cfg)
    with pytest.raises(IncompatibleCheckpoints) as err:
        run({"method": "linear", "models": [str(tiny_pair[0]), str(c)], "out": str(tmp_path / "out")})
    text = str(err.value)
    for needle in (
        "model_type",
        "architectures",
        "lacks 1 tensor(s)",
        "norm.weight",
        "extra.weight",
        "layers.1.mlp.up_proj.weight: shape [7, 16]",
    ):
        assert needle in text, needle
    assert len(err.value.problems) == 5
    assert not (tmp_path / "out").exists()


def test_tied_structure_mismatch_and_tied_output(tmp_path):
    cfg = {**TINY_CONFIG, "architectures": ["Qwen3ForCausalLM"], "tie_word_embeddings": True}
    ta, tb = tiny_tensors(1), tiny_tensors(2)
    for t in (ta, tb):
        t["lm_head.weight"] = t["embed_tokens.weight"].clone() + 1e-3  # stored separately, and not even equal
    a = write_checkpoint(tmp_path / "a", ta, cfg)
    b = write_checkpoint(tmp_path / "b", tb, cfg)
    run(
        {
            "method": "slerp",
            "models": [str(a), str(b)],
            "parameters": {"t": 0.5},
            "out": str(tmp_path / "out"),
        }
    )
    got = read_tensors(tmp_path / "out")
    assert torch.equal(got["lm_head.weight"], got["embed_tokens.weight"])
    untied = write_checkpoint(tmp_path / "u", tb, {**cfg, "tie_word_embeddings": False})
    with pytest.raises(IncompatibleCheckpoints, match="tie"):
        run(
            {
                "method": "slerp",
                "models": [str(a), str(untied)],
                "parameters": {"t": 0.5},
                "out": str(tmp_path / "o2"),
            }
        )


def test_pickle_checkpoints_are_refused_unless_allowed(tmp_path, tiny_pair):
    p = tmp_path / "pickled"
    p.mkdir()
    torch.save(tiny_tensors(2), p / "pytorch_model.bin")
    (p / "config.json").write_text(json.dumps(TINY_CONFIG))
    r = {
        "method": "slerp",
        "models": [str(tiny_pair[0]), str(p)],
        "parameters": {"t": 0.5},
        "out": str(tmp_path / "o"),
    }
    with pytest.raises(MergeError, match="pickle") as err:
        run(r)
    assert "pytorch_model.bin" in str(err.value) and "allow_pickle" in str(err.value)
    with pytest.raises(PickleRefused):
        from merge.checkpoint import open_checkpoint

        open_checkpoint(p)
    run({**r, "allow_pickle": True})
    ref = tmp_path / "ref"
    run({**r, "models": [str(p) for p in tiny_pair], "out": str(ref)})
    assert all(torch.equal(v, read_tensors(ref)[k]) for k, v in read_tensors(tmp_path / "o").items())


def test_method_contracts(tmp_path, tiny_pair):
    models = [str(p) for p in tiny_pair]
    with pytest.raises(MergeError, match="needs a base_model"):
        run({"method": "ties", "models": models, "out": str(tmp_path / "o")})
    with pytest.raises(MergeError, match="exactly 2"):
        run({"method": "slerp", "models": models * 2, "parameters": {"t": 0.5}, "out": str(tmp_path / "o")})
    with pytest.raises(MergeError, match="no value"):
        run({"method": "slerp", "models": models, "out": str(tmp_path / "o")})
    with pytest.raises(MergeError, match="no parameter"):
        run({"method": "linear", "models": models, "parameters": {"t": 1}, "out": str(tmp_path / "o")})
    with pytest.raises(MergeError, match="unknown merge method"):
        run({"method": "nope", "models": models, "out": str(tmp_path / "o")})
    # slerp's base_model picks the t=0 side
    run(
        {
            "method": "slerp",
            "models": models,
            "base_model": models[1],
            "parameters": {"t": 0.0},
            "out": str(tmp_path / "o"),
        }
    )
    assert all(torch.equal(v, read_tensors(tiny_pair[1])[k]) for k, v in read_tensors(tmp_path / "o").items())


def test_parameter_rules():
    assert layer_index("model.layers.12.mlp.up_proj.weight") == 12
    assert layer_index("encoder.layer.3.attention.self.query.weight") == 3
    assert layer_index("embeddings.word_embeddings.weight") is None
    assert layer_count(["layers.0.a", "layers.4.b", "norm"]) == 5
    assert depth("layers.2.x", 5) == 0.5 and depth("norm.weight", 5) == 0.0 and depth("layers.0.x", 1) == 1.0
    assert evaluate([0.0, 1.0, 0.0], "x", 0.25) == 0.5
    assert evaluate([0, 0.5, 0.3, 0.7, 1], "x", 0.6) == pytest.approx(0.46)
    rules = [{"filter": "attn", "value": [0, 1]}, {"value": 7}]
    assert evaluate(rules, "layers.1.self_attn.q", 1.0) == 1 and evaluate(rules, "mlp", 0.3) == 7
    assert evaluate([{"filter": "attn", "value": 1}], "mlp", 0) is None
    assert evaluate([True, False], "x", 0.9) is True


def test_reader_matches_safe_open_and_writer_streams(tmp_path):
    from safetensors import safe_open

    tensors = {
        "a": torch.randn(7, 5),
        "b": torch.arange(10, dtype=torch.int64),
        "c": torch.randn(3).bfloat16(),
        "s": torch.tensor(2.5),
    }
    specs = [(k, TensorSpec(v.dtype, tuple(v.shape))) for k, v in tensors.items()]
    w = ShardedWriter(tmp_path, specs, max_shard_bytes=1 << 20)
    for k, v in tensors.items():
        rows = v.shape[0] if v.dim() else 1
        for s in range(0, rows, 2):  # row chunks
            w.write(k, v[s : s + 2] if v.dim() else v)
    w.close()
    f = TensorFile(tmp_path / "model.safetensors")
    with safe_open(str(tmp_path / "model.safetensors"), "pt") as ref:
        assert ref.metadata() == {"format": "pt"}
        for k, v in tensors.items():
            assert torch.equal(ref.get_tensor(k), v) and torch.equal(f.read(k), v)
    assert torch.equal(f.read("a", 2, 5), tensors["a"][2:5])
    with pytest.raises(MergeError, match="expected tensor"):
        ShardedWriter(tmp_path / "x", specs).write("b", tensors["b"])


@pytest.mark.slow
def test_streaming_peak_memory_is_chunks_not_tensors(tmp_path):
    """Merging two 128 MiB tensors must not add more than a quarter of one tensor to the peak RSS."""
    n = 32 * 1024 * 1024
    g = torch.Generator().manual_seed(0)
    for name in "ab":
        write_checkpoint(tmp_path / name, {"big.weight": torch.randn(n // 1024, 1024, generator=g)})
    small = [write_checkpoint(tmp_path / f"s{i}", {"big.weight": torch.randn(8, 8)}) for i in range(2)]
    code = textwrap.dedent(f"""
        import resource, sys
        sys.path.insert(0, {str(REPO)!r})
        from merge import run
        for method in ("slerp", "karcher"):  # warm up every code path on a tiny pair
            run({{"method": method, "models": {[str(p) for p in small]!r}, "parameters": {{"t": 0.5}} if method == "slerp" else {{}},
                 "out": {str(tmp_path / "warm")!r}, "overwrite": True}})
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        run({{"method": "slerp", "models": [{str(tmp_path / "a")!r}, {str(tmp_path / "b")!r}], "parameters": {{"t": 0.5}},
             "out": {str(tmp_path / "out")!r}, "chunk_elements": 1 << 20}})
        run({{"method": "karcher", "models": [{str(tmp_path / "a")!r}, {str(tmp_path / "b")!r}],
             "out": {str(tmp_path / "out2")!r}, "chunk_elements": 1 << 20}})
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    grown = int(out.stdout.strip().splitlines()[-1])
    tensor_bytes = n * 4
    assert grown < tensor_bytes // 4, (
        f"peak RSS grew by {grown / 2**20:.0f} MiB for {tensor_bytes / 2**20:.0f} MiB tensors"
    )
