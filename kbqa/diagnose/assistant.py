"""``diagnose(kb, text)``: symptoms in, ranked candidate conditions out, each with its evidence.

An application over a knowledge base, as the interaction check is (kbqa.ddi.interactions): the core
(pipeline, retrieve, index, read) never imports it. Steps: red flags (kbqa.diagnose.redflags) ->
the knowledge base's own retrieval (``kb.search``: hybrid by default) -> hits grouped by condition and
scored (kbqa.diagnose.differential) -> optionally a classifier's probabilities mixed in
(kbqa.diagnose.classifier) -> the best sentence of each condition's passages highlighted.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from kbqa.diagnose.classifier import CLASSIFIER_WEIGHT, label_conditions, label_probabilities
from kbqa.diagnose.conditions import ConditionTable, condition_key, condition_of, condition_table
from kbqa.diagnose.differential import (
    DEFAULT,
    Condition,
    ConditionEvidence,
    Diagnosis,
    Group,
    ScoringParams,
    TermWeights,
    confidences,
    group_hits,
)
from kbqa.diagnose.redflags import red_flags
from kbqa.disclaimer import DISCLAIMER
from kbqa.errors import KbqaError
from kbqa.types import Hit

EVIDENCE_PER_CONDITION = 3
MAX_DESCRIPTION_CHARS = 5000
NOTE = ("Candidate conditions ranked by the knowledge base's evidence for this description, for a professional "
        "to weigh. " + DISCLAIMER)


def check_description(text: Any) -> str:
    if not isinstance(text, str) or not text.strip():
        raise KbqaError("the description is empty; describe the symptoms, e.g. \"three weeks of itchy red scaly "
                        "patches on elbows and knees\"")
    text = " ".join(text.split())
    if len(text) > MAX_DESCRIPTION_CHARS:
        raise KbqaError(f"the description has {len(text)} characters; shorten it to at most {MAX_DESCRIPTION_CHARS}")
    return text


def diagnose(
    kb: Any,
    text: str,
    k: int = 10,
    *,
    classifier: Any = None,
    classifier_text: str | None = None,
    condition_field: str | None = None,
    params: ScoringParams = DEFAULT,
    mode: str | None = None,
    exclude_docs: Collection[str] = (),
) -> Diagnosis:
    """The ``k`` best candidate conditions for the description ``text``, from ``kb``'s documents.

    ``classifier``: a text classifier (kbqa.classify.model.TextClassifier) whose calibrated
    probabilities are mixed in (``classifier_text``: what it reads, default ``text``).
    ``mode``: the retrieval mode (default: the knowledge base's, hybrid); ``exclude_docs``: documents
    whose passages are dropped from the hits (benchmarks hold a case's own source out this way).
    """
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise KbqaError(f"k must be a positive integer, got {k!r}")
    text = check_description(text)
    flags = red_flags(text)
    table = condition_table(kb, condition_field)
    mapping = label_conditions(classifier, table) if classifier is not None else {}
    over: dict[str, Any] = {}
    if mode and mode != kb.config.search.mode:
        over["mode"] = mode
    if params.lexical_weight is not None and params.lexical_weight != kb.config.search.lexical_weight:
        over["lexical_weight"] = params.lexical_weight
    if params.lexical_weight is not None and kb.config.search.long_query_words:
        over["long_query_words"] = 0  # the descriptions' own weight, tuned on descriptions, whatever their length
    searcher = kb.with_search(**over) if over else kb
    extra = sum(len(kb.document_chunks(d)) for d in exclude_docs) if exclude_docs else 0
    hits = [h for h in searcher.search(text, k=params.depth + extra) if h.doc_id not in exclude_docs]

    def key_of(hit: Hit) -> str | None:
        name = condition_of(hit.meta, condition_field)
        return None if name is None else condition_key(name)

    def doc_counts(key: str) -> int:
        docs = table.documents.get(key, ())
        return len(docs) - (sum(d in exclude_docs for d in docs) if exclude_docs else 0)

    idf = getattr(getattr(kb, "lexical", None), "idf", None)
    terms = TermWeights(text, idf)
    groups = group_hits(hits, key_of, params, doc_counts, set(terms.weights))
    conf = confidences([g.score for g in groups], params.temperature)
    scored = [(g, float(g.score), float(c), None) for g, c in zip(groups, conf, strict=True)]
    if classifier is not None:
        probs = label_probabilities(classifier, classifier_text or text, mapping)
        scored = _mix(scored, probs, table)
    conditions = [_condition(kb, table, g, score, c, p, terms) for g, score, c, p in scored[:k]]
    coverage = max((terms.shares([e.hit.text for e in conditions[0].evidence]) or [0.0]), default=0.0) if conditions else 0.0
    abstained = not conditions or coverage < params.min_coverage
    provenance: dict[str, Any] = {
        "index_fingerprint": getattr(kb, "fingerprint", None),
        "index_version": getattr(kb, "version", None),
        "retrieval": searcher.config.search.mode,
        "hits": len(hits),
        "candidates": len(groups),
        "condition_field": condition_field or "condition|focus",
        "scoring": params.to_dict(),
        "best_coverage": round(coverage, 4),
        "note": NOTE,
    }
    if classifier is not None:
        provenance["classifier"] = {"labels": len(classifier.labels), "labels_in_index": len(mapping),
                                    "weight": CLASSIFIER_WEIGHT}
    if abstained:
        provenance["reason"] = ("insufficient evidence: no condition of the knowledge base matched the description"
                                if not conditions else
                                f"insufficient evidence: the best passage holds {coverage:.0%} of the description's "
                                f"terms (below {params.min_coverage:.0%})")
    if exclude_docs:
        provenance["excluded_documents"] = len(exclude_docs)
    return Diagnosis(query=text, conditions=conditions, red_flags=flags, abstained=abstained, provenance=provenance)


def _mix(scored: list[tuple[Any, float, float, float | None]], probs: dict[str, float],
         table: ConditionTable) -> list[tuple[Any, float, float, float | None]]:
    """Retrieval confidence mixed with the classifier's; labelled conditions not retrieved join the list."""
    w = CLASSIFIER_WEIGHT
    present = {g.key for g, *_ in scored}
    out = [(g, s, (1 - w) * c + w * probs.get(g.key, 0.0), probs.get(g.key)) for g, s, c, _ in scored]
    out += [(Group(key, []), 0.0, w * p, p) for key, p in probs.items() if key not in present]
    out.sort(key=lambda row: -row[2])
    return [(g, c, c, p) for g, _, c, p in out]  # the combined confidence is the ranking score


def _condition(kb: Any, table: ConditionTable, group: Group, score: float, conf: float, prob: float | None,
               terms: TermWeights) -> Condition:
    hits = [h for h, _ in group.hits[:EVIDENCE_PER_CONDITION]]
    weights = [w for _, w in group.hits[:EVIDENCE_PER_CONDITION]]
    if not hits:  # a classifier's condition that retrieval did not reach: its documents' best chunk
        hits, weights = _condition_chunks(kb, table, group.key, terms), [0.0]
    evidence = []
    for hit, w in zip(hits, weights, strict=False):
        span, _ = terms.best_sentence(hit.text)
        evidence.append(ConditionEvidence(hit=hit, highlight=span, weight=w))
    name = table.names.get(group.key, group.key)
    return Condition(name=name, score=score, confidence=conf, evidence=evidence, classifier_probability=prob)


def _condition_chunks(kb: Any, table: ConditionTable, key: str, terms: TermWeights) -> list[Hit]:
    chunks = [c for d in table.documents.get(key, []) for c in kb.document_chunks(d)]
    if not chunks:
        return []
    shares = terms.shares([c.text for c in chunks])
    best = max(range(len(chunks)), key=lambda i: shares[i])
    c = chunks[best]
    return [Hit(chunk_id=c.chunk_id, doc_id=c.doc_id, score=0.0, text=c.text, title=c.title, meta=c.meta,
                start=c.start, end=c.end)]
