"""Reader: aggregation, calibration, abstention, data loading, and `ask`/`read` end to end on tiny models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import KeywordClassifier, keyword_reader, tiny_config

from kbqa.errors import InputError, KbqaError
from kbqa.read import calibrate as cal
from kbqa.read import train_calibration as fitcal
from kbqa.read.aggregate import AggregationParams, aggregate, dedupe, group_by_document
from kbqa.read.question import question_type
from kbqa.read.answer import answer_from_hits
from kbqa.read.reader import Reader
from kbqa.text import sentence_spans
from kbqa.types import Hit

DATA = Path(__file__).parent / "data" / "read"
LABELS = ["yes", "no", "maybe"]


def _hit(cid: str, text: str, score: float, doc: str | None = None) -> Hit:
    return Hit(chunk_id=cid, doc_id=doc or cid.split("#")[0], score=score, text=text, meta={"pmid": "1"})


# ---- aggregation ------------------------------------------------------------------------
def test_aggregate_weights_top_ranked_confident_passages() -> None:
    probs = np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.1, 0.8, 0.1]])
    out = aggregate(probs, [0.80, 0.60, 0.59])
    assert out.argmax() == 0 and out.sum() == pytest.approx(1.0)
    # equal scores and no rank decay: two "no" passages outvote one "yes"
    flat = aggregate(probs, [0.5, 0.5, 0.5], AggregationParams(rank_decay=1.0))
    assert flat.argmax() == 1
    with pytest.raises(KbqaError):
        aggregate(probs, [0.5])


def test_dedupe_and_grouping() -> None:
    hits = [_hit("a#0", "Aspirin works.", 0.9), _hit("b#0", "aspirin  WORKS", 0.8), _hit("a#0", "x", 0.7),
            _hit("c#0", "Other text.", 0.6), _hit("a#1", "More on aspirin.", 0.5)]
    kept = dedupe(hits)
    assert [h.chunk_id for h in kept] == ["a#0", "c#0", "a#1"]
    assert group_by_document([0, 1, 2], [h.doc_id for h in kept]) == [0, 2, 1]


@pytest.mark.parametrize(
    ("question", "kind"),
    [("Does aspirin prevent stroke?", "yes_no"), ("Is laparoscopy safe in children?", "yes_no"),
     ("Aspirin prevents stroke.", "yes_no"), ("Which drugs lower LDL?", "open"), ("How does metformin work?", "open"),
     ("Statins in the elderly: what is the evidence?", "open"), ("Statins in the elderly: are they safe?", "yes_no")],
)
def test_question_type(question: str, kind: str) -> None:
    assert question_type(question) == kind


def test_sentence_spans_index_into_text() -> None:
    text = "  First one. Second (p<0.05)! Third without end"
    spans = sentence_spans(text, lists=False)
    assert [text[a:b] for a, b in spans] == ["First one.", "Second (p<0.05)!", "Third without end"]


# ---- calibration ------------------------------------------------------------------------
def test_temperature_recovers_overconfidence() -> None:
    rng = np.random.default_rng(0)
    true = rng.normal(size=(400, 3))
    gold = [int(rng.choice(3, p=np.exp(r) / np.exp(r).sum())) for r in true]
    t = fitcal.fit_temperature(true * 4.0, gold)  # logits 4x too sharp
    assert 3.0 < t < 5.3
    assert fitcal.nll(true * 4.0, gold, t) < fitcal.nll(true * 4.0, gold)


def test_threshold_and_calibration_file(tmp_path: Path) -> None:
    conf = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    assert fitcal.threshold_for_coverage(conf, 0.6) == pytest.approx(0.7)
    assert fitcal.threshold_for_coverage(conf, 1.0) == pytest.approx(0.5)
    logits = np.array([[2.0, 0, 0], [0, 2.0, 0], [0, 0, 2.0], [2.0, 0, 0]])
    c, report = fitcal.fit(logits, [0, 1, 2, 1], target_coverage=0.75)
    assert report["coverage"] >= 0.75 and report["curve"]
    fitcal.save_calibration(tmp_path, c, report)
    assert cal.load_calibration(tmp_path) == c
    assert cal.load_calibration(tmp_path / "none") == cal.Calibration()
    (tmp_path / cal.CALIBRATION_FILE).write_text('{"temperature": -1, "threshold": 0.5}')
    with pytest.raises(KbqaError, match="temperature must be > 0"):
        cal.load_calibration(tmp_path)
    # a second calibration for verdicts read from concluding sentences round-trips; a bad one is refused
    both = cal.Calibration(2.0, 0.4, cal.Calibration(0.5, 0.7))
    fitcal.save_calibration(tmp_path, both, report, report)
    assert cal.load_calibration(tmp_path) == both and both.for_sentences() == cal.Calibration(0.5, 0.7)
    assert c.for_sentences() is c  # none fitted: the passages' calibration serves both
    (tmp_path / cal.CALIBRATION_FILE).write_text('{"temperature": 1, "threshold": 0.5, "sentences": {"threshold": 2}}')
    with pytest.raises(KbqaError, match="malformed calibration"):
        cal.load_calibration(tmp_path)
    (tmp_path / cal.CALIBRATION_FILE).write_text(
        '{"temperature": 1, "threshold": 0.5, "sentences": {"temperature": 1, "threshold": 2}}')
    with pytest.raises(KbqaError, match="threshold in"):
        cal.load_calibration(tmp_path)


# ---- abstention, stances, highlights over fixed hits ------------------------------------------
def test_answer_from_hits_verdict_stance_highlight(tmp_path: Path) -> None:
    hits = [_hit("a#0", "Background here. Aspirin reduced stroke by half.", 0.9),
            _hit("b#0", "Aspirin did not reduce stroke in this trial.", 0.7),
            _hit("c#0", "Vitamin C did not prevent colds.", 0.65),
            _hit("a#0", "duplicate chunk id", 0.6)]
    ans = answer_from_hits("Does aspirin reduce stroke?", hits, keyword_reader(tmp_path, threshold=0.5))
    assert ans.verdict == "yes" and not ans.abstained and ans.question_type == "yes_no"
    assert ans.decision == "yes"
    # the passage about something else is listed, but neither as support nor as contradiction
    assert [e.stance for e in ans.evidence] == ["supports", "contradicts", "off_topic"]
    first = ans.evidence[0]
    a, b = first.highlight
    assert first.hit.text[a:b] == "Aspirin reduced stroke by half."
    assert ans.provenance["reader_sha256"] and ans.provenance["threshold"] == 0.5


def test_abstains_below_threshold_and_on_open_questions(tmp_path: Path) -> None:
    hits = [_hit("a#0", "Nothing decisive here on whether it helps.", 0.9)]
    low = answer_from_hits("Does X help?", hits, keyword_reader(tmp_path, threshold=0.6))
    assert low.abstained and low.verdict in LABELS and low.confidence < 0.6
    assert low.provenance["reason"] == "confidence 0.37 is below the threshold 0.60" and low.decision is None
    assert not answer_from_hits("Does X help?", hits, keyword_reader(tmp_path), threshold=0.2).abstained
    hits = [_hit("a#0", "Aspirin reduced stroke.", 0.9)]
    open_q = answer_from_hits("Which drug reduced stroke?", hits, keyword_reader(tmp_path, threshold=0.0))
    assert open_q.abstained and open_q.question_type == "open" and open_q.evidence[0].stance == "neutral"
    assert open_q.decision is None
    none = answer_from_hits("Does X help?", [], keyword_reader(tmp_path))
    assert none.abstained and none.evidence == [] and none.decision is None
    assert none.provenance["reason"].startswith("insufficient evidence")


def test_insufficient_evidence_when_the_best_document_is_off_topic(tmp_path: Path) -> None:
    reader = keyword_reader(tmp_path, threshold=0.0)
    reader.prior = {"yes": 0.2, "no": 0.7, "maybe": 0.1}
    question = "Does aspirin reduce stroke in the elderly?"
    # confidently read, but the best document is about something else: abstain, naming what is missing
    off = [_hit("a#0", "Statins reduced LDL cholesterol.", 0.9), _hit("b#0", "Aspirin reduced stroke in the elderly.", 0.5)]
    ans = answer_from_hits(question, off, reader)
    assert ans.abstained and ans.decision is None
    assert ans.provenance["reason"].startswith("insufficient evidence: no passage about aspirin, stroke or elderly")
    cov = ans.provenance["term_coverage"]
    assert cov["doc_id"] == "a" and cov["coverage"] == 0.25 and cov["missing"] == ["aspirin", "stroke", "elderly"]
    # the reading of an unrelated document is not the answer: what is known without evidence is the prior
    assert ans.verdict == "no" and ans.confidence == pytest.approx(0.7)
    # the passage that addresses the question comes first as evidence; the off-topic one is marked so
    assert [(e.hit.doc_id, e.stance) for e in ans.evidence] == [("b", "supports"), ("a", "off_topic")]
    # the best document's passages together cover the terms: answered
    on = [_hit("a#0", "Aspirin in the elderly.", 0.9), _hit("a#1", "It reduced stroke.", 0.8)]
    answered = answer_from_hits(question, on, reader)
    assert not answered.abstained and answered.decision == answered.verdict == "yes"
    assert not answer_from_hits(question, off, reader, params=AggregationParams(min_term_coverage=0.0)).abstained
    # "read": the off-topic reading stays the verdict (still abstained, still no decision)
    read = answer_from_hits(question, off, reader, params=AggregationParams(off_topic_verdict="read"))
    assert read.abstained and read.decision is None and read.verdict == "yes" and read.confidence > 0.8
    with pytest.raises(KbqaError, match="min_term_coverage"):
        AggregationParams(min_term_coverage=1.5)
    with pytest.raises(KbqaError, match="max_missing_term"):
        AggregationParams(max_missing_term=0.0)


def test_key_terms_weighted_by_idf_so_generic_words_count_little(tmp_path: Path) -> None:
    from kbqa.read.question import coverage, key_terms

    idf = {"metformin": 5.0, "increas": 0.5, "risk": 0.5, "lactic": 6.0, "acidosi": 6.0}
    terms = key_terms("Does metformin increase the risk of lactic acidosis?", lambda stems: {t: idf[t] for t in stems})
    assert [t.stem for t in terms] == ["metformin", "increas", "risk", "lactic", "acidosi"]  # "Does" is no key term
    ivf = coverage(terms, "Metformin before IVF did not increase the risk of hyperstimulation.")
    # 3 of 5 words are there, but only 6 of 18 weight: the rare words make the topic
    assert len(ivf.found) == 3 and ivf.share == pytest.approx(6.0 / 18.0)
    assert ivf.missing_words("Does metformin increase the risk of lactic acidosis?") == ["lactic acidosis"]
    assert ivf.largest_missing == pytest.approx(12.0 / 18.0)  # "lactic acidosis": one concept
    equal = coverage(key_terms("Does metformin increase the risk of lactic acidosis?"), "Metformin increased risk.")
    assert equal.share == pytest.approx(3 / 5)  # without an index: equal weights
    # the same question answered over a knowledge base: the index's BM25 idf weighs the terms
    reader = keyword_reader(tmp_path, threshold=0.0)
    hits = [_hit("a#0", "Metformin did not increase the risk of ovarian hyperstimulation.", 0.9)]
    ans = answer_from_hits("Does metformin increase the risk of lactic acidosis?", hits, reader,
                           idf=lambda stems: {t: idf.get(t, 1.0) for t in stems})
    assert ans.abstained and "no passage about lactic acidosis" in ans.provenance["reason"]
    assert ans.provenance["term_coverage"]["weighting"] == "idf"


def test_a_missing_concept_of_adjacent_words_counts_as_one(tmp_path: Path) -> None:
    from kbqa.read.question import coverage, key_terms

    idf = {"statin": 6.6, "caus": 1.1, "muscl": 2.5, "pain": 2.3}
    terms = key_terms("Do statins cause muscle pain?", lambda stems: {t: idf[t] for t in stems})
    cov = coverage(terms, "Statins lowered atrial fibrillation after surgery.")
    assert cov.share == pytest.approx(6.6 / 12.5)  # more than half the weight is there ...
    assert cov.largest_missing == pytest.approx(5.9 / 12.5)  # ... but "cause muscle pain" is not: 47% of it
    assert cov.missing_words("Do statins cause muscle pain?") == ["muscle pain"]
    apart = coverage(key_terms("Do statins cause pain in muscles?", lambda stems: {t: idf[t] for t in stems}),
                     "Statins lowered atrial fibrillation.")
    assert apart.largest_missing == pytest.approx(3.4 / 12.5)  # "cause pain" and "muscles": two concepts
    ans = answer_from_hits("Do statins cause muscle pain?", [_hit("a#0", "Statins reduced atrial fibrillation.", 0.9)],
                           keyword_reader(tmp_path, threshold=0.0), idf=lambda stems: {t: idf[t] for t in stems})
    assert ans.abstained and ans.provenance["reason"].startswith("insufficient evidence: no passage about muscle pain")


def test_idf_comes_from_the_lexical_index() -> None:
    from kbqa.lexical import LexicalIndex, bm25_idf

    lex = LexicalIndex.build(["a", "b", "c", "d"], ["risk of stroke", "risk of falls", "risk and age", "lactic acidosis"])
    idf = lex.idf(["risk", "lactic", "unseen"])
    assert idf["risk"] == pytest.approx(bm25_idf(3, 4)) and idf["lactic"] == pytest.approx(bm25_idf(1, 4))
    assert idf["unseen"] > idf["lactic"] > idf["risk"] > 0


@pytest.mark.parametrize(
    ("message", "kind"),
    [("Noonan syndrome. What are the references with noonan syndrome and polycystic renal disease", "open"),
     ("Literature on Cardiac amyloidosis.  Please let me know where I can get literature on it.", "open"),
     ("Is there any way you could send me information on both?", "open"),
     ("hiatal hernia. i lost 24 lbs. do you know of an exercise i can do for it?", "open"),
     ("I need a specialist for arachnoiditis in southern california", "open"),
     ("-", "yes_no"), ("?!", "yes_no"),
     ("Are women who are treated for hypothyroidism at risk for pregnancy complications?", "yes_no"),
     ("More than half of U.S. adults have a condition that raises their risk from SARS-CoV-2.", "yes_no"),
     ("Can you tell me what causes leg cramps?", "open"),
     ("DO I USE PYRIDOXINE TABLETS EVEN IF IM PREGNANT?", "yes_no"),
     ("Metformin. Is it safe to take metformin when pregnant? Thanks", "yes_no"),
     ("Metformin and lactic acidosis?", "yes_no"),
     ("I have had migraines for years. My doctor changed my pills. I feel tired all day.", "open"),
     ("Bats' ability to detect cytosolic DNA helps them fight viruses.", "yes_no")],
)
def test_a_message_is_yes_no_only_if_the_sentence_that_asks_is(message: str, kind: str) -> None:
    assert question_type(message) == kind


def test_a_message_that_asks_an_open_question_gets_no_verdict(tmp_path: Path) -> None:
    hits = [_hit("a#0", "Noonan syndrome reduced kidney cysts.", 0.9)]
    ans = answer_from_hits("Noonan syndrome. What are the references with noonan syndrome and polycystic renal disease",
                           hits, keyword_reader(tmp_path, threshold=0.0))
    assert ans.question_type == "open" and ans.abstained and ans.decision is None


class CountingClassifier(KeywordClassifier):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def predict_logits(self, pairs, batch_size=32, progress=False):  # noqa: ANN001 - test double
        self.seen += [text for _, text in pairs]
        return super().predict_logits(pairs, batch_size, progress)


def test_open_questions_are_not_read_and_highlights_score_few_candidates(tmp_path: Path) -> None:
    clf = CountingClassifier()
    reader = Reader(clf, cal.Calibration(temperature=1.0, threshold=0.0), tmp_path)  # type: ignore[arg-type]
    long_text = ("Patients were enrolled in 2001. Stroke rates were recorded yearly. The cohort was large. "
                 "Aspirin reduced stroke by half. Funding came from a charity. Follow-up lasted ten years.")
    hits = [_hit("a#0", long_text, 0.9), _hit("b#0", "Which drug? Nobody knows.", 0.5)]
    ans = answer_from_hits("Which drug reduced stroke?", hits, reader)
    assert clf.seen == []  # no yes/no/maybe reading of an open question
    assert ans.verdict == "maybe" and ans.abstained and ans.question_type == "open"
    assert ans.probabilities == pytest.approx({lab: 1 / 3 for lab in LABELS})
    assert [e.hit.doc_id for e in ans.evidence] == ["a", "b"]  # retrieval order
    a, b = ans.evidence[0].highlight  # no encoder: the sentence sharing most words with the question
    assert long_text[a:b] == "Aspirin reduced stroke by half."

    yes = answer_from_hits("Does aspirin reduce stroke?", hits[:1], reader, highlight_candidates=2)
    sentences_read = [t for t in clf.seen if t != long_text]
    assert len(sentences_read) == 2 and "Aspirin reduced stroke by half." in sentences_read
    a, b = yes.evidence[0].highlight
    assert long_text[a:b] == "Aspirin reduced stroke by half." and yes.verdict == "yes"
    clf.seen.clear()
    answer_from_hits("Does aspirin reduce stroke?", hits[:1], reader, highlight_candidates=0)
    assert len([t for t in clf.seen if t != long_text]) == 6  # 0: every sentence


# ---- conclusion-sentence selection --------------------------------------------------------------
def _selector():  # noqa: ANN202
    from kbqa.read.select import SentenceSelector

    pos = ["These results suggest that aspirin reduced stroke.", "In conclusion, the drug did not help.",
           "Our findings suggest a benefit."] * 3
    neg = ["We enrolled 200 patients in 2010.", "Patients were randomised to two arms.",
           "Blood samples were taken at baseline."] * 3
    return SentenceSelector.fit(pos, neg, min_df=1)


def test_selector_learns_conclusion_sentences_and_round_trips(tmp_path: Path) -> None:
    from kbqa.read.select import SELECTOR_FILE, load_selector

    sel = _selector()
    s = sel.score(["These findings suggest a benefit.", "We enrolled 50 patients."])
    assert s[0] > 0.5 > s[1]
    assert sel.pick(["We enrolled 5.", "In conclusion it works.", "Samples were taken.", "Results suggest so."], 2) == [1, 3]
    assert load_selector(tmp_path) is None  # a reader folder without one reads whole passages
    sel.save(tmp_path)
    again = load_selector(tmp_path)
    texts = ["In conclusion, aspirin works.", "Patients were randomised."]
    assert np.allclose(again.score(texts), sel.score(texts), atol=1e-5)
    from sklearn.feature_extraction.text import TfidfVectorizer  # score() computes what scikit-learn would

    vec = TfidfVectorizer(ngram_range=sel.ngram_range, sublinear_tf=True, vocabulary=sel.vocabulary)
    vec.idf_ = sel.idf
    texts += ["", "Résumé: results suggest that these results suggest aspirin works, ÉTÉ 2010!"]
    expected = 1.0 / (1.0 + np.exp(-(vec.transform(texts) @ sel.coef + sel.intercept)))
    assert np.abs(sel.score(texts) - expected).max() < 1e-12
    (tmp_path / SELECTOR_FILE).write_text('{"format": "other"}')
    with pytest.raises(KbqaError, match="format 'other'"):
        load_selector(tmp_path)
    with pytest.raises(KbqaError, match="both conclusion and other sentences"):
        type(sel).fit([], ["x"])


def test_verdict_read_from_conclusion_sentences_of_the_best_document(tmp_path: Path) -> None:
    from kbqa.read.aggregate import AggregationParams

    reader = keyword_reader(tmp_path)
    reader.selector = _selector()
    # the best document's passages are dominated by a "did not" background sentence; its conclusion says "reduced"
    hits = [_hit("a#0", "Earlier trials did not include women. Patients were randomised to two arms.", 0.9, "a"),
            _hit("a#1", "Trials that did not blind were excluded. These results suggest aspirin reduced stroke.", 0.85, "a"),
            _hit("b#0", "Vitamin C did not prevent colds. Our findings suggest no benefit.", 0.5, "b")]
    hits[1] = Hit(**{**hits[1].__dict__, "start": 80})
    ans = answer_from_hits("Does aspirin reduce stroke?", hits, reader)
    read = ans.provenance["verdict_read"]
    assert [r["doc_id"] for r in read] == ["a"] and "reduced stroke" in read[0]["text"]
    assert ans.verdict == "yes"
    whole = answer_from_hits("Does aspirin reduce stroke?", hits, reader, params=AggregationParams(read_documents=0))
    assert whole.verdict == "no" and "verdict_read" not in whole.provenance  # whole passages: the background wins
    two = answer_from_hits("Does aspirin reduce stroke?", hits, reader, params=AggregationParams(read_documents=2))
    assert [r["doc_id"] for r in two.provenance["verdict_read"]] == ["a", "b"]
    with pytest.raises(KbqaError, match="read_documents"):
        AggregationParams(read_documents=-1)
    with pytest.raises(KbqaError, match="read_from"):
        AggregationParams(read_from="middle")


def test_verdict_read_from_the_end_or_from_the_selectors_choice(tmp_path: Path) -> None:
    from kbqa.read.aggregate import AggregationParams

    reader = keyword_reader(tmp_path)
    reader.selector = _selector()
    # a conclusion-like sentence early on, and an abstract that ends on a "did not" sentence
    text = ("These results suggest that aspirin reduced stroke. We enrolled 200 patients in 2010. "
            "Blood samples were taken at baseline. Women did not take part.")
    hits = [_hit("a#0", text, 0.9, "a")]
    end = answer_from_hits("Does aspirin reduce stroke?", hits, reader, highlight_top=0)
    assert end.provenance["verdict_read"][0]["text"] == "Blood samples were taken at baseline. Women did not take part."
    assert end.verdict == "no"
    sel = answer_from_hits("Does aspirin reduce stroke?", hits, reader, highlight_top=0,
                           params=AggregationParams(read_from="selector"))
    assert "aspirin reduced stroke" in sel.provenance["verdict_read"][0]["text"] and sel.verdict == "yes"


def test_verdict_from_sentences_uses_their_own_calibration(tmp_path: Path) -> None:
    reader = Reader(KeywordClassifier(), cal.Calibration(4.0, 0.45, cal.Calibration(0.5, 0.9)), tmp_path)  # type: ignore[arg-type]
    reader.selector = _selector()
    hits = [_hit("a#0", "Patients were randomised. These results suggest aspirin reduced stroke.", 0.9, "a")]
    ans = answer_from_hits("Does aspirin reduce stroke?", hits, reader, highlight_top=0)
    sharp = np.exp(np.array([3.0, 0.0, 0.0]) / 0.5)
    assert ans.confidence == pytest.approx(sharp[0] / sharp.sum(), rel=1e-4)  # T 0.5, not the passages' 4.0
    assert ans.provenance["temperature"] == 0.5 and ans.provenance["threshold"] == 0.9 and ans.abstained is False
    flat = np.exp(np.array([3.0, 0.0, 0.0]) / 4.0)  # the passage's stance keeps the passages' calibration
    assert ans.evidence[0].probabilities["yes"] == pytest.approx(flat[0] / flat.sum(), rel=1e-4)
    whole = answer_from_hits("Does aspirin reduce stroke?", hits, reader, highlight_top=0,
                             params=AggregationParams(read_documents=0))
    assert whole.provenance["temperature"] == 4.0 and whole.provenance["threshold"] == 0.45
    assert whole.confidence == pytest.approx(flat[0] / flat.sum(), rel=1e-4)
    override = answer_from_hits("Does aspirin reduce stroke?", hits, reader, highlight_top=0, threshold=0.999)
    assert override.abstained and override.provenance["threshold"] == 0.999


def test_train_reader_on_pubmedqa_saves_the_selector(shared_data: Path, tiny_bert_dir: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    from kbqa.cli import main

    out = tmp_path / "reader"
    assert main(["train", "reader", "--data", str(shared_data / "pubmedqa" / "pqal_traindev.json"), "--out", str(out),
                 "--base", str(tiny_bert_dir), "--epochs", "2", "--phase1-epochs", "0", "--max-length", "24",
                 "--batch-size", "64", "--average-last", "2", "--label-smoothing", "0.1"]) == 0
    printed = capsys.readouterr().out
    assert "(mean of epochs 1-2)" in printed and "concluding sentences: temperature" in printed
    info = json.loads((out / "kbqa_train.json").read_text())
    assert info["params"]["average_last"] == 2 and info["params"]["label_smoothing"] == 0.1
    reader = Reader.load(out)
    assert reader.selector is not None and reader.selector.info["abstracts"] == 400  # train part only
    sentences = json.loads((out / cal.CALIBRATION_FILE).read_text())["sentences"]  # fitted on dev conclusions
    assert sentences["dev"]["n"] == 100 and reader.calibration.sentences is not None
    assert reader.selector.score(["In conclusion, these data suggest a benefit."])[0] > 0.5


def test_bad_questions(tmp_path: Path) -> None:
    reader = keyword_reader(tmp_path)
    with pytest.raises(KbqaError, match="empty"):
        answer_from_hits("   ", [], reader)
    with pytest.raises(KbqaError, match="characters long"):
        answer_from_hits("Does it? " * 200, [], reader)


def test_missing_reader_names_the_training_command(tmp_path: Path) -> None:
    with pytest.raises(KbqaError, match="kbqa train reader"):
        Reader.load(tmp_path / "absent")


# ---- data -------------------------------------------------------------------------------------
def test_jsonl_examples_report_bad_lines(tmp_path: Path) -> None:
    from kbqa.read.data import load_jsonl_examples

    good = load_jsonl_examples(DATA / "pairs_labelled.jsonl")
    assert [e.label for e in good] == ["yes", "no", "maybe"] and "Duration" in good[1].text_pair
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "context": "c", "label": "yes"}\n{"question": "q", "context": "c", "label": "Y"}\n')
    with pytest.raises(InputError, match=r"bad.jsonl:2: label 'Y'"):
        load_jsonl_examples(bad)


def test_pubmedqa_split_and_modes(shared_data: Path) -> None:
    from kbqa.read.data import load_pubmedqa, load_split, pubmedqa_examples, split_items

    items = load_pubmedqa(shared_data / "pubmedqa" / "pqal_traindev.json")
    split = load_split()
    train, dev = split_items(items, split["train"]), split_items(items, split["dev"])
    assert len(train) == 400 and len(dev) == 100 and not {i.pmid for i in train} & {i.pmid for i in dev}
    ex = pubmedqa_examples(dev[:1], "reasoning")[0]
    assert dev[0].long_answer not in ex.text_pair  # no conclusion in the reasoning-required setting
    assert pubmedqa_examples(dev[:1], "conclusion")[0].text_pair == dev[0].long_answer


def test_pubmedqa_chunk_examples_match_the_index_text(shared_data: Path, tiny_bert_dir: Path) -> None:
    """'chunks' examples are the abstract split exactly as an index stores it (conclusion included)."""
    from transformers import AutoTokenizer

    from kbqa.chunk import Chunker
    from kbqa.config import ChunkConfig
    from kbqa.corpus.base import IdRegistry, LoadStats
    from kbqa.corpus.pubmedqa import iter_file
    from kbqa.read.data import load_pubmedqa, pubmedqa_examples

    path = shared_data / "pubmedqa" / "pqal_traindev.json"
    items = load_pubmedqa(path)[:5]
    docs = {d.doc_id: d for d in iter_file(path, stats=LoadStats(), ids=IdRegistry())}
    chunker = Chunker(ChunkConfig(size=64, overlap=8), AutoTokenizer.from_pretrained(str(tiny_bert_dir)), 126)
    ex = pubmedqa_examples(items, "chunks", chunker=chunker)
    expected = [c.text for it in items for c in chunker.split(docs[it.pmid])]
    assert [e.text_pair for e in ex] == expected and len(ex) > len(items)  # abstracts span several chunks
    assert {(e.text, e.label) for e in ex} == {(it.question, it.label) for it in items}
    assert any(items[0].long_answer[-40:] in e.text_pair for e in ex)  # the conclusion is in the last chunk
    with pytest.raises(KbqaError, match="needs a chunker"):
        pubmedqa_examples(items, "chunks")
    with pytest.raises(KbqaError, match="unknown PubMedQA example mode"):
        pubmedqa_examples(items, "titles")
    from kbqa.read.train_recipe import ReaderRecipe

    with pytest.raises(KbqaError, match="main inputs 'reasoning,titles'"):
        ReaderRecipe(main_inputs="reasoning,titles")


# ---- end to end on a tiny index and a tiny trained reader ----------------------------------
@pytest.fixture(scope="module")
def tiny_reader_dir(tiny_bert_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from kbqa.read.data import load_jsonl_examples
    from kbqa.read.train import TrainParams, train_classifier

    out = tmp_path_factory.mktemp("reader") / "reader"
    ex = load_jsonl_examples(DATA / "pairs_labelled.jsonl")
    train_classifier(ex, ex, LABELS, tiny_bert_dir, out, TrainParams(epochs=1, max_length=64, progress=False))
    fitcal.calibrate_reader_dir(out, ex, target_coverage=1.0)
    return out


@pytest.fixture(scope="module")
def tiny_kb(tiny_encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    from kbqa.pipeline import KnowledgeBase

    cfg = tiny_config(tiny_encoder_dir, small_chunks=False)
    return KnowledgeBase.build([DATA / "docs.jsonl"], tmp_path_factory.mktemp("kb") / "idx", cfg, progress=False)


def test_kb_ask_end_to_end(tiny_kb, tiny_reader_dir: Path) -> None:  # noqa: ANN001
    ans = tiny_kb.ask("Does aspirin reduce recurrent stroke?", k=4, reader=Reader.load(tiny_reader_dir))
    assert ans.verdict in LABELS and 0 < ans.confidence <= 1
    assert sum(ans.probabilities.values()) == pytest.approx(1.0, abs=1e-4)
    texts = [e.hit.text for e in ans.evidence]
    assert len(texts) == len(set(texts)) == 3  # the copied abstract was removed
    docs = [e.hit.doc_id for e in ans.evidence]
    assert docs == sorted(docs, key=docs.index)  # grouped by document
    for e in ans.evidence[:5]:
        a, b = e.highlight
        assert 0 <= a < b <= len(e.hit.text)
    assert ans.provenance["index_fingerprint"] == tiny_kb.fingerprint


def test_cli_ask_and_read(tiny_kb, tiny_reader_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:  # noqa: ANN001
    from kbqa.cli import main

    idx, rd = str(tiny_kb.index_dir), str(tiny_reader_dir)
    assert main(["ask", "--index", idx, "--reader", rd, "Does aspirin reduce stroke?", "-k", "3", "--json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert set(obj) >= {"question", "verdict", "abstained", "confidence", "probabilities", "evidence", "question_type", "provenance"}
    assert obj["evidence"][0]["highlight"] is not None
    # auto: what this machine runs faster, and why ("bf16 (amx)", "fp32 (probe 0.68x)", ...)
    assert obj["provenance"]["reader_precision"].split()[0] in ("fp32", "bf16")
    assert obj["provenance"]["reader_precision"] != obj["provenance"]["reader_precision"].split()[0]
    assert main(["ask", "--index", idx, "--reader", rd, "Does aspirin reduce stroke?", "-k", "3", "--json",
                 "--reader-precision", "fp32"]) == 0
    assert json.loads(capsys.readouterr().out)["provenance"]["reader_precision"] == "fp32"
    assert main(["ask", "--index", idx, "--reader", rd, "Does aspirin reduce stroke?"]) == 0
    assert "not a diagnosis" in capsys.readouterr().out
    out = tmp_path / "answers.jsonl"
    assert main(["ask", "--index", idx, "--reader", rd, "--input", str(DATA / "questions.jsonl"), "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["q1", "q2"] and rows[1]["question_type"] == "open"
    # every line carries the intent; the open question is answered by the passage about LDL cholesterol
    assert all(set(r["intent"]) >= {"type", "confidence", "focus"} for r in rows)
    assert not rows[1]["abstained"] and rows[1]["decision"] is None
    assert [p["doc_id"] for p in rows[1]["answer_passages"]] == ["statin-3"]
    preds = tmp_path / "preds.jsonl"
    assert main(["read", "--reader", rd, "--input", str(DATA / "pairs.jsonl"), "--out", str(preds)]) == 0
    rows = [json.loads(line) for line in preds.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["p1", "p2"] and set(rows[0]["probabilities"]) == set(LABELS)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "1", "question": "Q?", "context": "c"}\n{"id": "2", "context": "c"}\n')
    assert main(["read", "--reader", rd, "--input", str(bad)]) == 2
    assert "bad.jsonl:2: missing field(s) ['question']" in capsys.readouterr().err


def test_precomputed_probabilities_match_and_are_checked(tmp_path: Path) -> None:
    reader = keyword_reader(tmp_path)
    hits = [_hit("a#0", "Aspirin reduced stroke.", 0.9), _hit("b#0", "It did not help.", 0.8)]
    direct = answer_from_hits("Does aspirin help?", hits, reader)
    probs = reader.predict_proba([("Does aspirin help?", h.text) for h in hits])
    assert answer_from_hits("Does aspirin help?", hits, reader, probs=probs).probabilities == direct.probabilities
    with pytest.raises(KbqaError, match="2 distinct passages"):
        answer_from_hits("Does aspirin help?", hits, reader, probs=probs[:1])


def test_cli_train_reader_on_jsonl(tiny_bert_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from kbqa.cli import main

    out = tmp_path / "reader"
    args = ["train", "reader", "--data", str(DATA / "pairs_labelled.jsonl"), "--out", str(out), "--base", str(tiny_bert_dir),
            "--epochs", "1", "--max-length", "32", "--phase1-epochs", "0"]
    assert main(args) == 0
    assert "reader saved to" in capsys.readouterr().out
    assert Reader.load(out).labels == LABELS
    info = json.loads((out / "kbqa_train.json").read_text())
    assert info["metadata"]["data_files"][0]["sha256"] and info["params"]["pooler_init"] == "identity"
    assert main(["train", "reader", "--data", str(tmp_path / "missing.jsonl"), "--out", str(out)]) == 2
    only_first = tmp_path / "reader1"  # --epochs 0: the earlier phase's model is the reader
    assert main(args[:5] + [str(only_first)] + args[6:-1] + ["1", "--epochs", "0"]) == 0
    assert json.loads((only_first / "kbqa_train.json").read_text())["metadata"]["phase"] == "earlier"
    assert not (tmp_path / "reader1.phase1").exists()


@pytest.mark.slow
def test_committed_reader_loads_and_is_calibrated() -> None:
    folder = Path(__file__).resolve().parents[1] / "models" / "reader"
    if not (folder / "model.safetensors").is_file():
        pytest.skip("no committed reader in models/reader")
    reader = Reader.load(folder)
    assert reader.labels == LABELS and reader.calibration.temperature > 0
    p = reader.passage_probabilities("Does aspirin reduce stroke?", ["Aspirin reduced stroke by 20% (p<0.01)."])
    assert p.shape == (1, 3) and p.sum() == pytest.approx(1.0, abs=1e-5)
    assert "MODEL_CARD.md" in {f.name for f in folder.iterdir()}
    assert reader.selector is not None  # the verdict over an index is read from conclusion-like sentences
    s = reader.selector.score(["In conclusion, aspirin reduced the risk of stroke.", "We enrolled 412 patients in 2004."])
    assert s[0] > 0.5 > s[1]


def test_terminal_output_shows_stances_only_for_questions_that_were_read(tmp_path: Path) -> None:
    from kbqa.cli.read import format_answer

    hits = [_hit("a#0", "Background here. Aspirin reduced stroke by half.", 0.9)]
    yes = format_answer(answer_from_hits("Does aspirin reduce stroke?", hits, keyword_reader(tmp_path)))
    assert "probabilities: yes" in yes and "[1] supports (" in yes and "not a diagnosis" in yes
    assert yes.splitlines()[1].startswith("Decision: YES (confidence")
    # off topic: no leaning or probabilities shown, the missing concept named
    off = format_answer(answer_from_hits("Does metformin cause lactic acidosis?", hits, keyword_reader(tmp_path)))
    assert off.splitlines()[1].startswith("Decision: none, insufficient evidence: no passage about metformin")
    assert "probabilities:" not in off and "leans" not in off and "do not address the question" in off
    low = format_answer(answer_from_hits("Does aspirin reduce stroke?", hits, keyword_reader(tmp_path, threshold=0.99)))
    assert "Decision: none, abstained (confidence" in low and "is below the threshold" in low
    open_q = format_answer(answer_from_hits("Which drug reduced stroke?", hits, keyword_reader(tmp_path)))
    assert "Decision: none (not a yes/no question" in open_q and "probabilities:" not in open_q
    assert "neutral (" not in open_q
    assert "» Aspirin reduced stroke by half." in open_q and "not a diagnosis" in open_q
