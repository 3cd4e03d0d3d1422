"""The "yes" / "no" answer tokens of a causal-LM reranker, resolved from its tokenizer (never hard-coded).

Qwen3 gives yes = 9693, no = 2152; Gemma 3 gives yes = 4443, no = 1904. A tokenizer whose vocabulary lacks the
token, or that maps the token string and the encoded word to different ids (SentencePiece ``▁yes`` vs ``yes``),
is rejected with a message saying what it found, so the score never silently reads the wrong logit.
"""

from __future__ import annotations

from dataclasses import dataclass


class LabelTokenError(ValueError):
    """A tokenizer cannot provide one unambiguous id for an answer token."""


@dataclass(frozen=True)
class LabelIds:
    """Vocabulary ids of the positive ("yes") and negative ("no") answers."""

    yes: int
    no: int

    @property
    def pair(self) -> list[int]:
        """``[no, yes]``: the order of the 2-way softmax (index 1 = relevant)."""
        return [self.no, self.yes]


def _tokenizer_name(tokenizer) -> str:
    return f"{type(tokenizer).__name__}({getattr(tokenizer, 'name_or_path', '') or '?'})"


def label_token_id(tokenizer, token: str) -> int:
    """The id of ``token``: in the vocabulary (not unknown) and equal to the encoding of the text ``token``."""
    tid = tokenizer.convert_tokens_to_ids(token)
    unk = getattr(tokenizer, "unk_token_id", None)
    if tid is None or (unk is not None and tid == unk and token != tokenizer.unk_token):
        raise LabelTokenError(
            f"tokenizer {_tokenizer_name(tokenizer)} has no token {token!r} in its vocabulary "
            f"(convert_tokens_to_ids gave {tid!r}); a yes/no reranker needs single answer tokens: "
            "use a causal LM whose tokenizer has them, or set reranker.yes_token / reranker.no_token"
        )
    encoded = tokenizer(token, add_special_tokens=False)["input_ids"]
    if list(encoded) != [tid]:
        raise LabelTokenError(
            f"tokenizer {_tokenizer_name(tokenizer)} maps the token {token!r} to id {tid} but encodes the text "
            f"{token!r} as {list(encoded)}: the answer token is ambiguous; set reranker.yes_token / "
            "reranker.no_token to the vocabulary entry the model generates"
        )
    return int(tid)


def resolve_label_ids(tokenizer, yes: str = "yes", no: str = "no") -> LabelIds:
    """Ids of the answer tokens; LabelTokenError names the tokenizer and the token when one is missing."""
    ids = LabelIds(yes=label_token_id(tokenizer, yes), no=label_token_id(tokenizer, no))
    if ids.yes == ids.no:
        raise LabelTokenError(
            f"tokenizer {_tokenizer_name(tokenizer)} maps {yes!r} and {no!r} to one id {ids.yes}"
        )
    return ids
