"""The committed reports' scripts score through kbqa.evaluate (the `kbqa eval` path) and use only
the public KnowledgeBase / IndexFolder API."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data" / "eval"


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "eval" / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory, tiny_encoder_dir: Path) -> Path:
    from conftest import tiny_config

    from kbqa.pipeline import KnowledgeBase

    out = tmp_path_factory.mktemp("cmp") / "X"
    KnowledgeBase.build([DATA / "corpus.jsonl"], out, tiny_config(tiny_encoder_dir, index={"backend": "exact"}),
                        progress=False)
    return out


def test_retrieval_comparison_rows_are_kbqa_eval(index: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every row is one kbqa.evaluate.run.evaluate call at its depth (every document of the 6 ranked,
    as `kbqa eval` ranks min(100, documents)), and gives exactly what `kbqa eval` gives."""
    import kbqa.evaluate.run as run
    from kbqa.evaluate.benchmark import load_qrels, load_questions
    from kbqa.pipeline import KnowledgeBase

    calls, depths = [], []
    real_evaluate, real_rankings = run.evaluate, run.doc_rankings

    def spy_evaluate(kb, questions, **kw):
        calls.append(kb.config.search)
        return real_evaluate(kb, questions, **kw)

    def spy_rankings(search, queries, **kw):
        ranked = real_rankings(search, queries, **kw)
        depths.append(min(len(r) for r in ranked))
        return ranked

    monkeypatch.setattr(run, "evaluate", spy_evaluate)
    monkeypatch.setattr(run, "doc_rankings", spy_rankings)
    cmp = _script("compare_retrieval")
    report = cmp.compare(DATA, {"tiny": str(index)})
    assert list(report["results"]) == ["bm25", "tiny/dense", "tiny/hybrid-rrf", "tiny/hybrid-score"]
    assert [(c.mode, c.fusion) for c in calls] == [("lexical", "score"), ("dense", "score"), ("hybrid", "rrf"),
                                                   ("hybrid", "score")]
    # dense and hybrid rank every document of the index (BM25 leaves out those sharing no word)
    assert depths[1:] == [6, 6, 6]
    assert "kbqa eval" in report["scored_by"]

    monkeypatch.undo()
    questions = load_questions(DATA / "questions.jsonl")
    qrels = load_qrels(DATA / "qrels.tsv")
    kb = KnowledgeBase.load(index)
    for row, settings in [("tiny/dense", {"mode": "dense"}), ("bm25", {"mode": "lexical"}),
                          ("tiny/hybrid-score", {"mode": "hybrid", "fusion": "score"})]:
        want = run.evaluate(kb.with_search(**settings), questions, qrels=qrels, progress=False).report["retrieval"]
        got = report["results"][row]
        assert {m: got[m] for m in cmp.MEASURES} == {m: round(want[m], 4) for m in cmp.MEASURES}, row
        assert got["n_questions"] == want["n_questions"] == 5


def test_latency_is_timed_on_fresh_questions(index: Path) -> None:
    """Evaluation searched every question once already: the timed calls must not hit the query cache."""
    from kbqa.evaluate.run import clear_caches
    from kbqa.pipeline import KnowledgeBase

    kb = KnowledgeBase.load(index)
    kb.search("does aspirin reduce fever")
    assert kb.encoder._queries  # noqa: SLF001 - the cache this test is about
    clear_caches(kb)
    assert not kb.encoder._queries  # noqa: SLF001


