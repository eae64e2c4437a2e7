"""A differential from retrieved passages: group hits by condition, score each condition, pick its
evidence sentences.

Scoring (measured on the dev benchmark, eval/benchmarks/diagnose-dev; see its README):

- passages come from the knowledge base's hybrid retrieval with BM25 fused at weight 1.5 against the
  dense side's 1.0 (``lexical_weight``; the index default, 0.3, was tuned on questions, and symptom
  descriptions share many exact words with symptom pages);
- a hit's weight is its retrieval score relative to the best hit's (so 1.0 for the best passage),
  times the weight of its collection (a prior, 0.5: the MedQuAD genetic-disease collections, GARD and
  GHR, hold thousands of rare syndromes whose symptom lists match many descriptions in a few words)
  and optionally of its section (``section_weight`` for ``qtype`` outside symptoms/information: no
  gain on dev, so 1.0);
- a condition's score sums its hits' weights, best first, with diminishing returns: the n-th
  counts ``decay**n`` (one document per condition counted once, its best chunk), so a common
  condition with several matching pages rises above a rare one with a single matching sentence,
  without piles of weak hits outranking one strong one;
- umbrella pages named like "Neck Injuries and Disorders" or "Cold and Cough Medicines" count half
  (``generic_weight``);
- a condition whose name is only words of the description ("Rashes", "Itching" for "an itchy rash")
  is the symptom's own page, not an explanation of it: ``echo_weight`` (no gain on dev, so 1.0);
- optionally (``doc_prior``) a commonness prior: the score times the number of documents about the
  condition to a small power;
- confidence is a softmax of the scores over the candidates (temperature 0.2, chosen on dev by
  eval/benchmarks/diagnose-dev/calibrate.py; `kbqa eval diagnose`
  reports its calibration against top-1 accuracy), a ranking confidence, not a probability of disease;
- the description abstains when the best condition's best passage holds less than
  ``min_coverage`` of the description's term weight (idf): nothing in the knowledge base is about it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kbqa.text import sentence_spans
from kbqa.types import Hit

Idf = Callable[[Sequence[str]], Mapping[str, float]]
# sections that describe what a condition looks like count fully; the rest (treatment, genetics...) less
EVIDENCE_SECTIONS = ("symptoms", "information", "")
# MedQuAD collections of rare genetic conditions (thousands of short symptom lists): a prior, measured on dev
RARE_COLLECTIONS = ("GARD", "GHR")
# umbrella pages ("Skin Conditions", "Neck Injuries and Disorders", "Blood Pressure Medicines"): not one condition
GENERIC_NAME = re.compile(r"\b(?:disorders|diseases|problems|conditions|health|injuries|medicines|tests|care|"
                          r"caregiving|caregivers|symptoms|research|treatments?|screening|vaccination|prevention)$")


@dataclass(frozen=True)
class ScoringParams:
    """How hits become a ranked differential. ``DEFAULT`` is the setting chosen on dev; ``PLAIN`` is the
    baselines' grouping (a condition ranks where its best hit ranks: whole-document ranking)."""

    depth: int = 100  # passages retrieved per description
    decay: float = 0.3  # weight of a condition's n-th document: decay ** n
    per_condition: int = 5  # documents counted per condition
    section_weight: float = 1.0  # weight of a hit outside EVIDENCE_SECTIONS
    rare_weight: float = 0.5  # weight of a hit from RARE_COLLECTIONS
    temperature: float = 0.2  # softmax temperature of the confidence (ECE on dev 0.15; 0.1: 0.35, 0.3: 0.17)
    min_coverage: float = 0.15  # abstain below this idf share of the description in the best passage
    doc_prior: float = 0.0  # a commonness prior: score * (documents about the condition) ** doc_prior
    generic_weight: float = 0.5  # weight of an umbrella page (GENERIC_NAME: "... Disorders", "... Medicines")
    # BM25's weight in the hybrid fusion (dense 1.0) for descriptions; None: the index's own (0.3 by default)
    lexical_weight: float | None = 1.5
    echo_weight: float = 1.0  # weight of a condition named only by words of the description ("Rashes" for "a rash")

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


DEFAULT = ScoringParams()
PLAIN = ScoringParams(decay=0.0, per_condition=1, section_weight=1.0, rare_weight=1.0, generic_weight=1.0,
                      lexical_weight=None)


@dataclass(frozen=True)
class ConditionEvidence:
    """A passage cited for a condition; ``highlight`` is its best sentence (offsets into ``hit.text``)."""

    hit: Hit
    highlight: tuple[int, int] | None
    weight: float  # the hit's weight in the condition's score

    @property
    def sentence(self) -> str:
        return self.hit.text[self.highlight[0]:self.highlight[1]] if self.highlight else self.hit.text

    def to_dict(self) -> dict[str, Any]:
        from kbqa.serialize import hit_to_dict

        return {**hit_to_dict(self.hit), "highlight": list(self.highlight) if self.highlight else None,
                "sentence": self.sentence, "weight": round(float(self.weight), 6)}


