"""The records ``kbqa.treat.treat`` returns, and their JSON shape (``kbqa treat --json``, ``POST /treat``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kbqa.types import Hit


@dataclass(frozen=True)
class Sentence:
    """One sentence of a retrieved passage, with what it takes to cite it."""

    hit: Hit
    span: tuple[int, int]  # character offsets of the sentence in hit.text
    section: str | None = None  # the passage's section type (kbqa.intent.prefer.section_type)

    @property
    def text(self) -> str:
        return self.hit.text[self.span[0]:self.span[1]]

    def to_dict(self) -> dict[str, Any]:
        from kbqa.serialize import citation

        h = self.hit
        return {
            "sentence": " ".join(self.text.split()),
            "doc_id": h.doc_id,
            "chunk_id": h.chunk_id,
            "title": h.title,
            "url": h.meta.get("url"),
            "section": self.section,
            "start": h.start + self.span[0],  # offsets into the document, as every kbqa hit gives them
            "end": h.start + self.span[1],
            "citation": citation(h.meta, h.doc_id, h.title),
        }


@dataclass(frozen=True)
class OptionWarning:
    """Evidence that an option needs care in the patient's situation."""

    situation: str  # Situation.name
    label: str
    evidence: Sentence | None  # None only for a stated allergy to the option itself
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"situation": self.situation, "label": self.label, "reason": self.reason}
        out.update(self.evidence.to_dict() if self.evidence is not None else {"sentence": None})
        return out


@dataclass(frozen=True)
class Option:
    name: str
    kind: str  # "medicine" | "procedure" | "therapy"
    score: float
    documents: int  # distinct documents supporting it
    evidence: list[Sentence]
    warnings: list[OptionWarning] = field(default_factory=list)
    interactions: list[dict[str, Any]] = field(default_factory=list)  # kbqa interactions' pair dicts

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "score": round(self.score, 4), "documents": self.documents,
                "evidence": [e.to_dict() for e in self.evidence], "warnings": [w.to_dict() for w in self.warnings],
                "interactions": self.interactions}


@dataclass(frozen=True)
class Treatment:
    condition: str
    options: list[Option]
    abstained: bool
    provenance: dict[str, Any]
    matched_condition: str | None = None  # the knowledge base's name for the condition, when it knows one
    patient: dict[str, Any] | None = None  # {"text", "situations": [...]} with --patient
    medications: list[str] = field(default_factory=list)  # the current medications checked
    unknown_medications: list[str] = field(default_factory=list)  # given but not known as medicines: not checked

    def to_dict(self) -> dict[str, Any]:
        return {
            "condition": self.condition,
            "matched_condition": self.matched_condition,
            "options": [o.to_dict() for o in self.options],
            "abstained": self.abstained,
            "patient": self.patient,
            "medications": self.medications,
            "unknown_medications": self.unknown_medications,
            "provenance": self.provenance,
        }
