"""The co-mention dev set: knowledge-base sentences naming two drugs, labelled "interaction stated" or not.

The committed definition (eval/benchmarks/ddi-comention/definition.jsonl) holds no text: each line
names a document (corpus-loader id), the sentence's character offsets in the document's text, a
checksum of the sentence, the two drug mentions (offsets in the document) and the label. The
sentences are rebuilt from the datasets through the corpus recipes; :func:`materialise` refuses a
line whose offsets no longer hold the same text (a changed dataset or loader).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from kbqa.errors import InputError
from kbqa.jsonlines import iter_jsonl
from kbqa.types import Document

LABELS = ("stated", "not_stated")
FIELDS = ("id", "doc_id", "start", "end", "sha256", "drug1", "drug2", "label")
def sentence_sha256(text: str) -> str:
    """The checksum recorded per sentence: sha256 of its UTF-8 text, first 16 hex digits."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Mention:
    name: str  # the drug name as a user would type it (the lexicon entry, lower case)
    start: int  # offsets in the document's text
    end: int


@dataclass(frozen=True)
class Item:
    """One line of the definition."""

    id: str
    doc_id: str
    start: int
    end: int
    sha256: str
    drug1: Mention
    drug2: Mention
    label: str  # "stated" | "not_stated"
    source: str = ""
    stratum: str = ""  # "cue" | "plain": how it was sampled
    line: int = 0  # its line in the definition file


@dataclass(frozen=True)
class Sentence:
    item: Item
    text: str  # the sentence, rebuilt from the dataset

    @property
    def stated(self) -> bool:
        return self.item.label == "stated"


def _mention(value: object, what: str, path: Path, n: int) -> Mention:
    if not isinstance(value, dict) or not isinstance(value.get("name"), str) or not value["name"].strip():
        raise InputError(f"{what} must be an object {{name, start, end}}", path=str(path), line=n)
    start, end = value.get("start"), value.get("end")
    if not isinstance(start, int) or not isinstance(end, int) or not 0 <= start < end:
        raise InputError(f"{what}: start and end must be integers with 0 <= start < end", path=str(path), line=n)
    return Mention(value["name"], start, end)


def load_definition(path: str | Path) -> list[Item]:
    """The definition's lines, checked for shape (not yet against the text: see :func:`materialise`)."""
    p = Path(path)
    items, seen = [], set()
    for n, row in iter_jsonl(p, required=FIELDS):
        if row["label"] not in LABELS:
            raise InputError(f"label must be one of {LABELS}, got {row['label']!r}", path=str(p), line=n)
        if row["id"] in seen:
            raise InputError(f"id {row['id']!r} occurs twice", path=str(p), line=n)
        seen.add(row["id"])
        start, end = row["start"], row["end"]
        if not isinstance(start, int) or not isinstance(end, int) or not 0 <= start < end:
            raise InputError("start and end must be integers with 0 <= start < end", path=str(p), line=n)
        d1, d2 = _mention(row["drug1"], "drug1", p, n), _mention(row["drug2"], "drug2", p, n)
        for what, m in (("drug1", d1), ("drug2", d2)):
            if not start <= m.start < m.end <= end:
                raise InputError(f"{what} ({m.start}-{m.end}) lies outside the sentence ({start}-{end})",
                                 path=str(p), line=n)
        items.append(Item(str(row["id"]), str(row["doc_id"]), start, end, str(row["sha256"]), d1, d2, row["label"],
                          str(row.get("source", "")), str(row.get("stratum", "")), n))
    return items


def materialise(items: Iterable[Item], documents: Mapping[str, Document], path: str | Path = "definition") -> list[Sentence]:
    """The sentences of ``items`` cut from ``documents`` (doc_id -> Document); an InputError naming the
    definition line when a document is missing or the text at the offsets no longer matches."""
    from kbqa.ddi.names import mention_pattern

    out = []
    for it in items:
        doc = documents.get(it.doc_id)
        if doc is None:
            raise InputError(f"document {it.doc_id!r} is not in the corpus; the dataset or its loader changed",
                             path=str(path), line=it.line)
        text = doc.text[it.start : it.end]
        if it.end > len(doc.text) or sentence_sha256(text) != it.sha256:
            raise InputError(
                f"the text of {it.doc_id!r} at {it.start}-{it.end} no longer matches the recorded sentence "
                f"(sha256 {it.sha256}, got {sentence_sha256(text)}: {text[:60]!r}); the dataset or its loader "
                "changed: rebuild the definition", path=str(path), line=it.line)
        for what, m in (("drug1", it.drug1), ("drug2", it.drug2)):
            if not mention_pattern([m.name]).fullmatch(doc.text[m.start : m.end]):
                raise InputError(f"{what} {m.name!r} is not at {m.start}-{m.end} of {it.doc_id!r} "
                                 f"(found {doc.text[m.start : m.end]!r})", path=str(path), line=it.line)
        out.append(Sentence(it, text))
    return out


def corpus_documents(sources: Iterable[str] = ("medquad", "pubmedqa"), mirror: str | Path | None = None,
                     wanted: set[str] | None = None) -> dict[str, Document]:
    """Documents of the recipes ``sources`` (checksum-verified through kbqa.corpus), by doc_id;
    only those in ``wanted`` when given."""
    from kbqa.corpus import iter_documents

    docs: dict[str, Document] = {}
    for source in sources:
        for doc in iter_documents(source, mirror=mirror):
            if wanted is None or doc.doc_id in wanted:
                docs[doc.doc_id] = doc
    return docs
