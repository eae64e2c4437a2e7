"""The benchmark format: reading, validation errors with file and line, export round trips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kbqa.errors import InputError, KbqaError
from kbqa.evaluate.benchmark import Qrel, Question, load_corpus_ids, load_qrels, load_questions, write_benchmark

DATA = Path(__file__).parent / "data" / "eval"


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_the_test_benchmark() -> None:
    qs = load_questions(DATA / "questions.jsonl")
    assert [q.qid for q in qs] == ["q1", "q2", "q3", "q4", "q5"]
    assert qs[0] == Question("q1", "Does aspirin lower fever?", "yes", {})
    assert qs[4].answer is None
    docs = load_corpus_ids(DATA / "corpus.jsonl")
    qrels = load_qrels(DATA / "qrels.tsv", question_ids=[q.qid for q in qs], doc_ids=docs)
    assert Qrel("q2", "d3", 2) in qrels and Qrel("q2", "d6", 0) in qrels and len(qrels) == 6


def test_beir_style_files_are_accepted(tmp_path: Path) -> None:
    q = _write(tmp_path / "q.jsonl", '{"_id": 7, "text": "why?"}\n')
    assert load_questions(q) == [Question("7", "why?", None, {})]
    r = _write(tmp_path / "r.tsv", "query-id\tcorpus-id\tscore\n7\tdocA\t2\n")
    assert load_qrels(r, question_ids=["7"], doc_ids=["docA"]) == [Qrel("7", "docA", 2)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"question": "no id?"}\n', r"q\.jsonl:1: .*no \"id\""),
        ('{"id": "a", "question": "x"}\n\n{"id": "a", "question": "y"}\n', r"q\.jsonl:3: duplicate question id 'a' \(first on line 1\)"),
        ('{"id": "a"}\n', r"q\.jsonl:1: .*no \"question\""),
        ('{"id": "a", "question": "x", "answer": 3}\n', r"q\.jsonl:1: .*answer"),
        ('not json\n', r"q\.jsonl:1: not valid JSON"),
        ("", r"no questions"),
    ],
)
def test_bad_questions_are_refused(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(KbqaError, match=message):
        load_questions(_write(tmp_path / "q.jsonl", text))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("q1 0 d1 1\nq1 0 nope 1\n", r"r\.tsv:2: unknown document id 'nope'"),
        ("q1 0 d1 1\n\nqX 0 d1 1\n", r"r\.tsv:3: unknown question id 'qX'"),
        ("q1 0 d1 1\nq1 d1\n", r"r\.tsv:2: expected 4 fields"),
        ("q1 0 d1 high\n", r"r\.tsv:1: grade must be an integer"),
        ("q1 0 d1 1\nq1 0 d1 2\n", r"r\.tsv:2: duplicate judgement"),
        ("\n", r"no judgements"),
    ],
)
def test_bad_qrels_are_refused_with_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InputError if "judgements" not in message else KbqaError, match=message):
        load_qrels(_write(tmp_path / "r.tsv", text), question_ids=["q1"], doc_ids=["d1", "d2"])


def test_corpus_ids_are_checked(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"c\.jsonl:2: duplicate document id 'x'"):
        load_corpus_ids(_write(tmp_path / "c.jsonl", '{"id": "x", "text": "a"}\n{"id": "x", "text": "b"}\n'))
    with pytest.raises(InputError, match=r"c\.jsonl:1: .*no \"text\""):
        load_corpus_ids(_write(tmp_path / "c.jsonl", '{"id": "x"}\n'))


def test_write_benchmark_round_trips(tmp_path: Path) -> None:
    qs = [Question("a", "Is it?", "yes", {"qtype": "t"}), Question("b", "Why?")]
    counts = write_benchmark(tmp_path, [{"id": "d", "title": "", "text": "t"}], qs, [Qrel("a", "d", 1)])
    assert counts == {"documents": 1, "questions": 2, "qrels": 1}
    assert load_questions(tmp_path / "questions.jsonl") == qs
    assert load_qrels(tmp_path / "qrels.tsv", question_ids=["a", "b"], doc_ids=["d"]) == [Qrel("a", "d", 1)]


def test_export_pubmedqa_dev(shared_data: Path, tmp_path: Path) -> None:
    from kbqa.evaluate.export import export_pubmedqa

    info = export_pubmedqa(tmp_path, data=shared_data / "pubmedqa" / "pqal_traindev.json")
    assert info["counts"] == {"documents": 500, "questions": 100, "qrels": 100}
    split = json.loads(Path("eval/splits/pubmedqa.json").read_text())
    qs = load_questions(tmp_path / "questions.jsonl")
    assert sorted(q.qid for q in qs) == sorted(split["dev"])
    assert {q.answer for q in qs} == {"yes", "no", "maybe"}
    docs = load_corpus_ids(tmp_path / "corpus.jsonl")
    qrels = load_qrels(tmp_path / "qrels.tsv", question_ids=[q.qid for q in qs], doc_ids=docs)
    assert all(r.qid == r.doc_id for r in qrels)
    corpus = [json.loads(line) for line in (tmp_path / "corpus.jsonl").open()]
    by_id = {d["id"]: d for d in corpus}
    assert all(q.question not in by_id[q.qid]["text"] for q in qs)  # the question does not leak


def test_medquad_split_keeps_focus_groups_apart(shared_data: Path) -> None:
    from kbqa.evaluate.export import focus_key, medquad_pairs

    split = json.loads(Path("eval/splits/medquad.json").read_text())
    pairs = {d.doc_id: d for d in medquad_pairs(shared_data / "medquad")}
    assert set(split["dev"]) | set(split["train"]) == set(pairs)
    assert not set(split["dev"]) & set(split["train"])
    dev_focus = {focus_key(pairs[i]) for i in split["dev"]}
    assert not any(focus_key(pairs[i]) in dev_focus for i in split["train"])
    assert 500 <= len(split["dev"]) < 600


def test_export_medquad_dev(shared_data: Path, tmp_path: Path) -> None:
    from kbqa.evaluate.export import export_medquad

    info = export_medquad(tmp_path, data=shared_data / "medquad")
    qs = load_questions(tmp_path / "questions.jsonl")
    docs = load_corpus_ids(tmp_path / "corpus.jsonl")
    qrels = load_qrels(tmp_path / "qrels.tsv", question_ids=[q.qid for q in qs], doc_ids=docs)
    assert info["counts"]["documents"] == len(docs) > 16000 and len(qs) == len(json.loads(
        Path("eval/splits/medquad.json").read_text())["dev"])
    assert {r.qid for r in qrels if r.doc_id == r.qid} == {q.qid for q in qs}  # own answer always relevant
    titles = {}
    for line in (tmp_path / "corpus.jsonl").open():
        d = json.loads(line)
        titles[d["id"]] = d["title"]
    assert all(titles[q.qid] != q.question for q in qs)  # the title is the focus, not the question


# ---- LiveQA: real consumer questions ------------------------------------------------------------
LIVEQA = Path(__file__).parent / "data" / "liveqa"


def _liveqa_split(tmp_path: Path) -> Path:
    split = tmp_path / "liveqa.json"
    split.write_text(json.dumps({"train": [], "dev": ["T1-Q1", "T1-Q2", "T2-1", "T2-2"]}))
    return split


def test_liveqa_reader_makes_ids_unique_across_both_schemas() -> None:
    from kbqa.corpus.liveqa import read_folder

    qs = read_folder(LIVEQA)
    assert [q.qid for q in qs] == ["T1-Q1", "T1-Q2", "T2-1", "T2-2"]
    assert [s.sub_id for s in qs[1].subs] == ["T1-Q2-S1", "T1-Q2-S2"] and qs[2].subs[0].sub_id == "T2-1-S1"
    assert qs[2].subs[0].answers[0][0] == "T2-1-S1-A1" and qs[2].subs[0].qtype == "symptom"
    assert qs[0].text.startswith("Literature on cardiac amyloidosis. Please")  # no subject: the message alone
    assert qs[2].short_text == "Raynauds Syndrome\nMy sons middle toe turned white after being in his dorm."


def test_liveqa_broken_file_names_the_file_and_line(tmp_path: Path) -> None:
    from kbqa.corpus.liveqa import read_folder
    from kbqa.errors import InputError

    bad = tmp_path / "TREC-2017-LiveQA-Medical-Train-9.xml"
    bad.write_text("<NLM-QUESTIONS>\n<NLM-QUESTION qid='1'>\n</NLM-QUESTIONS>\n")
    with pytest.raises(InputError, match=r"Train-9\.xml:3: broken XML"):
        read_folder(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no LiveQA"):
        read_folder(tmp_path / "empty")
    with pytest.raises(InputError, match="cannot read"):
        read_folder(tmp_path / "missing")


def test_export_liveqa_merges_identical_answers_and_judges_medquad_copies(tmp_path: Path) -> None:
    from kbqa.evaluate.export import export_liveqa

    out = tmp_path / "b"
    info = export_liveqa(out, data=LIVEQA, split=_liveqa_split(tmp_path), distractors=Path(__file__).parent / "data"
                         / "corpus" / "medquad")
    qs = load_questions(out / "questions.jsonl")
    docs = load_corpus_ids(out / "corpus.jsonl")
    qrels = load_qrels(out / "qrels.tsv", question_ids=[q.qid for q in qs], doc_ids=docs)
    # T2-2 asks nothing (empty subject and message): left out; its answer still joins the corpus
    assert [q.qid for q in qs] == ["T1-Q1", "T1-Q2", "T2-1"] and "T2-2-S1-A1" in docs
    # 5 distinct answer texts (T1-Q2-S2-A1 repeats T1-Q1-S1-A1 up to spacing) + 2 MedQuAD pairs
    assert info["counts"]["documents"] == len(docs) == 7 and "T1-Q2-S2-A1" not in docs
    judged = {(r.qid, r.doc_id) for r in qrels}
    assert judged == {("T1-Q1", "T1-Q1-S1-A1"), ("T1-Q1", "T1-Q1-S1-A2"), ("T1-Q1", "NINDS:0000007-1"),
                      ("T1-Q2", "T1-Q2-S1-A1"), ("T1-Q2", "T1-Q1-S1-A1"), ("T2-1", "T2-1-S1-A1")}
    assert qs[1].meta["types"] == ["treatment", "diagnosis"] and qs[1].meta["focus"] == ["migraine", "migraine"]
    corpus = {d["id"]: d for d in map(json.loads, (out / "corpus.jsonl").open())}
    assert corpus["T2-1-S1-A1"]["title"] == "Raynauds Syndrome"  # the focus, never the question

    short = export_liveqa(tmp_path / "s", data=LIVEQA, split=_liveqa_split(tmp_path), short=True, distractors=None)
    assert short["benchmark"] == "liveqa-train-short" and short["counts"]["documents"] == 5
    assert load_questions(tmp_path / "s" / "questions.jsonl")[1].question == (
        "migraine treatment\nHas any research been done on which treatments work?")


def test_committed_liveqa_split_folds_partition_the_dev_questions(shared_data: Path) -> None:
    from kbqa.corpus.liveqa import read_folder

    split = json.loads(Path("eval/splits/liveqa.json").read_text())
    ids = {q.qid for q in read_folder(shared_data / "liveqa_train")}
    assert set(split["dev"]) == ids and len(ids) == 446 and split["train"] == []
    folds = [set(f) for f in split["folds"]]
    assert set().union(*folds) == ids and sum(map(len, folds)) == len(ids)  # disjoint, covering


def test_fit_qrels_keeps_the_asked_questions_and_counts_the_rest() -> None:
    from kbqa.evaluate.benchmark import fit_qrels

    qrels = [Qrel("a", "d1", 1), Qrel("a", "d9", 1), Qrel("b", "d2", 1), Qrel("c", "d3", 0)]
    fit = fit_qrels(qrels, ["a"], ["d1", "d2", "d3"])
    assert fit.qrels == qrels[:2] and fit.summary() == {"judgements": 2, "skipped_lines": 2, "unasked_questions": 2,
                                                        "missing_documents": 1}
    assert len(fit.warnings()) == 2 and fit_qrels(qrels, ["a", "b", "c"]).warnings() == []
    with pytest.raises(KbqaError, match="judge none of the 1 questions"):
        fit_qrels(qrels, ["zzz"])
