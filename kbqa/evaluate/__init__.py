"""Offline evaluation: benchmark format, metrics, runs, reports (``kbqa eval``).

Data flows benchmark.py (read/validate) -> run.py (retrieval.py + metrics.py) -> report.py (+ plots.py);
export.py turns PubMedQA and MedQuAD into the benchmark format. Heavy imports stay inside functions.
"""

from __future__ import annotations

from kbqa.evaluate.benchmark import Qrel, Question, load_qrels, load_questions

__all__ = ["Qrel", "Question", "load_qrels", "load_questions"]