@dataclass(frozen=True)
class Condition:
    name: str
    score: float
    confidence: float
    evidence: list[ConditionEvidence]
    classifier_probability: float | None = None  # with a classifier whose labels name this condition

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "score": round(float(self.score), 6),
                               "confidence": round(float(self.confidence), 6),
                               "evidence": [e.to_dict() for e in self.evidence]}
        if self.classifier_probability is not None:
            out["classifier_probability"] = round(float(self.classifier_probability), 6)
        return out


@dataclass(frozen=True)
class Diagnosis:
    """Candidate conditions for a description, best first, with red flags. Decision support only."""

    query: str
    conditions: list[Condition]
    red_flags: list[Any]  # kbqa.diagnose.redflags.RedFlag
    abstained: bool
    provenance: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"query": self.query, "conditions": [c.to_dict() for c in self.conditions],
                "red_flags": [f.to_dict() for f in self.red_flags], "abstained": self.abstained,
                "provenance": self.provenance}


@dataclass
class Group:
    """One condition's hits while scoring: best hit per document, best first."""

    key: str
    hits: list[tuple[Hit, float]]  # (hit, weight)
    score: float = 0.0


def hit_weight(hit: Hit, relative: float, params: ScoringParams) -> float:
    w = relative
    if str(hit.meta.get("qtype", "")).lower() not in EVIDENCE_SECTIONS:
        w *= params.section_weight
    if str(hit.meta.get("collection", "")) in RARE_COLLECTIONS:
        w *= params.rare_weight
    return w


def group_hits(hits: Sequence[Hit], key_of: Callable[[Hit], str | None], params: ScoringParams,
               doc_counts: Callable[[str], int] | None = None, query_terms: set[str] | None = None) -> list[Group]:
    """Conditions of ``hits`` ranked by score (ties: the condition met first). Hits without a
    condition are ignored; a document counts once (its best-weighted chunk). ``doc_counts``: how
    many documents of the knowledge base are about a condition (for ``params.doc_prior``);
    ``query_terms``: the description's stemmed terms (for ``params.echo_weight``)."""
    if not hits:
        return []
    top = max(h.score for h in hits)
    groups: dict[str, Group] = {}
    seen_docs: dict[str, int] = {}
    for hit in hits:
        key = key_of(hit)
        if key is None:
            continue
        relative = max(hit.score, 0.0) / top if top > 0 else 1.0
        w = hit_weight(hit, relative, params)
        group = groups.setdefault(key, Group(key, []))
        at = seen_docs.get(hit.doc_id)
        if at is None:
            seen_docs[hit.doc_id] = len(group.hits)
            group.hits.append((hit, w))
        elif w > group.hits[at][1]:
            group.hits[at] = (hit, w)
    order = {key: i for i, key in enumerate(groups)}
    for group in groups.values():
        group.hits.sort(key=lambda hw: -hw[1])
        weights = [w for _, w in group.hits[: max(1, params.per_condition)]]
        group.score = float(sum(w * params.decay**i for i, w in enumerate(weights)))
        if params.generic_weight != 1.0 and GENERIC_NAME.search(group.key):
            group.score *= params.generic_weight
        if params.doc_prior and doc_counts is not None:
            group.score *= max(1, doc_counts(group.key)) ** params.doc_prior
    if params.echo_weight != 1.0 and query_terms:
        from kbqa.lexical import tokenize

        names = list(groups)
        for name, tokens in zip(names, tokenize(names), strict=True):
            if tokens and set(tokens) <= query_terms:  # the page of a symptom the description names
                groups[name].score *= params.echo_weight
    return sorted(groups.values(), key=lambda g: (-g.score, order[g.key]))


def confidences(scores: Sequence[float], temperature: float) -> np.ndarray:
    from kbqa.numeric import softmax

    if not len(scores):
        return np.zeros(0)
    return softmax(np.asarray(scores, dtype=np.float64), temperature).astype(np.float64)


class TermWeights:
    """The description's stemmed content terms with their idf; scores texts by the share they hold."""

    def __init__(self, query: str, idf: Idf | None) -> None:
        from kbqa.lexical import tokenize

        terms = sorted(set(tokenize([query])[0]))
        weights = idf(terms) if idf is not None and terms else {t: 1.0 for t in terms}
        self.weights = {t: float(weights.get(t, 1.0)) for t in terms}
        self.total = sum(self.weights.values())

    def shares(self, texts: Sequence[str]) -> list[float]:
        from kbqa.lexical import tokenize

        if not texts or self.total <= 0:
            return [0.0] * len(texts)
        return [sum(self.weights.get(t, 0.0) for t in set(tokens)) / self.total for tokens in tokenize(list(texts))]

    def best_sentence(self, text: str) -> tuple[tuple[int, int] | None, float]:
        """The sentence of ``text`` holding the most term weight (the first on ties) and that share."""
        spans = sentence_spans(text)
        if not spans:
            return None, 0.0
        shares = self.shares([text[a:b] for a, b in spans])
        best = int(np.argmax(shares))
        return spans[best], shares[best]
