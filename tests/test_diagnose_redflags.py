"""Red-flag rules (kbqa/diagnose/redflags.py): every rule fires on its examples and not on its near misses."""

from __future__ import annotations

import pytest

from kbqa.diagnose.redflags import ADVICE, RULES, red_flags

POSITIVE = [(r.name, text) for r in RULES for text in r.flags]
NEGATIVE = [(r.name, text) for r in RULES for text in r.near_misses]


def test_every_rule_has_examples_and_near_misses() -> None:
    assert len({r.name for r in RULES}) == len(RULES) >= 8
    for rule in RULES:
        assert rule.flags and rule.near_misses, rule.name


@pytest.mark.parametrize("rule,text", POSITIVE, ids=[f"{r}-{i}" for i, (r, _) in enumerate(POSITIVE)])
def test_rule_flags_its_examples(rule: str, text: str) -> None:
    flags = {f.rule: f for f in red_flags(text)}
    assert rule in flags, f"{rule} missed: {text!r}"
    flag = flags[rule]
    assert flag.advice == ADVICE and "emergency care" in flag.advice
    assert flag.phrases and all(p.lower() in text.lower() for p in flag.phrases)


@pytest.mark.parametrize("rule,text", NEGATIVE, ids=[f"{r}-{i}" for i, (r, _) in enumerate(NEGATIVE)])
def test_rule_spares_its_near_misses(rule: str, text: str) -> None:
    assert rule not in {f.rule for f in red_flags(text)}, f"{rule} fired on {text!r}"


def test_ordinary_descriptions_raise_no_flag() -> None:
    for text in ("three weeks of itchy red scaly patches on elbows and knees, nail pitting",
                 "runny nose, sneezing and a mild sore throat for two days",
                 "burning when I pee and needing to go often"):
        assert red_flags(text) == []


def test_negation_stays_in_its_clause() -> None:
    # "no fever" does not negate the stiff neck; a later clause's symptom is not negated by an earlier "no"
    assert [f.rule for f in red_flags("no rash, but a stiff neck and a fever since noon")] == ["meningitis_signs"]
    assert red_flags("stiff neck, no fever") == []


def test_several_flags_in_rule_order_with_their_phrases() -> None:
    flags = red_flags("crushing chest pain spreading to my left arm, short of breath, and I fainted")
    assert [f.rule for f in flags] == ["chest_pain_breathless", "chest_pain_spreading", "fainting"]
    assert flags[0].to_dict()["phrases"] == ["crushing chest", "short of breath"]
    assert flags[0].to_dict()["advice"] == ADVICE
