"""DDI 2013 XML reading, blinding, filtering, the split and scoring (no model needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kbqa.ddi.blind import blind, crop, is_filtered, pair_examples
from kbqa.ddi.corpus import iter_documents, parse_offsets, read_corpus, read_file
from kbqa.ddi.evaluate import render_markdown, score, write_report
from kbqa.errors import InputError, KbqaError

DATA = Path(__file__).parent / "data" / "ddi"


def test_reads_folder_recursively_with_inclusive_offsets() -> None:
    docs = read_corpus(DATA)
    assert [d.doc_id for d in docs] == ["DDI-DrugBank.d900", "DDI-MedLine.d900"]
    assert [d.collection for d in docs] == ["DrugBank", "MedLine"]
    s0 = docs[0].sentences[0]
    aspirin = s0.entity("DDI-DrugBank.d900.s0.e0")
    assert aspirin.spans == ((0, 7),)  # "0-6" is inclusive
    assert s0.text[slice(*aspirin.spans[0])] == "Aspirin"
    assert [p.label for p in s0.pairs] == ["effect"]


def test_discontinuous_entity_and_typeless_positive() -> None:
    doc = read_file(DATA / "MedLine" / "sample.xml")
    s = doc.sentences[0]
    nrti = s.entity("DDI-MedLine.d900.s0.e0")
    assert nrti.spans == ((0, 10), (29, 61))
    assert " ".join(s.text[a:b] for a, b in nrti.spans) == nrti.text
    # ddi="true" without a type is read as "int"
    typeless = read_file(DATA / "DrugBank" / "Warfarin_ddi.xml").sentences[1].pairs[1]
    assert typeless.label == "int"


def test_parse_offsets_errors() -> None:
    assert parse_offsets("1-2;4-5", 10, where="e", path="f") == ((1, 3), (4, 6))
    with pytest.raises(InputError, match="outside"):
        parse_offsets("5-12", 10, where="entity x", path="f.xml")
    with pytest.raises(InputError, match="start-end"):
        parse_offsets("5..9", 10, where="entity x", path="f.xml")


@pytest.mark.parametrize(
    "body, message",
    [
        ('<document id="d"><sentence id="s" text="ab"><entity id="e" charOffset="0-1" type="drug"/>'
         '<pair id="p" e1="e" e2="zz" ddi="false"/></sentence></document>', "entity 'zz'"),
        ('<document id="d"><sentence id="s"/></document>', "lacks the required attribute 'text'"),
        ('<document id="d"><sentence id="s" text="ab"><entity id="e" charOffset="0-1"/><entity id="f" '
         'charOffset="1-1"/><pair id="p" e1="e" e2="f" ddi="true" type="bogus"/></sentence></document>', "bogus"),
        ('<document id="d"><sentence id="s" text="ab">', "not well-formed"),
        ('<corpus id="d"/>', "expected <document>"),
    ],
)
def test_malformed_files_name_file_and_element(tmp_path: Path, body: str, message: str) -> None:
    f = tmp_path / "bad.xml"
    f.write_text(body)
    with pytest.raises(InputError, match=message) as err:
        read_file(f)
    assert "bad.xml" in str(err.value)


def test_missing_folder_and_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(KbqaError, match="not found"):
        read_corpus(tmp_path / "nope")
    with pytest.raises(KbqaError, match="no \\*.xml"):
        read_corpus(tmp_path)


def test_blinding_pair_others_and_overlaps() -> None:
    text = "Cimetidine inhibits the metabolism of warfarin and of theophylline."
    assert blind(text, [(0, 10)], [(38, 46)], [(54, 66)]) == "DRUG1 inhibits the metabolism of DRUG2 and of DRUGN."
    # an other-drug span overlapping the pair is dropped; the pair wins
    assert blind("abc def", [(0, 3)], [(4, 7)], [(2, 5)]) == "DRUG1 DRUG2"
    examples = pair_examples(read_corpus(DATA))
    texts = {e.pair_id: e.text for e in examples}
    assert texts["DDI-DrugBank.d900.s1.p2"] == "DRUGN inhibits the metabolism of DRUG1 and of DRUG2."
    # discontinuous mention: both parts blinded, the overlapping second entity's shared part once
    assert texts["DDI-MedLine.d900.s0.p2"] == "DRUGN and DRUG1 should not be combined with DRUG2."


def test_filter_same_name_and_overlapping_pairs() -> None:
    doc = read_file(DATA / "MedLine" / "sample.xml")
    s = doc.sentences[0]
    assert is_filtered(s, "DDI-MedLine.d900.s0.e0", "DDI-MedLine.d900.s0.e1")  # overlapping spans
    assert not is_filtered(s, "DDI-MedLine.d900.s0.e0", "DDI-MedLine.d900.s0.e2")
    flags = {e.pair_id: e.filtered for e in pair_examples([doc])}
    assert flags["DDI-MedLine.d900.s0.p0"] and not flags["DDI-MedLine.d900.s0.p1"]
    assert not any(e.filtered for e in pair_examples([doc], filter_pairs=False))


def test_crop_keeps_the_pair() -> None:
    words = [f"w{i}" for i in range(200)]
    words[120], words[130] = "DRUG1", "DRUG2,"
    out = crop(" ".join(words), max_words=40, context=5)
    assert "DRUG1" in out and "DRUG2," in out and len(out.split()) <= 44
    assert crop("short DRUG1 DRUG2") == "short DRUG1 DRUG2"


def test_documents_for_indexing() -> None:
    docs = list(iter_documents(DATA))
    assert docs[0].doc_id == "DDI-DrugBank.d900" and docs[0].title == "Warfarin"
    assert docs[0].text.splitlines()[0] == "Aspirin increases the anticoagulant effect of warfarin."
    assert docs[1].meta["collection"] == "MedLine"


def test_score_is_micro_f1_over_positive_types(tmp_path: Path) -> None:
    gold = ["none", "effect", "effect", "mechanism", "advise", "none"]
    pred = ["effect", "effect", "none", "advise", "advise", "none"]
    s = score(gold, pred)
    # positives predicted: 4 (2 right); gold positives: 4 (2 found)
    assert s.micro_precision == pytest.approx(0.5) and s.micro_recall == pytest.approx(0.5)
    assert s.micro_f1 == pytest.approx(0.5)
    assert s.per_type["effect"]["f1"] == pytest.approx(0.5) and s.per_type["int"]["support"] == 0
    assert s.matrix[0] == (1, 0, 1, 0, 0)  # gold none: 1 none, 1 predicted effect
    write_report(s, tmp_path / "r")
    data = __import__("json").loads((tmp_path / "r" / "report.json").read_text())
    assert set(data) >= {"micro_f1", "per_type", "confusion"}
    assert data["confusion"]["labels"] == ["none", "mechanism", "effect", "advise", "int"]
    assert "micro-F1" in render_markdown(s)
