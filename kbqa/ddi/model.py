"""The trained DDI classifier: a SequenceClassifier plus the blinding settings it was trained with."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kbqa.ddi.blind import PairExample, check_style, crop, pair_marks
from kbqa.ddi.corpus import LABELS, NEGATIVE
from kbqa.errors import KbqaError
from kbqa.paths import model_dir as committed_model_dir
from kbqa.paths import model_hint

SETTINGS_FILE = "ddi.json"  # optional prediction settings, e.g. {"none_weight": 3.33}
DRUG_NAMES_FILE = "drug_names.txt"  # optional: drug names seen in training, one per line


def reweight_none(proba: np.ndarray, labels: list[str], none_weight: float) -> np.ndarray:
    """Scale P(none) by ``none_weight`` and renormalise: undoes training on a fraction of the negatives.

    Training on ``neg_keep`` of the negatives multiplies the odds of ``none`` by ``neg_keep``;
    ``none_weight = 1 / neg_keep`` restores the corpus prior (Bayes' rule with shifted priors).
    """
    if none_weight == 1.0 or len(proba) == 0:
        return proba
    out = proba.astype(np.float64).copy()
    out[:, labels.index(NEGATIVE)] *= none_weight
    return (out / out.sum(axis=1, keepdims=True)).astype(np.float32)


@dataclass
class DDIModel:
    """Load with :meth:`load`; :meth:`predict_proba` takes sentences made by kbqa.ddi.blind.blind with
    :attr:`entity_style` (blinded DRUG1/DRUG2/DRUGN, or the pair marked)."""

    classifier: Any  # kbqa.read.classifier.SequenceClassifier
    filter_pairs: bool
    max_words: int
    model_dir: Path
    none_weight: float = 1.0  # multiplies P(none) before renormalising (prior correction for neg_keep < 1)
    drug_names: tuple[str, ...] = ()  # names seen as drugs in training; blinded as DRUGN beside a pair
    entity_style: str = "blind"  # how training showed the pair (kbqa.ddi.blind.STYLES)
    _names_pattern: Any = field(default=None, init=False, repr=False, compare=False)  # compiled on first use

    def other_drugs(self, sentence: str) -> list[tuple[int, int]]:
        """Spans of known drug names in ``sentence`` (whole words, case-insensitive)."""
        if not self.drug_names:
            return []
        if self._names_pattern is None:
            from kbqa.ddi.names import mention_pattern

            self._names_pattern = mention_pattern(list(self.drug_names))
        return [m.span() for m in self._names_pattern.finditer(sentence)]

    @property
    def labels(self) -> list[str]:
        return list(self.classifier.labels)

    @classmethod
    def load(cls, model_dir: str | Path | None = None) -> DDIModel:
        from kbqa.read.classifier import TRAIN_FILE, SequenceClassifier

        folder = Path(model_dir) if model_dir else committed_model_dir("ddi")
        if folder is None or not folder.is_dir():
            where = f"at {folder}" if folder is not None else "found"
            raise KbqaError(f"no DDI model {where}; {model_hint('ddi')} (or --model), or train one with `kbqa train ddi`")
        clf = SequenceClassifier.load(folder)
        meta = json.loads((folder / TRAIN_FILE).read_text()).get("metadata", {})
        if meta.get("task") != "ddi" or sorted(clf.labels) != sorted(LABELS):
            raise KbqaError(
                f"{folder} is not a DDI model (labels {clf.labels}); train one with `kbqa train ddi`"
            )
        none_weight = 1.0
        if (folder / SETTINGS_FILE).is_file():
            try:
                none_weight = float(json.loads((folder / SETTINGS_FILE).read_text()).get("none_weight", 1.0))
            except (json.JSONDecodeError, TypeError, ValueError, AttributeError):
                raise KbqaError(f"{folder / SETTINGS_FILE}: expected {{\"none_weight\": <number>}}") from None
        if none_weight <= 0:
            raise KbqaError(f"{folder / SETTINGS_FILE}: none_weight must be > 0, got {none_weight}")
        names_file = folder / DRUG_NAMES_FILE
        names = tuple(names_file.read_text(encoding="utf-8").split("\n")) if names_file.is_file() else ()
        names = tuple(sorted({n.strip() for n in names if n.strip()}, key=lambda n: (-len(n), n)))
        try:
            style = check_style(str(meta.get("entity_style", "blind")))
        except KbqaError as exc:
            raise KbqaError(f"{folder / TRAIN_FILE}: {exc}; retrain the model with this kbqa version") from None
        return cls(clf, bool(meta.get("filter_pairs", True)), int(meta.get("max_words", 80)), folder, none_weight, names,
                   style)

    def predict_proba(self, blinded: list[str], batch_size: int = 64) -> np.ndarray:
        """Probabilities, shape (n, 5), columns in :attr:`labels` order."""
        marks = pair_marks(self.entity_style)
        texts = [(crop(t, self.max_words, marks=marks), None) for t in blinded]
        return reweight_none(self.classifier.predict_proba(texts, batch_size=batch_size), self.labels, self.none_weight)

    def predict_examples(self, examples: list[PairExample]) -> list[str]:
        """Predicted label per corpus pair; pairs removed by the filter rules are ``none``."""
        keep = [i for i, e in enumerate(examples) if not (self.filter_pairs and e.filtered)]
        out = [NEGATIVE] * len(examples)
        if keep:
            proba = self.predict_proba([examples[i].text for i in keep])
            labels = self.labels
            for i, row in zip(keep, proba.argmax(1)):
                out[i] = labels[int(row)]
        return out
