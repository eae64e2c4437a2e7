"""One evaluation run: retrieval (document level), baselines, answers and latency over a knowledge base.

The knowledge base needs ``search_many``, ``search``, ``iter_chunks``, ``ask``, ``fingerprint``,
``config`` and ``index_dir`` (kbqa.pipeline.KnowledgeBase); a reader needs ``labels``.
"""

from __future__ import annotations

import platform
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kbqa.errors import KbqaError
from kbqa.evaluate import metrics as M
from kbqa.evaluate.benchmark import Qrel, Question
from kbqa.evaluate.retrieval import bm25_search, dense_search, doc_rankings, lexical_for

# bm25: BM25 alone; dense / hybrid: the same index searched dense-only / hybrid without reranking
BASELINES = ("bm25", "dense", "hybrid", "majority")
LATENCY_SAMPLE = 30
BOOTSTRAP_RESAMPLES = 1000


@dataclass(frozen=True)
class EvalResult:
    """``report`` is what report.json holds; ``per_query`` one record per question (per_query.jsonl)."""

    report: dict[str, Any]
    per_query: list[dict[str, Any]]


def _bar(total: int, desc: str, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="q", disable=not enabled, leave=False)


def _percentiles(ms: Sequence[float]) -> tuple[float | None, float | None]:
    import numpy as np

    if not ms:
        return None, None
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


def _retrieval_block(
    name: str, search: Any, texts: list[str], qids: list[str], qrels: Sequence[Qrel], sizes: dict[str, int],
    progress: bool,
) -> tuple[dict[str, Any], dict[str, dict[str, float]], dict[str, float], list[list[tuple[str, float]]]]:
    with _bar(len(texts), f"retrieve ({name})", progress) as bar:
        ranked = doc_rankings(search, texts, n_chunks=sizes["chunks"], n_docs=sizes["documents"], progress=bar)
    run = dict(zip(qids, ranked))
    per_q = M.retrieval_per_query(qrels, run)
    summary: dict[str, Any] = {**M.mean_metrics(per_q, M.RETRIEVAL_MEASURES), "n_questions": len(per_q)}
    cutoffs = [f"R@{c}" for c in M.RECALL_CUTOFFS]
    curve = M.mean_metrics(M.retrieval_per_query(qrels, run, cutoffs), cutoffs)
    return summary, per_q, curve, ranked


def _without_rerank(kb: Any, mode: str) -> Any:
    """``kb`` searched in ``mode`` without reranking (a knowledge base without search settings as is)."""
    if not hasattr(kb, "with_search"):
        return kb
    return kb.with_search(mode=mode, rerank="")


