"""Check drug–drug interactions against a knowledge base.

For every pair of the given drugs: find documents naming both (retrieval with ``kb.search_many``
plus, for indexes up to ``scan_limit`` chunks, an exact scan of every chunk), split each document
into its own sentences (:func:`kbqa.text.sentence_spans`: never across a list item, never cut at a
chunk edge), merge repeats of a sentence (overlapping chunks, a list repeated as prose, the same
answer in several documents), blind the two drugs as in training (DRUG1/DRUG2, the other listed
drugs DRUGN), score each sentence with the DDI model and aggregate per pair.

A sentence states an interaction when its P(interaction) = 1 - P(none) reaches ``threshold``
(:data:`REPORT_THRESHOLD`, chosen on the co-mention dev set: eval/benchmarks/ddi-comention); below
it the sentence is evidence that the drugs are mentioned together without a stated interaction.
Finding nothing means "no evidence in the knowledge base", never "no interaction".
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kbqa.ddi.blind import blind
from kbqa.ddi.corpus import NEGATIVE, POSITIVE_TYPES
from kbqa.ddi.names import canonical, load_synonyms, mention_pattern, normalize, variants
from kbqa.errors import KbqaError
from kbqa.paths import model_dir
from kbqa.text import normalised, sentence_spans
from kbqa.types import Chunk, Hit

INTERACTION, NOT_STATED, NO_EVIDENCE = "interaction", "not_stated", "no_evidence"
STATUS_TEXT = {
    INTERACTION: "interaction stated",
    NOT_STATED: "mentioned together, no interaction stated",
    NO_EVIDENCE: "no evidence found in the knowledge base",
}
MAX_COMBOS = 4  # mention pairings classified per sentence when a drug is named several times
# A sentence counts as stating an interaction when P(interaction) >= this. Chosen by
# benchmarks/ddi_comention.py on eval/benchmarks/ddi-comention by the rule in its README (the lowest
# threshold with precision >= 0.8; none reaches it, so the highest F1): 17 of 281 knowledge-base
# co-mention sentences pass it, 8 of them rightly (precision 0.47, 95% CI 0.26-0.69; recall 8/12).
# The rule before (most probable label not "none", i.e. about 0.5) had precision 0.22 (10/45).
REPORT_THRESHOLD = 0.99
THRESHOLD_SOURCE = "eval/benchmarks/ddi-comention (benchmarks/ddi_comention.py)"
THRESHOLD_PRECISION = 0.47  # on that dev set, at REPORT_THRESHOLD


@dataclass(frozen=True)
class InteractionEvidence:
    """A knowledge-base sentence naming both drugs, with the model's reading of it."""

    hit: Hit  # the chunk the sentence starts in, with its citation metadata
    sentence: str
    span: tuple[int, int]  # character offsets of the sentence in its document (hit.doc_id)
    type: str  # "none" below the threshold, else the most probable interaction type
    probability: float  # P(an interaction is stated) = 1 - P(none)
    probabilities: dict[str, float]
    also_in: tuple[str, ...] = ()  # other documents holding the same sentence (merged into this one)


@dataclass(frozen=True)
class PairResult:
    drugs: tuple[str, str]
    status: str  # "interaction" | "not_stated" | "no_evidence"
    type: str | None  # mechanism | effect | advise | int, or None
    confidence: float | None  # probability of the status given the sentences; None without evidence
    evidence: list[InteractionEvidence]  # best first, at most max_evidence
    sentences: int = 0  # distinct sentences naming both drugs that were classified


