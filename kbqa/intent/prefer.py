"""Typed retrieval: the section type of a passage, whether its document is about a focus, and the
re-ordering that prefers passages of the question's type about its focus (``search.typed``).

Section types (:func:`section_type`): a ``section`` field of JSONL/CSV input (a type identifier, a
MedQuAD qtype or a structured-abstract label), MedQuAD's ``qtype`` (mapped onto the type set), and
structured-abstract labels written into the text by the PubMed and PubMedQA loaders
("CONCLUSIONS: ...", the label covering most of the passage). A passage without one has none (never
preferred, never pushed down for it). Abstract labels are kept in lower case (``conclusions``,
``results``, ...); a ``yes_no`` question prefers ``conclusions`` and ``results``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kbqa.intent.focus import PHRASE, words
from kbqa.intent.types import LIVEQA, MEDQUAD, TYPES
from kbqa.types import Intent

Ranking = list[tuple[str, float]]
_LABEL = re.compile(r"(?:^|(?<=\n)|(?<=\. ))([A-Z][A-Z /&-]{2,40}):\s")
_ABSTRACT = {"conclusion": "conclusions", "conclusions": "conclusions", "results": "results", "result": "results",
             "methods": "methods", "background": "background", "objective": "objective", "objectives": "objective",
             "purpose": "objective", "introduction": "background", "aims": "objective", "aim": "objective",
             "discussion": "conclusions", "findings": "results", "interpretation": "conclusions"}
_PREFERS = {"yes_no": ("conclusions", "results")}


def _section_name(value: str) -> str | None:
    key = " ".join(value.lower().replace("_", " ").split())
    if key.replace(" ", "_") in TYPES:
        return key.replace(" ", "_")
    if key in MEDQUAD:
        return MEDQUAD[key]
    if key in LIVEQA:
        return LIVEQA[key]
    return _ABSTRACT.get(key)


def section_type(meta: Mapping[str, Any], text: str) -> str | None:
    """The section type of a passage (see the module docstring), or None."""
    for key in ("section", "qtype"):
        value = meta.get(key)
        if isinstance(value, str) and value.strip():
            return _section_name(value)
    labels = list(_LABEL.finditer(text))
    if not labels:
        return None
    cover: dict[str, int] = {}
    for n, m in enumerate(labels):
        name = _section_name(m.group(1))
        if name:
            end = labels[n + 1].start() if n + 1 < len(labels) else len(text)
            cover[name] = cover.get(name, 0) + end - m.start()
    return max(cover, key=cover.__getitem__) if cover else None


def matches_type(section: str | None, qtype: str) -> bool:
    return section is not None and (section == qtype or section in _PREFERS.get(qtype, ()))


def _key(text: str) -> str:
    return " ".join(w for w, _, _ in words(text))


def about(intent: Intent, meta: Mapping[str, Any], title: str, *, phrases: bool = False) -> bool:
    """Whether a document (its ``focus``/``condition``/``drug`` metadata or title) is about one of the
    intent's foci: their normalised words are equal or one holds the other ("migraine" / "chronic
    migraine"). Foci that are only the question's key phrase count with ``phrases``."""
    names = [v for k in ("focus", "condition", "disease", "drug") if isinstance(v := meta.get(k), str) and v]
    names.append(title)
    keys = [f" {_key(n)} " for n in names if n and _key(n)]
    for focus, kind in zip(intent.focus, intent.focus_kinds or (None,) * len(intent.focus)):
        if kind == PHRASE and not phrases:
            continue
        f = f" {_key(focus)} "
        if f.strip() and any(f in k or k in f for k in keys):
            return True
    return False


def confident(intent: Intent | None, min_confidence: float) -> bool:
    return intent is not None and intent.source != "none" and intent.confidence >= min_confidence


def prefer(
    ranking: Ranking,
    intent: Intent | None,
    chunk: Callable[[str], Any],
    *,
    min_confidence: float,
    section_weight: float,
    focus_weight: float,
    depth: int | None = None,
) -> Ranking:
    """``ranking`` re-ordered: a passage whose section type matches the intent's type gains
    ``section_weight`` times the ranking's score range (max - min), one whose document is about a
    focus (known names only) ``focus_weight`` times it; other scores are unchanged. Unchanged when
    the intent is not confident (or absent). Only the first ``depth`` candidates (all when None) are
    re-scored, with their own score range; the rest follow unchanged. ``chunk``: id -> Chunk."""
    if not ranking or not confident(intent, min_confidence):
        return ranking
    assert intent is not None
    tail = ranking[depth:] if depth is not None else []
    ranking = ranking[:depth] if depth is not None else ranking
    scores = [s for _, s in ranking]
    span = (max(scores) - min(scores)) or 1.0
    out = []
    for cid, s in ranking:
        c = chunk(cid)
        bonus = section_weight * matches_type(section_type(c.meta, c.text), intent.type)
        bonus += focus_weight * about(intent, c.meta, c.title)
        out.append((cid, s + bonus * span))
    return sorted(out, key=lambda kv: -kv[1]) + tail


def prefer_many(rankings: Sequence[Ranking], intents: Sequence[Intent | None], chunk: Callable[[str], Any],
                **settings: Any) -> list[Ranking]:
    return [prefer(r, i, chunk, **settings) for r, i in zip(rankings, intents, strict=True)]
