"""Check drug–drug interactions against a knowledge base.

For every pair of the given drugs: find sentences of the knowledge base naming both (retrieval
with ``kb.search_many`` plus, for indexes up to ``scan_limit`` chunks, an exact scan of every
chunk), blind the two drugs as in training (DRUG1/DRUG2, the other listed drugs DRUGN), classify
each sentence with the DDI model and aggregate per pair. Finding nothing means "no evidence in
the knowledge base", never "no interaction".
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kbqa.ddi.blind import blind
from kbqa.ddi.corpus import NEGATIVE, POSITIVE_TYPES
from kbqa.ddi.names import canonical, load_synonyms, mention_pattern, normalize, variants
from kbqa.errors import KbqaError
from kbqa.types import Hit

INTERACTION, NOT_STATED, NO_EVIDENCE = "interaction", "not_stated", "no_evidence"
STATUS_TEXT = {
    INTERACTION: "interaction described",
    NOT_STATED: "mentioned together, no interaction described",
    NO_EVIDENCE: "no evidence found in the knowledge base",
}
MAX_COMBOS = 4  # mention pairings classified per sentence when a drug is named several times
_SENTENCE = re.compile(r"[^\n]+?(?:[.!?](?=\s+[A-Z0-9(\[])|$)", re.MULTILINE)


@dataclass(frozen=True)
class InteractionEvidence:
    """A knowledge-base sentence naming both drugs, with the model's reading of it."""

    hit: Hit  # the chunk it comes from, with its citation metadata
    sentence: str
    span: tuple[int, int]  # character offsets of the sentence in hit.text
    type: str  # predicted label: "none" or an interaction type
    probability: float  # P(an interaction is stated) = 1 - P(none)
    probabilities: dict[str, float]


@dataclass(frozen=True)
class PairResult:
    drugs: tuple[str, str]
    status: str  # "interaction" | "not_stated" | "no_evidence"
    type: str | None  # mechanism | effect | advise | int, or None
    confidence: float | None  # probability of the status given the sentences; None without evidence
    evidence: list[InteractionEvidence]  # best first, at most max_evidence
    sentences: int = 0  # sentences naming both drugs that were classified


