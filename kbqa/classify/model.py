"""Inference of a text classifier trained by ``kbqa train classifier`` (kbqa.classify.train).

:func:`load_text_classifier` reads the folder: the fine-tuned encoder (kbqa.read.classifier), its
temperature (``calibration.json``, fitted on the dev split) and ``classifier.json`` (the text columns,
how they are joined, and the weight of the optional TF-IDF + LR component). ``predict_proba`` returns
calibrated probabilities: ``w * softmax(logits / T) + (1 - w) * softmax(log p_tfidf_lr / T_tfidf)`` with
``w`` 1 when there is no TF-IDF component (both temperatures and ``w`` fitted on the dev split).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kbqa.classify.data import join_texts
from kbqa.errors import KbqaError
from kbqa.numeric import softmax

CONFIG_FILE = "classifier.json"
SPLIT_FILE = "dev_split.json"
FORMAT_VERSION = 1


class TextClassifier:
    """A fine-tuned, calibrated text classifier over ``labels``, reading ``text_columns`` of a row."""

    def __init__(self, encoder: Any, labels: list[str], text_columns: list[str], temperature: float,
                 folder: Path, tfidf: Any = None, encoder_weight: float = 1.0, label_column: str | None = None,
                 batch_size: int = 32, tfidf_temperature: float = 1.0) -> None:
        self.encoder = encoder  # kbqa.read.classifier.SequenceClassifier
        self.labels = labels
        self.text_columns = text_columns
        self.label_column = label_column
        self.temperature = temperature
        self.folder = folder
        self.tfidf = tfidf  # kbqa.classify.tfidf.TfidfLR or None
        self.encoder_weight = encoder_weight
        self.batch_size = batch_size
        self.tfidf_temperature = tfidf_temperature  # calibrates the TF-IDF component (fitted on dev)

    def join(self, row: Mapping[str, Any]) -> str:
        """The model input of a row: its text columns joined as in training (kbqa.classify.data.join_texts)."""
        return join_texts(row, self.text_columns)

    def predict_logits(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """The encoder's raw logits, shape (n, len(labels))."""
        return self.encoder.predict_logits([(t, None) for t in texts], batch_size=self.batch_size, progress=progress)

    def combine(self, logits: np.ndarray, tfidf_proba: np.ndarray | None) -> np.ndarray:
        """Calibrated probabilities from the encoder's logits and the TF-IDF component's probabilities."""
        p = softmax(logits, self.temperature)
        if tfidf_proba is None or self.encoder_weight >= 1.0:
            return p
        q = softmax(np.log(np.clip(tfidf_proba, 1e-12, 1.0)), self.tfidf_temperature)
        return self.encoder_weight * p + (1.0 - self.encoder_weight) * q

    def predict_proba(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """Calibrated probabilities, shape (n, len(labels)), columns in ``labels`` order."""
        texts = list(texts)
        empty = [i for i, t in enumerate(texts) if not str(t).strip()]
        if empty:
            raise KbqaError(f"text {empty[0]} is empty; a classifier needs some text to read")
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        tfidf = self.tfidf.predict_proba(texts) if self.tfidf is not None and self.encoder_weight < 1 else None
        return self.combine(self.predict_logits(texts, progress), tfidf)

    def predict(self, texts: list[str]) -> list[str]:
        return [self.labels[j] for j in self.predict_proba(texts).argmax(1)]


def read_config(folder: Path) -> dict[str, Any]:
    path = folder / CONFIG_FILE
    if not path.is_file():
        raise KbqaError(f"{folder} is not a text classifier folder (no {CONFIG_FILE}); train one with "
                        "`kbqa train classifier`")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise KbqaError(f"{path}: unreadable JSON ({exc}); retrain the classifier") from exc
    if config.get("format") != FORMAT_VERSION:
        raise KbqaError(f"{path}: format {config.get('format')!r}, this kbqa reads {FORMAT_VERSION}; retrain")
    return config


def load_text_classifier(path: str | Path, *, device: str = "auto", precision: str = "auto",
                         batch_size: int = 32) -> TextClassifier:
    """Load a folder written by ``kbqa train classifier``; a missing or inconsistent file is a KbqaError.

    ``precision``: ``auto`` (bf16 autocast only where this machine runs it faster, kbqa.precision),
    ``fp32`` or ``bf16``."""
    from kbqa.read.calibrate import load_calibration
    from kbqa.read.classifier import SequenceClassifier

    folder = Path(path)
    if not folder.is_dir():
        raise KbqaError(f"classifier folder {folder} does not exist; train one with `kbqa train classifier`")
    config = read_config(folder)
    encoder = SequenceClassifier.load(folder, device=device, precision=precision, light=True)
    if encoder.labels != config["labels"]:
        raise KbqaError(f"{folder}: {CONFIG_FILE} labels {config['labels']} differ from the model's "
                        f"{encoder.labels}; the folder was edited or mixed up: retrain it")
    tfidf = None
    weight = float(config.get("encoder_weight", 1.0))
    if weight < 1.0:
        from kbqa.classify.tfidf import TfidfLR

        tfidf = TfidfLR.load(folder)
        if tfidf.labels != encoder.labels:
            raise KbqaError(f"{folder}: the TF-IDF component's labels differ from the model's; retrain it")
    temperature = load_calibration(folder).temperature
    return TextClassifier(encoder, encoder.labels, list(config["text_columns"]), temperature, folder, tfidf,
                          weight, config.get("label_column"), batch_size, float(config.get("tfidf_temperature", 1.0)))
