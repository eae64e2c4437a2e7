"""Training triplets (query, positive passage, hard negative) for the retrieval models: the dataset
adapters, each giving a :class:`~kbqa.tune.mining.Source`, and :func:`build_triplets`, which mines them
(:mod:`kbqa.tune.mining`).

Only train parts are used: MedQuAD pairs of ``eval/splits/medquad.json`` (split by focus, so
sibling questions of a dev topic never appear), PubMedQA questions of ``eval/splits/pubmedqa.json``,
and the claims data's ``train.jsonl`` (claim -> evidence sentence, labels yes/no), leaving out any
evidence text that also occurs in that dataset's dev or test files.

Passages are what an index stores: documents chunked by :class:`kbqa.chunk.Chunker` with the
default :class:`~kbqa.config.ChunkConfig`, embedded as ``title + "\\n\\n" + chunk``. The positive is
the first chunk of the answer (answers open with their definition or main statement). Negatives
come from the same source's train passages; a document answers a query (and gives no negative for
it) when, for MedQuAD, it is on the same focus with the same answer text or question type. Other
answers on the same topic (its symptoms when the question asks for its cause) stay: they are the
hardest useful negatives.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kbqa.files import sha256_file
from kbqa.errors import KbqaError
from kbqa.paths import load_split, split_part, split_path
from kbqa.tune.mining import MIX, Source, allocate, mine

DEFAULT_DATA = {
    "medquad": "../shared/data/medquad",
    "pubmedqa": "../shared/data/pubmedqa/pqal_traindev.json",
    "claims": "../shared/data/claims",
    "liveqa": "../shared/data/liveqa_train",
}
DEFAULT_SPLITS = {"medquad": "eval/splits/medquad.json", "pubmedqa": "eval/splits/pubmedqa.json",
                  "liveqa": "eval/splits/liveqa.json"}  # found by kbqa.paths


def _add_documents(src: Source, docs: Sequence[Any], chunker: Any) -> dict[str, str]:
    """Chunk ``docs`` into the source's pool; returns document id -> first chunk id."""
    from kbqa.chunk import embed_text

    first: dict[str, str] = {}
    for doc in docs:
        for chunk in chunker.split(doc):
            src.passages[chunk.chunk_id] = embed_text(chunk, chunker.cfg)
            src.passage_doc[chunk.chunk_id] = doc.doc_id
            first.setdefault(doc.doc_id, chunk.chunk_id)
    return first


def medquad_source(chunker: Any, data: str | Path, split: str | Path) -> Source:
    from kbqa.evaluate.export import focus_key, medquad_pairs
    from kbqa.types import Document

    pairs = medquad_pairs(data)
    train = set(split_part(split, "train"))
    dev = set(split_part(split, "dev"))
    if train & dev:
        raise KbqaError(f"{split}: train and dev share {len(train & dev)} ids")
    # a pair answers another pair's question if it is on the same focus and has the same answer
    # text or the same question type (another collection's "What causes X?" is no negative for it)
    by_answer: dict[tuple[str, str], set[str]] = {}
    for d in pairs:
        by_answer.setdefault((focus_key(d), " ".join(d.text.split())), set()).add(d.doc_id)
        by_answer.setdefault((focus_key(d), "qtype:" + str(d.meta.get("qtype", ""))), set()).add(d.doc_id)
    docs = [d for d in pairs if d.doc_id in train]
    # as the benchmark corpus stores them: title = the topic, never the question
    passages = [Document(d.doc_id, d.text, str(d.meta.get("focus", "")), d.meta) for d in docs]
    src = Source("medquad", files={str(split): sha256_file(split_path(split))})
    first = _add_documents(src, passages, chunker)
    for d in docs:
        answering = frozenset(
            by_answer[(focus_key(d), " ".join(d.text.split()))]
            | by_answer[(focus_key(d), "qtype:" + str(d.meta.get("qtype", "")))]
        )
        src.queries.append((d.doc_id, d.title, first[d.doc_id], answering))
    return src


def pubmedqa_source(chunker: Any, data: str | Path, split: str | Path) -> Source:
    from kbqa.corpus import iter_documents

    raw = json.loads(Path(data).read_text(encoding="utf-8"))
    train = split_part(split, "train")
    keep = set(train)
    docs = [d for d in iter_documents(Path(data), "pubmedqa") if d.doc_id in keep]
    src = Source("pubmedqa", files={str(data): sha256_file(data), str(split): sha256_file(split_path(split))})
    first = _add_documents(src, docs, chunker)
    for pmid in train:
        if pmid in first:
            src.queries.append((pmid, raw[pmid]["QUESTION"], first[pmid], frozenset([pmid])))
    return src


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    from kbqa.jsonlines import iter_jsonl

    return [row for _, row in iter_jsonl(path, required=("question", "context"))]


