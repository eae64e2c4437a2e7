"""Fitting a reader's calibration on dev: temperature scaling (dev NLL), then the abstention threshold
that keeps a target coverage; written as ``calibration.json`` (read at run time by kbqa.read.calibrate)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from kbqa.errors import KbqaError
from kbqa.evaluate.metrics import coverage_curve, expected_calibration_error
from kbqa.files import write_atomic
from kbqa.numeric import softmax
from kbqa.read.calibrate import CALIBRATION_FILE, MIN_INFERENCE_LENGTH, Calibration
from kbqa.read.classifier import Example, SequenceClassifier, check_model_dir


def nll(logits: np.ndarray, gold: Sequence[int], temperature: float = 1.0) -> float:
    p = softmax(logits, temperature)
    return float(-np.mean(np.log(np.clip(p[np.arange(len(gold)), list(gold)], 1e-12, 1.0))))


def fit_temperature(logits: np.ndarray, gold: Sequence[int]) -> float:
    """The temperature minimising dev negative log-likelihood (grid over log T, then refined)."""
    if len(gold) == 0:
        raise KbqaError("cannot fit a temperature on an empty dev set")
    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 121))
    best = min(grid, key=lambda t: nll(logits, gold, t))
    fine = np.linspace(best / 1.06, best * 1.06, 41)
    return float(min(fine, key=lambda t: nll(logits, gold, t)))


def _ece(probs: np.ndarray, gold: Sequence[int]) -> float:
    """ECE (kbqa.evaluate.metrics, 10 bins) of the most probable label's probability."""
    return expected_calibration_error(probs.max(1).tolist(), (probs.argmax(1) == np.asarray(gold)).tolist())


def threshold_for_coverage(confidence: np.ndarray, target_coverage: float) -> float:
    """The highest threshold that still answers at least ``target_coverage`` of the questions."""
    if not 0 < target_coverage <= 1:
        raise KbqaError(f"target coverage must be in (0, 1], got {target_coverage}")
    if len(confidence) == 0:
        return 0.0
    ordered = np.sort(confidence)[::-1]
    keep = int(np.ceil(target_coverage * len(ordered)))
    return float(ordered[keep - 1])


def fit(logits: np.ndarray, gold: Sequence[int], target_coverage: float = 0.8) -> tuple[Calibration, dict]:
    """Fit temperature then threshold; returns the calibration and a report of before/after figures."""
    t = fit_temperature(logits, gold)
    before, after = softmax(logits), softmax(logits, t)
    conf = after.max(1)
    correct = after.argmax(1) == np.asarray(gold)
    threshold = threshold_for_coverage(conf, target_coverage)
    answered = conf >= threshold - 1e-9
    report = {
        "n": len(gold),
        "nll_before": nll(logits, gold), "nll_after": nll(logits, gold, t),
        "ece_before": _ece(before, gold), "ece_after": _ece(after, gold),
        "accuracy": float(correct.mean()),
        "target_coverage": target_coverage,
        "coverage": float(answered.mean()),
        "accuracy_answered": float(correct[answered].mean()) if answered.any() else 0.0,
        "curve": coverage_curve(conf.tolist(), correct.tolist()),
    }
    return Calibration(temperature=t, threshold=threshold), report


def save_calibration(model_dir: str | Path, cal: Calibration, report: dict | None = None,
                     sentences_report: dict | None = None) -> Path:
    path = Path(model_dir) / CALIBRATION_FILE
    raw: dict = {"temperature": cal.temperature, "threshold": cal.threshold, "dev": report or {}}
    if cal.sentences is not None:
        raw["sentences"] = {"temperature": cal.sentences.temperature, "threshold": cal.sentences.threshold,
                            "dev": sentences_report or {}}
    write_atomic(path, json.dumps(raw, indent=2) + "\n")
    return path


def calibrate_reader_dir(model_dir: str | Path, dev: list[Example], target_coverage: float = 0.8,
                         sentences_dev: list[Example] | None = None) -> dict:
    """Predict dev with the saved model, fit calibration, write calibration.json; returns the report.

    ``sentences_dev`` (question + conclusion pairs) also fits :attr:`Calibration.sentences`."""
    trained = check_model_dir(Path(model_dir))[1]
    clf = SequenceClassifier.load(model_dir, max_length=max(trained, MIN_INFERENCE_LENGTH))

    def fit_on(examples: list[Example]) -> tuple[Calibration, dict]:
        logits = clf.predict_logits([(e.text, e.text_pair) for e in examples])
        return fit(logits, [clf.labels.index(e.label) for e in examples], target_coverage)

    cal, report = fit_on(dev)
    sentences, sentences_report = fit_on(sentences_dev) if sentences_dev else (None, None)
    cal = Calibration(cal.temperature, cal.threshold, sentences)
    save_calibration(model_dir, cal, report, sentences_report)

    def summary(c: Calibration, rep: dict) -> dict:
        return {"temperature": c.temperature, "threshold": c.threshold, **{k: v for k, v in rep.items() if k != "curve"}}

    return {**summary(cal, report), "sentences": summary(sentences, sentences_report) if sentences else None}
