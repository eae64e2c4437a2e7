"""``answer(kb, question)``: retrieve, read every passage, aggregate into a calibrated verdict with evidence."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from kbqa.errors import KbqaError
from kbqa.numeric import top_k
from kbqa.read.aggregate import (
    OFF_TOPIC,
    AggregationParams,
    aggregate,
    dedupe,
    document_weights,
    group_by_document,
    passage_weights,
    stance,
)
from kbqa.read.question import YES_NO, Coverage, coverage, key_terms, question_type
from kbqa.read.calibrate import Calibration
from kbqa.text import sentence_spans
from kbqa.read.reader import Reader, check_question
from kbqa.intent.answer import open_reason, pick_passages
from kbqa.types import Answer, Evidence, Hit, Intent

_READERS: dict[str, Reader] = {}
Idf = Callable[[Sequence[str]], Mapping[str, float]]  # stems -> their idf in the index searched
OPEN_DEPTH = 30  # passages searched for an open question's answer passages (a yes/no question: k)
HIGHLIGHT_CANDIDATES = 2  # sentences per passage the reader/encoder scores for its highlight (0: all)


def _reader(reader: Reader | str | None) -> Reader:
    if isinstance(reader, Reader):
        return reader
    from kbqa.read.reader import default_reader_dir

    folder = reader if reader is not None else default_reader_dir()
    key = str(folder) if folder is not None else ""
    if key not in _READERS:  # loading costs seconds: keep one per folder
        _READERS[key] = Reader.load(folder)  # None: says how to point kbqa at the models
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
    highlight_candidates: int = HIGHLIGHT_CANDIDATES,
    filters: dict | None = None,
) -> Answer:
    """Answer one question over ``kb`` (a KnowledgeBase). ``threshold`` overrides the reader's dev-fitted one."""
    from kbqa.intent.detect import detect_intent, lexicon_for

    q = check_question(question)
    intent = detect_intent(q, lexicon_for(getattr(kb, "knowledge_base", kb)))
    typed = getattr(getattr(getattr(kb, "config", None), "search", None), "typed", False)
    # an open question's answer passages are picked from a deeper list (they must be of its type about its focus)
    depth = k if question_type(q) == YES_NO else max(k, OPEN_DEPTH)
    hits = kb.search(q, k=depth, filters=filters, intent=intent) if typed else kb.search(q, k=depth, filters=filters)
    return answer_from_hits(
        q, hits, _reader(reader), threshold=threshold, params=params, highlight_top=highlight_top,
        highlight_candidates=highlight_candidates, encoder=getattr(kb, "encoder", None), idf=index_idf(kb),
        provenance={"index_fingerprint": getattr(kb, "fingerprint", None), "k": depth, **_reranker(kb)},
        intent=intent,
    )


