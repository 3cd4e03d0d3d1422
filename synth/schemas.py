"""JSON schemas of every generation step (enforced at decode time by the engine, re-validated after parsing)."""

from __future__ import annotations

QUESTION_TYPES = ("keywords", "acquire_knowledge", "summary", "yes_or_no", "background")
DIFFICULTIES = ("high_school", "university", "phd")


def _object(properties: dict, required: list[str] | None = None) -> dict:
    return {
        "type": "object",
        "properties": properties,
        "required": required if required is not None else list(properties),
        "additionalProperties": False,
    }


def _text(max_chars: int | None = None) -> dict:
    """A non-empty string; ``maxLength`` bounds it at decode time (a random or rambling model must close it)."""
    out: dict = {"type": "string", "minLength": 1}
    if max_chars is not None:
        out["maxLength"] = int(max_chars)
    return out


def retrieval_config_schema(num_candidates: int) -> dict:
    """Configuration step: ``Character`` (a candidate number), ``Question_Type`` and ``Difficulty``.

    The character is chosen by number (``"1"`` … ``"k"``) rather than by its text so that one schema (one
    compiled grammar) serves every passage.
    """
    return _object(
        {
            "Character": {"type": "string", "enum": [str(i) for i in range(1, num_candidates + 1)]},
            "Question_Type": {"type": "string", "enum": list(QUESTION_TYPES)},
            "Difficulty": {"type": "string", "enum": list(DIFFICULTIES)},
        }
    )


def retrieval_query_schema(max_chars: int | None = None) -> dict:
    """Query-generation step: ``{"Query": str}``."""
    return _object({"Query": _text(max_chars)})


def bitext_schema(max_chars: int | None = None) -> dict:
    """Bitext step: a faithful ``translation`` and a fluent ``mistranslation`` that changes one detail."""
    return _object({"translation": _text(max_chars), "mistranslation": _text(max_chars)})


def sts_schema(max_chars: int | None = None) -> dict:
    """STS step: ``paraphrase`` (same meaning), ``related`` (same topic, partly different) and ``hard_negative``."""
    return _object(
        {"paraphrase": _text(max_chars), "related": _text(max_chars), "hard_negative": _text(max_chars)}
    )


def classification_schema(max_chars: int | None = None) -> dict:
    """Classification step: one ``text`` of the requested label."""
    return _object({"text": _text(max_chars)})
