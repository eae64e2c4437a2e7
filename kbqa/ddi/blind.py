"""Entity blinding: the candidate pair becomes DRUG1/DRUG2, every other drug mention DRUGN.

Blinding stops the classifier from memorising drug names (the corpus repeats a few drugs a lot)
and tells it which two mentions the question is about. The placeholders use word pieces already
in the BERT vocabulary ("drug", "##1"), so no new embeddings have to be learnt.

Also: candidate-pair filtering (negative instance filtering) and the training/eval examples.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from kbqa.ddi.corpus import DDIDocument, DDISentence

DRUG1, DRUG2, DRUGN = "DRUG1", "DRUG2", "DRUGN"

Span = tuple[int, int]


def blind(text: str, first: Sequence[Span], second: Sequence[Span], others: Iterable[Span] = ()) -> str:
    """Replace the spans of the pair by DRUG1/DRUG2 and other drug spans by DRUGN.

    Spans are half-open character offsets. Overlaps are resolved in favour of the pair (then of
    the earlier, longer span); a span overlapping one already placed is dropped, so shared parts of
    discontinuous or nested mentions are replaced once.
    """
    ranked = [(0, s, DRUG1) for s in first] + [(1, s, DRUG2) for s in second]
    ranked += [(2, s, DRUGN) for s in others]
    ranked.sort(key=lambda r: (r[0], r[1][0], -(r[1][1] - r[1][0])))
    placed: list[tuple[int, int, str]] = []
    for _, (a, b), token in ranked:
        if a >= b or any(a < pb and pa < b for pa, pb, _ in placed):
            continue
        placed.append((a, b, token))
    out, pos = [], 0
    for a, b, token in sorted(placed):
        out.append(text[pos:a])
        out.append(token)
        pos = b
    out.append(text[pos:])
    return " ".join("".join(out).split())


@dataclass(frozen=True)
class PairExample:
    """One candidate pair ready for the classifier, with its gold label (``none`` when negative)."""

    pair_id: str
    sentence_id: str
    doc_id: str
    text: str  # the blinded sentence
    label: str
    filtered: bool  # True: removed by the filter rules, predicted ``none`` without the model


def is_filtered(sentence: DDISentence, e1: str, e2: str) -> bool:
    """Negative instance filtering: a drug paired with itself (same name, case-insensitive) or overlapping mentions.

    On the training part this removes 1,984 of 23,771 negatives and 6 of 4,021 positives.
    """
    a, b = sentence.entity(e1), sentence.entity(e2)
    if a.text.strip().lower() == b.text.strip().lower():
        return True
    return any(x0 < y1 and y0 < x1 for x0, x1 in a.spans for y0, y1 in b.spans)


def pair_examples(docs: Iterable[DDIDocument], *, filter_pairs: bool = True) -> list[PairExample]:
    """Every candidate pair of every sentence as a blinded example, in corpus order."""
    out = []
    for doc in docs:
        for s in doc.sentences:
            for p in s.pairs:
                a, b = s.entity(p.e1), s.entity(p.e2)
                others = [sp for e in s.entities if e.entity_id not in (p.e1, p.e2) for sp in e.spans]
                out.append(
                    PairExample(
                        pair_id=p.pair_id,
                        sentence_id=s.sentence_id,
                        doc_id=doc.doc_id,
                        text=blind(s.text, a.spans, b.spans, others),
                        label=p.label,
                        filtered=filter_pairs and is_filtered(s, p.e1, p.e2),
                    )
                )
    return out



def crop(text: str, max_words: int = 80, context: int = 12) -> str:
    """Shorten a long blinded sentence to the words around DRUG1...DRUG2 (plus ``context`` words each side).

    Long sentences list many drugs and produce many pairs; the words far outside the pair
    rarely matter and would otherwise be truncated at the tokenizer's max_length anyway.
    """
    words = text.split()
    if len(words) <= max_words:
        return text
    marks = [i for i, w in enumerate(words) if DRUG1 in w or DRUG2 in w]
    if not marks:
        return " ".join(words[:max_words])
    lo, hi = min(marks), max(marks)
    spare = max(context, (max_words - (hi - lo + 1)) // 2)
    lo, hi = max(0, lo - spare), min(len(words), hi + spare + 1)
    return ("... " if lo else "") + " ".join(words[lo:hi]) + (" ..." if hi < len(words) else "")