def claims_source(chunker: Any, root: str | Path) -> Source:
    """Claim -> evidence sentence (label yes/no) of every ``<dataset>/train.jsonl`` under ``root``."""
    from kbqa.types import Document

    src = Source("claims")
    datasets = sorted(p.parent for p in Path(root).glob("*/train.jsonl"))
    if not datasets:
        raise KbqaError(f"{root}: no <dataset>/train.jsonl files; pass the claims folder (../shared/data/claims)")
    docs: dict[str, Document] = {}
    answering: dict[tuple[str, str], set[str]] = {}
    claim_rows: list[tuple[str, str, str]] = []
    for ds in datasets:
        held_out: set[str] = set()
        for part in ("dev.jsonl", "test.jsonl"):
            if (ds / part).is_file():
                src.files[str(ds / part)] = sha256_file(ds / part)
                held_out |= {" ".join(str(r["context"]).split()) for r in _read_jsonl(ds / part)}
        src.files[str(ds / "train.jsonl")] = sha256_file(ds / "train.jsonl")
        for row in _read_jsonl(ds / "train.jsonl"):
            context = " ".join(str(row.get("context", "")).split())
            claim = str(row.get("question", "")).strip()
            if not context or not claim or context in held_out:
                continue
            doc_id = f"{ds.name}:{hashlib.sha1(context.encode()).hexdigest()[:12]}"
            docs.setdefault(doc_id, Document(doc_id, context))
            if row.get("label") in ("yes", "no"):  # "maybe" rows pair a claim with unrelated text
                answering.setdefault((ds.name, claim), set()).add(doc_id)
                claim_rows.append((ds.name, claim, doc_id))
    _add_documents(src, list(docs.values()), chunker)
    first = {}
    for cid, did in src.passage_doc.items():
        first.setdefault(did, cid)
    seen = set()
    for ds_name, claim, doc_id in claim_rows:
        if (claim, doc_id) in seen:
            continue
        seen.add((claim, doc_id))
        qid = f"{doc_id}:{hashlib.sha1(claim.encode()).hexdigest()[:8]}"
        src.queries.append((qid, claim, first[doc_id], frozenset(answering[(ds_name, claim)])))
    return src


def liveqa_source(
    chunker: Any, data: str | Path, split: str | Path, holdout: int | None, medquad: str | Path,
    medquad_split: str | Path,
) -> Source:
    """Real consumer questions (LiveQA) in cross-validation: every question outside fold ``holdout`` of
    ``eval/splits/liveqa.json`` -> each of its reference answers. LiveQA is all dev, so it trains only
    this way, and a model trained so is scored on fold ``holdout`` alone. ``holdout=None`` is the final
    fit after the cross-validation: every fold trains, and no LiveQA question can score the model any more.

    Documents are what ``kbqa eval export liveqa`` writes (identical answer texts merged under the first
    answer's id; MedQuAD pairs with the same text answer too). The pool holds the train folds' answers
    and MedQuAD's train-split pairs (the benchmark's distractors: negatives from a general collection,
    not only from LiveQA's own answers); nothing that answers a held-out question is in it.
    """
    from kbqa.corpus.liveqa import read_folder
    from kbqa.evaluate.export import medquad_pairs
    from kbqa.types import Document

    folds = load_split(split).get("folds")
    if not isinstance(folds, list) or not folds:
        raise KbqaError(f"{split_path(split)} has no folds; cross-validation needs them (eval/splits/make_liveqa_split.py)")
    if holdout is not None and not 0 <= holdout < len(folds):
        raise KbqaError(f"--liveqa-holdout {holdout}: {split_path(split)} has folds 0-{len(folds) - 1} (or none)")
    held = set(folds[holdout]) if holdout is not None else set()
    items = read_folder(data)

    def norm(text: str) -> str:
        return " ".join(text.split()).lower()

    doc_of_text: dict[str, str] = {}
    answers: dict[str, Document] = {}
    for q in items:  # the same canonical ids as the exported benchmark
        for sub in q.subs:
            for answer_id, text in sub.answers:
                if norm(text) not in doc_of_text:
                    doc_of_text[norm(text)] = answer_id
                    answers[answer_id] = Document(answer_id, text, sub.focus, {"source": "liveqa"})
    relevant = {q.qid: list(dict.fromkeys(doc_of_text[norm(t)] for s in q.subs for _, t in s.answers)) for q in items}
    held_docs = {d for q in items if q.qid in held for d in relevant[q.qid]}
    held_texts = {norm(answers[d].text) for d in held_docs}
    same_text: dict[str, set[str]] = {}
    pool = [d for d in answers.values() if d.doc_id not in held_docs]
    medquad_train = set(split_part(medquad_split, "train"))
    for d in medquad_pairs(medquad):
        if norm(d.text) in doc_of_text:
            same_text.setdefault(doc_of_text[norm(d.text)], set()).add(d.doc_id)
        if d.doc_id in medquad_train and norm(d.text) not in held_texts:
            pool.append(Document(d.doc_id, d.text, str(d.meta.get("focus", "")), d.meta))
    src = Source("liveqa", files={str(split): sha256_file(split_path(split)),
                                  str(medquad_split): sha256_file(split_path(medquad_split))})
    for f in sorted({q.source for q in items}):
        src.files[str(Path(data) / f)] = sha256_file(Path(data) / f)
    first = _add_documents(src, pool, chunker)
    for q in items:
        if q.qid in held or not q.text:
            continue
        answering = frozenset(d for rel in relevant[q.qid] for d in [rel, *same_text.get(rel, ())])
        for rel in relevant[q.qid]:
            if rel in first:
                src.queries.append((f"{q.qid}:{rel}", q.text, first[rel], answering))
    return src


