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
- LiveQA (TREC 2017 LiveQA medical training questions, real consumer messages to the NLM): questions =
  the messages as sent (subject line + message; ``short``: the subject line + the message's first
  sentence), all of them dev (eval/splits/liveqa.json); corpus = every reference answer (identical
  texts merged into one document, title = the sub-question's focus) plus every answered MedQuAD pair
  as distractors (title = focus, as in the MedQuAD benchmark); qrels = the answers of the question's
  sub-questions, grade 1, plus any MedQuAD pair whose text is identical to one of them.
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

DEFAULT_DATA = {"pubmedqa": "../shared/data/pubmedqa/pqal_traindev.json", "medquad": "../shared/data/medquad",
                "liveqa": "../shared/data/liveqa_train"}
DEFAULT_SPLIT = {"pubmedqa": "eval/splits/pubmedqa.json", "medquad": "eval/splits/medquad.json",
                 "liveqa": "eval/splits/liveqa.json"}  # found by kbqa.paths


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
        "benchmark": f"{Path(str(split)).stem if str(split) != DEFAULT_SPLIT['medquad'] else 'medquad'}-{part}",
        "data": str(data), "split": str(split), "part": part,
        "corpus_title": "focus (topic), not the question",
        "qrels": "own answer grade 1, plus pairs on the same focus with an identical answer text grade 1",
    })


def export_liveqa(
    out_dir: str | Path, data: str | Path = DEFAULT_DATA["liveqa"], split: str | Path = DEFAULT_SPLIT["liveqa"],
    part: str = "dev", *, short: bool = False, distractors: str | Path | None = DEFAULT_DATA["medquad"],
) -> dict[str, Any]:
    """Write the LiveQA benchmark (real consumer questions over their answers + MedQuAD) to ``out_dir``.

    ``short``: each question is its subject line and the first sentence of its message.
    ``distractors``: the MedQuAD folder whose answered pairs join the corpus (None: the answers alone).
    """
    from kbqa.corpus.liveqa import read_folder

    items = {q.qid: q for q in read_folder(data)}
    wanted = split_part(split, part)
    missing = [i for i in wanted if i not in items]
    if missing:
        raise KbqaError(f"{split}: {len(missing)} question ids (e.g. {missing[0]}) are not in {data}; wrong data folder?")

    def norm(text: str) -> str:
        return " ".join(text.split()).lower()

    corpus: list[dict[str, Any]] = []
    doc_of_text: dict[str, str] = {}
    for q in items.values():  # every answer joins the corpus, whichever questions are exported
        for sub in q.subs:
            for answer_id, text in sub.answers:
                if norm(text) not in doc_of_text:
                    doc_of_text[norm(text)] = answer_id
                    corpus.append({"id": answer_id, "title": sub.focus, "text": text, "source": "liveqa",
                                   "question_type": sub.qtype})
    same_text: dict[str, list[str]] = {}
    n_distractors = 0
    if distractors is not None:
        for d in medquad_pairs(distractors):
            corpus.append(_corpus_record(d, title=str(d.meta.get("focus", ""))))
            n_distractors += 1
            if norm(d.text) in doc_of_text:
                same_text.setdefault(doc_of_text[norm(d.text)], []).append(d.doc_id)
    questions, qrels = [], []
    for qid in wanted:
        q = items[qid]
        text = q.short_text if short else q.text
        if not text:
            continue  # nothing was asked (no subject, no message)
        relevant = list(dict.fromkeys(doc_of_text[norm(t)] for sub in q.subs for _, t in sub.answers))
        if not relevant:
            continue
        questions.append(Question(qid, text, None, {"focus": [s.focus for s in q.subs],
                                                    "types": [s.qtype for s in q.subs], "source": q.source}))
        qrels += [Qrel(qid, doc, 1) for rel in relevant for doc in [rel, *same_text.get(rel, [])]]
    out = Path(out_dir)
    counts = write_benchmark(out, corpus, questions, qrels)
    return _finish(out, counts, {
        "benchmark": "liveqa-train" + ("-short" if short else ""), "data": str(data), "split": str(split),
        "part": part, "question_text": "subject + first sentence of the message" if short else "subject + message",
        "distractors": None if distractors is None else {"medquad": str(distractors), "documents": n_distractors},
        "corpus_title": "focus (topic), not the question",
        "qrels": "the answers of the question's sub-questions grade 1 (identical texts merged), plus MedQuAD pairs "
                 "with an identical text grade 1",
    })


EXPORTERS = {"pubmedqa": export_pubmedqa, "medquad": export_medquad, "liveqa": export_liveqa}
