"""Plain records that flow through the pipeline. No logic beyond trivial helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Document:
    """One source document: an abstract, a knowledge-base answer, a case note."""

    doc_id: str
    text: str
    title: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Chunk:
    """A piece of a document; ``start``/``end`` are character offsets into ``Document.text``."""

    chunk_id: str
    doc_id: str
    text: str
    start: int
    end: int
    title: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its score and everything needed to cite it."""

    chunk_id: str
    doc_id: str
    score: float
    text: str
    title: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    start: int = 0
    end: int = 0


@dataclass(frozen=True)
class Evidence:
    """A passage judged by the reader against the question."""

    hit: Hit
    stance: str  # "supports" | "contradicts" | "neutral"
    probability: float
    probabilities: dict[str, float]
    highlight: tuple[int, int] | None = None  # character offsets into hit.text


@dataclass(frozen=True)
class Intent:
    """What a question wants (kbqa.intent): its ``type`` (docs/question_types.md) with the classifier's
    calibrated ``confidence``, and its ``focus``: the conditions / medicines it is about, in question order."""

    type: str
    confidence: float
    focus: tuple[str, ...] = ()
    focus_kinds: tuple[str, ...] = ()  # per focus: "medicine" | "condition" | "phrase" (not a known name)
    source: str = "model"  # "model" | "rule" (a phrase rule, kbqa.intent.rules) | "none" (no classifier)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "confidence": round(float(self.confidence), 4), "focus": list(self.focus),
                "focus_kinds": list(self.focus_kinds), "source": self.source}


@dataclass(frozen=True)
class Answer:
    """The reader's verdict over retrieved evidence.

    ``decision`` is what to act on: the verdict when a yes/no question is answered, None when the
    answer abstains (insufficient evidence, low confidence) or the question is not a yes/no
    question. ``verdict`` is always the most probable label (what evaluation scores)."""

    question: str
    verdict: str
    abstained: bool
    confidence: float
    probabilities: dict[str, float]
    evidence: list[Evidence]
    question_type: str = "yes_no"
    provenance: dict[str, Any] = field(default_factory=dict)
    decision: str | None = None
    intent: Intent | None = None
    # open questions: the best passages of the question's type about its focus (extractive), best first
    answer_passages: list[Evidence] = field(default_factory=list)