def build_triplets(
    encoder: Any,
    chunker: Any,
    *,
    sources: Sequence[str] = ("medquad", "pubmedqa", "claims"),
    data: dict[str, str] | None = None,
    splits: dict[str, str] | None = None,
    max_pairs: int = 12000,
    seed: int = 0,
    mine_index: dict[str, str] | None = None,
    negatives: int = 1,
    liveqa_holdout: int | str | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Training rows of every requested source (``MIX`` shares of ``max_pairs`` queries; see
    :func:`mine` for ``negatives``) and a description of them. ``liveqa`` needs ``liveqa_holdout``:
    the cross-validation fold left out (LiveQA is all dev), or ``"none"`` for the final fit on every fold."""
    data = {**DEFAULT_DATA, **(data or {})}
    unknown_splits = sorted(set(splits or {}) - set(DEFAULT_SPLITS))
    if unknown_splits:
        raise KbqaError(f"--split {unknown_splits[0]}=...: only {sorted(DEFAULT_SPLITS)} have split files")
    for name, path in (splits or {}).items():
        if not split_path(path).is_file():
            raise KbqaError(f"--split {name}={path}: no such split file (make one with eval/splits/make_*_split.py)")
    splits = {**DEFAULT_SPLITS, **(splits or {})}
    unknown = sorted(set(sources) - set(MIX))
    if unknown:
        raise KbqaError(f"unknown training source(s) {unknown}; choose from {sorted(MIX)}")
    if "liveqa" in sources and liveqa_holdout is None:
        raise KbqaError("liveqa is a dev set: it trains only in cross-validation; pass --liveqa-holdout K "
                        "(the fold of eval/splits/liveqa.json left out) and score the model on that fold alone, "
                        "or --liveqa-holdout none for the final fit on every fold (no LiveQA dev left)")
    if isinstance(liveqa_holdout, str) and liveqa_holdout != "none":
        raise KbqaError(f"--liveqa-holdout {liveqa_holdout!r}: a fold number or none")
    built: dict[str, Source] = {}
    for name in sources:
        if not Path(data[name]).exists():
            raise KbqaError(f"{name} data not found at {data[name]}; pass --data {name}=PATH")
        if name == "medquad":
            built[name] = medquad_source(chunker, data[name], splits[name])
        elif name == "pubmedqa":
            built[name] = pubmedqa_source(chunker, data[name], splits[name])
        elif name == "liveqa":
            built[name] = liveqa_source(chunker, data[name], splits[name],
                                        None if liveqa_holdout == "none" else int(liveqa_holdout or 0),
                                        data["medquad"], splits["medquad"])
        else:
            built[name] = claims_source(chunker, data[name])
    quota = allocate({n: len(s.queries) for n, s in built.items()}, max_pairs)
    triplets: list[dict[str, Any]] = []
    for name, src in built.items():
        triplets += mine(src, encoder, quota[name], seed, reuse_index=(mine_index or {}).get(name), negatives=negatives)
    info = {
        "sources": {
            n: {"train_queries": len(s.queries), "pool_passages": len(s.passages), "taken": quota[n],
                "triplets": sum(t["source"] == n for t in triplets)}
            for n, s in built.items()
        },
        "files": {f: h for s in built.values() for f, h in s.files.items()},
        "negatives_by": {
            b: sum(by == b for t in triplets for by in ([t["neg_by"]] if negatives == 1 else t["neg_by"]))
            for b in ("bm25", "dense")
        },
    }
    return triplets, info
