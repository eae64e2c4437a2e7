"""PNG plots of an evaluation (matplotlib, Agg backend): recall@k, reliability, coverage-accuracy, confusion."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kbqa.evaluate import metrics as M


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return path.name


def write_plots(report: dict[str, Any], per_query: list[dict[str, Any]], out_dir: Path) -> dict[str, str]:
    """Write the plots the report has data for; returns ``{plot name: file name}``."""
    plt = _pyplot()
    written: dict[str, str] = {}
    curves = report.get("recall_at_k") or {}
    if curves:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for name, curve in curves.items():
            ks = [int(m.split("@")[1]) for m in curve]
            ax.plot(ks, list(curve.values()), marker="o", label=name)
        ax.set_xscale("log")
        ax.set_xlabel("k (documents)")
        ax.set_ylabel("recall@k")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
        written["recall_at_k"] = _save(fig, out_dir / "recall_at_k.png")
    answers = [r["answer"] for r in per_query if "answer" in r]
    if answers:
        conf = [a["confidence"] for a in answers]
        correct = [a["correct"] for a in answers]
        bins = M.reliability_bins(conf, correct)
        fig, ax = plt.subplots(figsize=(4, 4))
        ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
        ax.bar([b["lo"] for b in bins], [b["accuracy"] for b in bins], width=0.1, align="edge",
               edgecolor="black", alpha=0.7, label="accuracy")
        ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], "o", color="black")
        ax.set_xlabel("confidence")
        ax.set_ylabel("accuracy")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_title(f"ECE = {report['answers']['ece']:.3f}")
        ax.legend(loc="upper left")
        written["reliability"] = _save(fig, out_dir / "reliability.png")

        curve = M.coverage_curve(conf, correct)
        fig, ax = plt.subplots(figsize=(5, 3.5))
        ax.plot([p["coverage"] for p in curve], [p["accuracy"] for p in curve])
        ax.set_xlabel("coverage (answered share, most confident first)")
        ax.set_ylabel("accuracy")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        written["coverage_accuracy"] = _save(fig, out_dir / "coverage_accuracy.png")

        confusion = report["answers"]["confusion"]
        written["confusion"] = confusion_plot(confusion["labels"], confusion["matrix"], out_dir / "confusion.png")
    return written


def confusion_plot(labels: list[str], matrix: list[list[int]], path: Path) -> str:
    """A confusion-matrix heat map (rows gold, columns predicted) with the counts; sized for the label count."""
    plt = _pyplot()
    n = len(labels)
    side = max(3.4, 0.38 * n + 1.6)
    fig, ax = plt.subplots(figsize=(side + 0.4, side))
    ax.imshow(matrix, cmap="Blues")
    small = n > 8
    ax.set_xticks(range(n), labels, rotation=90 if small else 0, fontsize=7 if small else None)
    ax.set_yticks(range(n), labels, fontsize=7 if small else None)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    top = max(max(row) for row in matrix) if matrix else 0
    for i, row in enumerate(matrix):
        for j, v in enumerate(row):
            if v or not small:
                ax.text(j, i, str(v), ha="center", va="center", fontsize=6 if small else None,
                        color="white" if v > top / 2 else "black")
    return _save(fig, path)
