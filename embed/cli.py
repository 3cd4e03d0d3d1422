"""``python -m embed encode`` / ``tsumugi-encode``: embed texts, print their cosine similarities, save them.

    python -m embed encode --model me5-small --prompt-name query "今日は良い天気です。" "本日は晴天なり。" "株価が急落した。"

Errors (unknown model, unreadable or non-UTF-8 file, no texts) print one line and exit with code 2.
"""

from __future__ import annotations

import argparse
import sys
import unicodedata
from collections.abc import Sequence
from pathlib import Path

EXIT_USAGE = 2
MAX_TABLE = 16  # larger inputs get a summary line instead of the full matrix


class CliError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


def read_texts(path: str | Path) -> list[str]:
    """One text per line (UTF-8, blank lines skipped); CliError naming the file and line if not UTF-8."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise CliError(f"cannot read {path}: {err.strerror or err}") from None
    texts = []
    for number, line in enumerate(raw.split(b"\n"), start=1):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as err:
            raise CliError(
                f"{path}: line {number} is not valid UTF-8 (byte {err.start + 1} of the line)"
            ) from None
        text = text.removeprefix("\ufeff") if number == 1 else text
        text = text.removesuffix("\r")
        if text.strip():
            texts.append(text)
    return texts


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _clip(text: str, width: int = 30) -> str:
    out = ""
    for ch in text.replace("\n", " "):
        if _width(out + ch) > width - 1:
            return out + "…"
        out += ch
    return out


def similarity_table(texts: Sequence[str], sims) -> str:
    """Cosine similarity matrix as a small text table: one row per text, the text clipped at the end."""
    n = len(texts)
    header = "     " + "".join(f"{f'[{j}]':>7}" for j in range(n))
    rows = [header]
    for i in range(n):
        values = "".join(f"{float(sims[i][j]):7.3f}" for j in range(n))
        rows.append(f"{f'[{i}]':<5}{values}   {_clip(texts[i])}")
    return "\n".join(rows)


def cosine_matrix(emb):
    """Pairwise cosine similarities of the rows of a 2-D numpy array."""
    import numpy as np

    unit = emb / np.clip(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12, None)
    return unit @ unit.T


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of the ``encode`` command."""
    p = argparse.ArgumentParser(
        prog="python -m embed encode",
        description="Embed texts with a tsumugi / sentence-transformers / HF model and print cosine similarities.",
    )
    p.add_argument("texts", nargs="*", help="texts to embed (or use --file)")
    p.add_argument(
        "--model", default="me5-small", help="short name, local folder or hub id (default: me5-small)"
    )
    p.add_argument("--file", help="read texts from this UTF-8 file, one per line")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--prompt", help="prefix string put before every text")
    group.add_argument("--prompt-name", help="name of one of the model's prompts (e.g. query, document)")
    p.add_argument(
        "--output",
        help="save the embeddings to this .npy file (float32, input order, as the model gives them)",
    )
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-length", type=int, default=None)
    p.add_argument("--dim", type=int, default=None, help="Matryoshka: keep the first DIM dimensions")
    p.add_argument("--device", default=None)
    p.add_argument("--dtype", default=None)
    return p


def run(args: argparse.Namespace) -> int:
    """Execute a parsed ``encode`` command; raises CliError for user errors."""
    texts = list(args.texts)
    if args.file:
        texts += read_texts(args.file)
    if not texts:
        raise CliError("no texts to encode: give texts as arguments or --file with non-empty lines")

    from embed.formatting import resolve_prompt
    from embed.model import EmbeddingModel
    from embed.resolve import ModelLoadError

    _quiet_transformers()
    try:
        model = EmbeddingModel.load(args.model, device=args.device, dtype=args.dtype)
    except (ModelLoadError, OSError, ValueError, RuntimeError) as err:
        raise CliError((str(err).strip().splitlines() or [type(err).__name__])[0]) from None
    try:
        emb = model.encode(
            texts,
            prompt=args.prompt,
            prompt_name=args.prompt_name,
            batch_size=args.batch_size,
            max_length=args.max_length,
            dim=args.dim,
        )
    except ValueError as err:
        raise CliError(str(err)) from None
    if args.output:
        _save_npy(args.output, emb)
    prompt = resolve_prompt(model.prompts, model.default_prompt_name, args.prompt, args.prompt_name)
    print(f"model: {args.model} ({type(model.model).__name__}, {model.pooling} pooling, dim {emb.shape[1]})")
    if prompt:
        print(f"prompt: {prompt!r}")
    if len(texts) <= MAX_TABLE:
        print(similarity_table(texts, cosine_matrix(emb)))
    else:
        print(f"embedded {len(texts)} texts (similarity table shown for at most {MAX_TABLE})")
    if args.output:
        print(f"saved {emb.shape[0]}x{emb.shape[1]} embeddings to {args.output}")
    return 0


def _quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def _save_npy(path: str, emb) -> None:
    import numpy as np

    from embed.atomic import atomic_file

    try:
        with atomic_file(path) as handle:
            np.save(handle, emb)
    except OSError as err:
        raise CliError(f"cannot write {path}: {err.strerror or err}") from None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m embed encode`` and ``tsumugi-encode`` (the leading ``encode`` is optional)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "encode":
        argv = argv[1:]
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except CliError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
