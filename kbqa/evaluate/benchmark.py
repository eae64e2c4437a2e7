"""The generic benchmark format: corpus.jsonl, questions.jsonl, qrels.tsv (see eval/README.md).

- ``corpus.jsonl``: one document per line, ``{"id", "title"?, "text", ...}`` (extra keys are metadata).
- ``questions.jsonl``: ``{"id", "question", "answer"?}``; BEIR's ``{"_id", "text"}`` is accepted too.
- ``qrels.tsv``: TREC qrels ``qid 0 docid grade`` (whitespace separated); BEIR's three-column
  ``query-id corpus-id score`` with its header line is accepted too. Grade > 0 means relevant.

Every reader validates at the edge and reports the file and line of a bad record.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kbqa.errors import InputError, KbqaError
from kbqa.jsonlines import iter_jsonl, write_jsonl

QRELS_HEADERS = {"query-id", "query_id", "qid", "queryid"}


@dataclass(frozen=True)
class Question:
    """One benchmark question; ``answer`` is a label (e.g. yes/no/maybe) or free text, or None."""

    qid: str
    question: str
    answer: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Qrel:
    """A relevance judgement: document ``doc_id`` has ``grade`` for question ``qid`` (0 = judged not relevant)."""

    qid: str
    doc_id: str
    grade: int


def _id(obj: dict[str, Any], path: str, line: int) -> str:
    value = obj.get("id", obj.get("_id"))
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InputError('record has no "id"; give every record a unique string id', path=path, line=line)
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise InputError(f'"id" must be a string, got {type(value).__name__}', path=path, line=line)
    return str(value).strip()


def load_questions(path: str | Path) -> list[Question]:
    """Questions from a JSONL file, refusing missing or duplicate ids and empty questions."""
    questions: list[Question] = []
    seen: dict[str, int] = {}
    for n, obj in iter_jsonl(path):
        qid = _id(obj, str(path), n)
        if qid in seen:
            raise InputError(f"duplicate question id {qid!r} (first on line {seen[qid]})", path=str(path), line=n)
        seen[qid] = n
        text = obj.get("question", obj.get("text"))
        if not isinstance(text, str) or not text.strip():
            raise InputError(f'question {qid!r} has no "question" text', path=str(path), line=n)
        answer = obj.get("answer")
        if answer is not None and not isinstance(answer, str):
            raise InputError(f'"answer" of {qid!r} must be a string or absent', path=str(path), line=n)
        meta = {k: v for k, v in obj.items() if k not in ("id", "_id", "question", "text", "answer")}
        questions.append(Question(qid, text.strip(), answer.strip() if answer else None, meta))
    if not questions:
        raise KbqaError(f"{path}: no questions found; expected one JSON object per line")
    return questions


def load_corpus_ids(path: str | Path) -> list[str]:
    """Document ids of a corpus.jsonl, refusing missing or duplicate ids and records without text."""
    ids: list[str] = []
    seen: dict[str, int] = {}
    for n, obj in iter_jsonl(path):
        doc_id = _id(obj, str(path), n)
        if doc_id in seen:
            raise InputError(f"duplicate document id {doc_id!r} (first on line {seen[doc_id]})", path=str(path), line=n)
        if not isinstance(obj.get("text"), str):
            raise InputError(f'document {doc_id!r} has no "text" string', path=str(path), line=n)
        seen[doc_id] = n
        ids.append(doc_id)
    return ids


def _grade(text: str) -> int | None:
    """An integer grade; "1.0" is accepted (some tools write floats), "0.5" or "high" are not."""
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if value.is_integer() else None


class _TrecLines:
    """A qrels file as the TREC lines ``ir_measures.read_trec_qrels`` parses, checked on the way: comments,
    blank lines and a BEIR header are dropped, BEIR's three columns get TREC's iteration column, and
    grades must be integers ("1.0" is written "1"). ``line`` is the file line of the last one given."""

    def __init__(self, f: Iterable[str], path: str) -> None:
        self.f, self.path, self.line = f, path, 0

    def read(self, *_: Any) -> str:  # ir_measures takes anything with .read() as an open file and iterates it
        raise NotImplementedError("iterate instead")

    def __iter__(self) -> Iterator[str]:
        for n, line in enumerate(self.f, 1):
            self.line = n
            parts = line.split()
            if not parts or parts[0].startswith("#"):
                continue
            if n == 1 and parts[0].lower() in QRELS_HEADERS:
                continue  # BEIR header
            if len(parts) == 3:
                parts.insert(1, "0")
            elif len(parts) != 4:
                raise InputError(
                    f"expected 4 fields 'qid 0 docid grade' (or 3: 'qid docid grade'), got {len(parts)}: {line.strip()!r}",
                    path=self.path,
                    line=n,
                )
            grade = _grade(parts[3])
            if grade is None:
                raise InputError(f"grade must be an integer, got {parts[3]!r}", path=self.path, line=n)
            yield " ".join([*parts[:3], str(grade)])


def load_qrels(
    path: str | Path,
    *,
    question_ids: Iterable[str] | None = None,
    doc_ids: Iterable[str] | None = None,
) -> list[Qrel]:
    """Judgements from a qrels file (parsed by ``ir_measures.read_trec_qrels``), checked against the
    known question and document ids when given."""
    import ir_measures

    p = Path(path)
    if not p.is_file():
        raise KbqaError(f"qrels file not found: {p}")
    known_q = set(question_ids) if question_ids is not None else None
    known_d = set(doc_ids) if doc_ids is not None else None
    qrels: list[Qrel] = []
    seen: set[tuple[str, str]] = set()
    with p.open(encoding="utf-8") as f:
        lines = _TrecLines(f, str(p))
        for r in ir_measures.read_trec_qrels(lines):
            qid, doc_id, n = r.query_id, r.doc_id, lines.line
            if known_q is not None and qid not in known_q:
                raise InputError(f"unknown question id {qid!r}: not in the questions file", path=str(p), line=n)
            if known_d is not None and doc_id not in known_d:
                raise InputError(
                    f"unknown document id {doc_id!r}: not in the corpus/index; rebuild the index from the "
                    "benchmark's corpus or remove the line",
                    path=str(p),
                    line=n,
                )
            if (qid, doc_id) in seen:
                raise InputError(f"duplicate judgement for question {qid!r} and document {doc_id!r}", path=str(p), line=n)
            seen.add((qid, doc_id))
            qrels.append(Qrel(qid, doc_id, int(r.relevance)))
    if not qrels:
        raise KbqaError(f"{p}: no judgements found; expected lines 'qid 0 docid grade'")
    return qrels


@dataclass(frozen=True)
class QrelsFit:
    """The judgements of a qrels file that apply to the questions being scored (see :func:`fit_qrels`)."""

    qrels: list[Qrel]
    unasked_questions: int  # judged questions absent from the questions file: their lines are skipped
    skipped_lines: int
    missing_documents: int  # judgements naming documents the index lacks: kept (relevant, never retrieved)

    def warnings(self) -> list[str]:
        out = []
        if self.unasked_questions:
            out.append(f"{self.skipped_lines} judgements of {self.unasked_questions} questions that are not in the "
                       "questions file were skipped (scoring a subset, as trec_eval does)")
        if self.missing_documents:
            out.append(f"{self.missing_documents} judgements name documents that are not in the index; they count "
                       "as relevant and never retrieved (rebuild the index from the benchmark's corpus if unintended)")
        return out

    def summary(self) -> dict[str, int]:
        return {"judgements": len(self.qrels), "skipped_lines": self.skipped_lines,
                "unasked_questions": self.unasked_questions, "missing_documents": self.missing_documents}


def fit_qrels(qrels: Sequence[Qrel], question_ids: Iterable[str], doc_ids: Iterable[str] | None = None) -> QrelsFit:
    """Keep the judgements of the questions asked; count (not refuse) the others and the judged
    documents missing from ``doc_ids``. A qrels file that judges none of the questions is an error."""
    asked = set(question_ids)
    kept = [r for r in qrels if r.qid in asked]
    if not kept:
        example = qrels[0].qid if qrels else "?"
        raise KbqaError(f"the qrels judge none of the {len(asked)} questions (e.g. judged question {example!r} is not "
                        "asked): wrong qrels or questions file?")
    known = set(doc_ids) if doc_ids is not None else None
    return QrelsFit(
        qrels=kept,
        unasked_questions=len({r.qid for r in qrels if r.qid not in asked}),
        skipped_lines=len(qrels) - len(kept),
        missing_documents=0 if known is None else sum(r.doc_id not in known for r in kept),
    )


def write_benchmark(
    out_dir: str | Path,
    corpus: Iterable[dict[str, Any]],
    questions: Iterable[Question],
    qrels: Iterable[Qrel],
    *,
    info: dict[str, Any] | None = None,
) -> dict[str, int]:
    """Write corpus.jsonl, questions.jsonl, qrels.tsv (and info.json) into ``out_dir``; returns counts."""
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    counts = {"documents": 0, "questions": 0, "qrels": 0}
    counts["documents"] = write_jsonl(d / "corpus.jsonl", corpus, ensure_ascii=False)
    counts["questions"] = write_jsonl(d / "questions.jsonl", (
        {"id": q.qid, "question": q.question, **({"answer": q.answer} if q.answer is not None else {}), **q.meta}
        for q in questions), ensure_ascii=False)
    with (d / "qrels.tsv").open("w", encoding="utf-8") as f:
        for r in qrels:
            f.write(f"{r.qid}\t0\t{r.doc_id}\t{r.grade}\n")
            counts["qrels"] += 1
    if info is not None:
        (d / "info.json").write_text(json.dumps({**info, "counts": counts}, indent=1) + "\n", encoding="utf-8")
    return counts
