"""Mixing a text classifier's calibrated probabilities (``kbqa train classifier``) into the differential.

A classifier label names a knowledge-base condition when the label equals a condition's name or
occurs in it as whole words (case-insensitive; the exact name first, then the shortest). A
condition's combined confidence is ``(1 - weight) * retrieval confidence + weight * P(label)``;
conditions outside the label set keep their retrieval confidence share and still come from the
knowledge base. A classifier none of whose labels names a condition of the index is refused.
"""

from __future__ import annotations

from typing import Any

from kbqa.diagnose.conditions import ConditionTable
from kbqa.errors import KbqaError

CLASSIFIER_WEIGHT = 0.5


def load_classifier(path: str) -> Any:
    """The text classifier saved by ``kbqa train classifier`` at ``path`` (kbqa.classify.model)."""
    try:
        from kbqa.classify.model import load_text_classifier
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("kbqa.classify"):
            raise KbqaError("--classifier needs kbqa.classify (`kbqa train classifier`), which this "
                            "installation lacks") from None
        raise
    return load_text_classifier(path)


def label_conditions(classifier: Any, table: ConditionTable) -> dict[str, str]:
    """{label: condition key} for the labels that name a condition of ``table``; a KbqaError when none does."""
    out = {}
    for label in classifier.labels:
        found = table.matching(str(label))
        if found:
            out[str(label)] = found[0]
    if not out:
        shown = ", ".join(map(str, list(classifier.labels)[:8])) + (" ..." if len(classifier.labels) > 8 else "")
        raise KbqaError(
            f"none of the classifier's {len(classifier.labels)} labels ({shown}) names a condition of this index "
            f"({len(table)} conditions); train it on labels that are condition names of the knowledge base, "
            "or diagnose without --classifier"
        )
    return out


def label_probabilities(classifier: Any, text: str, mapping: dict[str, str]) -> dict[str, float]:
    """{condition key: P(label)} for the description ``text`` (summed when two labels name one condition)."""
    probs = classifier.predict_proba([text])[0]
    out: dict[str, float] = {}
    for label, p in zip(classifier.labels, probs, strict=True):
        key = mapping.get(str(label))
        if key is not None:
            out[key] = out.get(key, 0.0) + float(p)
    return out
