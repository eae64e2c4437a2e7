"""Extractive answers to open questions: the passages of the question's type about its focus.

A passage qualifies when its document is about one of the intent's foci (its focus/title metadata,
or the focus's words in its text) and, when the type is confident and the passage has a section type
(kbqa.intent.prefer.section_type), that section matches the type. Passages repeating one already
picked (the same normalised words, or one holding the other: MedQuAD tells some answers in two
collections) are dropped. Nothing is generated."""

from __future__ import annotations

from collections.abc import Sequence

from kbqa.intent.focus import words
from kbqa.intent.prefer import about, matches_type, section_type
from kbqa.types import Hit, Intent

MAX_PASSAGES = 3
MIN_CONFIDENCE = 0.5  # below it the type is not used to pick passages (the focus still is)
_UNTYPED = frozenset({"other", "yes_no"})


def _key(text: str) -> str:
    return " ".join(w for w, _, _ in words(text))


def mentions(text: str, focus: str) -> bool:
    f = _key(focus)
    return bool(f) and f" {f} " in f" {_key(text)} "


def pick_passages(hits: Sequence[Hit], intent: Intent, limit: int = MAX_PASSAGES) -> list[int]:
    """Indices of ``hits`` (best first) that answer: of the type, about the focus, not repeated."""
    typed = intent.confidence >= MIN_CONFIDENCE and intent.type not in _UNTYPED and intent.source != "none"
    picked: list[int] = []
    seen: list[str] = []
    for i, h in enumerate(hits):
        section = section_type(h.meta, h.text)
        if typed and section is not None and not matches_type(section, intent.type):
            continue
        if intent.focus and not (about(intent, h.meta, h.title, phrases=True)
                                 or any(mentions(h.text, f) for f in intent.focus)):
            continue
        key = f" {_key(h.text)} "
        if any(key in s or s in key for s in seen):
            continue
        seen.append(key)
        picked.append(i)
        if len(picked) >= limit:
            break
    return picked


def open_reason(intent: Intent, n: int) -> str:
    """The answer's ``provenance.reason`` for an open question."""
    what = f"{intent.type.replace('_', ' ')} passage" if intent.type not in _UNTYPED else "passage"
    focus = f" about {' / '.join(intent.focus)}" if intent.focus else ""
    if n:
        return (f"open question ({intent.type}{focus}): {n} {what}{'s' if n > 1 else ''} quoted as found "
                "(extractive; no yes/no/maybe reading)")
    return f"insufficient evidence: no {what}{focus} was found among the retrieved passages"
