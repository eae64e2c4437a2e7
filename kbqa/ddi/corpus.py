"""Reader for the DDI Extraction 2013 corpus (XML, one document per file).

Format::

    <document id="DDI-MedLine.d78">
      <sentence id="...s1" text="...">
        <entity id="...s1.e0" charOffset="4-19" type="drug" text="..."/>
        <pair id="...s1.p0" e1="...s1.e0" e2="...s1.e1" ddi="true" type="effect"/>
      </sentence>
    </document>

``charOffset`` uses *inclusive* end offsets and may be discontinuous ("112-125;146-150"); we
store half-open Python spans. A positive pair (``ddi="true"``) without a ``type`` is read as
``"int"``: the annotation guidelines use ``int`` for "an interaction is stated, with no further
information", which is exactly what a typeless positive says. (The released training part has
no such pair; older releases of the corpus did.)

:func:`load_split` / :func:`split_docs` give the train/dev documents of a committed split
(eval/splits/ddi2013.json), for training and for ``kbqa eval ddi`` alike.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kbqa.errors import InputError, KbqaError
from kbqa.paths import load_split  # noqa: F401  (the one split reader, re-exported for DDI callers)
from kbqa.types import Document

POSITIVE_TYPES = ("mechanism", "effect", "advise", "int")
NEGATIVE = "none"
LABELS = (NEGATIVE, *POSITIVE_TYPES)


@dataclass(frozen=True)
class DDIEntity:
    """A drug mention. ``spans`` are half-open character offsets into the sentence text."""

    entity_id: str
    text: str
    type: str  # drug | brand | group | drug_n
    spans: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class DDIPair:
    """A candidate pair of two entities of one sentence; ``label`` is ``none`` or a DDI type."""

    pair_id: str
    e1: str
    e2: str
    label: str


@dataclass(frozen=True)
class DDISentence:
    sentence_id: str
    doc_id: str
    text: str
    entities: tuple[DDIEntity, ...]
    pairs: tuple[DDIPair, ...]

    def entity(self, entity_id: str) -> DDIEntity:
        for ent in self.entities:
            if ent.entity_id == entity_id:
                return ent
        raise KeyError(entity_id)


@dataclass(frozen=True)
class DDIDocument:
    doc_id: str
    sentences: tuple[DDISentence, ...]
    collection: str  # "DrugBank" or "MedLine" (the id's prefix), "" when unknown
    path: str


def parse_offsets(value: str, text_len: int, *, where: str, path: str) -> tuple[tuple[int, int], ...]:
    """``"4-19;30-35"`` (inclusive ends) -> ``((4, 20), (30, 36))``, checked against the text length."""
    spans = []
    for part in value.split(";"):
        try:
            a, b = (int(x) for x in part.strip().split("-"))
        except ValueError:
            raise InputError(
                f"{where}: charOffset {value!r} is not 'start-end[;start-end...]' with integers",
                path=path,
            ) from None
        if not 0 <= a <= b < text_len:
            raise InputError(
                f"{where}: charOffset {value!r} lies outside the sentence text (length {text_len})",
                path=path,
            )
        spans.append((a, b + 1))
    return tuple(spans)


def _attr(elem: ET.Element, name: str, *, where: str, path: str) -> str:
    value = elem.get(name)
    if value is None:
        raise InputError(f"{where}: <{elem.tag}> lacks the required attribute {name!r}", path=path)
    return value


def _collection(doc_id: str) -> str:
    for name in ("DrugBank", "MedLine"):
        if doc_id.startswith(f"DDI-{name}"):
            return name
    return ""


def read_file(path: str | Path) -> DDIDocument:
    """Parse one DDI 2013 XML file. Raises ``InputError`` naming the file and element when malformed."""
    p = str(path)
    try:
        root = ET.parse(p).getroot()
    except ET.ParseError as exc:
        line = exc.position[0] if getattr(exc, "position", None) else None
        raise InputError(f"not well-formed XML ({exc})", path=p, line=line) from None
    except OSError as exc:
        raise KbqaError(f"cannot read DDI file {p}: {exc}") from None
    if root.tag != "document":
        raise InputError(f"root element is <{root.tag}>, expected <document> (DDI 2013 format)", path=p)
    doc_id = _attr(root, "id", where="<document>", path=p)
    sentences = []
    for s in root.iter("sentence"):
        sid = _attr(s, "id", where=f"sentence in {doc_id}", path=p)
        text = _attr(s, "text", where=f"sentence {sid}", path=p)
        entities = []
        for e in s.findall("entity"):
            eid = _attr(e, "id", where=f"entity in {sid}", path=p)
            spans = parse_offsets(
                _attr(e, "charOffset", where=f"entity {eid}", path=p), len(text), where=f"entity {eid}", path=p
            )
            entities.append(
                DDIEntity(eid, e.get("text", ""), e.get("type", "drug"), spans)
            )
        known = {ent.entity_id for ent in entities}
        pairs = []
        for q in s.findall("pair"):
            pid = _attr(q, "id", where=f"pair in {sid}", path=p)
            e1 = _attr(q, "e1", where=f"pair {pid}", path=p)
            e2 = _attr(q, "e2", where=f"pair {pid}", path=p)
            for ref in (e1, e2):
                if ref not in known:
                    raise InputError(f"pair {pid} refers to entity {ref!r}, not in sentence {sid}", path=p)
            ddi = _attr(q, "ddi", where=f"pair {pid}", path=p).strip().lower()
            if ddi not in ("true", "false"):
                raise InputError(f"pair {pid}: ddi={ddi!r}, expected 'true' or 'false'", path=p)
            label = NEGATIVE
            if ddi == "true":
                label = (q.get("type") or "int").strip().lower()
                if label not in POSITIVE_TYPES:
                    raise InputError(
                        f"pair {pid}: type={label!r}, expected one of {list(POSITIVE_TYPES)}", path=p
                    )
            pairs.append(DDIPair(pid, e1, e2, label))
        sentences.append(DDISentence(sid, doc_id, text, tuple(entities), tuple(pairs)))
    return DDIDocument(doc_id, tuple(sentences), _collection(doc_id), p)


def read_corpus(folder: str | Path) -> list[DDIDocument]:
    """Every ``*.xml`` under ``folder`` (recursively, e.g. Train/DrugBank and Train/MedLine), sorted by path."""
    root = Path(folder)
    if root.is_file():
        return [read_file(root)]
    if not root.is_dir():
        raise KbqaError(f"DDI data folder not found: {root} (give the folder holding the *.xml files)")
    files = sorted(root.rglob("*.xml"))
    if not files:
        raise KbqaError(f"no *.xml files under {root}; expected the DDI 2013 layout (e.g. Train/DrugBank/*.xml)")
    return [read_file(f) for f in files]


def split_docs(docs: list[DDIDocument], split: dict[str, list[str]]) -> tuple[list[DDIDocument], list[DDIDocument]]:
    by_id = {d.doc_id: d for d in docs}
    missing = [i for i in split["train"] + split["dev"] if i not in by_id]
    if missing:
        raise KbqaError(
            f"{len(missing)} document ids of the split are not in the data (e.g. {missing[:3]}); "
            "point --data at the DDI 2013 Train folder the split was made from"
        )
    return [by_id[i] for i in split["train"]], [by_id[i] for i in split["dev"]]


def iter_documents(folder: str | Path) -> Iterator[Document]:
    """One ``kbqa.types.Document`` per DDI document (text = its sentences, one per line), for indexing."""
    for doc in read_corpus(folder):
        texts = [s.text.strip() for s in doc.sentences if s.text.strip()]
        # MedLine abstracts start with their title; DrugBank files are named after their drug.
        title = texts[0] if doc.collection == "MedLine" and texts else Path(doc.path).stem.removesuffix("_ddi")
        yield Document(
            doc_id=doc.doc_id,
            text="\n".join(texts),
            title=title,
            meta={"source": "ddi2013", "collection": doc.collection, "licence": "CC BY-NC 4.0"},
        )
