"""Fine-tuned classifier readers: inference (classifier.py), training (train.py, train_recipe.py), calibration, aggregation, answers.

Nothing heavy is imported here; see :mod:`kbqa.read.answer` for ``answer(kb, question)``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Reader"]


def __getattr__(name: str) -> Any:
    if name == "Reader":
        from kbqa.read.reader import Reader

        return Reader
    raise AttributeError(f"module 'kbqa.read' has no attribute {name!r}")
