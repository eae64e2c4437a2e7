"""``kbqa eval classifier``: a trained classifier scored on a labelled file, or K-fold cross-validation of
the training recipe, each beside the majority and TF-IDF + LR baselines fitted on the same training rows.

``report.json`` holds ``accuracy``, ``macro_f1``, ``per_class`` (precision/recall/F1/support),
``confusion`` (``{"labels", "matrix"}``, rows gold), ``ci95`` (95% bootstrap intervals over rows) and
``baselines`` (``majority``, ``tfidf_lr``). With ``--cv K`` the top-level ``accuracy``/``macro_f1`` and the
baselines' are means over the folds, ``folds`` lists each fold's figures and ``sd`` their standard
deviations; ``per_class``, ``confusion`` and ``ci95`` are over the pooled out-of-fold predictions (every
row is predicted once, by the fold that did not train on it). Also ``report.md``, ``confusion.png`` and
``predictions.jsonl``. Metrics come from scikit-learn through kbqa.evaluate.metrics.
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kbqa.errors import KbqaError

BASELINES = ("majority", "tfidf_lr")
TrainFold = Callable[[list[str], list[str], list[str], Path], Any]


def scores(gold: Sequence[str], predicted: Sequence[str], confidence: Sequence[float], labels: Sequence[str]) -> dict:
    """accuracy, macro_f1, per_class, confusion and ECE of one set of predictions (kbqa.evaluate.metrics)."""
    from kbqa.evaluate.metrics import answer_metrics

    m = answer_metrics(list(gold), list(predicted), list(confidence), [False] * len(gold), list(labels))
    return {"n": len(gold), "accuracy": m["accuracy"], "macro_f1": m["macro_f1"], "per_class": m["per_class"],
            "confusion": m["confusion"], "ece": m["ece"]}


def intervals(gold: Sequence[str], predicted: Sequence[str], seed: int = 0) -> dict[str, list[float]]:
    from kbqa.evaluate.metrics import macro_f1_ci, mean_ci

    return {"accuracy": mean_ci([float(g == p) for g, p in zip(gold, predicted)], seed=seed),
            "macro_f1": macro_f1_ci(list(gold), list(predicted), seed=seed)}


def baseline_predictions(train_texts: Sequence[str], train_gold: Sequence[str], test_texts: Sequence[str],
                         labels: Sequence[str], seed: int = 0) -> dict[str, list[str]]:
    """Each baseline's predictions on ``test_texts``, fitted on the training rows only."""
    from kbqa.classify.tfidf import TfidfLR

    counts = Counter(train_gold)
    majority = max(sorted(counts), key=lambda lab: counts[lab])
    tfidf = TfidfLR.fit(train_texts, train_gold, labels, seed=seed)
    return {"majority": [majority] * len(test_texts),
            "tfidf_lr": [labels[j] for j in tfidf.predict_proba(list(test_texts)).argmax(1)]}


def _block(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, float]:
    from kbqa.evaluate.metrics import accuracy, macro_f1

    return {"accuracy": accuracy(list(gold), list(predicted)), "macro_f1": macro_f1(list(gold), list(predicted))}


def evaluate_model(model_dir: str | Path, texts: Sequence[str], gold: Sequence[str], ids: Sequence[str],
                   *, train: tuple[Sequence[str], Sequence[str]] | None = None, progress: bool = True) -> dict[str, Any]:
    """Score a trained classifier on labelled rows. The baselines are fitted on ``train`` (texts, labels),
    e.g. the model's training file; without it only ``majority`` (from the model's training record)."""
    from kbqa.classify.model import load_text_classifier

    clf = load_text_classifier(model_dir)
    unknown = sorted(set(gold) - set(clf.labels))
    if unknown:
        raise KbqaError(f"label {unknown[0]!r} of the data is not one the model knows ({clf.labels}); "
                        "score it on data with the model's labels")
    probs = clf.predict_proba(list(texts), progress=progress)
    predicted = [clf.labels[j] for j in probs.argmax(1)]
    report = scores(gold, predicted, probs.max(1).tolist(), clf.labels)
    report["ci95"] = intervals(gold, predicted)
    baselines: dict[str, Any] = {}
    if train is not None:
        for name, pred in baseline_predictions(train[0], train[1], texts, clf.labels).items():
            baselines[name] = _block(gold, pred)
    else:  # the majority label of the model's own training rows (kbqa_train.json); no TF-IDF without the texts
        counts = json.loads((Path(model_dir) / "kbqa_train.json").read_text())["data"]["train"]["labels"]
        majority = max(sorted(counts), key=lambda lab: counts[lab])
        baselines["majority"] = _block(gold, [majority] * len(gold))
    report["baselines"] = baselines
    report["model"] = str(model_dir)
    report["rows"] = _rows(ids, gold, predicted, probs, clf.labels)
    return report


