"""Output checks: engine errors, truncation, JSON, schema, empty, too long and wrong-language texts -> Reject."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

from synth.textnorm import detect_language

REASONS = (
    "engine_error",
    "too_long",
    "invalid_json",
    "schema",
    "empty",
    "wrong_language",
    "copied_input",
    "duplicate_exact",
    "duplicate_normalized",
)


class Reject(Exception):
    """A generation unit that failed a check; ``reason`` is one of REASONS."""

    def __init__(self, reason: str, detail: str = "") -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown reject reason {reason!r}")
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail = reason, detail


@dataclass(frozen=True)
class TextLimits:
    """Bounds on a generated text: characters (also put in the schema as ``maxLength``) and language checks."""

    min_chars: int = 2
    max_chars: int = 300
    language_check: bool = True
    min_language_ratio: float = 0.5
    schema_max_length: bool = True
    reject_truncated: bool = True

    @property
    def schema_chars(self) -> int | None:
        """The ``maxLength`` to put in JSON schemas, or None."""
        return self.max_chars if self.schema_max_length else None


@lru_cache(maxsize=64)
def _validator(schema_json: str):
    from jsonschema import Draft202012Validator

    return Draft202012Validator(json.loads(schema_json))


def parse_json_output(
    text: str, finish_reason: str | None, schema: dict | None, error: str | None = None
) -> dict:
    """The parsed JSON object of one completion; Reject on engine error, truncation, bad JSON or schema violation."""
    if error:
        raise Reject("engine_error", error[:300])
    if finish_reason == "length":
        raise Reject("too_long", "generation hit max_tokens")
    try:
        obj = json.loads(text.strip(), strict=False)  # control characters may appear raw inside strings
    except json.JSONDecodeError as err:
        raise Reject("invalid_json", f"{err.msg} at {err.pos}") from None
    if not isinstance(obj, dict):
        raise Reject("schema", f"expected a JSON object, got {type(obj).__name__}")
    if schema is not None:
        errors = sorted(_validator(json.dumps(schema, sort_keys=True)).iter_errors(obj), key=str)
        if errors:
            first = errors[0]
            where = "/".join(str(p) for p in first.absolute_path) or "<root>"
            reason = "too_long" if first.validator == "maxLength" else "schema"
            raise Reject(reason, f"{where}: {first.message}"[:300])
    return obj


def check_text(text: str, language: str | None, limits: TextLimits, field: str = "text") -> str:
    """The stripped text if it is non-empty, not too long and (when checked) in ``language``; Reject otherwise.

    With ``reject_truncated`` a text exactly ``max_chars`` long counts as too long: the schema's ``maxLength``
    made the grammar close it mid-sentence.
    """
    raw_len = len(text)
    text = text.strip()
    if len(text) < limits.min_chars:
        raise Reject("empty", f"{field} has {len(text)} characters")
    if len(text) > limits.max_chars or (limits.reject_truncated and raw_len >= limits.max_chars):
        raise Reject("too_long", f"{field} has {raw_len} characters (max {limits.max_chars})")
    if limits.language_check and language in ("ja", "en"):
        found = detect_language(text, limits.min_language_ratio)
        if found != language:
            raise Reject("wrong_language", f"{field} expected {language}, looks like {found}")
    return text


def check_not_copied(
    text: str, source: str, field: str = "text", min_chars: int = 20, max_share: float = 0.5
) -> None:
    """Reject (``copied_input``) a text that shares a stretch of ``min_chars``+ characters with its input that
    also covers ``max_share`` of the text: a quoted sentence rather than a query."""
    if len(text) < min_chars:
        return
    from difflib import SequenceMatcher

    match = SequenceMatcher(None, text, source, autojunk=False).find_longest_match(
        0, len(text), 0, len(source)
    )
    if match.size >= min_chars and match.size >= max_share * len(text):
        raise Reject(
            "copied_input", f"{field} copies {match.size} of its {len(text)} characters from the input"
        )