@dataclass(frozen=True)
class InteractionReport:
    drugs: list[str]
    pairs: list[PairResult]
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def threshold(self) -> float:
        return float(self.provenance.get("threshold", REPORT_THRESHOLD))

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` shape: ``{"pairs": [{"drugs", "status", "type", "confidence", "evidence"}]}``;
        each evidence cites its chunk as kbqa.serialize does every hit."""
        pairs = [
            {
                "drugs": list(p.drugs),
                "status": p.status,
                "type": p.type,
                "confidence": None if p.confidence is None else round(p.confidence, 4),
                "message": STATUS_TEXT[p.status],
                "sentences": p.sentences,
                "evidence": [_evidence_to_dict(e) for e in p.evidence],
            }
            for p in self.pairs
        ]
        return {"drugs": self.drugs, "pairs": pairs, "provenance": self.provenance}


def _evidence_to_dict(e: InteractionEvidence) -> dict[str, Any]:
    from kbqa.serialize import hit_to_dict

    cited = hit_to_dict(e.hit)  # its ids, title, metadata and citation; the span is the sentence's
    return {
        "sentence": e.sentence,
        "type": e.type,
        "probability": round(e.probability, 4),
        "probabilities": {k: round(v, 4) for k, v in e.probabilities.items()},
        "chunk_id": cited["chunk_id"],
        "doc_id": cited["doc_id"],
        "title": cited["title"],
        "start": e.span[0],
        "end": e.span[1],
        "also_in": list(e.also_in),
        "metadata": cited["metadata"],
        "citation": cited["citation"],
    }


def sentence_type(probabilities: dict[str, float], threshold: float = REPORT_THRESHOLD) -> tuple[str, float]:
    """``(type, P(interaction))`` of one sentence: "none" below ``threshold``, else the most probable type."""
    p = 1.0 - probabilities[NEGATIVE]
    if p < threshold:
        return NEGATIVE, p
    return max(POSITIVE_TYPES, key=lambda t: probabilities.get(t, 0.0)), p


def aggregate(
    drugs: tuple[str, str], evidence: list[InteractionEvidence], max_evidence: int = 5,
    threshold: float = REPORT_THRESHOLD,
) -> PairResult:
    """Per-pair verdict: an interaction when a sentence's P(interaction) reaches ``threshold``;
    the type by summed probability over those sentences."""
    if not evidence:
        return PairResult(drugs, NO_EVIDENCE, None, None, [], 0)
    ranked = sorted(evidence, key=lambda e: (-e.probability, e.hit.doc_id, e.span))
    positive = [e for e in ranked if e.probability >= threshold]
    if positive:
        votes = {t: sum(e.probabilities.get(t, 0.0) for e in positive) for t in POSITIVE_TYPES}
        kind = max(POSITIVE_TYPES, key=lambda t: votes[t])
        return PairResult(drugs, INTERACTION, kind, positive[0].probability, ranked[:max_evidence], len(evidence))
    return PairResult(drugs, NOT_STATED, None, 1.0 - ranked[0].probability, ranked[:max_evidence], len(evidence))


def _as_synonyms(synonyms: dict[str, str] | str | Path | None) -> dict[str, str]:
    if synonyms is None:
        return {}
    if isinstance(synonyms, (str, Path)):
        return load_synonyms(synonyms)
    return {normalize(k): normalize(v) for k, v in synonyms.items()}


def validate_drugs(drugs: Iterable[str], synonyms: dict[str, str] | None = None) -> list[str]:
    """The stripped names; at least two, none empty, no drug twice (also via a brand name)."""
    synonyms = synonyms or {}
    if isinstance(drugs, str):
        raise KbqaError("drugs must be a list of names, not one string")
    names = [d.strip() if isinstance(d, str) else d for d in drugs]
    if any(not isinstance(d, str) or not d for d in names):
        raise KbqaError("drug names must be non-empty strings")
    if len(names) < 2:
        raise KbqaError(f"give at least two drugs to check for interactions, got {len(names)}: {names}")
    seen: dict[str, str] = {}
    for d in names:
        key = canonical(d, synonyms)
        if key in seen:
            raise KbqaError(f"{seen[key]!r} and {d!r} name the same drug ({key}); list each drug once")
        seen[key] = d
    return names


def _model(model: Any) -> Any:
    from kbqa.ddi.model import DDIModel

    if hasattr(model, "predict_proba") and hasattr(model, "labels"):
        return model  # a loaded DDIModel (or anything with its interface)
    return DDIModel.load(model)


def check(
    kb: Any,
    drugs: Iterable[str],
    model: Any = None,
    synonyms: dict[str, str] | str | Path | None = None,
    *,
    k: int = 50,
    scan_limit: int = 200_000,
    max_evidence: int = 5,
    threshold: float = REPORT_THRESHOLD,
    pairs: Iterable[tuple[str, str]] | None = None,
) -> InteractionReport:
    """Check every pair of ``drugs`` (or only ``pairs``, each of two listed drugs) against the knowledge
    base ``kb``; see the module docstring.

    ``model`` is a DDIModel, a model folder or None (models/ddi); ``synonyms`` maps brand -> generic
    (a dict or a file for :func:`kbqa.ddi.names.load_synonyms`); ``threshold``: the P(interaction)
    a sentence needs to count as stating an interaction.
    """
    if not 0.0 <= threshold <= 1.0:
        raise KbqaError(f"threshold must be a probability in [0, 1], got {threshold}")
    syn = _as_synonyms(synonyms)
    names = validate_drugs(drugs, syn)
    patterns = {d: mention_pattern(variants(d, syn)) for d in names}
    if pairs is None:
        pairs = list(itertools.combinations(names, 2))
    else:
        pairs = [tuple(p) for p in pairs]
        stray = sorted({d for p in pairs for d in p} - set(names))
        if stray or any(len(p) != 2 or p[0] == p[1] for p in pairs):
            raise KbqaError(f"pairs must be two different drugs of the list; not listed: {stray}")

    # candidate documents per pair, in order of discovery: retrieval, then an exact scan when the
    # index is small enough
    docs: dict[tuple[str, str], dict[str, None]] = {p: {} for p in pairs}
    results = kb.search_many([f"{a} {b} interaction" for a, b in pairs], k=k)
    for pair, row in zip(pairs, results):
        for h in row:
            docs[pair].setdefault(h.doc_id)
    scanned = 0
    if len(kb) <= scan_limit:
        named: dict[str, set[str]] = {}  # per document, the drugs its chunks name (a sentence may straddle two)
        # a mention holds the first word of a variant in lower case: a substring test first, the
        # (much slower) mention pattern only on chunks that pass it
        firsts = {d: {re.split(r"[\s-]+", v)[0] for v in variants(d, syn) if v} for d in names}
        for chunk in kb.iter_chunks():
            scanned += 1
            if chunk.meta.get("retracted"):
                continue  # as search does by default
            low = chunk.text.lower()
            named.setdefault(chunk.doc_id, set()).update(
                d for d in names if any(w in low for w in firsts[d]) and patterns[d].search(chunk.text))
        for doc_id, drugs_named in named.items():
            for a, b in pairs:
                if a in drugs_named and b in drugs_named:
                    docs[(a, b)].setdefault(doc_id)

    # the documents' own sentences naming both drugs, each distinct sentence once per pair
    views: dict[str, DocumentView] = {}
    found: dict[tuple[str, str], dict[str, _Candidate]] = {p: {} for p in pairs}
    for (a, b), doc_ids in docs.items():
        for doc_id in doc_ids:
            if doc_id not in views:
                views[doc_id] = DocumentView(kb.document_chunks(doc_id))
            view = views[doc_id]
            for span in view.spans:
                sentence = view.text[span[0] : span[1]]
                if not (patterns[a].search(sentence) and patterns[b].search(sentence)):
                    continue
                key = normalised(sentence)
                if key in found[(a, b)]:
                    found[(a, b)][key].copies.append(doc_id)
                else:
                    found[(a, b)][key] = _Candidate(view.chunk_at(span[0]), sentence, span, [doc_id])

    # the model is loaded only when there is a sentence to read
    flat = [((a, b), c) for (a, b), by_key in found.items() for c in by_key.values()]
    ddi = _model(model) if flat else None
    scored = score_sentences(ddi, [(c.sentence, a, b) for (a, b), c in flat], patterns) if flat else []

    evidence: dict[tuple[str, str], list[InteractionEvidence]] = {p: [] for p in pairs}
    for (pair, c), probs in zip(flat, scored):
        if probs is None:  # the two names overlap (e.g. one inside the other): no pair to read
            continue
        label, p = sentence_type(probs, threshold)
        also = tuple(dict.fromkeys(d for d in c.copies if d != c.hit.doc_id))
        evidence[pair].append(InteractionEvidence(c.hit, c.sentence, c.span, label, p, probs, also))
    report_pairs = [aggregate(p, evidence[p], max_evidence, threshold) for p in pairs]
    provenance = {
        "index": str(getattr(kb, "index_dir", "")),
        "model": str(ddi.model_dir) if ddi is not None else str(model or model_dir("ddi")),
        "k": k,
        "chunks_scanned": scanned,
        "synonyms": len(syn),
        "threshold": threshold,
        "threshold_source": THRESHOLD_SOURCE if threshold == REPORT_THRESHOLD else "set by the caller",
        "threshold_dev_precision": THRESHOLD_PRECISION if threshold == REPORT_THRESHOLD else None,
        "note": "no evidence means nothing was found in the knowledge base, not that the drugs do not interact",
    }
    return InteractionReport(names, report_pairs, provenance)


def score_sentences(
    ddi: Any,
    items: Sequence[tuple[str, str, str]],
    patterns: Mapping[str, re.Pattern[str]] | Sequence[Mapping[str, re.Pattern[str]]],
) -> list[dict[str, float] | None]:
    """Label probabilities of each ``(sentence, drug_a, drug_b)``, as ``kbqa interactions`` reads them.

    ``patterns`` maps every listed drug to its mention pattern (drugs other than the pair become
    DRUGN): one mapping for all items, or one per item. The two drugs are blinded as in training;
    when a drug is named more than once, up to :data:`MAX_COMBOS` pairings are read and the one most
    likely to state an interaction is kept. None for a sentence that does not name both drugs apart.
    """
    lexicon = getattr(ddi, "other_drugs", None)
    style = getattr(ddi, "entity_style", "blind")
    per_item = [patterns] * len(items) if isinstance(patterns, Mapping) else list(patterns)
    texts = [_blinded(s, pats, a, b, lexicon, style) for (s, a, b), pats in zip(items, per_item, strict=True)]
    flat = [t for ts in texts for t in ts]
    if not flat:
        return [None] * len(items)
    proba = ddi.predict_proba(flat)
    labels = list(ddi.labels)
    none_col = labels.index(NEGATIVE)
    out: list[dict[str, float] | None] = []
    row = 0
    for ts in texts:
        if not ts:
            out.append(None)
            continue
        block = proba[row : row + len(ts)]
        row += len(ts)
        best = block[int(block[:, none_col].argmin())]  # the pairing most likely to state an interaction
        out.append({lab: float(best[i]) for i, lab in enumerate(labels)})
    return out


@dataclass
class _Candidate:
    hit: Hit
    sentence: str
    span: tuple[int, int]
    copies: list[str]  # documents the sentence was found in


class DocumentView:
    """A document's text as far as its chunks cover it (chunks are exact substrings at their offsets).

    The splitter strips whitespace at chunk edges, so a stretch no chunk covers is whitespace; it
    is read as a line break, which can end a sentence but never joins two.
    """

    def __init__(self, chunks: Sequence[Chunk]) -> None:
        self.chunks = sorted(chunks, key=lambda c: (c.start, c.end))
        if not self.chunks:
            raise KbqaError("a document without chunks")
        size = max(c.end for c in self.chunks)
        chars = ["\n"] * size
        for c in self.chunks:
            chars[c.start : c.end] = c.text
        self.text = "".join(chars)

    @functools.cached_property
    def spans(self) -> list[tuple[int, int]]:
        """The document's sentences (:func:`kbqa.text.sentence_spans`), computed once."""
        return sentence_spans(self.text)

    def chunk_at(self, offset: int) -> Hit:
        """The chunk holding ``offset``, as a Hit (for its id and citation)."""
        c = next((c for c in self.chunks if c.start <= offset < c.end), self.chunks[-1])
        return Hit(c.chunk_id, c.doc_id, 0.0, c.text, c.title, c.meta, c.start, c.end)


def _blinded(
    sentence: str,
    patterns: Mapping[str, re.Pattern[str]],
    a: str,
    b: str,
    lexicon: Callable[[str], list] | None = None,
    style: str = "blind",
) -> list[str]:
    """Blinded (or marked, per ``style``) variants of ``sentence`` for the pair (a, b); [] when it does not name both."""
    ma = [m.span() for m in patterns[a].finditer(sentence)]
    mb = [m.span() for m in patterns[b].finditer(sentence)]
    mb = [s for s in mb if not any(s[0] < y and x < s[1] for x, y in ma)]
    if not ma or not mb:
        return []
    others = [m.span() for d, p in patterns.items() if d not in (a, b) for m in p.finditer(sentence)]
    others += lexicon(sentence) if lexicon else []  # other known drug names, as in training
    out = []
    for sa, sb in itertools.islice(itertools.product(ma, mb), MAX_COMBOS):
        first, second = sorted([sa, sb])  # DRUG1 is the earlier mention, as in the corpus
        rest = [s for s in ma + mb if s not in (sa, sb)] + others
        out.append(blind(sentence, [first], [second], rest, style))
    return out
