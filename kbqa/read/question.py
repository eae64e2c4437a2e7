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
_EMBEDDED_WH = re.compile(r"\b(?:what|which|how|where|why)\b")  # not who/whose: "women who became pregnant"
# "Can you help ...", "Is there any way you could send me information ...": a request put as a question
_ASKS_SOMEONE = re.compile(r"^(?:\S+ )(?:you|u|someone|anyone|anybody|somebody|there (?:any|a) ?(?:way|one|body|place))\b")
_REQUEST_WORDS = re.compile(r"\b(?:help|information|info|send|tell|know|explain|advi[cs]e|suggest\w*|recommend\w*|"
                            r"details|direct me|point me|refer me)\b")
# a request anywhere in a sentence: "my son has X, we are looking for a drug that could help him"
_LOOKING = re.compile(r"\b(?:looking for|searching for|in search of|want to know|wanted to know|would like to know|"
                      r"need to know|like to know|need (?:information|info|advice|help)|"
                      r"(?:would like|'d like|need|want)\b.{0,25}\b(?:suggestions?|information|info|advice|"
                      r"recommendations?|specialist|doctor))\b")
_FIRST_PERSON = frozenset("i i'm im my we we're our me".split())  # a story, not a claim to verify
_GREETING = re.compile(r"^(?:hi|hello|dear|thanks?|thank you|regards|sincerely|best)\b", re.IGNORECASE)
# a possible sentence end: . ! ? and closing quotes/brackets, then space (a line break always ends one)
_END = re.compile(r"[.!?][\"')\]]*\s+|\s*\n+\s*")
_ABBREVIATION = re.compile(r"(?:\b[A-Za-z]|\b(?:[A-Z]\.)+[A-Z]|\be\.g|\bi\.e|\bvs|\bDr|\bMr|\bMrs|\bMs|\bal|\bFig|\bNo|\bSt)\.$")


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def request_sentences(text: str) -> list[str]:
    """The sentences of ``text`` (a question, or a message with a subject line), greetings dropped."""
    parts, start = [], 0
    for m in _END.finditer(text):
        before, after = text[start:m.end()].rstrip(), text[m.end():]
        nxt = _words(after[:40])
        ends = ("\n" in m.group() or "?" in m.group() or "!" in m.group()
                or (after[:1].isupper() or after[:1].isdigit() or after[:1] in "([\"'")
                and not _ABBREVIATION.search(before)
                or bool(nxt) and (nxt[0] in AUXILIARIES or nxt[0] in _WH or nxt[0] in ("please", "pls")))
        if ends:
            parts.append(before)
            start = m.end()
    parts.append(text[start:])
    parts = [p.strip() for p in parts if p and p.strip()]
    # "Hello." or "Thanks for your help" are no part of the request ("Hi my name is X, I have ..." is)
    return [p for p in parts if _words(p) and not (_GREETING.match(p) and len(_words(p)) <= 6)] or [text.strip()]


def _form(sentence: str) -> str:
    """``yes_no`` / ``open`` for a sentence that asks, ``statement`` otherwise."""
    # "Laparoscopy in children: is it safe?" -> the clause after the last colon asks
    clause = sentence.rsplit(":", 1)[-1] if ":" in sentence and _words(sentence.rsplit(":", 1)[-1]) else sentence
    words = _words(clause)
    low = " ".join(words)
    if not words:
        return "statement"
    if words[0] in _WH or _REQUEST.match(low) or _LOOKING.search(low):
        return OPEN
    if words[0] in AUXILIARIES:
        # "Can you tell me what causes it?" and "Can you help with treatment?" ask for content,
        # "Is it safe when pregnant?" and "Can someone catch it in hospital?" do not
        if _EMBEDDED_WH.search(" ".join(words[1:])) or (_ASKS_SOMEONE.match(low) and _REQUEST_WORDS.search(low)):
            return OPEN
        return YES_NO
    if re.search(r"\?\W*$", sentence):
        # "Metformin and lactic acidosis?" is a terse yes/no question; "... and what about X?" is not
        return OPEN if _EMBEDDED_WH.search(low) else YES_NO
    return "statement"


def asking_sentences(text: str) -> list[str]:
    """The sentences of ``text`` that ask (a question or a request), in order; none for a story alone."""
    return [s for s in request_sentences(text) if _form(s) != "statement"]


def question_type(question: str) -> str:
    """``yes_no`` when every sentence that asks is a yes/no question (or the text is one claim to
    verify); ``open`` when one asks what/which/how/... or requests information, and for a message
    of several statements that asks nothing a verdict could answer."""
    sents = request_sentences(question)
    forms = [_form(s) for s in sents]
    asking = [f for f in forms if f != "statement"]
    if asking:
        return YES_NO if all(f == YES_NO for f in asking) else OPEN
    # one claim is verified; a story without a question, or a request in the first person, is not
    words = _words(sents[0])
    return YES_NO if len(sents) == 1 and (not words or words[0] not in _FIRST_PERSON) else OPEN


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
    positions: tuple[int, ...] = ()  # where its words stand among the asking text's words (adjacent ones form a concept)


def key_terms(question: str, idf: Callable[[Sequence[str]], Mapping[str, float]] | None = None) -> list[KeyTerm]:
    """The question's content words (stopwords and the leading auxiliary left out), each weighted by
    ``idf`` (stem -> inverse document frequency in the index searched; equal weights without it)."""
    from kbqa.lexical import tokenize

    surface = re.findall(r"\w+", asking_text(question))
    skip = 1 if surface and surface[0].lower() in AUXILIARIES else 0
    surface = surface[skip:]
    stems = tokenize(surface) if surface else []
    first: dict[str, str] = {}
    at: dict[str, list[int]] = {}
    for n, (word, toks) in enumerate(zip(surface, stems), start=skip):
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
        top = max((t.weight for t in self.missing), default=0.0)
        lacking = {p for t in self.missing if t.weight >= heavy * top for p in t.positions}
        words = re.findall(r"\w+", asking_text(question))  # what key_terms' positions index
        phrases, run = [], []
        for n, word in enumerate(words):
            if n in lacking:
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