def index_idf(kb: Any) -> Idf | None:
    """The idf of terms in ``kb``'s BM25 side (None for an index built without one: equal weights)."""
    lexical = getattr(kb, "lexical", None)
    return None if lexical is None else lexical.idf


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
    highlight_candidates: int = HIGHLIGHT_CANDIDATES,
    encoder: Any = None,
    provenance: dict | None = None,
    probs: np.ndarray | None = None,
    idf: Idf | None = None,
    intent: Intent | None = None,
) -> Answer:
    """The verdict over already retrieved ``hits`` (best first).

    Each of the ``highlight_top`` first evidence passages gets a highlight: its sentences are
    pre-ranked cheaply (words shared with the question, plus conclusion-likeness for yes/no
    questions when the reader has a selector) and the ``highlight_candidates`` best of each are
    scored by the reader (yes/no: the sentence that most supports the passage's label) or by the
    encoder (open questions: the sentence closest to the question); 0 scores every sentence.
    Open questions (what/which/how...) are not read at all: a yes/no/maybe reading of them means
    nothing, so their evidence is ordered by retrieval and the verdict is ``maybe``, abstained.

    A yes/no question is answered only from a best document that addresses it
    (:meth:`AggregationParams.addresses`: enough of the question's key-term weight, words weighted
    by ``idf``, the index's BM25 idf, so "risk" counts little and "lactic acidosis" a lot, and no
    heavy concept missing). Passages of documents that do not address it are listed with stance
    ``off_topic``. When the best document does not, the answer abstains with "insufficient
    evidence", naming what is missing in the question's own words, and its probabilities are the
    reader's prior (``params.off_topic_verdict``).

    ``probs`` (rows for ``dedupe(hits)``, from ``reader.predict_proba``) skips the reader call, so
    batch evaluations can read every question's passages in one pass.

    With an ``intent`` (kbqa.intent.detect), an open question is answered extractively by
    ``answer_passages``: the best few passages of its type about its focus, deduplicated
    (:func:`kbqa.intent.answer.pick_passages`); it abstains only when there is none."""
    from kbqa.version import __version__

    q = check_question(question)
    qtype = question_type(q)
    labels = reader.labels
    prov = {
        "kbqa_version": __version__,
        **(provenance or {}),
        "reader": str(reader.model_dir),
        "reader_sha256": reader.checksum,
        "reader_precision": reader.precision,
    }
    kept = dedupe(hits)
    if not kept:
        uniform = {lab: 1.0 / len(labels) for lab in labels}
        verdict = "maybe" if "maybe" in labels else labels[0]
        return Answer(q, verdict, True, 1.0 / len(labels), uniform, [], qtype,
                      {**prov, **_calibration(reader.calibration, threshold),
                       "reason": "insufficient evidence: nothing was retrieved"}, intent=intent)

    if probs is not None and len(probs) != len(kept):
        raise KbqaError(f"got {len(probs)} probability rows for {len(kept)} distinct passages")
    uniform = np.full((len(kept), len(labels)), 1.0 / len(labels))
    by_reader = qtype == YES_NO
    if not by_reader:  # a yes/no/maybe reading of "what/which/how" questions means nothing: not run
        probs = uniform
    elif probs is None:
        probs = reader.predict_proba([(q, h.text) for h in kept])
    covered = _document_coverage(q, kept, idf) if by_reader else {}
    on_topic = {d for d, c in covered.items() if params.addresses(c)}
    # the verdict is read from the best document: when it does not address the question, nothing
    # retrieved is taken to (reading a lower-ranked one let more unrelated answers through on dev)
    best = kept[0].doc_id
    off_topic = by_reader and best not in on_topic
    relevant = np.array([not covered or h.doc_id in on_topic for h in kept])
    rows = list(np.flatnonzero(relevant)) or list(range(len(kept)))  # the passages read into the verdict
    selected = (select_sentences(kept, reader.selector, params)
                if reader.selector is not None and params.read_documents > 0 and by_reader else [])
    weights = passage_weights([h.score for h in kept], probs, params)
    order = group_by_document(list(np.lexsort((-weights, ~relevant))), [h.doc_id for h in kept])
    # open question without an encoder: the sentence sharing most words with the question, unscored
    lexical_only = not by_reader and encoder is None
    picked = pick_passages(kept, intent) if not by_reader and intent is not None else []
    shown = list(dict.fromkeys([*order[:highlight_top], *picked]))
    pairs = _sentence_pairs(q, kept, shown, 1 if lexical_only else highlight_candidates,
                            reader.selector if by_reader else None)
    # one reader pass (length-sorted batches) over the selected sentences and the highlight candidates
    extra = [text for _, text, _ in selected] + ([kept[i].text[a:b] for i, (a, b) in pairs] if by_reader else [])
    extra_z = reader.classifier.predict_logits([(q, t) for t in extra]) if extra else np.zeros((0, len(labels)))
    # the concluding sentences have their own calibration; highlight candidates are read like passages
    sel_p = reader.calibrated(extra_z[: len(selected)], sentences=True)
    sent_p = reader.calibrated(extra_z[len(selected):])
    cal = reader.calibration.for_sentences() if selected else reader.calibration
    prov.update(_calibration(cal, threshold))
    cut = prov["threshold"]
    if selected:  # the verdict from the conclusion sentences of the best documents
        w = document_weights([score for _, _, score in selected], params)
        verdict_p = (w[:, None] * sel_p).sum(0) / w.sum()
        prov["verdict_read"] = [{"doc_id": d, "text": t, "probabilities": dict(zip(labels, map(float, p)))}
                                for (d, t, _), p in zip(selected, sel_p)]
    elif by_reader:
        verdict_p = aggregate(probs[rows], [kept[i].score for i in rows], params)
    else:  # no reading: every label equally likely, reported as "maybe" (as when nothing is found)
        verdict_p = uniform[0]
    if off_topic and params.off_topic_verdict == "prior":  # what is known without evidence is the prior
        prov["verdict_from"] = "prior: the training labels' shares (no retrieved document addresses the question)"
        verdict_p = np.array([reader.prior[lab] for lab in labels], dtype=np.float64)
    verdict = labels[int(np.argmax(verdict_p))] if by_reader or "maybe" not in labels else "maybe"
    confidence = float(verdict_p.max())
    missing = covered[best].missing_words(q) if by_reader else []
    if by_reader:
        prov["term_coverage"] = {
            "doc_id": best, "coverage": round(covered[best].share, 3), "threshold": params.min_term_coverage,
            "largest_missing": round(covered[best].largest_missing, 3),
            "max_missing_term": params.max_missing_term,
            "weighting": "idf" if idf is not None else "equal",
            "missing": missing,
            "documents_on_topic": len(on_topic), "documents": len(covered),
        }
    abstained = (not picked if intent is not None else True) if not by_reader else off_topic or confidence < cut
    if not by_reader and intent is None:
        prov["reason"] = "not a yes/no question: showing the most relevant evidence (no yes/no/maybe reading)"
    elif not by_reader:
        prov["reason"] = open_reason(intent, len(picked))
    elif off_topic:
        about = f"no passage about {_and(missing)}" if missing else "no passage that addresses the question"
        prov["reason"] = (f"insufficient evidence: {about} was found (the best document, {best}, "
                          f"holds {_pct(covered[best].share)} of the question's key terms by weight)")
    elif abstained:
        prov["reason"] = _below(confidence, cut)

    if by_reader:  # the sentence whose reading most supports its passage's label
        score = np.array([sent_p[j, int(np.argmax(probs[i]))] for j, (i, _) in enumerate(pairs)])
    elif encoder is not None:  # open question: the sentence closest to the question
        score = _similarity(q, [kept[i].text[a:b] for i, (a, b) in pairs], encoder)
    else:  # lexical_only: one candidate per passage
        score = np.zeros(len(pairs))
    highlights = _best_spans(pairs, score)
    evidence = []
    for i in order:
        p = {lab: float(v) for lab, v in zip(labels, probs[i])}
        if not by_reader:
            st, sp = "neutral", p.get("maybe", max(p.values()))
        elif relevant[i]:
            st, sp = stance(p)
        else:  # not about the question: listed, never as support or contradiction
            st, sp = OFF_TOPIC, max(p.values())
        evidence.append(Evidence(hit=kept[i], stance=st, probability=sp, probabilities=p, highlight=highlights.get(i)))
    by_index = dict(zip(order, evidence))
    return Answer(
        question=q,
        verdict=verdict,
        abstained=abstained,
        confidence=confidence,
        probabilities={lab: float(v) for lab, v in zip(labels, verdict_p)},
        evidence=evidence,
        question_type=qtype,
        provenance=prov,
        decision=None if abstained or not by_reader else verdict,
        intent=intent,
        answer_passages=[by_index[i] for i in picked],
    )


