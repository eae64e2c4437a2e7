"""The focus of a question: the conditions and medicines it is about.

Names come from what the index knows (each document's ``focus`` / ``condition`` / ``drug`` metadata,
:func:`index_names`) and from the shipped medicine names (the DDI corpus's drug entities,
``models/ddi/drug_names.txt``, and MedQuAD's medicine collections, ``models/qtype/medicines.txt``).
Names and questions are compared as normalised words (:func:`words`): lower case, hyphens and spaces
alike, a possessive ``'s`` and a plural ``s`` dropped, so "Parkinson's disease", "parkinsons disease"
and "Parkinson disease" match, and "pink-eye" matches "pink eye". Variants of a name (:func:`variants`): the
name without its parenthesis and the abbreviation inside it ("COPD"), "Diabetes, Type 2" as
"type 2 diabetes", an eponym without "disease" ("Crohn's"). The longest names win, without overlap; the
foci come in question order. Without any known name the focus falls back to the question's key noun
phrase (:func:`key_phrase`): the longest run of content words that are not question or type words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

MEDICINE, CONDITION, PHRASE = "medicine", "condition", "phrase"
MAX_WORDS = 8
_TOKEN = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)?")
_META_KEYS = ("focus", "condition", "conditions", "disease", "drug", "drugs", "medicine", "medicines")
_MEDICINE_COLLECTIONS = frozenset({"MPlusDrugs", "MPlusHerbsSupplements"})
_STOP = """
a an the and or of to in on for with without by at from as is are was were be been being am do does did
done have has had can could should would will may might must shall it its it's this that these those there
their they them he she his her him we our you your i i'm me my mine what which who whom whose when where
why how about any some all no not if so than then too very also just only more most other such into over
after before again further once here both each few own same s t don now please tell know help thank thanks
hello hi dear want wanted need like would information info get take taking taken use using used make one
anyone someone something anything out up down off yes much many way ways able let lot well really still
even ever since because while during through between under above below
"""
# words that say what is asked, not about what: left out of the key phrase
_TYPE = """
treatment treatments treat treated treating cure cures cured therapy therapies option options medication
medications medicine medicines drug drugs symptom symptoms sign signs cause causes caused causing reason
diagnosis diagnose diagnosed test tests testing exam exams prevent prevention preventing prognosis outlook
life expectancy risk risks chance chances inherited inheritance genetic complication complications common
frequency side effect effects dose dosage doses dosing interaction interactions interact contraindication
contraindications safe safety work works working storage store overdose ingredient ingredients stop stopping
alternative alternatives difference different compare better best brand name names generic usage used
uses prescribed learn research literature latest new question questions problem problems condition
conditions disease diseases disorder disorders syndrome doctor doctors specialist specialists
"""


def _singular(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is", "ys")):
        return word[:-1]
    return word


def _norm(token: str) -> str:
    t = token.lower().replace("’", "'")
    if t.endswith("'s"):
        t = t[:-2]
    return _singular(t.replace("'", ""))


_NAME_ENDS = frozenset({"disease", "syndrome", "disorder"})
STOPWORDS = frozenset(_norm(w) for w in _STOP.split())
TYPE_WORDS = frozenset(_norm(w) for w in _TYPE.split())



def words(text: str) -> list[tuple[str, int, int]]:
    """(normalised word, start, end) per word of ``text``."""
    return [(_norm(m.group()), m.start(), m.end()) for m in _TOKEN.finditer(text)]


_FORMS = re.compile(r"[\s,]+(?:injection|oral|topical|ophthalmic|otic|nasal|spray|inhalation|rectal|vaginal|transdermal|"
                    r"patch|sublingual|buccal|powder|solution|suspension|tablets?|capsules?|(?:extended|delayed)-release)$",
                    re.IGNORECASE)


def variants(name: str) -> list[str]:
    """Spellings of ``name`` to look for (see the module docstring)."""
    base = " ".join(name.split())
    out = [base]
    inner = re.findall(r"\(([^()]*)\)", base)
    plain = " ".join(re.sub(r"\([^()]*\)", " ", base).split())
    if plain and plain != base:
        out.append(plain)
    out += [i.strip() for i in inner if re.fullmatch(r"[A-Za-z0-9-]{3,}", i.strip())]
    if "," in plain:  # "Diabetes, Type 2" -> "Type 2 Diabetes"
        head, _, tail = plain.partition(",")
        if tail.strip() and head.strip():
            out.append(f"{tail.strip()} {head.strip()}")
    bare = plain
    while True:  # "Abatacept Injection", "Timolol Ophthalmic" -> the medicine's name
        cut = re.sub(_FORMS, "", bare)
        if cut == bare or not cut.strip():
            break
        bare = cut.strip()
    if bare != plain:
        out.append(bare)
    eponym = re.match(r"^([A-Z][a-z]+(?:['’]s))\s+(disease|syndrome|disorder)$", plain, re.IGNORECASE)
    if eponym:
        out.append(eponym.group(1))
    return list(dict.fromkeys(out))


@dataclass(frozen=True)
class Focus:
    name: str  # the known name (or the phrase as asked)
    kind: str  # "medicine" | "condition" | "phrase"
    start: int
    end: int


class FocusLexicon:
    """Known names, matched in questions by their normalised words."""

    def __init__(self) -> None:
        self._names: dict[tuple[str, ...], tuple[str, str]] = {}

    def __len__(self) -> int:
        return len(self._names)

    def add(self, name: str, kind: str) -> None:
        """Add ``name`` and its variants; a name already known keeps its first spelling and kind."""
        for v in variants(name):
            key = tuple(w for w, _, _ in words(v))
            if not key or len(key) > MAX_WORDS:
                continue
            if len(key) == 1 and (key[0] in STOPWORDS or key[0] in TYPE_WORDS or len(key[0]) < 4 or key[0].isdigit()):
                continue  # "iron" stays, "pain" as a one-word name is too common to be told apart from the question
            self._names.setdefault(key, (" ".join(name.split()), kind))
            if len(key) == 2:  # "pink eye" also as "pinkeye"
                self._names.setdefault((key[0] + key[1],), (" ".join(name.split()), kind))

    def add_all(self, names: Iterable[str], kind: str) -> FocusLexicon:
        for n in names:
            if n and n.strip():
                self.add(n, kind)
        return self

    def find(self, text: str, limit: int = 5) -> list[Focus]:
        """Known names in ``text``: longest first without overlap, returned in text order, each name once."""
        toks = words(text)
        found: list[Focus] = []
        taken = [False] * len(toks)
        spans = []
        for n in range(min(MAX_WORDS, len(toks)), 0, -1):
            for i in range(len(toks) - n + 1):
                if any(taken[i:i + n]):
                    continue
                hit = self._names.get(tuple(w for w, _, _ in toks[i:i + n]))
                if hit:
                    spans.append((i, n, hit))
                    taken[i:i + n] = [True] * n
        seen: set[str] = set()
        for i, n, (name, kind) in sorted(spans):
            if name.lower() not in seen:
                seen.add(name.lower())
                found.append(Focus(name, kind, toks[i][1], toks[i + n - 1][2]))
        return found[:limit]


def key_phrase(text: str) -> Focus | None:
    """The longest run of content words (no stopwords, question or type words); the first on ties."""
    toks = words(text)
    best: tuple[int, int] | None = None
    i = 0
    while i < len(toks):
        if toks[i][0] in STOPWORDS or toks[i][0] in TYPE_WORDS or toks[i][0].isdigit():
            i += 1
            continue
        j = i
        while j < len(toks) and toks[j][0] not in STOPWORDS and toks[j][0] not in TYPE_WORDS:
            j += 1
        if j < len(toks) and toks[j][0] in _NAME_ENDS:  # "restless legs syndrome"
            j += 1
        if best is None or j - i > best[1] - best[0]:
            best = (i, j)
        i = j
    if best is None:
        return None
    a, b = toks[best[0]][1], toks[best[1] - 1][2]
    return Focus(text[a:b], PHRASE, a, b)


def find_focus(text: str, lexicon: FocusLexicon | None, limit: int = 5) -> list[Focus]:
    """Known names in ``text``, else its key noun phrase (one), else nothing."""
    found = lexicon.find(text, limit) if lexicon is not None else []
    if found:
        return found
    phrase = key_phrase(text)
    return [phrase] if phrase is not None else []


def read_names(path: str | Path) -> list[str]:
    """One name a line (``#`` comments and blank lines skipped); a missing file gives none."""
    p = Path(path)
    if not p.is_file():
        return []
    return [ln.split("#", 1)[0].strip() for ln in p.read_text(encoding="utf-8").splitlines() if ln.split("#", 1)[0].strip()]


def index_names(documents: Mapping[str, Mapping]) -> tuple[list[str], list[str]]:
    """(medicine names, condition names) from the documents' metadata (rows of documents.jsonl)."""
    medicines: set[str] = set()
    conditions: set[str] = set()
    for row in documents.values():
        meta = row.get("meta", {}) or {}
        medicine = meta.get("collection") in _MEDICINE_COLLECTIONS
        for key in _META_KEYS:
            value = meta.get(key)
            values = value if isinstance(value, list) else [value]
            for v in values:
                if isinstance(v, str) and v.strip():
                    (medicines if medicine or key.startswith(("drug", "medicine")) else conditions).add(v.strip())
    return sorted(medicines), sorted(conditions)
