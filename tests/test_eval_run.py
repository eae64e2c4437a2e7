"""Evaluation runs on a fake knowledge base: report schema, baselines, answers, plots, compare, CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from kbqa.errors import KbqaError
from kbqa.evaluate.benchmark import Qrel, load_qrels, load_questions
from kbqa.evaluate.retrieval import doc_rankings
from kbqa.evaluate.run import evaluate
from kbqa.types import Answer, Chunk, Hit

DATA = Path(__file__).parent / "data" / "eval"


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


class FakeKB:
    """Word-overlap search over the test corpus, two chunks per document; a reader that says yes
    when the best passage has no negation."""

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = index_dir
        self.fingerprint = "fake-fp"
        self.config = None
        self.chunks = []
        for line in (DATA / "corpus.jsonl").read_text().splitlines():
            d = json.loads(line)
            half = d["text"].index(" ", len(d["text"]) // 2)  # split between words
            for n, (s, e) in enumerate([(0, half), (half, len(d["text"]))]):
                self.chunks.append(Chunk(f"{d['id']}#{n}", d["id"], d["text"][s:e], s, e, d["title"], {}))
        self.searched: list[int] = []

    def iter_chunks(self):
        return iter(self.chunks)

    @property
    def lexical(self):
        """A BM25 side saved under ``index_dir/lexical``, as KnowledgeBase.lexical gives its version's."""
        from kbqa.lexical import LexicalIndex

        path = self.index_dir / "lexical"
        return LexicalIndex.load(path) if path.is_dir() else None

    def search_many(self, queries: list[str], k: int = 10, filters: Any = None) -> list[list[Hit]]:
        self.searched.append(len(queries))
        out = []
        for q in queries:
            scored = sorted(
                self.chunks, key=lambda c: -len(_words(q) & _words(c.title + " " + c.text))
            )[:k]
            out.append([Hit(c.chunk_id, c.doc_id, float(len(_words(q) & _words(c.title + " " + c.text))), c.text,
                            c.title) for c in scored])
        return out

    def search(self, query: str, k: int = 10, filters: Any = None) -> list[Hit]:
        return self.search_many([query], k)[0]

    def ask(self, question: str, k: int = 10, reader: Any = None) -> Answer:
        hit = self.search(question, 1)[0]
        doc_text = " ".join(c.text for c in self.chunks if c.doc_id == hit.doc_id)
        verdict = "no" if re.search(r"\bnot\b", doc_text) else "yes"
        conf = 0.9 if verdict == "yes" else 0.6
        probs = {"yes": conf if verdict == "yes" else 0.2, "no": conf if verdict == "no" else 0.05, "maybe": 0.2}
        reason = {"reason": "insufficient evidence: no passage about it"} if conf < 0.7 else {}
        return Answer(question, verdict, conf < 0.7, conf, probs, [], provenance=reason,
                      decision=None if conf < 0.7 else verdict)


class FakeReader:
    labels = ["yes", "no", "maybe"]


@pytest.fixture()
def bench() -> tuple[list, list]:
    qs = load_questions(DATA / "questions.jsonl")
    return qs, load_qrels(DATA / "qrels.tsv", question_ids=[q.qid for q in qs])


def test_report_schema_and_values(tmp_path: Path, bench) -> None:
    qs, qrels = bench
    kb = FakeKB(tmp_path)
    result = evaluate(kb, qs, qrels=qrels, reader=FakeReader(), k=3, baselines=["bm25", "dense"], progress=False)
    r = result.report
    assert set(r["retrieval"]) == {"nDCG@10", "R@10", "R@100", "RR@10", "n_questions"}
    assert r["retrieval"]["n_questions"] == 5
    # 6 documents: every relevant document is retrieved within 100, so R@100 = 1
    assert r["retrieval"]["R@100"] == 1.0
    assert all(0.0 <= r["retrieval"][m] <= 1.0 for m in ("nDCG@10", "R@10", "RR@10"))
    assert set(r["baselines"]) == {"bm25", "dense", "majority"}
    assert r["baselines"]["dense"]["retrieval"] == r["retrieval"]
    assert r["baselines"]["bm25"]["retrieval"]["RR@10"] == 1.0  # every question shares its words with its doc
    a = r["answers"]
    assert set(a) >= {"accuracy", "macro_f1", "per_class", "confusion", "coverage", "selective_accuracy", "ece"}
    assert a["n_questions"] == 4  # q5 has no label answer
    assert a["accuracy"] == 1.0 and a["coverage"] == 0.5 and a["selective_accuracy"] == 1.0
    assert a["insufficient_evidence"] == 0.5  # both abstentions were for insufficient evidence
    assert a["ece"] == pytest.approx(0.5 * 0.1 + 0.5 * 0.4)
    assert r["baselines"]["majority"]["answers"]["accuracy"] == 0.5
    assert set(r["ci95"]) == {"nDCG@10", "R@10", "R@100", "RR@10", "accuracy", "macro_f1"}
    assert all(lo <= hi for lo, hi in r["ci95"].values())
    assert set(r["latency_ms"]) >= {"search_p50", "search_p95", "ask_p50", "ask_p95"}
    assert r["index"]["fingerprint"] == "fake-fp" and "config" in r
    rows = {row["qid"]: row for row in result.per_query}
    assert rows["q2"]["answer"]["verdict"] == "no" and rows["q2"]["retrieval"]["R@10"] == 1.0
    assert rows["q2"]["answer"]["decision"] is None and rows["q2"]["answer"]["reason"].startswith("insufficient")
    assert "answer" not in rows["q5"] and "bm25" in rows["q5"]["baselines"]
    # retrieval was batched: one search_many call for all five judged questions
    assert 5 in kb.searched


