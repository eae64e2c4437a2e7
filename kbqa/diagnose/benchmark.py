"""``kbqa eval diagnose``: top-1/5/10 accuracy and MRR of the differential on labelled cases, with the
BM25 and dense baselines in the same run.

A gold label matches a ranked condition when the label, or any of its accepted names (``names``:
``{"label": ["name", "synonym", ...]}``), occurs in the condition's name as whole words,
case-insensitively (kbqa.diagnose.conditions.word_match). ``mrr`` is the mean reciprocal rank of the
first matching condition among the 10 returned (0 when none matches).

Systems: ``kbqa`` (the default retrieval and scoring of ``diagnose``); ``bm25`` and ``dense`` (the
same grouping by condition over plain BM25 hits and plain dense hits, a condition ranked where its
best hit ranks: whole-document ranking, no section or collection weights).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kbqa.diagnose.assistant import diagnose
from kbqa.diagnose.cases import Case
from kbqa.diagnose.conditions import word_match
from kbqa.diagnose.differential import DEFAULT, PLAIN, Diagnosis, ScoringParams

RANKED = 10
SYSTEMS: dict[str, tuple[str | None, ScoringParams]] = {"kbqa": (None, DEFAULT), "bm25": ("lexical", PLAIN),
                                                        "dense": ("dense", PLAIN)}


def gold_rank(diagnosis: Diagnosis, names: Sequence[str]) -> int | None:
    """1-based rank of the first condition matching any of ``names``, or None."""
    for rank, condition in enumerate(diagnosis.conditions, start=1):
        if any(word_match(n, condition.name) for n in names):
            return rank
    return None


def summarise(ranks: Sequence[int | None]) -> dict[str, float | int]:
    n = len(ranks)

    def at(k: int) -> float:
        return round(sum(1 for r in ranks if r is not None and r <= k) / n, 4) if n else 0.0

    mrr = round(sum(1.0 / r for r in ranks if r is not None) / n, 4) if n else 0.0
    return {"top1": at(1), "top5": at(5), "top10": at(10), "mrr": mrr, "n_cases": n}


def evaluate(kb: Any, cases: Sequence[Case], names: Mapping[str, Sequence[str]] | None = None, *,
             exclude_column: str | None = None, condition_field: str | None = None,
             systems: Sequence[str] = tuple(SYSTEMS), progress: bool = True) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(report, per-case rows). The first system is the one reported at the top level, with its latency."""
    import numpy as np
    from tqdm.auto import tqdm

    names = names or {}
    per_case: list[dict[str, Any]] = [{"id": c.id, "label": c.label} for c in cases]
    results: dict[str, dict[str, Any]] = {}
    latency: list[float] = []
    for s, system in enumerate(systems):
        mode, params = SYSTEMS[system]
        ranks: list[int | None] = []
        top_conf: list[float] = []
        abstained = 0
        for row, case in zip(per_case, tqdm(cases, desc=system, disable=not progress, leave=False), strict=True):
            excluded = _excluded(case, exclude_column)
            _clear(kb)
            t0 = time.perf_counter()
            d = diagnose(kb, case.text, k=RANKED, condition_field=condition_field, params=params, mode=mode,
                         exclude_docs=excluded)
            if s == 0:
                latency.append((time.perf_counter() - t0) * 1000)
            accepted = [case.label or "", *names.get(case.label or "", [])]
            rank = gold_rank(d, [a for a in accepted if a])
            ranks.append(rank)
            top_conf.append(d.conditions[0].confidence if d.conditions else 0.0)
            abstained += d.abstained
            row[system] = {"rank": rank, "top": [c.name for c in d.conditions[:5]], "abstained": d.abstained}
        results[system] = {**summarise(ranks), "abstained": round(abstained / max(len(cases), 1), 4),
                           **_calibration(top_conf, [r == 1 for r in ranks])}
    main = systems[0]
    report: dict[str, Any] = {**{k: results[main][k] for k in ("top1", "top5", "top10", "mrr", "n_cases")},
                              "system": main, "abstained": results[main]["abstained"],
                              "top1_confidence": results[main]["top1_confidence"], "ece_top1": results[main]["ece_top1"],
                              "per_label": _per_label(per_case, main),
                              "latency_ms": {"p50": round(float(np.percentile(latency, 50)), 1) if latency else None,
                                             "p95": round(float(np.percentile(latency, 95)), 1) if latency else None},
                              "baselines": {k: v for k, v in results.items() if k != main},
                              "scoring": DEFAULT.to_dict(),
                              "index": {"path": str(getattr(kb, "index_dir", "")), "version": getattr(kb, "version", None),
                                        "chunks": len(kb) if hasattr(kb, "__len__") else None},
                              "exclude_column": exclude_column}
    return report, per_case


def _calibration(confidence: Sequence[float], correct: Sequence[bool]) -> dict[str, float]:
    """Mean confidence of the first condition and its expected calibration error against top-1 hits."""
    from kbqa.evaluate.metrics import expected_calibration_error

    if not confidence:
        return {"top1_confidence": 0.0, "ece_top1": 0.0}
    return {"top1_confidence": round(sum(confidence) / len(confidence), 4),
            "ece_top1": round(float(expected_calibration_error(confidence, correct)), 4)}


def _excluded(case: Case, column: str | None) -> frozenset[str]:
    if not column:
        return frozenset()
    value = case.row.get(column)
    if value is None or (isinstance(value, float) and value != value):
        return frozenset()
    items = value if isinstance(value, list) else str(value).split(";")
    return frozenset(str(v).strip() for v in items if str(v).strip())


def _clear(kb: Any) -> None:
    encoder = getattr(kb, "encoder", None)
    if hasattr(encoder, "cache_clear"):
        encoder.cache_clear()  # time each description as never seen


def _per_label(rows: Sequence[dict[str, Any]], system: str) -> dict[str, dict[str, float | int]]:
    by: dict[str, list[int | None]] = {}
    for row in rows:
        by.setdefault(str(row["label"]), []).append(row[system]["rank"])
    return {label: {"n": len(r), "top1": summarise(r)["top1"], "top5": summarise(r)["top5"]}
            for label, r in sorted(by.items())}


def render_markdown(report: dict[str, Any]) -> str:
    lines = ["# kbqa eval diagnose", "", f"{report['n_cases']} cases; index {report['index']['path']} "
             f"({report['index']['chunks']} chunks)", "", "| system | top1 | top5 | top10 | mrr | abstained |",
             "|---|---|---|---|---|---|"]
    rows = {report["system"]: report, **report["baselines"]}
    for name, r in rows.items():
        lines.append(f"| {name} | {r['top1']:.3f} | {r['top5']:.3f} | {r['top10']:.3f} | {r['mrr']:.3f} | "
                     f"{r['abstained']:.3f} |")
    lat = report["latency_ms"]
    lines += ["", f"Latency of `diagnose` ({report['system']}): p50 {lat['p50']} ms, p95 {lat['p95']} ms.",
              f"First condition's confidence: mean {report['top1_confidence']:.3f} against top-1 accuracy "
              f"{report['top1']:.3f} (ECE {report['ece_top1']:.3f})."]
    return "\n".join(lines) + "\n"


def write_report(report: dict[str, Any], per_case: Sequence[dict[str, Any]], out: str | Path) -> Path:
    import json

    from kbqa.files import write_atomic
    from kbqa.jsonlines import dumps_jsonl

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "report.json", json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    write_atomic(out / "per_case.jsonl", dumps_jsonl(per_case, ensure_ascii=False))
    write_atomic(out / "report.md", render_markdown(report))
    return out / "report.json"