def test_eval_latency_encodes_every_timed_question_afresh(index: Path, monkeypatch) -> None:
    """The report's search latency must include the query's encoder pass: a cache hit would time 0.1 ms."""
    from kbqa.evaluate import run
    from kbqa.evaluate.benchmark import load_qrels, load_questions
    from kbqa.pipeline import KnowledgeBase

    kb = KnowledgeBase.load(index)
    questions = load_questions(DATA / "questions.jsonl")
    encoded: list[str] = []
    real = kb.encoder._encode  # noqa: SLF001 - the uncached path this test counts

    def counting(texts, progress):
        encoded.extend(texts)
        return real(texts, progress)

    monkeypatch.setattr(kb.encoder, "_encode", counting)
    report = run.evaluate(kb, questions, qrels=load_qrels(DATA / "qrels.tsv"), progress=False).report
    timed = report["latency_ms"]["search_n"]
    assert timed == min(len(questions), run.LATENCY_SAMPLE)
    # every question once for the metrics (the untimed warm-up reads that cache), then each timed call
    # encodes its question again: without clearing the cache there would be no second pass at all
    assert len(encoded) == len(questions) + timed and encoded[-timed:] == [q.question for q in questions[:timed]]


def test_scripts_use_no_private_knowledge_base_attributes_or_index_files() -> None:
    """Reports come from the public API: no script reaches into a KnowledgeBase's privates or opens an
    index version's files itself (kbqa.index.store.IndexFolder reads them)."""
    private = re.compile(r"\b(kb|clone|system)\w*\._[a-z]\w*")
    files_by_path = re.compile(r"""/ ["'](CURRENT|manifest\.json|vectors\.npy|ids\.json|chunks\.jsonl)["']""")
    files = [f for folder in ("eval/scripts", "benchmarks", "scripts") for f in sorted((ROOT / folder).glob("*.py"))]
    wrong = [f"{f.relative_to(ROOT)}: {m.group(0)}" for f in files
             for pattern in (private, files_by_path) for m in pattern.finditer(f.read_text())]
    assert not wrong, wrong


def test_length_aware_fusion_rows_and_length_buckets(index: Path) -> None:
    """``hybrid-score-long<N>-lex<W>`` searches with search.long_query_words N / lexical_weight_long W, and
    ``--by-length`` splits the same run's per-question scores into query-length buckets."""
    import statistics

    import kbqa.evaluate.run as run
    from kbqa.evaluate.benchmark import load_qrels, load_questions
    from kbqa.pipeline import KnowledgeBase
    from kbqa.retrieve import query_words

    cmp = _script("compare_retrieval")
    assert cmp.mode_settings("hybrid-score-long40-lex0.2") == {
        "mode": "hybrid", "fusion": "score", "long_query_words": 40, "lexical_weight_long": 0.2}
    assert cmp.mode_settings("hybrid-score-lex0.1")["lexical_weight"] == 0.1
    assert cmp.mode_settings("hybrid-score-long-lex") is None
    assert [b[0] for b in cmp.length_buckets((5, 20))] == ["<=5", "6-20", ">20"]

    report = cmp.compare(DATA, {"tiny": str(index)}, modes=("hybrid-score-long5-lex3",), bm25=False,
                         length_edges=(5,))
    row = report["results"]["tiny/hybrid-score-long5-lex3"]
    questions, qrels = load_questions(DATA / "questions.jsonl"), load_qrels(DATA / "qrels.tsv")
    kb = KnowledgeBase.load(index).with_search(mode="hybrid", fusion="score", long_query_words=5, lexical_weight_long=3.0)
    want = run.evaluate(kb, questions, qrels=qrels, progress=False)
    assert row["nDCG@10"] == round(want.report["retrieval"]["nDCG@10"], 4)
    words = {q.qid: query_words(q.question) for q in questions}
    short = [r["retrieval"]["nDCG@10"] for r in want.per_query if words[r["qid"]] <= 5]
    long = [r["retrieval"]["nDCG@10"] for r in want.per_query if words[r["qid"]] > 5]
    assert (row["by_length"]["<=5"]["n"], row["by_length"][">5"]["n"]) == (len(short), len(long)) == (2, 3)
    assert row["by_length"]["<=5"]["nDCG@10"] == round(statistics.fmean(short), 4)
    assert row["by_length"][">5"]["nDCG@10"] == round(statistics.fmean(long), 4)
    assert report["length_buckets_words"] == ["<=5", ">5"]