def evaluate(
    kb: Any,
    questions: Sequence[Question],
    *,
    qrels: Sequence[Qrel] | None = None,
    reader: Any = None,
    k: int = 10,
    baselines: Sequence[str] = (),
    chunks: list[Any] | None = None,
    progress: bool = True,
) -> EvalResult:
    """Evaluate ``kb`` on ``questions``: retrieval when ``qrels`` are given, answers when ``reader`` is
    given and questions carry answers among its labels, plus the requested ``baselines``."""
    unknown = sorted(set(baselines) - set(BASELINES))
    if unknown:
        raise KbqaError(f"unknown baseline(s) {unknown}; choose from {list(BASELINES)}")
    if k < 1:
        raise KbqaError(f"-k must be >= 1, got {k}")
    started = time.perf_counter()
    chunks = list(kb.iter_chunks()) if chunks is None else chunks
    sizes = {"chunks": len(chunks), "documents": len({c.doc_id for c in chunks})}
    if not chunks:
        raise KbqaError("the index holds no chunks; build it from a non-empty corpus first")
    rows: dict[str, dict[str, Any]] = {q.qid: {"qid": q.qid} for q in questions}
    report: dict[str, Any] = {
        "kbqa_version": _version(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": _cpus()},
        "index": {"dir": str(getattr(kb, "index_dir", "")), "fingerprint": kb.fingerprint, **sizes},
        "config": _config_dict(kb),
        "k": k,
        "n_questions": len(questions),
        "ci95": {},
        "baselines": {},
        "timing_s": {},
    }

    # Retrieval, document level, batched.
    known = {q.qid for q in questions}
    qrels = [r for r in qrels or () if r.qid in known]
    if qrels:
        judged = set(M.judged_questions(qrels))
        scored = [q for q in questions if q.qid in judged]
        if not scored:
            raise KbqaError("no question has a relevant (grade > 0) judgement in the qrels; nothing to score")
        qids, texts = [q.qid for q in scored], [q.question for q in scored]
        t0 = time.perf_counter()
        summary, per_q, curve, ranked = _retrieval_block("system", dense_search(kb), texts, qids, qrels, sizes, progress)
        report["timing_s"]["retrieval"] = round(time.perf_counter() - t0, 3)
        report["retrieval"] = summary
        report["recall_at_k"] = {"system": curve}
        for m in M.RETRIEVAL_MEASURES:
            report["ci95"][m] = M.mean_ci([per_q[q][m] for q in qids], resamples=BOOTSTRAP_RESAMPLES)
        for qid, docs in zip(qids, ranked):
            rows[qid]["retrieval"] = per_q[qid]
            rows[qid]["top_docs"] = [d for d, _ in docs[:k]]
        for name in [b for b in baselines if b in ("bm25", "dense", "hybrid")]:
            t0 = time.perf_counter()
            if name != "bm25":
                search = dense_search(_without_rerank(kb, name))
                b_summary, b_per_q, b_curve, _ = _retrieval_block(name, search, texts, qids, qrels, sizes, progress)
            else:
                lexical = lexical_for(kb, chunks)
                search = bm25_search(lexical, {c.chunk_id: c.doc_id for c in chunks})
                b_summary, b_per_q, b_curve, _ = _retrieval_block(name, search, texts, qids, qrels, sizes, progress)
            report["timing_s"][name] = round(time.perf_counter() - t0, 3)
            report["baselines"][name] = {"retrieval": b_summary}
            report["recall_at_k"][name] = b_curve
            for qid in qids:
                rows[qid].setdefault("baselines", {})[name] = b_per_q[qid]

    # Latency of single queries (what a user waits for), on a fixed sample.
    sample = [q.question for q in questions[:LATENCY_SAMPLE]]
    kb.search(sample[0], k=k)  # warm-up (first-call allocations), not timed
    search_ms = []
    for text in sample:
        clear_caches(kb)  # retrieval above saw these questions: time them fresh
        t0 = time.perf_counter()
        kb.search(text, k=k)
        search_ms.append((time.perf_counter() - t0) * 1000)
    ask_ms: list[float] = []

    # Answers: questions whose answer is one of the reader's labels.
    if reader is not None:
        labels = list(reader.labels)
        by_norm = {lab.strip().lower(): lab for lab in labels}
        answerable = [q for q in questions if q.answer is not None and q.answer.strip().lower() in by_norm]
        if answerable:
            t0 = time.perf_counter()
            gold = [by_norm[q.answer.strip().lower()] for q in answerable]  # type: ignore[union-attr]
            answers = _ask_all(kb, answerable, reader, k, ask_ms, progress)
            report["timing_s"]["answers"] = round(time.perf_counter() - t0, 3)
            pred = [a.verdict for a in answers]
            conf = [float(a.confidence) for a in answers]
            report["answers"] = M.answer_metrics(gold, pred, conf, [bool(a.abstained) for a in answers], labels)
            # abstained because nothing retrieved addresses the question (vs. low confidence)
            report["answers"]["insufficient_evidence"] = sum(_insufficient(a) for a in answers) / len(answers)
            report["ci95"]["accuracy"] = M.mean_ci([g == p for g, p in zip(gold, pred)], resamples=BOOTSTRAP_RESAMPLES)
            report["ci95"]["macro_f1"] = M.macro_f1_ci(gold, pred, resamples=BOOTSTRAP_RESAMPLES)
            # Majority class of the scored questions' gold answers (the best any constant answer does).
            major, count = Counter(gold).most_common(1)[0]
            n = len(gold)
            report["baselines"]["majority"] = {
                "label": major,
                "answers": M.answer_metrics(gold, [major] * n, [count / n] * n, [False] * n, labels),
            }
            for q, g, a in zip(answerable, gold, answers):
                rows[q.qid]["answer"] = {
                    "gold": g, "verdict": a.verdict, "correct": a.verdict == g, "confidence": float(a.confidence),
                    "abstained": bool(a.abstained), "decision": getattr(a, "decision", None),
                    "reason": a.provenance.get("reason") if a.abstained else None,
                    "probabilities": {str(lab): float(p) for lab, p in a.probabilities.items()},
                }
                rows[q.qid]["majority"] = {"verdict": major, "correct": g == major}

    s50, s95 = _percentiles(search_ms)
    a50, a95 = _percentiles(ask_ms)
    report["latency_ms"] = {"search_p50": s50, "search_p95": s95, "ask_p50": a50, "ask_p95": a95,
                            "search_n": len(search_ms), "ask_n": len(ask_ms)}
    report["timing_s"]["total"] = round(time.perf_counter() - started, 3)
    return EvalResult(report=report, per_query=list(rows.values()))


def clear_caches(kb: Any) -> None:
    """Forget the query vectors and reranker scores ``kb`` cached, so that the next call is timed as a
    question never seen (evaluation has already searched every question once, in batches)."""
    for part in (getattr(kb, "encoder", None), getattr(kb, "reranker", None)):
        if hasattr(part, "cache_clear"):
            part.cache_clear()


def _ask_all(kb: Any, questions: Sequence[Question], reader: Any, k: int, ask_ms: list[float], progress: bool) -> list[Any]:
    """``kb.ask`` for each question (timed into ``ask_ms``), in order."""
    out = []
    with _bar(len(questions), "answer", progress) as bar:
        for q in questions:
            clear_caches(kb)
            t0 = time.perf_counter()
            out.append(kb.ask(q.question, k=k, reader=reader))
            ask_ms.append((time.perf_counter() - t0) * 1000)
            bar.update(1)
    return out


def _insufficient(answer: Any) -> bool:
    return bool(answer.abstained) and str(answer.provenance.get("reason", "")).startswith("insufficient evidence")


def _version() -> str:
    from kbqa.version import __version__

    return __version__


def _cpus() -> int | None:
    import os

    return os.cpu_count()


def _config_dict(kb: Any) -> dict[str, Any]:
    cfg = getattr(kb, "config", None)
    return cfg.to_dict() if hasattr(cfg, "to_dict") else {}
