"""Interaction evidence comes from the documents' own sentences: list items apart, repeats merged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kbqa.cli.ddi import render_table
from kbqa.ddi.interactions import INTERACTION, NO_EVIDENCE, NOT_STATED, DocumentView, check
from kbqa.text import sentence_spans
from kbqa.types import Chunk, Hit

LABELS = ["none", "mechanism", "effect", "advise", "int"]
# a MedQuAD answer: a bullet list flattened into text, with a stray ">" from an HTML entity
LIST = ("Nitrates, such as nitroglycerin, relax blood vessels. Anticoagulants, such as heparin and warfarin, thin "
        "the blood and prevent clots.  - >Antiplatelet medications, such as aspirin and clopidogrel, stop platelets "
        "from clumping. - Glycoprotein inhibitors are potent.\nThese include - an EKG - a blood pressure monitor")


class FakeKB:
    def __init__(self, chunks: list[Chunk]) -> None:
        self.chunks = chunks
        self.index_dir = Path("fake-index")

    def __len__(self) -> int:
        return len(self.chunks)

    def iter_chunks(self):  # noqa: ANN201
        return iter(self.chunks)

    def document_chunks(self, doc_id: str) -> list[Chunk]:
        return [c for c in self.chunks if c.doc_id == doc_id]

    def search_many(self, queries: list[str], k: int = 10) -> list[list[Hit]]:
        return [[] for _ in queries]


class FixedModel:
    """Stands in for DDIModel: P(interaction) = ``p`` for every sentence (the rest is 'effect')."""

    labels = LABELS
    model_dir = Path("fixed-model")

    def __init__(self, p: float) -> None:
        self.p = p
        self.seen: list[str] = []

    def predict_proba(self, blinded: list[str]) -> np.ndarray:
        self.seen += blinded
        return np.array([[1 - self.p, 0.0, self.p, 0.0, 0.0]] * len(blinded), dtype=np.float64)


def _chunks(doc_id: str, text: str, bounds: list[tuple[int, int]], meta: dict | None = None) -> list[Chunk]:
    return [Chunk(f"{doc_id}#{i}", doc_id, text[a:b], a, b, "T", meta or {"source": "test"})
            for i, (a, b) in enumerate(bounds)]


def test_sentence_spans_keep_list_items_apart() -> None:
    got = [LIST[a:b] for a, b in sentence_spans(LIST)]
    assert got == [
        "Nitrates, such as nitroglycerin, relax blood vessels.",
        "Anticoagulants, such as heparin and warfarin, thin the blood and prevent clots.",
        "Antiplatelet medications, such as aspirin and clopidogrel, stop platelets from clumping.",
        "Glycoprotein inhibitors are potent.",
        "These include", "an EKG", "a blood pressure monitor",
    ]
    text = "Ages 18 - 65 (r = - 0.4, p<0.05) were seen, e.g. here. Next one\n- Item one.\n* Item two"
    assert [text[a:b] for a, b in sentence_spans(text)] == [
        "Ages 18 - 65 (r = - 0.4, p<0.05) were seen, e.g. here.", "Next one", "Item one.", "Item two"]


def test_interaction_sentences_do_not_cross_list_items() -> None:
    kb, model = FakeKB(_chunks("d", LIST, [(0, len(LIST))])), FixedModel(0.999)
    report = check(kb, ["warfarin", "aspirin", "heparin"], model=model)
    by = {p.drugs: p for p in report.pairs}
    assert by[("warfarin", "aspirin")].status == NO_EVIDENCE  # each is named only in its own list item
    assert by[("aspirin", "heparin")].status == NO_EVIDENCE
    wh = by[("warfarin", "heparin")]
    assert wh.status == INTERACTION and wh.sentences == 1
    assert wh.evidence[0].sentence == "Anticoagulants, such as heparin and warfarin, thin the blood and prevent clots."
    assert all("- >" not in s and ">" not in s for s in model.seen)


def test_repeats_from_overlapping_chunks_lists_and_other_documents_are_merged() -> None:
    s = "Aspirin increases the anticoagulant effect of warfarin."
    text = f"Intro line. {s} More text here. - {s}\nThe end of the answer."  # a list item repeated as prose
    cut = text.index("effect") + 3  # the first chunk ends inside the sentence
    chunks = _chunks("a", text, [(0, cut), (text.index("Aspirin"), len(text))])
    other = f"Another answer. {s}"
    chunks += _chunks("b", other, [(0, len(other))])
    report = check(FakeKB(chunks), ["aspirin", "warfarin"], model=FixedModel(0.999))
    (pair,) = report.pairs
    assert pair.sentences == 1 and len(pair.evidence) == 1
    ev = pair.evidence[0]
    assert ev.sentence == s and text[ev.span[0] : ev.span[1]] == s  # offsets in the document, read whole
    assert ev.hit.doc_id == "a" and ev.also_in == ("b",)
    assert report.to_dict()["pairs"][0]["evidence"][0]["also_in"] == ["b"]


def test_a_sentence_across_chunk_edges_is_read_from_the_document() -> None:
    text = "First sentence here. Cimetidine inhibits the metabolism of warfarin in the liver. Last."
    a, b = text.index("metabolism"), text.index("warfarin")
    chunks = _chunks("d", text, [(0, b - 1), (a, len(text))])  # neither chunk holds the whole sentence
    view = DocumentView(chunks)
    assert view.text == text
    report = check(FakeKB(chunks), ["cimetidine", "warfarin"], model=FixedModel(0.999))
    assert report.pairs[0].evidence[0].sentence == "Cimetidine inhibits the metabolism of warfarin in the liver."
    gap = _chunks("g", "Aspirin now. Warfarin later.", [(0, 12), (13, 28)])  # an uncovered space: a line break
    assert DocumentView(gap).text == "Aspirin now.\nWarfarin later."


@pytest.mark.parametrize("p, threshold, status", [(0.7, 0.5, INTERACTION), (0.7, 0.8, NOT_STATED),
                                                  (0.8, 0.8, INTERACTION), (0.7996, 0.8, NOT_STATED)])
def test_the_threshold_decides_the_status(p: float, threshold: float, status: str) -> None:
    text = "Aspirin and warfarin were both given."
    report = check(FakeKB(_chunks("d", text, [(0, len(text))])), ["aspirin", "warfarin"], model=FixedModel(p),
                   threshold=threshold)
    (pair,) = report.pairs
    assert pair.status == status and report.provenance["threshold"] == threshold
    assert pair.evidence[0].type == ("effect" if status == INTERACTION else "none")
    table = render_table(report)
    assert f"threshold {threshold:g}" in table
    if status == NOT_STATED:
        shown = f"{p:.2f}" if p == 0.7 else "0.7996"  # below the threshold never prints as equal to it
        assert f"no interaction stated (P(interaction) {shown})" in table
        assert "mentioned together, no interaction stated" in table
    else:
        assert f"interaction stated, effect (P(interaction) {p:.2f})" in table


def test_default_threshold_is_recorded_with_its_dev_precision() -> None:
    from kbqa.ddi.interactions import REPORT_THRESHOLD, THRESHOLD_PRECISION

    text = "Aspirin and warfarin were both given."
    report = check(FakeKB(_chunks("d", text, [(0, len(text))])), ["aspirin", "warfarin"], model=FixedModel(0.2))
    prov = report.provenance
    assert prov["threshold"] == REPORT_THRESHOLD and prov["threshold_dev_precision"] == THRESHOLD_PRECISION
    assert "ddi-comention" in prov["threshold_source"]
    with pytest.raises(ValueError, match="threshold"):
        check(FakeKB([]), ["aspirin", "warfarin"], model=FixedModel(0.2), threshold=1.5)
