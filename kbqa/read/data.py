"""Reader training data: PubMedQA (with the committed split) and generic question/context/label JSONL."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kbqa.errors import InputError, KbqaError
from kbqa.paths import load_split  # noqa: F401  (the one split reader; kbqa.read.data.load_split kept for callers)
from kbqa.read.classifier import Example

READER_LABELS = ["yes", "no", "maybe"]
DEFAULT_SPLIT = "eval/splits/pubmedqa.json"  # the committed split, found by kbqa.paths from any folder
# Sections that carry the findings come first, so truncation drops background before results.
_FINDINGS = ("RESULT", "FINDING", "OUTCOME", "MEASUREMENT")


@dataclass(frozen=True)
class PubmedqaItem:
    """One expert-labelled PubMedQA question with its abstract."""

    pmid: str
    question: str
    contexts: list[str]
    sections: list[str]
    long_answer: str
    label: str
    year: str = ""
    meshes: list[str] = field(default_factory=list)

    def reasoning_context(self) -> str:
        """The abstract without its conclusion, findings first (what the reasoning-required setting sees)."""
        first = [c for c, s in zip(self.contexts, self.sections) if any(f in s.upper() for f in _FINDINGS)]
        rest = [c for c, s in zip(self.contexts, self.sections) if not any(f in s.upper() for f in _FINDINGS)]
        return " ".join(first + rest)

    def document_text(self) -> str:
        """The abstract as an index stores it (kbqa.corpus.pubmedqa): sections in order, conclusion last."""
        from kbqa.corpus.pubmedqa import document_text

        labels = self.sections if len(self.sections) == len(self.contexts) else []
        return document_text(self.contexts, labels, self.long_answer)

    def full_abstract(self) -> str:
        """The whole abstract, conclusion first so that truncation keeps it (then findings, then the rest)."""
        return " ".join([self.long_answer, self.reasoning_context()])


def is_pubmedqa(path: str | Path) -> bool:
    return Path(path).suffix == ".json"


def load_pubmedqa(path: str | Path) -> list[PubmedqaItem]:
    """All items of a PubMedQA ``ori_pqal.json``-style file, in file order."""
    p = Path(path)
    try:
        raw = json.loads(p.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read PubMedQA JSON ({exc})", path=str(p)) from exc
    if not isinstance(raw, dict):
        raise InputError("expected a JSON object {PMID: {QUESTION, CONTEXTS, ...}}", path=str(p))
    items = []
    for pmid, rec in raw.items():
        try:
            label = rec["final_decision"]
            if label not in READER_LABELS:
                raise InputError(f"PMID {pmid}: final_decision {label!r} is not yes/no/maybe", path=str(p))
            items.append(
                PubmedqaItem(
                    pmid=str(pmid),
                    question=rec["QUESTION"],
                    contexts=list(rec["CONTEXTS"]),
                    sections=list(rec.get("LABELS") or [""] * len(rec["CONTEXTS"])),
                    long_answer=rec.get("LONG_ANSWER", ""),
                    label=label,
                    year=str(rec.get("YEAR", "")),
                    meshes=list(rec.get("MESHES", [])),
                )
            )
        except (KeyError, TypeError) as exc:
            raise InputError(f"PMID {pmid}: missing or malformed field {exc}", path=str(p)) from exc
    return items


def split_items(items: list[PubmedqaItem], pmids: list[str], *, source: str = "PubMedQA") -> list[PubmedqaItem]:
    """The items whose PMID is listed, in the listed order; every listed PMID must be present."""
    by_id = {it.pmid: it for it in items}
    missing = [p for p in pmids if p not in by_id]
    if missing:
        raise KbqaError(f"{source}: {len(missing)} PMIDs of the split are missing (e.g. {missing[:3]}); wrong file?")
    return [by_id[p] for p in pmids]


EXAMPLE_MODES = ("reasoning", "conclusion", "abstract", "chunks")


def pubmedqa_examples(items: list[PubmedqaItem], mode: str = "reasoning", *, chunker: Any = None) -> list[Example]:
    """(question, passage) examples: ``reasoning`` (contexts, no conclusion), ``conclusion``, ``abstract``
    (conclusion first), or ``chunks``: one example per index chunk of the abstract (``chunker``, a
    kbqa.chunk.Chunker, splits it as an index would), each with the item's label, so the reader learns
    to answer from passages as retrieval returns them."""
    if mode == "chunks":
        if chunker is None:
            raise KbqaError("mode 'chunks' needs a chunker (kbqa.chunk.Chunker)")
        from kbqa.types import Document

        out = []
        for it in items:
            doc = Document(doc_id=it.pmid, text=it.document_text(), title="", meta={})
            out += [Example(it.question, c.text, it.label) for c in chunker.split(doc)]
        return out
    if mode == "reasoning":
        return [Example(it.question, it.reasoning_context(), it.label) for it in items]
    if mode == "conclusion":
        return [Example(it.question, it.long_answer, it.label) for it in items]
    if mode == "abstract":
        return [Example(it.question, it.full_abstract(), it.label) for it in items]
    raise KbqaError(f"unknown PubMedQA example mode {mode!r}; use one of {', '.join(EXAMPLE_MODES)}")


def load_jsonl_examples(path: str | Path, labels: list[str] = READER_LABELS) -> list[Example]:
    """Lines ``{"question", "context", "label"}`` (context: a string or a list of strings)."""
    from kbqa.jsonlines import iter_jsonl

    p = Path(path)
    out = []
    for n, rec in iter_jsonl(p, ("question", "context", "label")):
        context = rec["context"]
        if isinstance(context, list):
            context = " ".join(str(c) for c in context)
        if rec["label"] not in labels:
            raise InputError(f"label {rec['label']!r} is not one of {labels}", path=str(p), line=n)
        if not str(rec["question"]).strip():
            raise InputError("empty question", path=str(p), line=n)
        out.append(Example(str(rec["question"]), str(context), rec["label"]))
    return out