def _rows(ids: Sequence[str], gold: Sequence[str], predicted: Sequence[str], probs: np.ndarray,
          labels: Sequence[str], fold: Sequence[int] | None = None) -> list[dict[str, Any]]:
    return [{"id": i, "gold": g, "label": p, "confidence": round(float(probs[k].max()), 6),
             **({"fold": fold[k]} if fold is not None else {})}
            for k, (i, g, p) in enumerate(zip(ids, gold, predicted))]


def fold_indices(gold: Sequence[str], k: int, seed: int) -> list[tuple[list[int], list[int]]]:
    """(training rows, test rows) of each of ``k`` stratified folds (scikit-learn's StratifiedKFold, shuffled
    with ``seed``): every row is in exactly one test fold."""
    from sklearn.model_selection import StratifiedKFold

    if k < 2:
        raise KbqaError(f"--cv needs at least 2 folds, got {k}")
    counts = Counter(gold)
    small = min(counts, key=lambda lab: (counts[lab], lab))
    if counts[small] < k:
        raise KbqaError(f"label {small!r} has {counts[small]} rows; {k}-fold CV needs at least {k} per label")
    skf = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return [(train.tolist(), test.tolist()) for train, test in skf.split(np.zeros(len(gold)), list(gold))]


def cross_validate(texts: Sequence[str], gold: Sequence[str], ids: Sequence[str], k: int, train_fold: TrainFold,
                   work_dir: str | Path, *, seed: int = 0, precision: str = "auto", progress: bool = True,
                   keep_models: bool = False) -> dict[str, Any]:
    """Train and score a recipe on ``k`` stratified folds: ``train_fold(texts, labels, ids, folder)`` writes a
    classifier trained on the other folds' rows only (as ``kbqa train classifier`` does, with its own
    stratified dev split of them for epoch selection and calibration); the baselines are fitted on the same
    rows (all of them). The trainer is passed in, so that this module (inference and scoring) never imports
    training code."""
    from kbqa.classify.model import load_text_classifier

    labels = sorted(set(gold))
    work = Path(work_dir)
    started = time.time()
    folds, pooled_pred, pooled_probs, fold_of = [], [None] * len(gold), np.zeros((len(gold), len(labels))), [0] * len(gold)
    pooled_base: dict[str, list[Any]] = {name: [None] * len(gold) for name in BASELINES}
    for f, (train_rows, test_rows) in enumerate(fold_indices(gold, k, seed), start=1):
        t0 = time.time()
        print(f"fold {f}/{k}: training on {len(train_rows)} rows, testing on {len(test_rows)}", file=sys.stderr)
        model_dir = work / f"fold-{f}"
        train_fold([texts[i] for i in train_rows], [gold[i] for i in train_rows], [ids[i] for i in train_rows], model_dir)
        clf = load_text_classifier(model_dir, precision=precision)
        missing = set(labels) - set(clf.labels)
        assert not missing, missing  # stratified folds give every label to every training part
        test_texts, test_gold = [texts[i] for i in test_rows], [gold[i] for i in test_rows]
        probs = clf.predict_proba(test_texts, progress=progress)
        predicted = [clf.labels[j] for j in probs.argmax(1)]
        train_seconds = json.loads((model_dir / "kbqa_train.json").read_text()).get("train_seconds")
        encoder_only = [clf.labels[j] for j in clf.combine(clf.predict_logits(test_texts), None).argmax(1)] \
            if clf.encoder_weight < 1 else predicted
        base = baseline_predictions([texts[i] for i in train_rows], [gold[i] for i in train_rows], test_texts, labels,
                                    seed=seed)
        record = {"fold": f, "n_train": len(train_rows), "n_test": len(test_rows), **_block(test_gold, predicted),
                  "encoder_weight": clf.encoder_weight,
                  "baselines": {name: _block(test_gold, pred) for name, pred in base.items()},
                  "encoder_alone": _block(test_gold, encoder_only),
                  "train_seconds": train_seconds, "seconds": round(time.time() - t0, 1)}
        folds.append(record)
        print(f"fold {f}/{k}: macro-F1 {record['macro_f1']:.4f} (encoder alone {record['encoder_alone']['macro_f1']:.4f}, "
              f"tfidf_lr {record['baselines']['tfidf_lr']['macro_f1']:.4f}) in {record['seconds']:.0f} s", file=sys.stderr)
        for j, i in enumerate(test_rows):
            pooled_pred[i], fold_of[i] = predicted[j], f
            pooled_probs[i] = probs[j]
            for name in BASELINES:
                pooled_base[name][i] = base[name][j]
        del clf
        if not keep_models:
            shutil.rmtree(model_dir, ignore_errors=True)
    if not keep_models and work.is_dir() and not any(work.iterdir()):
        work.rmdir()
    report = scores(gold, pooled_pred, pooled_probs.max(1).tolist(), labels)
    report["accuracy"] = _mean(folds, "accuracy")
    report["macro_f1"] = _mean(folds, "macro_f1")
    report["ci95"] = intervals(gold, pooled_pred)
    report["baselines"] = {name: {m: _mean([fo["baselines"][name] for fo in folds], m) for m in ("accuracy", "macro_f1")}
                           for name in BASELINES}
    report["sd"] = {"accuracy": _sd(folds, "accuracy"), "macro_f1": _sd(folds, "macro_f1"),
                    "baselines": {name: {m: _sd([fo["baselines"][name] for fo in folds], m)
                                         for m in ("accuracy", "macro_f1")} for name in BASELINES}}
    report["encoder_alone"] = {m: _mean([fo["encoder_alone"] for fo in folds], m) for m in ("accuracy", "macro_f1")}
    report["folds"] = folds
    report["cv"] = k
    report["seconds"] = round(time.time() - started, 1)
    report["rows"] = _rows(ids, gold, pooled_pred, pooled_probs, labels, fold_of)
    return report


