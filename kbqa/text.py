"""Sentence units of a document's text, list-aware: the one splitter for evidence sentences.

Knowledge-base answers (MedQuAD) hold bullet lists flattened into text: each item starts with
``- `` at the start of a line or after spaces (``... include - an EKG - a blood pressure monitor``),
sometimes with a stray ``>`` left by an HTML entity (``- >Antiplatelet ...``). Every list item is a
unit of its own, so a sentence never runs from one item into the next; inside a unit (and in plain
prose) a sentence ends at ``.``, ``!`` or ``?`` followed by a space and a capital, digit or bracket
("p<0.05" or "e.g. here" do not end one). Line breaks always end a unit.

``sentence_spans(text, lists=False)`` is the reader's plain-prose rule set (what the reader's
sentence selector and highlights were fitted and measured with): sentences end only at the
``.``/``!``/``?`` boundary, lines and list markers are not units, only spaces are stripped, and a
text without a boundary is one sentence.
"""

from __future__ import annotations

import re

# a sentence ends at . ! or ? (closing quotes/brackets included) followed by space and a capital, digit or bracket
# (or a stray ">" before one: the remains of an HTML entity in MedQuAD, "... arteries. >Antiplatelet ...")
_BOUNDARY = re.compile(r"[.!?]+[\"')\]]*(?=\s+>?[A-Z0-9(\[])")
# a list-item marker: "-" (or a bullet) at the start of a line or after whitespace, then whitespace;
# not a minus before a number ("18 - 65 years", "r = - 0.4")
_ITEM = re.compile(r"(?:^|(?<=\s))[-\u2022*](?=[ \t]+[^\s\d])", re.MULTILINE)
_LEAD = " \t\r\n\f\v>-\u2022*"  # what a unit may start with and is not part of its text
# the plain-prose boundary (lists=False): no stray ">" before the next sentence
_PROSE_BOUNDARY = re.compile(r"[.!?]+[\"')\]]*(?=\s+[A-Z0-9(\[])")


def _strip(text: str, a: int, b: int) -> tuple[int, int]:
    while a < b and text[a] in _LEAD:
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


def sentence_spans(text: str, *, lists: bool = True) -> list[tuple[int, int]]:
    """Half-open character spans of the sentences of ``text``, in order, stripped of spaces and list markers.

    Never crosses a line break or a list-item marker (see the module docstring). ``lists=False``:
    the plain-prose rules (module docstring), spans stripped of spaces only.
    """
    if not lists:
        return _prose_spans(text)
    cuts = {0, len(text)}
    cuts.update(m.start() for m in re.finditer(r"\n", text))
    cuts.update(m.start() for m in _ITEM.finditer(text))
    spans = []
    edges = sorted(cuts)
    for lo, hi in zip(edges, edges[1:]):
        start = lo
        for end in [m.end() for m in _BOUNDARY.finditer(text, lo, hi)] + [hi]:
            a, b = _strip(text, start, end)
            if b > a and any(c.isalnum() for c in text[a:b]):
                spans.append((a, b))
            start = end
    return spans


def _prose_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    start = 0
    for end in [m.end() for m in _PROSE_BOUNDARY.finditer(text)] + [len(text)]:
        a, b = start, end
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if b > a:
            spans.append((a, b))
        start = end
    return spans or ([(0, len(text))] if text else [])


def normalised(sentence: str) -> str:
    """The words of ``sentence``, lower case: the key duplicates are recognised by."""
    return " ".join(re.findall(r"\w+", sentence.lower()))
