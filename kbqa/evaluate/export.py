"""Adapters from the datasets we have to the generic benchmark format (``kbqa eval export``).

- PubMedQA (ori_pqal.json): corpus = every abstract (via the pubmedqa loader: contexts + conclusion,
  no question, no label); questions = one part of the committed split (eval/splits/pubmedqa.json),
  answer = ``final_decision`` (yes/no/maybe); qrel = the question's own PMID, grade 1.
- MedQuAD (XML tree): corpus = every answered pair (via the medquad loader), doc id = the loader's
  pair id, title = the topic (``Focus``) instead of the question so a question never matches itself;
  questions = one part of eval/splits/medquad.json (split by focus); qrel = the pair's own answer,
  grade 1, plus any other pair on the same focus whose answer text is identical (MedQuAD repeats
  whole topic files, e.g. CancerGov), grade 1 too, so an unavoidable tie is not scored as a miss.
  Boilerplate answers shared across topics ("This condition is inherited in an autosomal recessive
  pattern...") are not merged: they answer about another condition.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kbqa.files import sha256_file
from kbqa.errors import KbqaError
from kbqa.evaluate.benchmark import Qrel, Question, write_benchmark
from kbqa.paths import split_part
from kbqa.types import Document

DEFAULT_DATA = {"pubmedqa": "../shared/data/pubmedqa/pqal_traindev.json", "medquad": "../shared/data/medquad"}
DEFAULT_SPLIT = {"pubmedqa": "eval/splits/pubmedqa.json", "medquad": "eval/splits/medquad.json"}  # found by kbqa.paths


def _documents(path: str | Path, fmt: str) -> Iterator[Document]:
    from kbqa.corpus import iter_documents

    return iter_documents(Path(path), fmt)


def _corpus_record(doc: Document, title: str | None = None) -> dict[str, Any]:
    return {"id": doc.doc_id, "title": doc.title if title is None else title, "text": doc.text, **doc.meta}


def _finish(out_dir: Path, counts: dict[str, int], info: dict[str, Any]) -> dict[str, Any]:
    files = {name: sha256_file(out_dir / name) for name in ("corpus.jsonl", "questions.jsonl", "qrels.tsv")}
    info = {**info, "counts": counts, "sha256": files}
    (out_dir / "info.json").write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    return info


def export_pubmedqa(
    out_dir: str | Path, data: str | Path = DEFAULT_DATA["pubmedqa"], split: str | Path = DEFAULT_SPLIT["pubmedqa"],
    part: str = "dev",
) -> dict[str, Any]:
    """Write the PubMedQA benchmark (``part`` of the split as questions) to ``out_dir``; returns info."""
    raw = json.loads(Path(data).read_text(encoding="utf-8"))
    wanted = split_part(split, part)
    missing = [pmid for pmid in wanted if pmid not in raw]
    if missing:
        raise KbqaError(f"{split}: {len(missing)} PMIDs (e.g. {missing[0]}) are not in {data}; wrong data file?")
    corpus = [_corpus_record(doc) for doc in _documents(data, "pubmedqa")]
    questions = [Question(pmid, raw[pmid]["QUESTION"], raw[pmid]["final_decision"]) for pmid in wanted]
    qrels = [Qrel(pmid, pmid, 1) for pmid in wanted]
    out = Path(out_dir)
    counts = write_benchmark(out, corpus, questions, qrels)
    return _finish(out, counts, {
        "benchmark": f"pubmedqa-{part}", "data": str(data), "split": str(split), "part": part,
        "answers": "yes/no/maybe (final_decision)", "qrels": "own PMID, grade 1",
    })


def medquad_pairs(data: str | Path = DEFAULT_DATA["medquad"]) -> list[Document]:
    """Every answered MedQuAD pair as the medquad loader reads it (title = the question)."""
    return list(_documents(data, "medquad"))


def focus_key(doc: Document) -> str:
    """The grouping key of the split: the topic, case- and space-insensitive."""
    focus = " ".join(str(doc.meta.get("focus", "")).lower().split())
    return focus or f"{doc.meta.get('collection', '')}:{doc.meta.get('document_id', doc.doc_id)}"


def export_medquad(
    out_dir: str | Path, data: str | Path = DEFAULT_DATA["medquad"], split: str | Path = DEFAULT_SPLIT["medquad"],
    part: str = "dev",
) -> dict[str, Any]:
    """Write the MedQuAD question -> answer benchmark (``part`` of the split as questions) to ``out_dir``."""
    pairs = medquad_pairs(data)
    by_id = {d.doc_id: d for d in pairs}
    wanted = split_part(split, part)
    missing = [i for i in wanted if i not in by_id]
    if missing:
        raise KbqaError(f"{split}: {len(missing)} pair ids (e.g. {missing[0]}) are not in {data}; wrong data folder?")
    def key(d: Document) -> tuple[str, str]:
        return focus_key(d), " ".join(d.text.split())

    same_answer: dict[tuple[str, str], list[str]] = {}
    for d in pairs:
        same_answer.setdefault(key(d), []).append(d.doc_id)
    corpus = [_corpus_record(d, title=str(d.meta.get("focus", ""))) for d in pairs]
    questions = [Question(i, by_id[i].title, None, {"qtype": by_id[i].meta.get("qtype", "")}) for i in wanted]
    qrels = [
        Qrel(i, other, 1)
        for i in wanted
        for other in [i] + [o for o in same_answer[key(by_id[i])] if o != i]
    ]
    out = Path(out_dir)
    counts = write_benchmark(out, corpus, questions, qrels)
    return _finish(out, counts, {
        "benchmark": f"medquad-{part}", "data": str(data), "split": str(split), "part": part,
        "corpus_title": "focus (topic), not the question",
        "qrels": "own answer grade 1, plus pairs on the same focus with an identical answer text grade 1",
    })


EXPORTERS = {"pubmedqa": export_pubmedqa, "medquad": export_medquad}
