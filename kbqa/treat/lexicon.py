"""The treatment lexicon: medicine, procedure and therapy names, built from the knowledge base and shipped data.

- Medicines: MedQuAD's medicine collections (``models/qtype/medicines.txt``: MPlusDrugs and
  MPlusHerbsSupplements topics), the DDI 2013 corpus's drug entities (``models/ddi/drug_names.txt``:
  drugs, brands and drug groups such as "corticosteroids") and the index's own medicine documents
  (kbqa.intent.focus.index_names).
- Procedures and therapies: mined from the knowledge base's treatment passages (section type
  ``treatment``, kbqa.intent.prefer.section_type). A name is a noun phrase ending in a closed-class
  head: the words of :data:`PROCEDURE_HEADS` / :data:`THERAPY_HEADS` and the surgical and therapy
  suffixes (``-ectomy``, ``-otomy``, ``-ostomy``, ``-plasty``, ``-therapy``). These word classes name
  *what kind of act* a treatment is, not any treatment: a closed set, as "disease/syndrome" is for
  conditions. A head that names a treatment on its own ("surgery", "dialysis", "chemotherapy") is kept
  wherever it occurs; a phrase of one or two modifiers and a head ("bone marrow transplant", "speech
  therapy") is kept when at least :data:`MIN_DOCUMENTS` documents use it, so one passage's wording
  ("such therapy", "early surgery") does not become a name.

Names are matched with kbqa.intent.focus.FocusLexicon (normalised words, longest match, variants).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kbqa.intent.focus import MEDICINE, STOPWORDS, Focus, FocusLexicon, index_names, read_names, words
from kbqa.text import normalised, sentence_spans

PROCEDURE, THERAPY = "procedure", "therapy"
KINDS = (MEDICINE, PROCEDURE, THERAPY)
MIN_DOCUMENTS = 2  # documents a multi-word procedure/therapy phrase must appear in
MAX_MODIFIERS = 2
BOILERPLATE_TOPICS = 5  # a treatment sentence told word for word about this many topics is a template
# heads that name a treatment alone (normalised singular words)
PROCEDURE_HEADS = frozenset("""surgery transplant transplantation transfusion dialysis resection amputation
embolization radiosurgery radiation cryosurgery hemodialysis""".split())
THERAPY_HEADS = frozenset("""psychotherapy physiotherapy rehabilitation counseling counselling""".split())
# heads that need a modifier to name a treatment ("therapy" alone, "replacement" alone say nothing)
GENERIC_PROCEDURE_HEADS = frozenset("""replacement repair removal implant implantation stimulation drainage bypass
ablation procedure operation""".split())
GENERIC_THERAPY_HEADS = frozenset("""therapy care training""".split())
_PROCEDURE_SUFFIX = re.compile(r"[a-z]{3,}(?:ectomy|otomy|ostomy|plasty|pexy)$")
_THERAPY_SUFFIX = re.compile(r"[a-z]{3,}therapy$")
# modifiers that qualify any treatment and are not part of its name ("early surgery", "such therapy")
_QUALIFIERS = frozenset(_w for _w in """early late current standard new other initial further additional appropriate
specific possible available effective ineffective certain several various different usual conventional
long short term medical health primary previous prior subsequent urgent emergency immediate major minor
ongoing regular routine optional successful unsuccessful experimental recommended main first second
third best most many treatment this that each every any sometime sometimes usually often generally typically
rarely occasionally always frequently later common another similar same topic encyclopedia""".split())
# verbs that stand before a treatment ("recommend surgery", "undergo dialysis") and are not part of its name
_VERBS = frozenset("""recommend need needed require undergo include involve perform receive consider use try suggest
prefer avoid start begin stop continue provide offer get give require requires""".split())


def head_kind(word: str) -> tuple[str | None, bool]:
    """(kind, stands alone) of a normalised word as the head of a treatment name; (None, False) if none."""
    if word in PROCEDURE_HEADS or _PROCEDURE_SUFFIX.match(word):
        return PROCEDURE, True
    if word in THERAPY_HEADS or _THERAPY_SUFFIX.match(word):
        return THERAPY, True
    if word in GENERIC_PROCEDURE_HEADS:
        return PROCEDURE, False
    if word in GENERIC_THERAPY_HEADS:
        return THERAPY, False
    return None, False


def _modifier(word: str) -> bool:
    return (word not in STOPWORDS and word not in _QUALIFIERS and word not in _VERBS and not word.isdigit()
            and len(word) > 1 and not word.endswith("ing"))


def treatment_phrases(text: str) -> list[tuple[str, str, bool]]:
    """(phrase as written, kind, stands alone) for every head in ``text`` with up to two modifiers before it
    (each prefix once: "stem cell transplant" gives "stem cell transplant", "cell transplant", "transplant")."""
    toks = words(text)
    out = []
    for i, (w, _, end) in enumerate(toks):
        kind, alone = head_kind(w)
        if kind is None:
            continue
        if alone:
            out.append((text[toks[i][1]:end], kind, True))
        j = i
        while j > 0 and i - j < MAX_MODIFIERS and _modifier(toks[j - 1][0]) and head_kind(toks[j - 1][0])[0] is None \
                and not re.search(r"[.,;:()\n]", text[toks[j - 1][2]:toks[j][1]]):
            j -= 1
            out.append((text[toks[j][1]:end], kind, False))
    return out


def _topic(c: Any) -> str:
    return str(c.meta.get("focus") or c.meta.get("condition") or c.doc_id).lower()


def mine_procedures(chunks: Iterable[Any], min_documents: int = MIN_DOCUMENTS,
                    boilerplate_topics: int = BOILERPLATE_TOPICS) -> tuple[dict[str, str], frozenset[str]]:
    """(procedure and therapy names, lower case -> kind; boilerplate sentences) from the treatment passages
    among ``chunks``. A multi-word name must occur in ``min_documents`` documents about different topics
    (focus, else document). A boilerplate sentence (kbqa.text.normalised) is told word for word about
    ``boilerplate_topics`` topics or more: a site's template ("These resources address the diagnosis or
    management of ...: - Drug Therapy - Surgery and Rehabilitation"), which says nothing about one condition."""
    from kbqa.intent.prefer import section_type

    alone: dict[str, str] = {}
    docs: dict[str, set[str]] = {}
    kinds: dict[str, str] = {}
    sentences: dict[str, set[str]] = {}
    for c in chunks:
        if section_type(c.meta, c.text) != "treatment":
            continue
        topic = _topic(c)
        for a, b in sentence_spans(c.text):
            topics = sentences.setdefault(normalised(c.text[a:b]), set())
            if len(topics) < boilerplate_topics:
                topics.add(topic)
        for phrase, kind, stands in treatment_phrases(c.text):
            key = " ".join(phrase.lower().split())
            if stands:
                alone.setdefault(key, kind)
            else:
                docs.setdefault(key, set()).add(topic)
                kinds.setdefault(key, kind)
    found = dict(alone)
    found.update({k: kinds[k] for k, d in docs.items() if len(d) >= min_documents})
    return found, frozenset(k for k, t in sentences.items() if len(t) >= boilerplate_topics)


