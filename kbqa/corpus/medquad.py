"""MedQuAD XML: one document per answered question-answer pair.

Question ids (``qid``) are not unique in the upstream tree (e.g. ``0000013_2-1`` occurs in seven
CancerGov files, and file names repeat across collections), so the document id combines the
collection, the file and the pair number: ``CancerGov:0000001_1-1``. The upstream ``qid`` is kept
in ``meta["qid"]``.

Three schemas occur upstream: ``<Document id source url>`` (almost all files),
``<DiseaseFile fid source url>`` (one CDC file) and a lower-case ``<doc docid corpus url>`` with
``<pair>/<question>/<answer>`` (four NINDS files). All are read.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from kbqa.corpus.base import IdRegistry, LoadStats, read_bytes
from kbqa.errors import InputError
from kbqa.types import Document

SUFFIXES = (".xml",)
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_FOLDER = re.compile(r"^\d+_(?P<name>.+?)_QA(?:_XML)?$")
_STANDARD = {"pair": "QAPair", "question": "Question", "answer": "Answer", "focus": "Focus",
             "source": "source", "id": "id"}
_SCHEMAS = {
    "Document": _STANDARD,
    "DiseaseFile": {**_STANDARD, "id": "fid"},
    "doc": {"pair": "pair", "question": "question", "answer": "answer", "focus": "doctitle-focus",
            "source": "corpus", "id": "docid"},
}


def normalise(text: str) -> str:
    """Collapse runs of spaces in each line, drop indentation, keep line and paragraph breaks."""
    paragraphs: list[list[str]] = [[]]
    for raw in text.split("\n"):
        line = _SPACES.sub(" ", raw).strip()
        if line:
            paragraphs[-1].append(line)
        elif paragraphs[-1]:
            paragraphs.append([])
    return "\n\n".join("\n".join(p) for p in paragraphs if p)


def _collection(root: ET.Element, path: Path, attr: str) -> str:
    source = (root.get(attr) or "").strip()
    if source:
        return source
    match = _FOLDER.match(path.parent.name)  # one NINDS file lacks @source: use "6_NINDS_QA" -> NINDS
    return match.group("name") if match else path.parent.name


@dataclass(frozen=True)
class TypedQuestion:
    """One MedQuAD question with its ``qtype``, answered or not (folders 10-12 have no answers)."""

    pair_id: str  # the loader's document id: ``Collection:file-n``
    question: str
    qtype: str
    focus: str
    collection: str
    answered: bool


def _root(path: Path) -> tuple[ET.Element, dict[str, str]]:
    try:
        root = ET.fromstring(read_bytes(path))
    except ET.ParseError as exc:
        raise InputError(f"broken XML: {exc}; fix or remove the file", path=str(path),
                         line=exc.position[0]) from None
    tags = _SCHEMAS.get(root.tag)
    if tags is None:
        raise InputError(f"root element is <{root.tag}>, expected MedQuAD's <Document>", path=str(path))
    return root, tags


def _pairs(path: Path) -> Iterator[tuple[ET.Element, dict[str, str], str, str, str, ET.Element | None, str]]:
    """(root, tags, collection, focus, pair id, question element, answer text) per pair of one file."""
    root, tags = _root(path)
    collection = _collection(root, path, tags["source"])
    stem = path.name[: -len(".xml")]
    focus = " ".join((root.findtext(tags["focus"]) or "").split())
    for pair in root.iter(tags["pair"]):
        question = pair.find(tags["question"])
        answer = normalise(pair.findtext(tags["answer"]) or "")
        pid = pair.get("pid") or ""
        qid = question.get("qid", "") if question is not None else ""
        number = qid.rpartition("-")[2] if "-" in qid else pid
        if not number:
            raise InputError(f"a QAPair has neither a Question@qid nor a pid (focus {focus!r})",
                             path=str(path))
        yield root, tags, collection, focus, f"{collection}:{stem}-{number}", question, answer


def iter_typed_questions(folder: str | Path) -> Iterator[TypedQuestion]:
    """Every question of a MedQuAD tree (``*.xml`` under ``folder``, in path order) with its qtype,
    including those whose answer was removed upstream; pairs without a question text are skipped."""
    files = sorted(Path(folder).rglob("*.xml")) if Path(folder).is_dir() else [Path(folder)]
    if not files:
        raise InputError("no MedQuAD *.xml files here; pass the medquad folder", path=str(folder))
    for path in files:
        for _root_el, _tags, collection, focus, pair_id, question, answer in _pairs(path):
            text = " ".join((question.text or "").split()) if question is not None else ""
            if text:
                yield TypedQuestion(pair_id, text, (question.get("qtype", "") or "").strip().lower(), focus,
                                    collection, bool(answer))


def iter_file(
    path: Path, *, stats: LoadStats, ids: IdRegistry, columns: Mapping[str, str] | None = None
) -> Iterator[Document]:
    """Documents of one MedQuAD topic file; unanswered pairs are counted, not yielded."""
    if columns:
        raise InputError("column mappings apply to jsonl/csv/tsv only, not to medquad", path=str(path))
    for root, tags, collection, focus, doc_id, question, answer in _pairs(path):
        if not answer:
            stats.skipped_unanswered += 1
            continue
        ids.add(doc_id, path, None)
        meta = {
            "source": "medquad",
            "collection": collection,
            "url": root.get("url", ""),
            "focus": focus,
            "qtype": question.get("qtype", "") if question is not None else "",
            "document_id": root.get(tags["id"], path.name[: -len(".xml")]),
            "qid": question.get("qid", "") if question is not None else "",
        }
        title = " ".join((question.text or "").split()) if question is not None else ""
        yield Document(doc_id=doc_id, text=answer, title=title, meta=meta)
