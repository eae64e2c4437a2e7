"""What a question asks: its type (yes/no or open) and its key terms, weighted by how rare they are.

A verdict is only read for a yes/no request, and only from evidence that holds the question's
rare terms: "Does metformin increase the risk of lactic acidosis?" is about *lactic acidosis*, not
about "increase" or "risk", which most abstracts contain.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

YES_NO, OPEN = "yes_no", "open"
# first words of an open request: questions, imperatives and "please ..." requests
_WH = frozenset("what which how who whom whose when where why list name describe explain".split())
_REQUEST = re.compile(
    r"^(?:please\b|pls\b|kindly\b|tell me\b|let me know\b|show me\b|give me\b|send me\b|help\b|"
    r"i(?:'d| would| want| wanted| need| am looking| 'm looking| m looking|m looking)\b.*\b(?:know|information|info|"
    r"literature|references?|advice|help|learn|understand|find)\b|looking for\b|need (?:information|info|help)\b|"
    r"any (?:information|info|advice|help|suggestions?)\b|information (?:on|about|regarding)\b)"
)
# a yes/no question's leading auxiliary carries no topic ("Does", "Is", "Can" ...)
AUXILIARIES = frozenset(
    "do does did is are was were can could should would will may might must has have had am shall "
    "isn't aren't doesn't don't didn't can't won't wasn't weren't shouldn't couldn't".split()
)
# an auxiliary question that asks for content: "Can you tell me what ...", "Has research shown which ..."
_EMBEDDED_WH = re.compile(r"\b(?:what|which|how|where|who|whom|whose|why)\b")
_GREETING = re.compile(r"^(?:hi|hello|dear|thanks?|thank you|regards|sincerely|best)\b", re.IGNORECASE)
# sentence ends: . ! ? (not "p<0.05" or "e.g."), or a line break
_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\s*\n+\s*")


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def request_sentences(text: str) -> list[str]:
    """The sentences of ``text`` (a question, or a message with a subject line), greetings dropped."""
    parts = [p.strip() for p in _END.split(text) if p and p.strip()]
    return [p for p in parts if _words(p) and not _GREETING.match(p)] or [text.strip()]


def _form(sentence: str) -> str:
    """``yes_no`` / ``open`` for a sentence that asks, ``statement`` otherwise."""
    # "Laparoscopy in children: is it safe?" -> the clause after the last colon asks
    clause = sentence.rsplit(":", 1)[-1] if ":" in sentence and _words(sentence.rsplit(":", 1)[-1]) else sentence
    words = _words(clause)
    low = " ".join(words)
    if not words:
        return "statement"
    if words[0] in _WH or _REQUEST.match(low):
        return OPEN
    if words[0] in AUXILIARIES:
        # "Can you tell me what causes it?" asks for content, "Is it safe when pregnant?" does not
        return OPEN if _EMBEDDED_WH.search(" ".join(words[1:])) else YES_NO
    if sentence.rstrip().endswith("?"):
        # "Metformin and lactic acidosis?" is a terse yes/no question; "... and what about X?" is not
        return OPEN if _EMBEDDED_WH.search(low) else YES_NO
    return "statement"


def question_type(question: str) -> str:
    """``yes_no`` when every sentence that asks is a yes/no question (or the text is one claim to
    verify); ``open`` when one asks what/which/how/... or requests information, and for a message
    of several statements that asks nothing a verdict could answer."""
    sents = request_sentences(question)
    forms = [_form(s) for s in sents]
    asking = [f for f in forms if f != "statement"]
    if asking:
        return YES_NO if all(f == YES_NO for f in asking) else OPEN
    return YES_NO if len(sents) == 1 else OPEN  # one claim is verified; a story without a question is not


def asking_text(question: str) -> str:
    """The part of ``question`` that asks (its yes/no sentences), or the whole text when none does."""
    sents = request_sentences(question)
    asks = [s for s in sents if _form(s) == YES_NO]
    return " ".join(asks) if asks and len(sents) > 1 else question


@dataclass(frozen=True)
class KeyTerm:
    """A content word of the question: its stem (as BM25 indexes it), its words as asked, its weight."""

    stem: str
    words: str
    weight: float
    positions: tuple[int, ...] = ()  # where its words stand among the question's words (adjacent words form a concept)


def key_terms(question: str, idf: Callable[[Sequence[str]], Mapping[str, float]] | None = None) -> list[KeyTerm]:
    """The question's content words (stopwords and the leading auxiliary left out), each weighted by
    ``idf`` (stem -> inverse document frequency in the index searched; equal weights without it)."""
    from kbqa.lexical import tokenize

    surface = re.findall(r"\w+", asking_text(question))
    if surface and surface[0].lower() in AUXILIARIES:
        surface = surface[1:]
    stems = tokenize(surface) if surface else []
    first: dict[str, str] = {}
    at: dict[str, list[int]] = {}
    for n, (word, toks) in enumerate(zip(surface, stems)):
        for t in toks:
            first.setdefault(t, word)
            at.setdefault(t, []).append(n)
    weights = dict(idf(list(first))) if idf is not None and first else {}
    return [KeyTerm(t, w, float(weights.get(t, 1.0)), tuple(at[t])) for t, w in first.items()]


@dataclass(frozen=True)
class Coverage:
    """How much of the question's key-term weight a text holds, and what it lacks."""

    found: list[KeyTerm]
    missing: list[KeyTerm]

    @property
    def share(self) -> float:
        """Weighted share of the key terms found (1.0 for a question without key terms)."""
        total = sum(t.weight for t in self.found) + sum(t.weight for t in self.missing)
        return 1.0 if total <= 0 else sum(t.weight for t in self.found) / total

    @property
    def largest_missing(self) -> float:
        """The weight share of the heaviest missing concept: a missing term, or missing terms whose
        words stand side by side in the question ("lactic acidosis", "muscle pain"); 0.0 when
        nothing is missing."""
        total = sum(t.weight for t in self.found) + sum(t.weight for t in self.missing)
        if total <= 0 or not self.missing:
            return 0.0
        at = {p: t for t in self.missing for p in t.positions}
        heaviest, run, prev = 0.0, set(), None  # runs of adjacent missing words, each term counted once
        for p in sorted(at):
            if prev is None or p != prev + 1:
                run = set()
            run.add(at[p].stem)
            heaviest = max(heaviest, sum(t.weight for t in self.missing if t.stem in run))
            prev = p
        return max(heaviest, max(t.weight for t in self.missing)) / total

    def missing_words(self, question: str, heavy: float = 0.5) -> list[str]:
        """The missing terms that weigh at least ``heavy`` times the heaviest missing one, in the
        question's own words, neighbours joined ("lactic acidosis", not "risk" or "increase")."""
        from kbqa.lexical import tokenize

        top = max((t.weight for t in self.missing), default=0.0)
        lacking = {t.stem for t in self.missing if t.weight >= heavy * top}
        words = re.findall(r"\w+", asking_text(question))
        phrases, run = [], []
        for word, stems in zip(words, tokenize(words) if words else []):
            if stems and set(stems) <= lacking:
                run.append(word)
            elif run:
                phrases.append(" ".join(run))
                run = []
        if run:
            phrases.append(" ".join(run))
        return list(dict.fromkeys(phrases))


def coverage(terms: Sequence[KeyTerm], text: str) -> Coverage:
    """Which of ``terms`` ``text`` holds (stems compared as BM25 indexes them)."""
    from kbqa.lexical import tokenize

    have = set(tokenize([text])[0])
    return Coverage([t for t in terms if t.stem in have], [t for t in terms if t.stem not in have])