def shipped_medicines() -> list[str]:
    """MedQuAD's medicine-collection topics and the DDI corpus's drug names, as shipped with the models."""
    from kbqa.intent.detect import MEDICINES_FILE
    from kbqa.paths import model_dir

    names: list[str] = []
    for name, filename in (("qtype", MEDICINES_FILE), ("ddi", "drug_names.txt")):
        folder = model_dir(name)
        if folder is not None:
            names += read_names(folder / filename)
    return names


def build_lexicon(medicines: Iterable[str], procedures: dict[str, str]) -> FocusLexicon:
    """One lexicon of all three kinds; a name known as a medicine stays a medicine."""
    lex = FocusLexicon().add_all((m for m in medicines if len(m.strip()) > 3), MEDICINE)
    for name, kind in sorted(procedures.items()):
        lex.add(name, kind)
    return lex


@dataclass(frozen=True)
class TreatmentLexicon:
    names: FocusLexicon
    boilerplate: frozenset[str] = frozenset()  # normalised template sentences (mine_procedures)

    def __len__(self) -> int:
        return len(self.names)

    def find(self, text: str, limit: int = 100) -> list[Focus]:
        return self.names.find(text, limit)

    def is_boilerplate(self, sentence: str) -> bool:
        return normalised(sentence) in self.boilerplate


_CACHE: dict[tuple[str, str], TreatmentLexicon] = {}


def lexicon_for(kb: Any) -> TreatmentLexicon:
    """The treatment lexicon of ``kb`` (shipped medicine names + its own medicine documents + procedures
    mined from its treatment passages), built once per index version and process."""
    key = (str(getattr(kb, "index_dir", "")), str(getattr(kb, "version", id(kb))))
    if key not in _CACHE:
        if len(_CACHE) > 4:
            _CACHE.clear()
        medicines, _ = index_names(getattr(kb, "documents", {}) or {})
        procedures, boilerplate = mine_procedures(kb.iter_chunks())
        _CACHE[key] = TreatmentLexicon(build_lexicon([*shipped_medicines(), *medicines], procedures), boilerplate)
    return _CACHE[key]
