"""The interaction check: names, synonyms, candidate sentences, aggregation, no evidence, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kbqa.cli.ddi import render_table
from kbqa.ddi.interactions import (
    INTERACTION,
    NO_EVIDENCE,
    NOT_STATED,
    InteractionEvidence,
    aggregate,
    check,
)
from kbqa.ddi.names import load_synonyms, mention_pattern, read_drug_list, variants
from kbqa.errors import InputError, KbqaError
from kbqa.types import Chunk, Hit

LABELS = ["none", "mechanism", "effect", "advise", "int"]


class FakeKB:
    """The slice of KnowledgeBase that check() uses: search_many, iter_chunks, document_chunks, len."""

    def __init__(self, chunks: list[Chunk]) -> None:
        self.chunks = chunks
        self.index_dir = Path("fake-index")
        self.queries: list[str] = []

    def __len__(self) -> int:
        return len(self.chunks)

    def iter_chunks(self):  # noqa: ANN201
        return iter(self.chunks)

    def document_chunks(self, doc_id: str) -> list[Chunk]:
        return sorted((c for c in self.chunks if c.doc_id == doc_id), key=lambda c: c.start)

    def search_many(self, queries: list[str], k: int = 10) -> list[list[Hit]]:
        self.queries += queries
        return [[] for _ in queries]  # retrieval finds nothing: the scan must


class KeywordModel:
    """Stands in for DDIModel: 'increases' -> effect, 'metabolism' -> mechanism, else none."""

    labels = LABELS
    model_dir = Path("keyword-model")

    def __init__(self) -> None:
        self.seen: list[str] = []

    def predict_proba(self, blinded: list[str]) -> np.ndarray:
        self.seen += blinded
        out = np.full((len(blinded), 5), 0.001, dtype=np.float32)
        for i, t in enumerate(blinded):
            col = 2 if "increases" in t else 1 if "metabolism" in t else 0
            out[i, col] = 0.996
        return out


def _kb() -> FakeKB:
    text = (
        "Aspirin increases the anticoagulant effect of Coumadin. Cimetidine inhibits the metabolism of warfarin.\n"
        "Warfarin and ibuprofen were both given to the patients."
    )
    meta = {"source": "test", "pmid": "123", "year": 2001}
    return FakeKB([Chunk("d1#0", "d1", text, 0, len(text), "A title", meta)])


def test_variants_synonyms_and_matching() -> None:
    syn = {"coumadin": "warfarin", "jantoven": "warfarin"}
    v = variants("Coumadin", syn)
    assert {"coumadin", "warfarin", "jantoven"} <= set(v)
    pat = mention_pattern(variants("co-trimoxazole"))
    assert pat.search("given CO TRIMOXAZOLE daily") and pat.search("co-trimoxazoles")
    assert not mention_pattern(["aspirin"]).search("aspirinate")


def test_check_finds_types_and_blinds_like_training() -> None:
    kb, model = _kb(), KeywordModel()
    report = check(kb, ["aspirin", "warfarin", "cimetidine", "ibuprofen"], model=model, synonyms={"Coumadin": "warfarin"})
    by = {p.drugs: p for p in report.pairs}
    assert len(report.pairs) == 6 and len(kb.queries) == 6
    aw = by[("aspirin", "warfarin")]
    assert aw.status == INTERACTION and aw.type == "effect" and aw.confidence == pytest.approx(0.999)
    assert aw.evidence[0].sentence.startswith("Aspirin increases") and aw.evidence[0].hit.meta["pmid"] == "123"
    assert by[("warfarin", "cimetidine")].type == "mechanism"
    wi = by[("warfarin", "ibuprofen")]
    assert wi.status == NOT_STATED and wi.type is None and wi.sentences == 1
    assert by[("aspirin", "ibuprofen")].status == NO_EVIDENCE
    assert "DRUG1 increases the anticoagulant effect of DRUG2." in model.seen
    assert "DRUG1 inhibits the metabolism of DRUG2." in model.seen
    data = report.to_dict()
    first = data["pairs"][0]
    assert set(first) >= {"drugs", "status", "type", "confidence", "evidence"}
    assert first["evidence"][0]["citation"].endswith("PMID 123")
    assert "no evidence found in the knowledge base" in render_table(report)


def test_check_only_the_pairs_asked_for() -> None:
    kb, model = _kb(), KeywordModel()
    report = check(kb, ["aspirin", "warfarin", "cimetidine"], model=model, synonyms={"Coumadin": "warfarin"},
                   pairs=[("warfarin", "cimetidine")])
    assert [p.drugs for p in report.pairs] == [("warfarin", "cimetidine")] and len(kb.queries) == 1
    assert report.pairs[0].type == "mechanism"
    # the substring test before the mention pattern finds a brand name's mentions (Coumadin for warfarin)
    assert check(kb, ["aspirin", "warfarin"], model=model, synonyms={"Coumadin": "warfarin"}).pairs[0].type == "effect"
    for bad in ([("warfarin", "heparin")], [("warfarin", "warfarin")]):
        with pytest.raises(KbqaError, match="two different drugs of the list"):
            check(kb, ["aspirin", "warfarin"], model=model, pairs=bad)


def test_no_evidence_never_loads_the_model() -> None:
    report = check(_kb(), ["metformin", "insulin"], model="/nonexistent/model")
    (pair,) = report.pairs
    assert (pair.status, pair.type, pair.confidence, pair.evidence) == (NO_EVIDENCE, None, None, [])
    assert report.to_dict()["pairs"][0]["message"] == "no evidence found in the knowledge base"


def test_aggregate_votes_by_summed_probability() -> None:
    hit = Hit("c#0", "c", 1.0, "x")

    def ev(label: str, probs: list[float]) -> InteractionEvidence:
        p = dict(zip(LABELS, probs))
        return InteractionEvidence(hit, "s", (0, 1), label, 1 - p["none"], p)

    res = aggregate(("a", "b"), [ev("effect", [0.3, 0.25, 0.45, 0, 0]), ev("mechanism", [0.2, 0.45, 0.35, 0, 0]),
                                 ev("none", [0.9, 0.05, 0.05, 0, 0])], threshold=0.5)
    assert res.status == INTERACTION and res.type == "effect"  # summed: effect 0.8, mechanism 0.7
    assert res.confidence == pytest.approx(0.8) and res.sentences == 3
    assert [e.type for e in res.evidence] == ["mechanism", "effect", "none"]
    none_only = aggregate(("a", "b"), [ev("none", [0.9, 0.05, 0.05, 0, 0])], threshold=0.5)
    assert none_only.status == NOT_STATED and none_only.confidence == pytest.approx(0.9)


@pytest.mark.parametrize(
    "drugs, message",
    [([], "at least two"), (["aspirin"], "at least two"), (["aspirin", " "], "non-empty"), (["aspirin", 3], "non-empty"),
     (["Aspirin", "aspirin "], "same drug"), (["Coumadin", "warfarin"], "same drug"), ("aspirin", "list")],
)
def test_bad_drug_lists(drugs: list[str], message: str) -> None:
    with pytest.raises(KbqaError, match=message):
        check(_kb(), drugs, model=KeywordModel(), synonyms={"coumadin": "warfarin"})


def test_drug_list_and_synonym_files(tmp_path: Path) -> None:
    ok = tmp_path / "drugs.txt"
    ok.write_text("# my list\naspirin\n\nwarfarin  # anticoagulant\n")
    assert read_drug_list(ok) == ["aspirin", "warfarin"]
    bad = tmp_path / "drugs.csv"
    bad.write_text("aspirin,warfarin\n")
    with pytest.raises(KbqaError, match="unknown drug list format"):
        read_drug_list(bad)
    tabs = tmp_path / "tabs.txt"
    tabs.write_text("aspirin\twarfarin\n")
    with pytest.raises(InputError, match="tabs.txt:1"):
        read_drug_list(tabs)
    tsv = tmp_path / "syn.tsv"
    tsv.write_text("brand\tgeneric\nCoumadin\tWarfarin\n")
    assert load_synonyms(tsv) == {"coumadin": "warfarin"}
    js = tmp_path / "syn.json"
    js.write_text('{"Tylenol": "acetaminophen"}')
    assert load_synonyms(js) == {"tylenol": "acetaminophen"}
    js.write_text('["Tylenol"]')
    with pytest.raises(InputError, match="JSON object"):
        load_synonyms(js)
    three = tmp_path / "syn.csv"
    three.write_text("a,b,c\n")
    with pytest.raises(InputError, match="2 columns"):
        load_synonyms(three)


def test_known_drug_names_beside_the_pair_are_blinded_as_drugn() -> None:
    class LexiconModel(KeywordModel):
        def other_drugs(self, sentence: str) -> list[tuple[int, int]]:
            i = sentence.find("theophylline")
            return [(i, i + len("theophylline"))] if i >= 0 else []

    text = "Cimetidine inhibits the metabolism of warfarin and of theophylline."
    kb, model = FakeKB([Chunk("d#0", "d", text, 0, len(text))]), LexiconModel()
    check(kb, ["cimetidine", "warfarin"], model=model)
    assert model.seen == ["DRUG1 inhibits the metabolism of DRUG2 and of DRUGN."]