def _mean(records: Sequence[dict], key: str) -> float:
    return float(statistics.fmean(r[key] for r in records))


def _sd(records: Sequence[dict], key: str) -> float:
    values = [r[key] for r in records]
    return float(statistics.stdev(values)) if len(values) > 1 else 0.0


def render_markdown(report: dict[str, Any]) -> str:
    """The report as a Markdown summary."""
    cv = report.get("cv")
    title = f"{cv}-fold cross-validation" if cv else f"model {report.get('model', '')}"
    lines = [f"# Text classifier: {title}", ""]
    if report.get("inputs"):
        lines += [f"- data: `{report['inputs'].get('data')}` ({report['n']} rows, {len(report['confusion']['labels'])} labels)",
                  f"- command: `{report['inputs'].get('command', '')}`"]
    if cv:
        lines.append(f"- time: {report['seconds']:.0f} s; figures are means over the folds (± sd)")
    lines += ["", "| system | accuracy | macro-F1 |", "|---|---|---|"]

    def row(name: str, block: dict, sd: dict | None) -> str:
        def cell(m: str) -> str:
            return f"{block[m]:.4f}" + (f" ± {sd[m]:.4f}" if sd else "")

        return f"| {name} | {cell('accuracy')} | {cell('macro_f1')} |"

    sd = report.get("sd")
    lines.append(row("classifier", report, sd))
    if cv and report.get("encoder_alone"):
        lines.append(row("fine-tuned encoder alone", report["encoder_alone"], None))
    for name, block in report.get("baselines", {}).items():
        lines.append(row(f"baseline: {name}", block, (sd or {}).get("baselines", {}).get(name)))
    ci = report["ci95"]
    lines += ["", f"95% bootstrap intervals over rows{' (pooled out-of-fold predictions)' if cv else ''}: "
              f"accuracy [{ci['accuracy'][0]:.4f}, {ci['accuracy'][1]:.4f}], "
              f"macro-F1 [{ci['macro_f1'][0]:.4f}, {ci['macro_f1'][1]:.4f}]; ECE {report['ece']:.4f}", ""]
    if cv:
        lines += ["| fold | accuracy | macro-F1 | tfidf_lr macro-F1 | encoder weight | seconds |", "|---|---|---|---|---|---|"]
        for f in report["folds"]:
            lines.append(f"| {f['fold']} | {f['accuracy']:.4f} | {f['macro_f1']:.4f} | "
                         f"{f['baselines']['tfidf_lr']['macro_f1']:.4f} | {f['encoder_weight']:.1f} | {f['seconds']:.0f} |")
        lines.append("")
    lines += ["| label | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for label, c in report["per_class"].items():
        lines.append(f"| {label} | {c['precision']:.3f} | {c['recall']:.3f} | {c['f1']:.3f} | {c['support']} |")
    lines += ["", "Confusion matrix: `confusion.png` (rows gold, columns predicted)."]
    return "\n".join(lines) + "\n"


def write_report(report: dict[str, Any], out_dir: str | Path) -> Path:
    """``report.json`` (without the per-row predictions), ``report.md``, ``confusion.png``, ``predictions.jsonl``."""
    from kbqa.evaluate.plots import confusion_plot
    from kbqa.files import write_atomic
    from kbqa.jsonlines import write_jsonl

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = report.get("rows", [])
    body = {k: v for k, v in report.items() if k != "rows"}
    write_jsonl(out / "predictions.jsonl", rows, atomic=True)
    confusion_plot(body["confusion"]["labels"], body["confusion"]["matrix"], out / "confusion.png")
    write_atomic(out / "report.json", json.dumps(body, indent=2, ensure_ascii=False) + "\n")
    write_atomic(out / "report.md", render_markdown(body))
    return out / "report.json"
