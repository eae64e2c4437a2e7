"""The yes/no/maybe reader: a fine-tuned classifier plus its dev-fitted calibration."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from kbqa.errors import KbqaError
from kbqa.files import feed_file
from kbqa.paths import MODEL_ENV, model_hint
from kbqa.paths import model_dir as committed_model_dir
from kbqa.read.calibrate import MIN_INFERENCE_LENGTH, Calibration, load_calibration
from kbqa.numeric import softmax
from kbqa.read.classifier import TRAIN_FILE, SequenceClassifier, check_model_dir
from kbqa.read.select import SentenceSelector, load_selector

READER_ENV = MODEL_ENV["reader"]
PRECISION_ENV = "KBQA_READER_PRECISION"
TRAIN_COMMAND = (
    "kbqa train reader --data ../shared/data/pubmedqa/pqal_traindev.json --out models/reader"
)
MAX_QUESTION_CHARS = 1000


def default_reader_dir() -> Path | None:
    """``$KBQA_READER`` if set, else ``models/reader`` (:func:`kbqa.paths.model_dir`); None when nothing says where."""
    return committed_model_dir("reader")


def check_question(question: str) -> str:
    """The stripped question; empty or overlong questions are a KbqaError."""
    if not isinstance(question, str) or not question.strip():
        raise KbqaError("the question is empty; ask a question such as 'Does aspirin prevent stroke?'")
    q = " ".join(question.split())
    if len(q) > MAX_QUESTION_CHARS:
        raise KbqaError(f"the question is {len(q)} characters long; keep it under {MAX_QUESTION_CHARS}")
    return q


def load_prior(folder: Path, labels: Sequence[str]) -> dict[str, float] | None:
    """The shares of ``labels`` among the training examples recorded in ``kbqa_train.json`` (None if not recorded)."""
    import json

    path = folder / TRAIN_FILE
    try:
        counts = json.loads(path.read_text(encoding="utf-8"))["data"]["train"]["labels"]
        total = sum(float(counts.get(lab, 0)) for lab in labels)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return {lab: float(counts.get(lab, 0)) / total for lab in labels} if total > 0 else None


class Reader:
    """Calibrated label probabilities for (question, passage) pairs. Build with :meth:`load`."""

    def __init__(self, classifier: SequenceClassifier, calibration: Calibration, model_dir: Path,
                 selector: SentenceSelector | None = None, prior: dict[str, float] | None = None) -> None:
        self.classifier = classifier
        self.calibration = calibration
        self.model_dir = model_dir
        self.selector = selector  # picks conclusion-like sentences to read for the verdict (None: whole passages)
        # P(label) before reading anything: the training labels' shares (equal without a record of them)
        self.prior = prior or {lab: 1.0 / len(self.labels) for lab in self.labels}
        self._checksum: str | None = None

    @classmethod
    def load(cls, model_dir: str | Path | None = None, *, device: str = "auto", precision: str | None = None) -> Reader:
        """Load a reader folder (default: :func:`default_reader_dir`).

        ``precision`` (default ``$KBQA_READER_PRECISION`` or ``auto``): ``auto`` reads in bf16 autocast
        where this machine runs it faster than fp32 (:mod:`kbqa.precision`; 1.7x with AMX, same labels
        on PubMedQA dev, probabilities within 0.003 of fp32: ``benchmarks/reader_precision.py``),
        ``fp32`` or ``bf16`` force one. A BERT reader runs on :mod:`kbqa.bert` (no transformers import)."""
        folder = Path(model_dir) if model_dir is not None else default_reader_dir()
        if folder is None or not folder.is_dir():
            where = f"at {folder}" if folder is not None else "found"
            raise KbqaError(
                f"no reader model {where}; {model_hint('reader')} (or --reader), "
                f"or train one with `{TRAIN_COMMAND}`"
            )
        trained = check_model_dir(folder)[1]
        clf = SequenceClassifier.load(folder, device=device, max_length=max(trained, MIN_INFERENCE_LENGTH),
                                      precision=precision or os.environ.get(PRECISION_ENV) or "auto", light=True)
        return cls(clf, load_calibration(folder), folder, load_selector(folder), load_prior(folder, clf.labels))

    @property
    def precision(self) -> str:
        """``fp32`` or ``bf16``, with the reason when ``auto`` chose it: ``"bf16 (amx)"``, ``"fp32 (probe 0.68x)"``."""
        name = getattr(self.classifier, "precision", "fp32")
        reason = getattr(self.classifier, "precision_reason", "requested")
        return name if reason == "requested" else f"{name} ({reason})"

    @property
    def labels(self) -> list[str]:
        return self.classifier.labels

    @property
    def checksum(self) -> str:
        """sha256 of the weights file: identifies the exact model in provenance."""
        if self._checksum is None:
            h = hashlib.sha256()
            for path in sorted(self.model_dir.glob("*.safetensors")):
                feed_file(h, path)
            self._checksum = h.hexdigest()
        return self._checksum

    def predict_proba(
        self, pairs: Sequence[tuple[str, str | None]], *, batch_size: int = 32, progress: bool = False
    ) -> np.ndarray:
        """Calibrated probabilities, shape (n, len(labels)), for (question, passage) pairs."""
        return self.calibrated(self.classifier.predict_logits(pairs, batch_size=batch_size, progress=progress))

    def calibrated(self, logits: np.ndarray, *, sentences: bool = False) -> np.ndarray:
        """Probabilities from raw logits; ``sentences``: the calibration of a verdict read from a
        document's concluding sentences (:meth:`Calibration.for_sentences`)."""
        cal = self.calibration.for_sentences() if sentences else self.calibration
        return softmax(logits, cal.temperature)

    def passage_probabilities(self, question: str, passages: Sequence[str]) -> np.ndarray:
        """Calibrated probabilities of each passage answering ``question``."""
        q = check_question(question)
        return self.predict_proba([(q, p) for p in passages])