@dataclass(frozen=True)
class InteractionReport:
    drugs: list[str]
    pairs: list[PairResult]
    provenance: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` shape: ``{"pairs": [{"drugs", "status", "type", "confidence", "evidence"}]}``."""
        from kbqa.serialize import citation

        def ev(e: InteractionEvidence) -> dict[str, Any]:
            return {
                "sentence": e.sentence,
                "type": e.type,
                "probability": round(e.probability, 4),
                "probabilities": {k: round(v, 4) for k, v in e.probabilities.items()},
                "chunk_id": e.hit.chunk_id,
                "doc_id": e.hit.doc_id,
                "title": e.hit.title,
                "start": e.hit.start + e.span[0],
                "end": e.hit.start + e.span[1],
                "metadata": e.hit.meta,
                "citation": citation(e.hit.meta, e.hit.doc_id, e.hit.title),
            }

        pairs = [
            {
                "drugs": list(p.drugs),
                "status": p.status,
                "type": p.type,
                "confidence": None if p.confidence is None else round(p.confidence, 4),
                "message": STATUS_TEXT[p.status],
                "sentences": p.sentences,
                "evidence": [ev(e) for e in p.evidence],
            }
            for p in self.pairs
        ]
        return {"drugs": self.drugs, "pairs": pairs, "provenance": self.provenance}


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans of ``text``: lines, cut after . ! ? followed by a capital, digit or bracket."""
    spans = []
    for m in _SENTENCE.finditer(text):
        a, b = m.start(), m.end()
        while a < b and text[a].isspace():
            a += 1
        if b > a:
            spans.append((a, b))
    return spans


def aggregate(drugs: tuple[str, str], evidence: list[InteractionEvidence], max_evidence: int = 5) -> PairResult:
    """Per-pair verdict: an interaction when any sentence is classified as one; type by summed probability."""
    if not evidence:
        return PairResult(drugs, NO_EVIDENCE, None, None, [], 0)
    ranked = sorted(evidence, key=lambda e: (-e.probability, e.hit.chunk_id, e.span))
    positive = [e for e in ranked if e.type != NEGATIVE]
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
) -> InteractionReport:
    """Check every pair of ``drugs`` against the knowledge base ``kb``; see the module docstring.

    ``model`` is a DDIModel, a model folder or None (models/ddi); ``synonyms`` maps brand -> generic
    (a dict or a file for :func:`kbqa.ddi.names.load_synonyms`).
    """
    syn = _as_synonyms(synonyms)
    names = validate_drugs(drugs, syn)
    patterns = {d: mention_pattern(variants(d, syn)) for d in names}
    pairs = list(itertools.combinations(names, 2))

    # candidate chunks per pair: retrieval, then an exact scan when the index is small enough
    hits: dict[tuple[str, str], dict[str, Hit]] = {p: {} for p in pairs}
    results = kb.search_many([f"{a} {b} interaction" for a, b in pairs], k=k)
    for pair, row in zip(pairs, results):
        for h in row:
            hits[pair].setdefault(h.chunk_id, h)
    scanned = 0
    if len(kb) <= scan_limit:
        for chunk in kb.iter_chunks():
            scanned += 1
            if chunk.meta.get("retracted"):
                continue  # as search does by default
            named = [d for d in names if patterns[d].search(chunk.text)]
            for a, b in itertools.combinations(named, 2):
                hits[(a, b)].setdefault(
                    chunk.chunk_id,
                    Hit(chunk.chunk_id, chunk.doc_id, 0.0, chunk.text, chunk.title, chunk.meta, chunk.start, chunk.end),
                )

    # sentences naming both drugs (the model is loaded only when there is one)
    found: list[tuple[tuple[str, str], Hit, tuple[int, int]]] = []
    for (a, b), by_id in hits.items():
        seen: set[tuple[str, str]] = set()
        for h in by_id.values():
            for s0, s1 in split_sentences(h.text):
                key = (h.doc_id, " ".join(h.text[s0:s1].lower().split()))
                if key not in seen and _blinded(h.text[s0:s1], patterns, a, b):
                    seen.add(key)  # the same sentence in an overlapping chunk counts once
                    found.append(((a, b), h, (s0, s1)))
    ddi = _model(model) if found else None
    lexicon = getattr(ddi, "other_drugs", None)
    style = getattr(ddi, "entity_style", "blind")
    # blinded (or marked) as in training; several pairings when a drug is named more than once
    cands = [(pair, h, span, _blinded(h.text[span[0] : span[1]], patterns, *pair, lexicon, style))
             for pair, h, span in found]

    evidence: dict[tuple[str, str], list[InteractionEvidence]] = {p: [] for p in pairs}
    if cands:
        assert ddi is not None
        flat = [t for c in cands for t in c[3]]
        proba = ddi.predict_proba(flat)
        labels = ddi.labels
        none_col = labels.index(NEGATIVE)
        row = 0
        for pair, h, span, texts in cands:
            block = proba[row : row + len(texts)]
            row += len(texts)
            best = block[int(block[:, none_col].argmin())]  # the pairing most likely to state an interaction
            probs = {lab: float(best[i]) for i, lab in enumerate(labels)}
            label = labels[int(best.argmax())]
            evidence[pair].append(
                InteractionEvidence(h, h.text[span[0] : span[1]], span, label, 1.0 - probs[NEGATIVE], probs)
            )
    report_pairs = [aggregate(p, evidence[p], max_evidence) for p in pairs]
    provenance = {
        "index": str(getattr(kb, "index_dir", "")),
        "model": str(ddi.model_dir) if ddi is not None else str(model or "models/ddi"),
        "k": k,
        "chunks_scanned": scanned,
        "synonyms": len(syn),
        "note": "no evidence means nothing was found in the knowledge base, not that the drugs do not interact",
    }
    return InteractionReport(names, report_pairs, provenance)


def _blinded(
    sentence: str,
    patterns: dict[str, re.Pattern[str]],
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


def render_table(report: InteractionReport, width: int = 100) -> str:
    """A terminal table: one block per pair, its verdict and its best evidence with citations."""
    from kbqa.serialize import citation

    lines = []
    for p in report.pairs:
        verdict = STATUS_TEXT[p.status] + (f": {p.type}" if p.type else "")
        conf = "" if p.confidence is None else f" (confidence {p.confidence:.2f}, {p.sentences} sentence(s))"
        lines.append(f"{p.drugs[0]} + {p.drugs[1]}: {verdict}{conf}")
        for e in p.evidence[:3]:
            text = " ".join(e.sentence.split())
            text = text if len(text) <= width else text[: width - 3] + "..."
            lines.append(f"    [{e.type} {e.probability:.2f}] {text}")
            lines.append(f"        {citation(e.hit.meta, e.hit.doc_id, e.hit.title)}")
    lines.append("")
    lines.append("'no evidence' means nothing was found in this knowledge base, not that the drugs are safe together.")
    lines.append("Decision support only: check the cited sources.")
    return "\n".join(lines)

