"""From per-passage reader probabilities to one verdict, stances, highlights and grouped evidence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from kbqa.errors import KbqaError
from kbqa.text import normalised
from kbqa.types import Hit

STANCE_OF_LABEL = {"yes": "supports", "no": "contradicts", "maybe": "neutral"}
OFF_TOPIC = "off_topic"  # the stance of a passage that does not address the question (not read as evidence)
MIN_TERM_COVERAGE = 0.5
MAX_MISSING_TERM = 0.35


@dataclass(frozen=True)
class AggregationParams:
    """Weights of a passage: ``rank_decay**rank * exp((score - best)/score_temperature) * confidence**confidence_power``."""

    rank_decay: float = 0.7
    score_temperature: float = 0.05
    confidence_power: float = 1.0
    # With a sentence selector in the reader folder (a reader of conclusions), the verdict is read from
    # sentences of the best documents instead of from whole passages (0 documents: whole passages).
    read_documents: int = 1
    selected_sentences: int = 2
    # Which sentences: "end" = the document's last ones (abstracts end with their conclusion: the last
    # two sentences hold 88% of the PubMedQA dev conclusions' sentences, the selector's two best 68%:
    # benchmarks/reader_sentences.py),
    # "selector" = the most conclusion-like by the reader's sentence selector wherever they stand.
    read_from: str = "end"
    # "Insufficient evidence" when the best document holds less than this share of the question's
    # key-term weight (content words weighted by their idf in the index searched,
    # :mod:`kbqa.read.question`): retrieval found nothing that addresses the question, and a verdict
    # read from it is a guess. The same share decides which passages count as evidence for or
    # against. 0 turns the check off. Chosen on PubMedQA and claims dev with and without their
    # evidence indexed (benchmarks/answer_absent.py).
    min_term_coverage: float = MIN_TERM_COVERAGE
    # ... and when it lacks a term that carries this share of the weight or more: "metformin" in
    # "Does metformin increase the risk of lactic acidosis?", "elderly" in "Is laparoscopic
    # cholecystectomy safe in the elderly?" (the population, intervention or outcome). 1 turns it off.
    max_missing_term: float = MAX_MISSING_TERM
    # The verdict's probabilities when nothing retrieved addresses the question: "prior" = the
    # reader's training-label shares (a reading of an unrelated document is no evidence), "read" = the
    # reading of the best document all the same. Either way the answer abstains and has no decision.
    off_topic_verdict: str = "prior"

    def __post_init__(self) -> None:
        if not 0 < self.rank_decay <= 1 or self.score_temperature <= 0 or self.confidence_power < 0:
            raise KbqaError(f"bad aggregation params {self}: need 0 < rank_decay <= 1, score_temperature > 0")
        if self.read_documents < 0 or self.selected_sentences < 1:
            raise KbqaError(f"bad aggregation params {self}: need read_documents >= 0 and selected_sentences >= 1")
        if self.read_from not in ("end", "selector"):
            raise KbqaError(f"bad aggregation params {self}: read_from must be 'end' or 'selector'")
        if not 0 <= self.min_term_coverage <= 1:
            raise KbqaError(f"bad aggregation params {self}: min_term_coverage must be in [0, 1]")
        if self.off_topic_verdict not in ("prior", "read"):
            raise KbqaError(f"bad aggregation params {self}: off_topic_verdict must be 'prior' or 'read'")
        if not 0 < self.max_missing_term <= 1:
            raise KbqaError(f"bad aggregation params {self}: max_missing_term must be in (0, 1]")

    def addresses(self, coverage: Any) -> bool:
        """Whether a document with this key-term ``coverage`` (:class:`kbqa.read.question.Coverage`)
        addresses the question: enough of its weight, and none of its heaviest terms missing."""
        if self.min_term_coverage <= 0:
            return True
        return coverage.share >= self.min_term_coverage - 1e-9 and coverage.largest_missing < self.max_missing_term - 1e-9


def passage_weights(scores: Sequence[float], probs: np.ndarray, params: AggregationParams) -> np.ndarray:
    """One non-negative weight per passage (retrieval rank and score, reader confidence)."""
    if len(scores) == 0:
        return np.zeros(0)
    conf = np.asarray(probs, dtype=np.float64).max(1) ** params.confidence_power
    return document_weights(scores, params) * conf


def aggregate(probs: np.ndarray, scores: Sequence[float], params: AggregationParams = AggregationParams()) -> np.ndarray:
    """Weighted mean of per-passage label probabilities (passages in retrieval order)."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or len(probs) != len(scores):
        raise KbqaError(f"need one probability row per score, got {probs.shape} and {len(scores)} scores")
    if len(probs) == 0:
        raise KbqaError("no passages to aggregate")
    w = passage_weights(scores, probs, params)
    if w.sum() <= 0:
        w = np.ones(len(probs))
    return (w[:, None] * probs).sum(0) / w.sum()


def document_weights(scores: Sequence[float], params: AggregationParams) -> np.ndarray:
    """Weights by retrieval rank and score alone (items in retrieval order): ``rank_decay**rank * exp((score - best)/T)``."""
    s = np.asarray(scores, dtype=np.float64)
    if len(s) == 0:
        return s
    return params.rank_decay ** np.arange(len(s)) * np.exp((s - s.max()) / params.score_temperature)


def stance(probabilities: dict[str, float]) -> tuple[str, float]:
    """The passage's stance towards the question (yes -> supports, no -> contradicts, maybe -> neutral)."""
    label = max(probabilities, key=probabilities.__getitem__)
    return STANCE_OF_LABEL.get(label, "neutral"), float(probabilities[label])


def dedupe(hits: Sequence[Hit]) -> list[Hit]:
    """Hits in order, without repeated chunk ids or passages with the same words as an earlier one."""
    seen_ids: set[str] = set()
    seen_text: set[str] = set()
    out = []
    for h in hits:
        key = normalised(h.text)
        if h.chunk_id in seen_ids or key in seen_text:
            continue
        seen_ids.add(h.chunk_id)
        seen_text.add(key)
        out.append(h)
    return out


def group_by_document(order: Sequence[int], doc_ids: Sequence[str]) -> list[int]:
    """``order`` (indices, best first) regrouped so each document's passages sit together, documents by best passage."""
    groups: dict[str, list[int]] = {}
    for i in order:
        groups.setdefault(doc_ids[i], []).append(i)
    return [i for idxs in groups.values() for i in idxs]
