"""``python -m merge``: a command line for the common merges, and Hydra YAML recipes for everything else.

python -m merge slerp A B --t 0.5 --out merged/ab
python -m merge slerp A B --t 0,0.3,0.7,1 --out merged/ab          # gradient over layers
python -m merge chain A B C --out merged/abc                         # m_k = slerp(m_{k-1}, x_k; 1/k)
python -m merge karcher A B C --out merged/abc
python -m merge linear A B --weights 2 1 --out merged/ab
python -m merge ties A B --base BASE --density 0.5 --out merged/ties
python -m merge methods                                              # list the methods
python -m merge recipe=gradient_slerp 'models=[A,B]' out=merged/ab   # Hydra: conf/merge/config.yaml
python -m merge --config-path /abs/dir --config-name my_recipe       # your own YAML recipe
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf" / "merge")
_RECIPE_KEYS = (
    "method",
    "models",
    "base_model",
    "parameters",
    "dtype",
    "tokenizer_source",
    "allow_pickle",
    "lora",
    "lora_base",
    "max_shard_size",
    "chunk_elements",
    "overwrite",
    "name",
    "out",
)


def _floats(text: str) -> float | list[float]:
    parts = [float(x) for x in text.split(",") if x.strip()]
    return parts[0] if len(parts) == 1 else parts


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of the method subcommands."""
    from merge.methods import METHODS

    parser = argparse.ArgumentParser(
        prog="python -m merge", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="method", required=True)
    sub.add_parser("methods", help="list the merge methods")
    for name, method in sorted(METHODS.items()):
        p = sub.add_parser(name, help=method.description)
        p.add_argument("models", nargs="+", help="checkpoint folders or short names")
        p.add_argument("--out", required=True, help="output folder (written atomically)")
        if "t" in method.params:
            p.add_argument(
                "--t", type=_floats, required=True, help="0..1, or a comma list (gradient over layers)"
            )
        if "precision" in method.params:
            p.add_argument(
                "--precision",
                choices=["float32", "float64"],
                default=None,
                help="coefficient arithmetic: float32 = mergekit's, bit for bit (default); float64 = exact",
            )
        if "weight" in method.params:
            p.add_argument("--weights", type=float, nargs="+", help="one weight per model (default: equal)")
        if "density" in method.params:
            p.add_argument(
                "--density", type=float, nargs="+", help="fraction kept per model (one or one each)"
            )
        if "lambda" in method.params:
            p.add_argument("--lambda", dest="lam", type=float, help="scale of the merged task vector")
        if "normalize" in method.params:
            p.add_argument("--normalize", action=argparse.BooleanOptionalAction, default=None)
        if method.base != "none" or name == "slerp":
            p.add_argument("--base", help="base model" + (" (the t=0 side)" if name == "slerp" else ""))
        p.add_argument(
            "--dtype", choices=["float32", "bfloat16", "float16"], help="output dtype (default: inputs')"
        )
        p.add_argument("--tokenizer-source", help="base | first | index of models | folder")
        p.add_argument(
            "--lora",
            choices=["fold", "adapter"],
            default="fold",
            help="adapters: fold into their base first (default) or merge adapter tensors directly",
        )
        p.add_argument(
            "--lora-base", help="base model of the LoRA adapters (default: from adapter_config.json)"
        )
        p.add_argument("--max-shard-size", default="2GB")
        p.add_argument(
            "--allow-pickle", action="store_true", help="read pickle checkpoints (trusted files only)"
        )
        p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    return parser


def recipe_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The recipe mapping a parsed command line describes."""
    params: dict[str, Any] = {}
    if getattr(args, "t", None) is not None:
        params["t"] = args.t
    if getattr(args, "precision", None) is not None:
        params["precision"] = args.precision
    if getattr(args, "lam", None) is not None:
        params["lambda"] = args.lam
    if getattr(args, "normalize", None) is not None:
        params["normalize"] = args.normalize
    models: list[Any] = list(args.models)
    per_model: dict[str, list[float]] = {}
    for key, values in (
        ("weight", getattr(args, "weights", None)),
        ("density", getattr(args, "density", None)),
    ):
        if not values:
            continue
        if len(values) == 1:
            params[key] = values[0]
        elif len(values) == len(models):
            per_model[key] = values
        else:
            raise SystemExit(f"--{key}s: give one value or one per model ({len(models)})")
    if per_model:
        models = [
            {"model": m, "parameters": {k: v[i] for k, v in per_model.items()}} for i, m in enumerate(models)
        ]
    recipe = {
        "method": args.method,
        "models": models,
        "out": args.out,
        "parameters": params,
        "base_model": getattr(args, "base", None),
        "dtype": args.dtype,
        "lora": args.lora,
        "lora_base": args.lora_base,
        "max_shard_size": args.max_shard_size,
        "allow_pickle": args.allow_pickle,
        "overwrite": args.overwrite,
    }
    if args.tokenizer_source is not None:
        recipe["tokenizer_source"] = args.tokenizer_source
    return recipe


def _run(recipe: dict[str, Any]) -> int:
    from merge import MergeError, run

    try:
        result = run(recipe)
    except MergeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(
        f"merged {len(result.inputs)} inputs into {result.out} ({result.tensors} tensors, "
        f"{result.nbytes / 1e6:.1f} MB, {result.seconds:.1f}s)"
    )
    return 0


def cli_main(argv: list[str]) -> int:
    """The argparse command line."""
    args = build_parser().parse_args(argv)
    if args.method == "methods":
        from merge.methods import METHODS

        for name, m in sorted(METHODS.items()):
            print(f"{name:16s} base={m.base:8s} params={','.join(m.params) or '-':32s} {m.description}")
        return 0
    return _run(recipe_from_args(args))


def hydra_main() -> None:
    """Compose ``conf/merge/config.yaml`` (+ ``recipe=...`` and overrides) and run it."""
    import hydra
    from omegaconf import DictConfig, OmegaConf

    @hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
    def _main(cfg: DictConfig) -> None:
        plain = OmegaConf.to_container(cfg, resolve=True)
        recipe = {k: v for k, v in plain.items() if k in _RECIPE_KEYS}
        code = _run(recipe)
        if code:
            raise SystemExit(code)

    _main()


def main(argv: list[str] | None = None) -> int:
    """Method name first: the argparse CLI; anything else (key=value, --config-*): Hydra."""
    logging.basicConfig(level=logging.INFO, format="[merge] %(message)s", stream=sys.stderr)
    argv = sys.argv[1:] if argv is None else argv
    from merge.methods import METHODS

    if argv and (argv[0] in METHODS or argv[0] in ("methods", "-h", "--help")):
        return cli_main(argv)
    sys.argv = [sys.argv[0], *argv]
    hydra_main()
    return 0
