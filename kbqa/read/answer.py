"""``answer(kb, question)``: retrieve, read every passage, aggregate into a calibrated verdict with evidence."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from kbqa.errors import KbqaError
from kbqa.read.aggregate import (
    AggregationParams,
    aggregate,
    dedupe,
    document_weights,
    group_by_document,
    passage_weights,
    question_type,
    sentences,
    stance,
)
from kbqa.read.reader import Reader, check_question
from kbqa.types import Answer, Evidence, Hit

_READERS: dict[str, Reader] = {}


def _reader(reader: Reader | str | None) -> Reader:
    if isinstance(reader, Reader):
        return reader
    from kbqa.read.reader import default_reader_dir

    key = str(reader if reader is not None else default_reader_dir())
    if key not in _READERS:  # loading costs seconds: keep one per folder
        _READERS[key] = Reader.load(key)
    return _READERS[key]


def answer(
    kb: Any,
    question: str,
    k: int = 10,
    reader: Reader | str | None = None,
    *,
    threshold: float | None = None,
    params: AggregationParams = AggregationParams(),
    highlight_top: int = 5,
    filters: dict | None = None,
) -> Answer:
    """Answer one question over ``kb`` (a KnowledgeBase). ``threshold`` overrides the reader's dev-fitted one."""
    q = check_question(question)
    hits = kb.search(q, k=k, filters=filters)
    return answer_from_hits(
        q, hits, _reader(reader), threshold=threshold, params=params, highlight_top=highlight_top,
        encoder=getattr(kb, "encoder", None),
        provenance={"index_fingerprint": getattr(kb, "fingerprint", None), "k": k, **_reranker(kb)},
    )


def _reranker(kb: Any) -> dict[str, Any]:
    reranker = getattr(kb, "reranker", None)
    if reranker is None:
        return {}
    ident = reranker.identity()
    return {"reranker": ident["name"], "reranker_sha256": ident["weights_sha256"]}


def answer_from_hits(
    question: str,
    hits: Sequence[Hit],
    reader: Reader,
    *,
    threshold: float | None = None,
    params: AggregationParams = AggregationParams(),
    highlight_top: int = 5,
    encoder: Any = None,
    provenance: dict | None = None,
    probs: np.ndarray | None = None,
) -> Answer:
    """The verdict over already retrieved ``hits`` (best first).

    ``probs`` (rows for ``dedupe(hits)``, from ``reader.predict_proba``) skips the reader call, so
    batch evaluations can read every question's passages in one pass."""
    from kbqa import __version__

    q = check_question(question)
    qtype = question_type(q)
    labels = reader.labels
    cut = reader.calibration.threshold if threshold is None else float(threshold)
    prov = {
        "kbqa_version": __version__,
        **(provenance or {}),
        "reader": str(reader.model_dir),
        "reader_sha256": reader.checksum,
        "temperature": reader.calibration.temperature,
        "threshold": cut,
    }
    kept = dedupe(hits)
    if not kept:
        uniform = {lab: 1.0 / len(labels) for lab in labels}
        verdict = "maybe" if "maybe" in labels else labels[0]
        return Answer(q, verdict, True, 1.0 / len(labels), uniform, [], qtype, {**prov, "reason": "no evidence found"})

    if probs is None:
        probs = reader.predict_proba([(q, h.text) for h in kept])
    elif len(probs) != len(kept):
        raise KbqaError(f"got {len(probs)} probability rows for {len(kept)} distinct passages")
    selected = (select_sentences(kept, reader.selector, params)
                if reader.selector is not None and params.read_documents > 0 and qtype == "yes_no" else [])
    if selected:  # the verdict from the conclusion-like sentences of the best documents
        sel_p = reader.predict_proba([(q, text) for _, text, _ in selected])
        w = document_weights([score for _, _, score in selected], params)
        verdict_p = (w[:, None] * sel_p).sum(0) / w.sum()
        prov["verdict_read"] = [{"doc_id": d, "text": t, "probabilities": dict(zip(labels, map(float, p)))}
                                for (d, t, _), p in zip(selected, sel_p)]
    else:
        verdict_p = aggregate(probs, [h.score for h in kept], params)
    verdict = labels[int(np.argmax(verdict_p))]
    confidence = float(verdict_p.max())
    abstained = qtype != "yes_no" or confidence < cut
    if qtype != "yes_no":
        prov["reason"] = "not a yes/no question: showing the most relevant evidence"
    elif abstained:
        prov["reason"] = f"confidence {confidence:.2f} below the threshold {cut:.2f}"

    weights = passage_weights([h.score for h in kept], probs, params)
    order = group_by_document(list(np.argsort(-weights, kind="stable")), [h.doc_id for h in kept])
    highlights = _highlights(q, kept, probs, order[:highlight_top], reader, qtype, encoder, labels)
    evidence = []
    for i in order:
        p = {lab: float(v) for lab, v in zip(labels, probs[i])}
        st, sp = stance(p) if qtype == "yes_no" else ("neutral", p.get("maybe", max(p.values())))
        evidence.append(Evidence(hit=kept[i], stance=st, probability=sp, probabilities=p, highlight=highlights.get(i)))
    return Answer(
        question=q,
        verdict=verdict,
        abstained=abstained,
        confidence=confidence,
        probabilities={lab: float(v) for lab, v in zip(labels, verdict_p)},
        evidence=evidence,
        question_type=qtype,
        provenance=prov,
    )