def test_questions_without_qrels_score_answers_only(tmp_path: Path, bench) -> None:
    qs, _ = bench
    r = evaluate(FakeKB(tmp_path), qs, reader=FakeReader(), progress=False).report
    assert "retrieval" not in r and "answers" in r and "nDCG@10" not in r["ci95"]


def test_unknown_baseline_is_refused(tmp_path: Path, bench) -> None:
    with pytest.raises(KbqaError, match="unknown baseline"):
        evaluate(FakeKB(tmp_path), bench[0], baselines=["bm42"], progress=False)


def test_doc_rankings_reach_100_documents() -> None:
    chunks = [(f"d{i // 3}", 1000.0 - i) for i in range(600)]  # 200 documents x 3 chunks, ranked in order
    calls: list[int] = []

    def search(queries: list[str], k: int) -> list[list[tuple[str, float]]]:
        calls.append(k)
        return [chunks[:k] for _ in queries]

    out = doc_rankings(search, ["q1", "q2"], n_chunks=600, n_docs=200)
    assert [len(r) for r in out] == [100, 100] or all(len(r) >= 100 for r in out)
    assert out[0][0] == ("d0", 1000.0) and len({d for d, _ in out[0]}) == len(out[0])
    # clamped to the index: 10 documents only
    small = doc_rankings(lambda qs, k: [chunks[: min(k, 30)] for _ in qs], ["q"], n_chunks=30, n_docs=10)
    assert len(small[0]) == 10


def test_write_report_and_compare(tmp_path: Path, bench) -> None:
    from kbqa.evaluate.report import compare, format_comparison, write_report

    qs, qrels = bench
    res = evaluate(FakeKB(tmp_path), qs, qrels=qrels, reader=FakeReader(), baselines=["bm25"], progress=False)
    path = write_report(res, tmp_path / "A")
    names = {p.name for p in (tmp_path / "A").iterdir()}
    assert {"report.json", "report.md", "per_query.jsonl", "recall_at_k.png", "reliability.png",
            "coverage_accuracy.png", "confusion.png"} <= names
    report = json.loads(path.read_text())
    assert report["plots"]["recall_at_k"] == "recall_at_k.png"
    md = (tmp_path / "A" / "report.md").read_text()
    assert "recall_at_k.png" in md and "| bm25 |" in md
    write_report(res, tmp_path / "B")
    rows = compare(tmp_path / "A" / "report.json", tmp_path / "B")
    assert {r["metric"] for r in rows} == {"nDCG@10", "R@10", "R@100", "RR@10", "accuracy"}
    assert all(r["delta"] == 0 and r["p_value"] == 1.0 for r in rows)
    assert "nDCG@10" in format_comparison(rows, "A", "B")
    (tmp_path / "B" / "per_query.jsonl").unlink()
    with pytest.raises(KbqaError, match="per_query.jsonl"):
        compare(tmp_path / "A", tmp_path / "B")


def test_cli_dispatches_subcommands(monkeypatch, capsys) -> None:
    from kbqa.cli import main
    from kbqa.cli import eval as cli_eval

    seen: list[list[str]] = []
    monkeypatch.setitem(cli_eval.EVAL_SUBCOMMANDS, "echo", lambda argv: seen.append(argv) or 0)
    assert main(["eval", "echo", "--x", "1"]) == 0 and seen == [["--x", "1"]]
    monkeypatch.setitem(cli_eval.EVAL_SUBCOMMANDS, "ddi", "kbqa.cli.not_there:eval_main")
    assert main(["eval", "ddi", "--data", "x"]) == 2
    assert "kbqa.cli.not_there is missing" in capsys.readouterr().err
    assert main(["eval", "bogus"]) == 2
    assert main(["eval", "--index", "x"]) == 2


