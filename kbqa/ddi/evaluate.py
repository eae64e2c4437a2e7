"""DDIExtraction 2013 scoring: micro-F1 over the four positive types, per-type P/R/F1, confusion matrix.

A pair counts as correct only when its type is right; ``none`` is not a class of the micro
average (as in the shared task's "classification" measure). Metrics come from scikit-learn.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kbqa.ddi.corpus import LABELS, POSITIVE_TYPES


@dataclass(frozen=True)
class DDIScores:
    micro_f1: float
    micro_precision: float
    micro_recall: float
    per_type: dict[str, dict[str, float]]  # type -> precision, recall, f1, support
    labels: tuple[str, ...]  # rows/columns of the confusion matrix (gold rows, predicted columns)
    matrix: tuple[tuple[int, ...], ...]
    n_pairs: int
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The report.json layout: micro_f1 (fraction), per_type, confusion {labels, matrix}, ..."""
        return {
            "micro_f1": self.micro_f1,
            "micro_precision": self.micro_precision,
            "micro_recall": self.micro_recall,
            "per_type": self.per_type,
            "confusion": {"labels": list(self.labels), "matrix": [list(r) for r in self.matrix]},
            "n_pairs": self.n_pairs,
            **self.meta,
        }


def score(gold: Sequence[str], pred: Sequence[str], meta: dict[str, Any] | None = None) -> DDIScores:
    """Score predicted pair labels against gold ones (both drawn from ``none`` + the four types)."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold labels but {len(pred)} predictions")
    pos = list(POSITIVE_TYPES)
    p, r, f, _ = precision_recall_fscore_support(gold, pred, labels=pos, average="micro", zero_division=0)
    pp, rr, ff, ss = precision_recall_fscore_support(gold, pred, labels=pos, average=None, zero_division=0)
    per_type = {
        t: {"precision": float(pp[i]), "recall": float(rr[i]), "f1": float(ff[i]), "support": int(ss[i])}
        for i, t in enumerate(pos)
    }
    matrix = confusion_matrix(gold, pred, labels=list(LABELS))
    return DDIScores(
        micro_f1=float(f),
        micro_precision=float(p),
        micro_recall=float(r),
        per_type=per_type,
        labels=LABELS,
        matrix=tuple(tuple(int(x) for x in row) for row in matrix),
        n_pairs=len(gold),
        meta=dict(meta or {}),
    )


def evaluate(model_dir: str | Path, data: str | Path, *, split: str | Path | None = None) -> DDIScores:
    """Predict every candidate pair of ``data`` (only the split's dev documents when given) and score it."""
    from kbqa.ddi.blind import pair_examples
    from kbqa.ddi.corpus import read_corpus, split_docs
    from kbqa.ddi.model import DDIModel
    from kbqa.paths import load_split

    docs = read_corpus(data)
    if split:
        _, docs = split_docs(docs, load_split(split))
    model = DDIModel.load(model_dir)
    examples = pair_examples(docs, filter_pairs=model.filter_pairs, style=model.entity_style)
    started = time.perf_counter()
    pred = model.predict_examples(examples)
    seconds = time.perf_counter() - started
    meta = {
        "model": str(model_dir),
        "data": str(data),
        "split": str(split) if split else None,
        "documents": len(docs),
        "filtered_pairs": sum(e.filtered for e in examples),
        "predict_seconds": round(seconds, 2),
        "pairs_per_second": round(len(examples) / seconds, 1) if seconds > 0 else None,
    }
    return score([e.label for e in examples], pred, meta)


def render_markdown(scores: DDIScores, title: str = "DDI 2013 evaluation") -> str:
    """A short human-readable report: micro scores, per-type table, confusion matrix."""
    lines = [f"# {title}", ""]
    for key in ("model", "data", "split"):
        if scores.meta.get(key):
            lines.append(f"- {key}: `{scores.meta[key]}`")
    lines += [
        f"- pairs: {scores.n_pairs}",
        f"- **micro-F1 (mechanism, effect, advise, int): {100 * scores.micro_f1:.1f}** "
        f"(P {100 * scores.micro_precision:.1f}, R {100 * scores.micro_recall:.1f})",
        "",
        "| type | precision | recall | F1 | support |",
        "|---|---:|---:|---:|---:|",
    ]
    for t, m in scores.per_type.items():
        lines.append(f"| {t} | {100 * m['precision']:.1f} | {100 * m['recall']:.1f} | {100 * m['f1']:.1f} | {m['support']} |")
    lines += ["", "Confusion matrix (rows gold, columns predicted):", "", "| gold \\ pred | " + " | ".join(scores.labels) + " |"]
    lines.append("|---" * (len(scores.labels) + 1) + "|")
    for lab, row in zip(scores.labels, scores.matrix):
        lines.append(f"| {lab} | " + " | ".join(str(x) for x in row) + " |")
    return "\n".join(lines) + "\n"


def write_report(scores: DDIScores, out_dir: str | Path) -> Path:
    """Write ``report.json`` and ``report.md`` into ``out_dir``; returns the folder."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(scores.to_dict(), indent=2) + "\n", encoding="utf-8")
    (out / "report.md").write_text(render_markdown(scores), encoding="utf-8")
    return out