def select_sentences(hits: Sequence[Hit], selector: Any, params: AggregationParams) -> list[tuple[str, str, float]]:
    """``(doc_id, text, best score)`` for the ``params.read_documents`` best documents among ``hits``: each
    document's ``params.selected_sentences`` most conclusion-like sentences (from its retrieved passages,
    in document order), joined."""
    docs: dict[str, list[Hit]] = {}
    for h in hits:  # retrieval order: the first documents seen are the best
        docs.setdefault(h.doc_id, []).append(h)
    out = []
    for doc_id, group in list(docs.items())[: params.read_documents]:
        at: dict[str, int] = {}  # sentence -> its offset in the document (overlapping passages repeat some)
        for h in sorted(group, key=lambda h: h.start):
            for a, b in sentences(h.text):
                at.setdefault(h.text[a:b], h.start + a)
        texts = sorted(at, key=at.__getitem__)
        picked = selector.pick(texts, params.selected_sentences)
        if picked:
            out.append((doc_id, " ".join(texts[i] for i in picked), max(h.score for h in group)))
    return out


def _highlights(
    question: str, hits: Sequence[Hit], probs: np.ndarray, which: Sequence[int], reader: Reader,
    qtype: str, encoder: Any, labels: list[str],
) -> dict[int, tuple[int, int]]:
    """Per passage, the sentence that most drives its label (reader on each sentence); for open
    questions, the sentence closest to the question (embedding similarity) when an encoder is given."""
    spans = {i: sentences(hits[i].text) for i in which}
    pairs = [(i, s) for i in which for s in spans[i]]
    if not pairs:
        return {}
    texts = [hits[i].text[a:b] for i, (a, b) in pairs]
    if qtype == "yes_no" or encoder is None:
        sp = reader.predict_proba([(question, t) for t in texts])
        score = np.array([sp[j, int(np.argmax(probs[i]))] for j, (i, _) in enumerate(pairs)])
    else:
        qv = encoder.encode_queries([question])[0]
        score = encoder.encode_passages(texts) @ qv
    best: dict[int, tuple[float, tuple[int, int]]] = {}
    for j, (i, span) in enumerate(pairs):
        if i not in best or score[j] > best[i][0]:
            best[i] = (float(score[j]), span)
    return {i: span for i, (_, span) in best.items()}