def test_cli_end_to_end_on_a_real_index(tmp_path: Path, tiny_encoder_dir: Path) -> None:
    """Exactly the documented commands: index build, then eval with the bm25 baseline."""
    from kbqa.cli import main

    cfg = tmp_path / "kbqa.toml"
    cfg.write_text(f'[embed]\nmodel = "{tiny_encoder_dir}"\n[index]\nbackend = "exact"\n')
    assert main(["index", "build", str(DATA / "corpus.jsonl"), "--index", str(tmp_path / "X"),
                 "--config", str(cfg), "--quiet"]) == 0
    out = tmp_path / "R"
    assert main(["eval", "--index", str(tmp_path / "X"), "--questions", str(DATA / "questions.jsonl"),
                 "--qrels", str(DATA / "qrels.tsv"), "--baseline", "bm25", "--out", str(out), "--no-progress"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["retrieval"]["n_questions"] == 5 and report["retrieval"]["R@100"] == 1.0
    assert report["baselines"]["bm25"]["retrieval"]["RR@10"] > 0.5
    assert report["index"]["documents"] == 6 and report["latency_ms"]["search_p50"] > 0
    bad = tmp_path / "bad.tsv"
    bad.write_text("qX 0 d1 1\nqY 0 d99 1\n")  # judges none of the questions: refused
    assert main(["eval", "--index", str(tmp_path / "X"), "--questions", str(DATA / "questions.jsonl"),
                 "--qrels", str(bad), "--out", str(out)]) == 2
    # --config reaches the knowledge base (search settings) and is recorded in the report
    cfg.write_text(cfg.read_text() + "[search]\nk = 7\n")
    assert main(["eval", "--index", str(tmp_path / "X"), "--questions", str(DATA / "questions.jsonl"),
                 "--config", str(cfg), "--out", str(out), "--no-progress"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["config"]["search"]["k"] == 7 and "retrieval" not in report


def test_bm25_baseline_uses_the_index_folders_lexical_index(tmp_path: Path, bench) -> None:
    from kbqa.lexical import LexicalIndex

    qs, qrels = bench
    kb = FakeKB(tmp_path)
    ids = [c.chunk_id for c in kb.chunks]
    LexicalIndex.build(ids, ["nothing relevant here"] * len(ids)).save(tmp_path / "lexical")
    r = evaluate(kb, qs, qrels=qrels, baselines=["bm25"], progress=False).report
    assert r["baselines"]["bm25"]["retrieval"]["RR@10"] < 1.0  # all ties: the stored (useless) index was used
    LexicalIndex.build(ids[:3], ["alpha", "beta", "gamma"]).save(tmp_path / "lexical")  # stale: covers other chunks
    r = evaluate(kb, qs, qrels=qrels, baselines=["bm25"], progress=False).report
    assert r["baselines"]["bm25"]["retrieval"]["RR@10"] == 1.0  # rebuilt in memory


def test_a_subset_of_questions_is_scored_against_the_full_qrels(tmp_path: Path, tiny_encoder_dir: Path,
                                                                 capsys) -> None:
    from kbqa.cli import main

    cfg = tmp_path / "kbqa.toml"
    cfg.write_text(f'[embed]\nmodel = "{tiny_encoder_dir}"\n[index]\nbackend = "exact"\n')
    assert main(["index", "build", str(DATA / "corpus.jsonl"), "--index", str(tmp_path / "X"), "--config", str(cfg),
                 "--quiet"]) == 0
    subset = tmp_path / "questions.jsonl"
    subset.write_text("".join((DATA / "questions.jsonl").read_text().splitlines(keepends=True)[:2]))  # q1, q2
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text((DATA / "qrels.tsv").read_text() + "q1\t0\tgone\t1\n")  # + a document the index lacks
    capsys.readouterr()
    assert main(["eval", "--index", str(tmp_path / "X"), "--questions", str(subset), "--qrels", str(qrels),
                 "--out", str(tmp_path / "R"), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "3 judgements of 3 questions that are not in the questions file were skipped" in err
    assert "1 judgements name documents that are not in the index" in err
    report = json.loads((tmp_path / "R" / "report.json").read_text())
    assert report["retrieval"]["n_questions"] == 2
    assert report["qrels_check"] == {"judgements": 4, "skipped_lines": 3, "unasked_questions": 3, "missing_documents": 1}
    assert report["retrieval"]["R@100"] == pytest.approx(0.75)  # q1 finds 1 of 2 (one never retrievable), q2 1 of 1


def test_qrels_naming_a_skipped_empty_document_warn(tmp_path: Path, tiny_encoder_dir: Path, capsys) -> None:
    from kbqa.cli import main

    cfg = tmp_path / "kbqa.toml"
    cfg.write_text(f'[embed]\nmodel = "{tiny_encoder_dir}"\n[index]\nbackend = "exact"\n')
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text((DATA / "corpus.jsonl").read_text() + '{"id": "d7", "title": "", "text": "  "}\n')
    assert main(["index", "build", str(corpus), "--index", str(tmp_path / "X"), "--config", str(cfg), "--quiet"]) == 0
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text((DATA / "qrels.tsv").read_text() + "q1\t0\td7\t1\n")
    capsys.readouterr()
    assert main(["eval", "--index", str(tmp_path / "X"), "--questions", str(DATA / "questions.jsonl"),
                 "--qrels", str(qrels), "--out", str(tmp_path / "R"), "--no-progress"]) == 0
    assert "1 judgements name documents that are not in the index" in capsys.readouterr().err
    report = json.loads((tmp_path / "R" / "report.json").read_text())
    assert report["retrieval"]["R@100"] == pytest.approx(0.9)  # q1: 1 of its 2 relevant documents retrievable
