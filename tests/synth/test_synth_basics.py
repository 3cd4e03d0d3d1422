"""Ids, text normalisation, language checks, de-duplication, output validation, corpus and persona loading."""

from __future__ import annotations

import json

import pytest

from synth.corpus import load_passages, truncate_text
from synth.dedup import Deduplicator, dedup_records
from synth.ids import record_id, rng_for, seed_for, shard_of
from synth.personas import load_personas, real_persona_chat_personas, write_personas
from synth.textnorm import detect_language, normalize_for_dedup
from synth.validate import Reject, TextLimits, check_not_copied, check_text, parse_json_output

SCHEMA = {
    "type": "object",
    "properties": {"Query": {"type": "string", "minLength": 1}},
    "required": ["Query"],
    "additionalProperties": False,
}


def test_record_ids_are_deterministic_and_distinct():
    a = record_id("retrieval", "p1", 0, seed=0)
    assert a == record_id("retrieval", "p1", 0, seed=0) and len(a) == 16
    others = {
        record_id("retrieval", "p1", 1),
        record_id("sts", "p1", 0),
        record_id("retrieval", "p2", 0),
        record_id("retrieval", "p1", 0, seed=1),
    }
    assert a not in others and len(others) == 4
    assert rng_for(a).random() == rng_for(a).random()
    assert seed_for(a, "query") == seed_for(a, "query") != seed_for(a, "config")
    assert 0 <= seed_for(a, "x") < 2**31
    ids = [record_id("t", str(i), 0) for i in range(400)]
    counts = [sum(shard_of(i, 4) == w for i in ids) for w in range(4)]
    assert sum(counts) == 400 and min(counts) > 60


def test_normalisation_and_language_detection():
    assert normalize_for_dedup("富士山の 標高は？") == normalize_for_dedup("富士山の標高は?")
    assert normalize_for_dedup("ＡＢＣ　ｄｅｆ!") == "abcdef"
    assert detect_language("富士山の標高は何メートルですか") == "ja"
    assert detect_language("富士山 標高") == "ja"  # kanji-only keywords count as Japanese
    assert detect_language("How tall is Mount Fuji?") == "en"
    assert detect_language("12345 !!!") == "unknown"
    assert detect_language("Fuji の height") == "unknown"


def test_deduplicator_exact_then_normalised_per_task():
    d = Deduplicator()
    assert d.check_and_add("富士山の標高は？", "retrieval") is None
    assert d.check_and_add("富士山の標高は？", "retrieval") == "duplicate_exact"
    assert d.check_and_add("富士山の 標高は?", "retrieval") == "duplicate_normalized"
    assert d.check_and_add("富士山の標高は？", "sts") is None  # other task: separate scope
    exact_only = Deduplicator(normalized=False)
    exact_only.add("a b")
    assert exact_only.check("ab") is None
    kept, dropped = dedup_records(
        [{"query": "x", "task": "t"}, {"query": " x", "task": "t"}, {"query": "X!", "task": "t"}]
    )
    assert len(kept) == 1 and dropped == {"duplicate_exact": 1, "duplicate_normalized": 1}


@pytest.mark.parametrize(
    ("text", "finish", "error", "reason"),
    [
        ('{"Query": "ok"}', "stop", "boom", "engine_error"),
        ('{"Query": "cut', "length", None, "too_long"),
        ("not json", "stop", None, "invalid_json"),
        ("[1, 2]", "stop", None, "schema"),
        ('{"Query": 3}', "stop", None, "schema"),
        ('{"Query": "a", "extra": 1}', "stop", None, "schema"),
        ("{}", "stop", None, "schema"),
    ],
)
def test_parse_json_output_rejects_by_reason(text, finish, error, reason):
    with pytest.raises(Reject) as err:
        parse_json_output(text, finish, SCHEMA, error)
    assert err.value.reason == reason


def test_parse_json_output_accepts_raw_control_characters():
    assert parse_json_output('{"Query": "a\tb\nc"}', "stop", SCHEMA) == {"Query": "a\tb\nc"}


def test_check_text_limits_and_language():
    limits = TextLimits(min_chars=2, max_chars=10)
    assert check_text(" 富士山の標高 ", "ja", limits) == "富士山の標高"
    with pytest.raises(Reject, match="too_long"):  # reached maxLength: the grammar cut it
        check_text("あ" * 10, "ja", limits)
    assert check_text("あ" * 10, "ja", TextLimits(max_chars=10, reject_truncated=False)) == "あ" * 10
    for text, lang, reason in [
        (" ", "ja", "empty"),
        ("あ" * 11, "ja", "too_long"),
        ("Mt Fuji", "ja", "wrong_language"),
        ("富士山です", "en", "wrong_language"),
    ]:
        with pytest.raises(Reject) as err:
            check_text(text, lang, limits)
        assert err.value.reason == reason
    assert check_text("Mount Fuji", "ja", TextLimits(language_check=False)) == "Mount Fuji"
    passage = "アムステルダムの運河システムの多くは、都市計画の優れた産物である。アムステルダムはオランダの首都である。"
    with pytest.raises(Reject, match="copied_input"):
        check_not_copied(
            "アムステルダムの中心都市であるオランダの運河システムの多くは、都市計画の優れた産物である。",
            passage,
        )
    check_not_copied("アムステルダムの運河は誰が計画したの？", passage)  # shares a name, not a sentence
    check_not_copied("短い", passage)
    with pytest.raises(ValueError):
        Reject("no_such_reason")


def test_load_passages_filters_samples_and_excludes(tmp_path, corpus_file):
    all_p = load_passages(corpus_file)
    assert [p.id for p in all_p] == ["p1", "p2", "p3", "p4", "p5", "p6"] and all_p[0].title == "富士山"
    excluded = tmp_path / "eval.jsonl"
    excluded.write_text(json.dumps({"docid": "e", "text": all_p[1].text + " "}, ensure_ascii=False) + "\n")
    kept = load_passages(corpus_file, exclude=[excluded])
    assert "p2" not in {p.id for p in kept}
    s1 = load_passages(corpus_file, limit=3, sample_seed=0)
    assert [p.id for p in s1] == [p.id for p in load_passages(corpus_file, limit=3, sample_seed=0)]
    assert len(s1) == 3 and {p.id for p in s1} != {
        p.id for p in load_passages(corpus_file, limit=3, sample_seed=1)
    }
    assert all(len(p.text) <= 30 for p in load_passages(corpus_file, max_chars=30))
    assert truncate_text("一文目です。二文目はとても長い文です。", 10) == "一文目です。"
    assert truncate_text("とても長い一文目です。二文目", 4) == "とても長"
    assert load_passages(corpus_file, min_chars=45) and all(
        len(p.text) >= 45 for p in load_passages(corpus_file, min_chars=45)
    )


def test_personas_from_jsonl_and_real_persona_chat(tmp_path, persona_file, shared_data):
    ps = load_personas(persona_file)
    assert len(ps) == 7 and ps[0].id == "x0"
    rpc = real_persona_chat_personas(shared_data / "real_persona_chat/original/interlocutors.json")
    assert len(rpc) == 233 and all(p.text.endswith(("。", "!", "？", "?", "！")) or p.text for p in rpc)
    assert len({p.id for p in rpc}) == 233
    halves = real_persona_chat_personas(shared_data / "real_persona_chat/original/interlocutors.json", 5)
    assert len(halves) == 466
    out = write_personas(rpc[:3], tmp_path / "p.jsonl", source="rpc")
    assert [p.text for p in load_personas(out)] == [p.text for p in rpc[:3]]
