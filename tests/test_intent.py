"""Question type and focus (kbqa.intent): the type set and its mappings, focus matching, rules, the
classifier folder on a tiny model, typed retrieval and the extractive answer passages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kbqa.errors import KbqaError
from kbqa.intent import detect
from kbqa.intent.answer import pick_passages
from kbqa.intent.focus import CONDITION, MEDICINE, PHRASE, FocusLexicon, find_focus, read_names, variants
from kbqa.intent.prefer import prefer, section_type
from kbqa.intent.rules import rule_type
from kbqa.intent.types import LIVEQA, MEDQUAD, TYPES, from_liveqa, from_medquad
from kbqa.types import Hit, Intent


def test_type_set_and_mappings_cover_both_sources() -> None:
    assert len(TYPES) == len(set(TYPES)) == 26
    assert set(MEDQUAD.values()) <= set(TYPES) and set(LIVEQA.values()) <= set(TYPES)
    assert from_medquad("Exams and Tests") == "diagnosis" and from_medquad("outlook") == "prognosis"
    assert from_medquad("precautions") == "contraindications" and from_liveqa("Tapering") == "stopping"
    with pytest.raises(ValueError, match="unknown MedQuAD qtype 'horoscope'"):
        from_medquad("horoscope")


def test_committed_split_parts_are_disjoint() -> None:
    from kbqa.paths import load_split, split_part

    data = load_split("qtype")
    parts = [set(split_part("qtype", p)) for p in ("train", "dev", "test")]
    assert sum(map(len, parts)) == len(set().union(*parts)) == data["counts"]["questions"]
    assert not set(data["test_focus"]) & set(data["dev_focus"])
    assert set(load_split("medquad")["dev_focus"]) <= set(data["test_focus"])  # medquad-dev foci held out


# ---- focus --------------------------------------------------------------------------------------
@pytest.fixture()
def lexicon() -> FocusLexicon:
    lex = FocusLexicon().add_all(["Parkinson's Disease", "Chronic Obstructive Pulmonary Disease (COPD)",
                                  "Diabetes, Type 2", "Pink eye", "Will"], CONDITION)
    return lex.add_all(["Warfarin", "aspirin", "Abatacept Injection"], MEDICINE)


def test_focus_variants_match(lexicon: FocusLexicon) -> None:
    assert "Abatacept" in variants("Abatacept Injection") and "COPD" in variants("Chronic Obstructive Pulmonary Disease (COPD)")
    cases = {
        "What are the treatments for pinkeye?": ["Pink eye"],
        "my dad has parkinsons disease": ["Parkinson's Disease"],
        "is Parkinson disease inherited": ["Parkinson's Disease"],
        "What is type 2 diabetes?": ["Diabetes, Type 2"],
        "side effects of abatacept": ["Abatacept Injection"],
        "how is copd treated": ["Chronic Obstructive Pulmonary Disease (COPD)"],
    }
    for question, names in cases.items():
        assert [f.name for f in find_focus(question, lexicon)] == names, question


def test_several_foci_in_question_order_and_kinds(lexicon: FocusLexicon) -> None:
    found = find_focus("Can I take ASPIRIN with warfarin if I have COPD?", lexicon)
    assert [(f.name, f.kind) for f in found] == [("aspirin", MEDICINE), ("Warfarin", MEDICINE),
                                                 ("Chronic Obstructive Pulmonary Disease (COPD)", CONDITION)]
    text = "Can I take ASPIRIN with warfarin if I have COPD?"
    assert [text[f.start:f.end] for f in found] == ["ASPIRIN", "warfarin", "COPD"]


def test_no_known_name_falls_back_to_the_key_phrase_or_nothing(lexicon: FocusLexicon) -> None:
    found = find_focus("How do I treat a sore throat in toddlers?", lexicon)
    assert [(f.name, f.kind) for f in found] == [("sore throat", PHRASE)]
    assert find_focus("What are the symptoms of restless legs syndrome?", None)[0].name == "restless legs syndrome"
    assert find_focus("Will it help?", lexicon) == []  # a name that is a stopword is never matched
    assert find_focus("Hello, can you help me?", lexicon) == []


def test_rules_for_types_medquad_lacks() -> None:
    assert rule_type("What is the difference between Advil and Tylenol?", medicines=2) == "comparison"
    assert rule_type("What can I take instead of ibuprofen?", medicines=1) == "alternatives"
    assert rule_type("How do I taper off prednisone?", medicines=1) == "stopping"
    assert rule_type("Does this tablet contain gluten?") == "ingredients"
    # medicine types only: without a medicine the rules keep quiet
    assert rule_type("what is the difference between spondyloepiphyseal and metatropic dysplasia") is None
    assert rule_type("What can she do to stop the cramps?") is None
    assert rule_type("should Advair and Spiriva be used together?", medicines=2) is None
    assert rule_type("Can I take Advair and Spiriva?", medicines=2) == "interactions"
    assert rule_type("Does warfarin interact with garlic?", medicines=1) == "interactions"
    assert rule_type("How is pink eye treated?") is None


# ---- the classifier folder (tiny model, written by `kbqa train classifier`) ---------------------------
@pytest.fixture(scope="module")
def tiny_qtype_dir(tiny_bert_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A qtype classifier as the committed one is made: the tables of kbqa.intent.train_qtype's row shape,
    then `kbqa train classifier` (a second stage continuing the first)."""
    from kbqa.cli import main
    from kbqa.intent.train_qtype import LABELS

    tmp = tmp_path_factory.mktemp("qtype")
    rows = [{"id": f"{label}-{d}", "text": detect.model_text(f"What about the {label.replace('_', ' ')} of {d}?"),
             "label": label} for label in LABELS for d in ("asthma", "gout")]
    (tmp / "stage1.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp / "stage2.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:8]))  # a few labels only
    (tmp / "medicines.txt").write_text("# test\nZyrtec\n")
    common = ["--max-length", "32", "--batch-size", "8", "--lr", "1e-3", "--precision", "fp32", "--no-progress",
              "--combine", "none", "--no-dev"]
    assert main(["train", "classifier", "--data", str(tmp / "stage1.jsonl"), "--out", str(tmp / "stage1"),
                 "--base", str(tiny_bert_dir), "--epochs", "2", *common]) == 0
    assert main(["train", "classifier", "--data", str(tmp / "stage2.jsonl"), "--out", str(tmp / "qtype"),
                 "--base", str(tmp / "stage1"), "--epochs", "1", "--temperature", "1.3",
                 "--include", str(tmp / "medicines.txt"), *common]) == 0
    return tmp / "qtype"