def _document_coverage(question: str, hits: Sequence[Hit], idf: Idf | None) -> dict[str, Coverage]:
    """Per document (in retrieval order), the share of the question's key terms its retrieved passages hold."""
    terms = key_terms(question, idf)
    texts: dict[str, list[str]] = {}
    for h in hits:
        texts.setdefault(h.doc_id, []).append(h.text)
    return {d: coverage(terms, " ".join(t)) for d, t in texts.items()}


def _and(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _below(value: float, threshold: float) -> str:
    """``"0.571 is below the threshold 0.573"``: as many decimals as it takes for the two to differ."""
    for digits in range(2, 7):
        a, b = f"{value:.{digits}f}", f"{threshold:.{digits}f}"
        if a != b:
            break
    return f"confidence {a} is below the threshold {b}"


def _calibration(cal: Calibration, threshold: float | None) -> dict[str, float]:
    """Provenance of the calibration a verdict used (``threshold``: the caller's override)."""
    return {"temperature": cal.temperature, "threshold": cal.threshold if threshold is None else float(threshold)}


def select_sentences(hits: Sequence[Hit], selector: Any, params: AggregationParams) -> list[tuple[str, str, float]]:
    """``(doc_id, text, best score)`` for the ``params.read_documents`` best documents among ``hits``: each
    document's ``params.selected_sentences`` last (``read_from="end"``) or most conclusion-like
    (``read_from="selector"``) sentences (from its retrieved passages,
    in document order), joined."""
    docs: dict[str, list[Hit]] = {}
    for h in hits:  # retrieval order: the first documents seen are the best
        docs.setdefault(h.doc_id, []).append(h)
    out = []
    for doc_id, group in list(docs.items())[: params.read_documents]:
        at: dict[str, int] = {}  # sentence -> its offset in the document (overlapping passages repeat some)
        for h in sorted(group, key=lambda h: h.start):
            for a, b in sentence_spans(h.text, lists=False):
                at.setdefault(h.text[a:b], h.start + a)
        texts = sorted(at, key=at.__getitem__)
        if params.read_from == "end":
            picked = list(range(max(0, len(texts) - params.selected_sentences), len(texts)))
        else:
            picked = selector.pick(texts, params.selected_sentences)
        if picked:
            out.append((doc_id, " ".join(texts[i] for i in picked), max(h.score for h in group)))
    return out


def _sentence_pairs(
    question: str, hits: Sequence[Hit], which: Sequence[int], candidates: int, selector: Any = None
) -> list[tuple[int, tuple[int, int]]]:
    """``(passage index, sentence span)`` for the highlight candidates of the passages ``which``: the
    ``candidates`` sentences of each sharing most of the question's content words (stemmed, as BM25
    indexes them; plus the selector's conclusion-likeness when given), in text order; every
    sentence when ``candidates`` is 0."""
    from kbqa.lexical import tokenize

    spans = {i: sentence_spans(hits[i].text, lists=False) for i in which}
    if candidates > 0 and any(len(v) > candidates for v in spans.values()):
        cut = [i for i in which if len(spans[i]) > candidates]
        texts = [hits[i].text[a:b] for i in cut for a, b in spans[i]]
        tokens = tokenize([question] + texts)
        terms = set(tokens[0])
        overlap = np.array([len(terms & set(t)) / max(len(terms), 1) for t in tokens[1:]])
        if selector is not None:
            overlap = overlap + selector.score(texts)
        at = 0
        for i in cut:
            n = len(spans[i])
            keep = sorted(top_k(overlap[at: at + n], candidates))
            spans[i], at = [spans[i][j] for j in keep], at + n
    return [(i, span) for i in which for span in spans[i]]


def _similarity(question: str, texts: Sequence[str], encoder: Any) -> np.ndarray:
    if not texts:
        return np.zeros(0)
    qv = encoder.encode_queries([question])[0]  # the encoder caches the vector retrieval computed
    return encoder.encode_passages(texts) @ qv


def _best_spans(pairs: Sequence[tuple[int, tuple[int, int]]], score: np.ndarray) -> dict[int, tuple[int, int]]:
    """Per passage, the span with the highest score (the first one on ties)."""
    best: dict[int, tuple[float, tuple[int, int]]] = {}
    for j, (i, span) in enumerate(pairs):
        if i not in best or score[j] > best[i][0]:
            best[i] = (float(score[j]), span)
    return {i: span for i, (_, span) in best.items()}
