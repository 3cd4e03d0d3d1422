"""Text normalisation for de-duplication and script-based language checks (Japanese vs English)."""

from __future__ import annotations

import unicodedata
from collections import Counter


def normalize_for_dedup(text: str) -> str:
    """NFKC, case-folded, with whitespace, punctuation and symbols removed: the normalised dedup key."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in text if unicodedata.category(ch)[0] not in "ZPSC")


def script_counts(text: str) -> Counter:
    """Letters per script: ``kana`` (hiragana/katakana), ``han`` (CJK ideographs), ``latin``, ``other``."""
    counts: Counter = Counter()
    for ch in unicodedata.normalize("NFKC", text):
        cp = ord(ch)
        if 0x3040 <= cp <= 0x30FF or 0x31F0 <= cp <= 0x31FF or 0xFF66 <= cp <= 0xFF9F:
            if ch != "ー" and ch != "・":
                counts["kana"] += 1
        elif 0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0xF900 <= cp <= 0xFAFF or ch in "々〆":
            counts["han"] += 1
        elif ch.isascii() and ch.isalpha():
            counts["latin"] += 1
        elif ch.isalpha():
            counts["other"] += 1
    return counts


def detect_language(text: str, min_ratio: float = 0.5) -> str:
    """``ja``, ``en`` or ``unknown`` from the share of Japanese (kana + kanji) or Latin letters among all letters.

    Kanji-only text counts as Japanese (keyword queries often are); Latin text with any kana counts as mixed
    and needs ``min_ratio`` of Japanese letters to pass as ``ja``.
    """
    c = script_counts(text)
    letters = sum(c.values())
    if letters == 0:
        return "unknown"
    ja = c["kana"] + c["han"]
    if ja / letters >= min_ratio:
        return "ja"
    if c["latin"] / letters >= max(min_ratio, 0.8) and c["kana"] == 0:
        return "en"
    return "unknown"