def test_type_model_predicts_calibrated_types(tiny_qtype_dir: Path, lexicon: FocusLexicon) -> None:
    from kbqa.classify.model import TextClassifier
    from kbqa.intent.train_qtype import LABELS

    model = detect.load_type_model(tiny_qtype_dir)
    assert isinstance(model, TextClassifier)
    assert model is detect.load_type_model(tiny_qtype_dir)  # loaded once per process
    assert model.labels == LABELS and "yes_no" not in LABELS  # the first stage's labels, kept by the second
    p = model.predict_proba(["How is gout treated?", "symptoms of flu"])
    assert p.shape == (2, len(LABELS)) and np.allclose(p.sum(1), 1.0)
    assert model.temperature == 1.3
    intents = detect.detect_intents(["How is pink eye treated?", "What is the difference between aspirin and warfarin?",
                                     "   "], lexicon, model)
    assert intents[0].type in LABELS and intents[0].source == "model" and intents[0].focus == ("Pink eye",)
    assert intents[1].type == "comparison" and intents[1].source == "rule" and intents[1].confidence >= 0.8
    assert intents[1].focus_kinds == (MEDICINE, MEDICINE)
    assert read_names(tiny_qtype_dir / detect.MEDICINES_FILE) == ["Zyrtec"]


def test_a_folder_that_is_no_classifier_is_refused(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(KbqaError, match="not a question-type classifier"):
        detect.load_type_model(tmp_path)


def test_liveqa_rows_label_first_or_all_types_and_repeat() -> None:
    from kbqa.intent.train_qtype import liveqa_rows

    folder = Path(__file__).parent / "data" / "liveqa"
    first = liveqa_rows(folder, {"T1-Q2", "T2-1"})
    assert [(r["id"], r["label"]) for r in first] == [("T1-Q2", "treatment"), ("T2-1", "symptoms")]
    assert first[0]["types"] == ["treatment", "diagnosis"] and first[0]["text"]
    every = liveqa_rows(folder, {"T1-Q2"}, labels="all", repeat=2)
    assert [(r["id"], r["label"]) for r in every] == [("T1-Q2", "treatment"), ("T1-Q2~2", "treatment"),
                                                      ("T1-Q2~diagnosis", "diagnosis"),
                                                      ("T1-Q2~diagnosis~2", "diagnosis")]


def test_medquad_rows_cap_each_type_and_add_synthetic_questions() -> None:
    from kbqa.corpus.medquad import TypedQuestion
    from kbqa.intent.train_qtype import medquad_rows

    qs = [TypedQuestion(f"MPlusDrugs:{n}-1", f"What are the side effects of Drug{n} ?", "side effects", f"Drug{n}",
                        "MPlusDrugs", True) for n in range(6)]
    qs += [TypedQuestion(f"GHR:{n}-1", f"How to diagnose Disease{n} ?", "exams and tests", f"Disease{n}", "GHR", True)
           for n in range(2)]
    rows = medquad_rows({"train": qs}, cap=3, seed=0, synthetic_per_type=2)
    labels = [r["label"] for r in rows]
    assert labels.count("side_effects") == 3 and labels.count("diagnosis") == 2
    assert labels.count("comparison") == 2 and labels.count("interactions") == 2
    assert medquad_rows({"train": qs}, cap=3, seed=0, synthetic_per_type=2) == rows  # seeded
    assert len({r["id"] for r in rows}) == len(rows)


def test_without_a_model_the_type_comes_from_rules_and_form() -> None:
    a, b, c = detect.detect_intents(["Does aspirin prevent stroke?", "What is gout?", "How do I taper off my pills?"],
                                    None, None)
    assert (a.type, a.source, a.confidence) == ("yes_no", "none", 0.0)
    assert b.type == "other" and c.type == "stopping"


def test_a_missing_model_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(KbqaError, match="has no config.json"):
        detect.load_type_model(tmp_path / "nothing")


def test_model_text_reads_the_subject_line_and_the_asking_sentences() -> None:
    text = "treatment options for migraine\nMy daughter has tried many drugs. What else can she try? Thanks."
    assert detect.model_text(text) == "treatment options for migraine What else can she try?"


# ---- typed retrieval and answer passages -----------------------------------------------------------
def _hit(cid: str, text: str, score: float, **meta: str) -> Hit:
    return Hit(chunk_id=cid, doc_id=cid.split("#")[0], score=score, text=text, title=meta.pop("title", ""), meta=meta)


def test_section_types() -> None:
    assert section_type({"qtype": "exams and tests"}, "x") == "diagnosis"
    assert section_type({"section": "Side Effects"}, "x") == "side_effects"
    assert section_type({}, "BACKGROUND: a b c.\nCONCLUSIONS: it helped a great deal in most patients.") == "conclusions"
    assert section_type({}, "plain text") is None


def test_prefer_moves_a_matching_passage_up_and_off_keeps_the_order() -> None:
    hits = {h.chunk_id: h for h in [_hit("a#0", "Gout is a form of arthritis.", 0.9, qtype="information", focus="Gout"),
                                    _hit("b#0", "Acne is treated with creams.", 0.8, qtype="treatment", focus="Acne"),
                                    _hit("c#0", "Gout is treated with colchicine.", 0.75, qtype="treatment", focus="Gout")]}
    ranking = [(cid, h.score) for cid, h in hits.items()]
    intent = Intent("treatment", 0.9, ("Gout",), (CONDITION,))
    kw = {"min_confidence": 0.5, "section_weight": 2.0, "focus_weight": 0.5}  # times the score range 0.15
    assert [c for c, _ in prefer(ranking, intent, hits.__getitem__, **kw)] == ["c#0", "b#0", "a#0"]
    unsure = Intent("treatment", 0.3, ("Gout",), (CONDITION,))
    assert prefer(ranking, unsure, hits.__getitem__, **kw) == ranking
    assert prefer(ranking, intent, hits.__getitem__, **{**kw, "section_weight": 0.0, "focus_weight": 0.0}) == ranking


def test_typed_search_on_a_tiny_index(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    from kbqa.pipeline import KnowledgeBase
    from tests.conftest import tiny_config

    docs = tmp_path / "docs.jsonl"
    rows = [{"id": f"d{i}", "title": t, "text": x, "section": s, "focus": t} for i, (t, x, s) in enumerate([
        ("Gout", "Gout is a painful form of arthritis caused by uric acid crystals.", "information"),
        ("Gout", "Gout attacks are treated with colchicine, NSAIDs or steroids.", "treatment"),
        ("Acne", "Acne is treated with benzoyl peroxide and retinoids.", "treatment"),
        ("Gout", "Gout causes sudden pain and swelling of the big toe.", "symptoms")])]
    docs.write_text("".join(json.dumps(r) + "\n" for r in rows))
    kb = KnowledgeBase.build([docs], tmp_path / "idx", tiny_config(tiny_encoder_dir), progress=False)
    q = "how do you treat gout"
    off = [h.doc_id for h in kb.search(q, k=4)]
    intent = Intent("treatment", 0.95, ("Gout",), (CONDITION,))
    on = kb.with_search(typed=True, typed_section_weight=5.0, typed_focus_weight=5.0)
    assert [h.doc_id for h in on.search(q, k=4, intent=intent)][0] == "d1"
    assert [h.doc_id for h in on.with_search(typed=False).search(q, k=4, intent=intent)] == off
    assert [h.doc_id for h in on.search(q, k=4, intent=Intent("treatment", 0.1, ("Gout",), (CONDITION,)))] == off


def test_answer_passages_are_of_the_type_about_the_focus_and_deduplicated() -> None:
    hits = [_hit("a#0", "Gout is treated with colchicine.", 0.9, qtype="treatment", focus="Gout"),
            _hit("b#0", "Gout  is treated with colchicine.", 0.85, qtype="treatment", focus="Gout"),  # same words
            _hit("c#0", "Gout is arthritis.", 0.8, qtype="information", focus="Gout"),
            _hit("d#0", "Acne is treated with creams.", 0.7, qtype="treatment", focus="Acne"),
            _hit("e#0", "For gout, rest and ice help; allopurinol prevents attacks.", 0.6)]
    intent = Intent("treatment", 0.9, ("Gout",), (CONDITION,))
    assert pick_passages(hits, intent) == [0, 4]
    assert pick_passages(hits, Intent("treatment", 0.9, ("Lupus",), (CONDITION,))) == []
    assert pick_passages(hits, Intent("treatment", 0.2, ("Gout",), (CONDITION,))) == [0, 2, 4]  # type unsure


def test_open_question_answer_reports_intent_and_passages(tmp_path: Path) -> None:
    from kbqa.read.answer import answer_from_hits
    from kbqa.serialize import answer_to_dict
    from tests.conftest import keyword_reader

    hits = [_hit("a#0", "Gout is treated with colchicine. Rest helps.", 0.9, qtype="treatment", focus="Gout"),
            _hit("c#0", "Gout is arthritis.", 0.8, qtype="information", focus="Gout")]
    intent = Intent("treatment", 0.9, ("Gout",), (CONDITION,))
    ans = answer_from_hits("How is gout treated?", hits, keyword_reader(tmp_path), intent=intent)
    assert ans.question_type == "open" and not ans.abstained and ans.decision is None
    assert [e.hit.chunk_id for e in ans.answer_passages] == ["a#0"] and ans.answer_passages[0].highlight
    obj = answer_to_dict(ans)
    assert obj["intent"]["type"] == "treatment" and obj["intent"]["focus"] == ["Gout"]
    assert obj["answer_passages"][0]["citation"]
    none = answer_from_hits("How is lupus treated?", hits, keyword_reader(tmp_path),
                            intent=Intent("treatment", 0.9, ("Lupus",), (CONDITION,)))
    assert none.abstained and none.provenance["reason"].startswith("insufficient evidence: no treatment passage about Lupus")


def test_committed_qtype_model_types_plain_questions() -> None:
    from kbqa.intent.train_qtype import LABELS
    from kbqa.paths import model_dir

    folder = model_dir("qtype")
    if folder is None or not (folder / "config.json").is_file():
        pytest.skip("models/qtype not present")
    model = detect.load_type_model(folder)
    assert sorted(model.labels) == LABELS and model.temperature > 0
    got = detect.detect_intents(["What are the side effects of lisinopril?", "How is gout treated?",
                                 "Is cystic fibrosis inherited?"], None, model)
    assert [i.type for i in got] == ["side_effects", "treatment", "inheritance"]
    assert all(0 < i.confidence <= 1 and i.source == "model" for i in got)
