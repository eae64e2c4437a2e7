"""``kbqa train classifier``: fine-tune a BERT-style classifier on any labelled table.

The fine-tuning is kbqa.read.train.train_classifier (the one training loop, class weights, the epoch kept
by dev macro-F1); this module splits the rows (stratified, seeded), fits the temperature on dev
(kbqa.read.train_calibration), optionally fits the TF-IDF + LR component and its weight on dev, and writes
the folder that kbqa.classify.model loads::

    model.safetensors, tokenizer files, config.json (label map)   the fine-tuned encoder
    kbqa_train.json, dev_metrics.json                             training config and record; dev figures
    calibration.json                                              the temperature (dev NLL)
    classifier.json                                               text columns, join, component weights
    dev_split.json                                                the ids of the train and dev rows
    tfidf.json, tfidf.safetensors                                 --combine tfidf (default), when its dev
                                                                  weight is > 0: refitted on train + dev
    any --include files                                           copied as they are (e.g. a name list)

A base that is itself such a folder is continued: its labels (and head) are kept, its pooler is not
restarted. Without dev rows (``--no-dev``) the last epoch is kept and the temperature and TF-IDF weight are
the recipe's (``temperature``, ``encoder_weight``), not fitted.

The folder is built next to ``out`` and swapped in at the end: an interrupted run leaves the old model.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from kbqa.classify.model import CONFIG_FILE, FORMAT_VERSION, SPLIT_FILE, load_text_classifier
from kbqa.errors import KbqaError
from kbqa.files import write_atomic

COMBINE = ("none", "tfidf")
WEIGHT_GRID = tuple(round(w, 2) for w in np.linspace(0.0, 1.0, 11))


@dataclass(frozen=True)
class ClassifierRecipe:
    """How ``kbqa train classifier`` trains. With these defaults 5-fold CV of 1,127 short texts in 24 labels
    took 1,202 s on one thread of a loaded 2-core CPU, ~130 s per fold once idle (README, "Text classifier")."""

    epochs: int = 4
    lr: float = 1.5e-4
    head_lr: float = 1e-3
    batch_size: int = 16
    max_length: int = 128
    class_weights: str = "balanced"
    pooler_init: str = "identity"  # MiniLM's pooler ships near zero (kbqa.train_loop.identity_pooler)
    dev_fraction: float = 0.2
    combine: str = "tfidf"  # "tfidf": mix in TF-IDF + LR probabilities with a weight chosen on dev
    precision: str = "auto"
    seed: int = 0
    progress: bool = True
    select_metric: str = "macro_f1"  # the dev metric that picks the kept epoch (kbqa.read.train.SELECT_METRICS)
    # without dev rows these are given, not fitted: the temperature, and the encoder's weight (with tfidf)
    temperature: float | None = None
    encoder_weight: float | None = None

    def __post_init__(self) -> None:
        if not 0 < self.dev_fraction < 1:
            raise KbqaError(f"dev fraction must be in (0, 1), got {self.dev_fraction}")
        if self.combine not in COMBINE:
            raise KbqaError(f"combine must be one of {COMBINE}, got {self.combine!r}")
        if self.temperature is not None and not self.temperature > 0:
            raise KbqaError(f"temperature must be > 0, got {self.temperature}")
        if self.encoder_weight is not None and not 0 <= self.encoder_weight <= 1:
            raise KbqaError(f"encoder weight must be in [0, 1], got {self.encoder_weight}")

    def params(self) -> Any:
        from kbqa.read.train import TrainParams

        return TrainParams(epochs=self.epochs, lr=self.lr, head_lr=self.head_lr, batch_size=self.batch_size,
                           max_length=self.max_length, class_weights=self.class_weights, pooler_init=self.pooler_init,
                           select_metric=self.select_metric, precision=self.precision, seed=self.seed,
                           progress=self.progress)


def stratified_split(ids: Sequence[str], gold: Sequence[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """(train ids, dev ids): per label, a seeded shuffle puts round(fraction * n) rows (at least 1, at most
    n - 1) in dev, so every label is in both parts; a label with one row goes to train only."""
    by_label: dict[str, list[str]] = defaultdict(list)
    for i, g in zip(ids, gold):
        by_label[g].append(i)
    rng = random.Random(seed)
    dev: set[str] = set()
    for label in sorted(by_label):
        members = sorted(by_label[label])
        rng.shuffle(members)
        n = len(members)
        take = min(n - 1, max(1, round(fraction * n))) if n > 1 else 0
        dev.update(members[:take])
    return [i for i in ids if i not in dev], [i for i in ids if i in dev]


def read_split(path: str | Path, ids: Sequence[str]) -> tuple[list[str], list[str]]:
    """A split file ``{"train": [ids], "dev": [ids]}`` (a model's ``dev_split.json`` is one), checked against ``ids``."""
    p = Path(path)
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
        train, dev = [str(x) for x in raw["train"]], [str(x) for x in raw["dev"]]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise KbqaError(f"{p}: not a split file ({exc}); expected {{\"train\": [ids], \"dev\": [ids]}}") from None
    known = set(ids)
    unknown = [i for i in train + dev if i not in known]
    if unknown:
        raise KbqaError(f"{p}: id {unknown[0]!r} (and {len(unknown) - 1} more) not in the data; was the split made "
                        "for another file or id column?")
    both = set(train) & set(dev)
    if both:
        raise KbqaError(f"{p}: id {sorted(both)[0]!r} is in both train and dev")
    if not dev:
        raise KbqaError(f"{p}: no dev ids")
    return train, dev


def fit_encoder_weight(encoder_proba: np.ndarray, tfidf_proba: np.ndarray, gold: Sequence[int],
                       labels: Sequence[str]) -> tuple[float, list]:
    """The weight ``w`` of ``w * encoder + (1 - w) * tfidf`` (both calibrated) on :data:`WEIGHT_GRID` with the
    best dev macro-F1 (to 3 decimals), ties broken by the lower dev NLL; returns it and ``[w, macro-F1, NLL]``
    of each grid point. Chosen by macro-F1, not NLL alone: on the proxy set NLL kept the encoder alone
    (w = 1) on folds where TF-IDF + LR was 0.11 macro-F1 better."""
    from kbqa.read.train import classification_metrics

    idx = np.arange(len(gold))
    curve = []
    for w in WEIGHT_GRID:
        p = w * encoder_proba + (1 - w) * tfidf_proba
        f1 = classification_metrics(list(gold), p.argmax(1).tolist(), list(labels))["macro_f1"]
        curve.append([w, round(f1, 4), float(-np.mean(np.log(np.clip(p[idx, list(gold)], 1e-12, 1.0))))])
    best = max(curve, key=lambda c: (round(c[1], 3), -round(c[2], 6), c[0]))
    return float(best[0]), curve


def base_labels(base_model: str | Path) -> list[str] | None:
    """The labels of ``base_model`` when it is a classifier folder of this module (continued, head and
    all), else None (a plain encoder: a new head)."""
    from kbqa.classify.model import read_config

    folder = Path(base_model)
    return list(read_config(folder)["labels"]) if (folder / CONFIG_FILE).is_file() else None


def train_text_classifier(
    texts: Sequence[str],
    gold: Sequence[str],
    ids: Sequence[str],
    out_dir: str | Path,
    base_model: str | Path,
    recipe: ClassifierRecipe | None = None,
    *,
    text_columns: Sequence[str] = ("text",),
    label_column: str = "label",
    id_column: str | None = None,
    split: tuple[list[str], list[str]] | None = None,
    source: dict[str, Any] | None = None,
    include: Sequence[str | Path] = (),
) -> dict[str, Any]:
    """Train on the rows ``(ids, texts, gold)``, write the classifier folder ``out_dir``; returns its dev figures.

    ``split``: (train ids, dev ids), dev possibly empty (no dev: the last epoch, the recipe's temperature);
    None: :func:`stratified_split` with the recipe's fraction and seed. ``include``: files copied into the
    folder as they are. A ``base_model`` written by this function is continued with its own labels."""
    from kbqa.read.classifier import Example
    from kbqa.read.train import DEV_METRICS_FILE, classification_metrics, train_classifier
    from kbqa.read.train_calibration import _ece, fit_temperature, nll, save_calibration
    from kbqa.read.calibrate import Calibration

    recipe = recipe or ClassifierRecipe()
    if not (len(texts) == len(gold) == len(ids)):
        raise KbqaError("texts, labels and ids must have the same length")
    labels = sorted(set(gold))
    if len(labels) < 2:
        raise KbqaError(f"a classifier needs at least two labels, got {labels}")
    continued = base_labels(base_model)
    if continued is not None:
        unknown = sorted(set(labels) - set(continued))
        if unknown:
            raise KbqaError(f"label {unknown[0]!r} is not one of the base classifier's labels {continued}; "
                            "continue from a plain encoder (a new head) or relabel the rows")
        labels = continued
        recipe = replace(recipe, pooler_init="keep")  # its pooler was trained with it
    extras = [Path(f) for f in include]
    for f in extras:
        if not f.is_file():
            raise KbqaError(f"--include {f}: no such file")
    train_ids, dev_ids = split or stratified_split(ids, gold, recipe.dev_fraction, recipe.seed)
    has_dev = bool(dev_ids)
    if not has_dev and recipe.combine == "tfidf" and recipe.encoder_weight is None:
        raise KbqaError("without dev rows the TF-IDF weight cannot be fitted: give an encoder weight "
                        "(--encoder-weight W) or --combine none")
    row = {i: k for k, i in enumerate(ids)}
    train_rows, dev_rows = [row[i] for i in train_ids], [row[i] for i in dev_ids]
    missing = sorted(set(gold) - {gold[k] for k in train_rows})
    if missing:
        raise KbqaError(f"label {missing[0]!r} has no training row after the split; add examples or change the split")
    train = [Example(texts[k], None, gold[k]) for k in train_rows]
    dev = [Example(texts[k], None, gold[k]) for k in dev_rows]

    out = Path(out_dir)
    staging = out.with_name(out.name + ".training")
    metadata = {"task": "text-classifier", "text_columns": list(text_columns), "label_column": label_column,
                "recipe": asdict(recipe), "source": source or {}}
    encoder_metrics = train_classifier(train, dev or None, labels, base_model, staging, recipe.params(),
                                       metadata=metadata)
    if not has_dev:
        return _finish_without_dev(train, labels, staging, out, recipe, config_base(labels, text_columns, label_column,
                                                                                    id_column), encoder_metrics,
                                   train_ids, id_column, extras)

    # calibration on dev, with the saved (fp16) weights as inference loads them
    config = config_base(labels, text_columns, label_column, id_column)
    write_atomic(staging / CONFIG_FILE, json.dumps(config, indent=2) + "\n")
    clf = load_text_classifier(staging, precision=recipe.precision)
    dev_texts, dev_gold = [e.text for e in dev], [labels.index(e.label) for e in dev]
    logits = clf.predict_logits(dev_texts, progress=recipe.progress)
    temperature = fit_temperature(logits, dev_gold)
    p_encoder = _softmax_t(logits, temperature)
    cal_report = {"n": len(dev_gold), "nll_before": nll(logits, dev_gold), "nll_after": nll(logits, dev_gold, temperature),
                  "ece_before": _ece(_softmax_t(logits, 1.0), dev_gold), "ece_after": _ece(p_encoder, dev_gold)}
    save_calibration(staging, Calibration(temperature=temperature, threshold=0.0), cal_report)

    final = p_encoder
    if recipe.combine == "tfidf":
        from kbqa.classify.tfidf import TfidfLR

        tfidf = TfidfLR.fit([e.text for e in train], [e.label for e in train], labels, seed=recipe.seed)
        raw_tfidf = np.log(np.clip(tfidf.predict_proba(dev_texts), 1e-12, 1.0))
        tfidf_temperature = fit_temperature(raw_tfidf, dev_gold)  # its probabilities calibrated as the encoder's
        p_tfidf = _softmax_t(raw_tfidf, tfidf_temperature)
        weight, curve = fit_encoder_weight(p_encoder, p_tfidf, dev_gold, labels)
        final = weight * p_encoder + (1 - weight) * p_tfidf  # the dev figures: TF-IDF fitted without dev
        if weight < 1.0:  # the saved component is refitted on every row, train and dev, as the baseline is
            tfidf = TfidfLR.fit([e.text for e in train + dev], [e.label for e in train + dev], labels, seed=recipe.seed)
            tfidf.save(staging)
        config |= {"encoder_weight": weight, "tfidf_temperature": tfidf_temperature,
                   "encoder_weight_dev_curve": curve, "tfidf_C": tfidf.c}
        write_atomic(staging / CONFIG_FILE, json.dumps(config, indent=2) + "\n")
    pred = final.argmax(1).tolist()
    final_metrics = classification_metrics(dev_gold, pred, labels)
    final_metrics |= {"nll": float(-np.mean(np.log(np.clip(final[np.arange(len(dev_gold)), dev_gold], 1e-12, 1)))),
                      "ece": _ece(final, dev_gold), "temperature": temperature,
                      "encoder_weight": config["encoder_weight"]}
    dev_report = {**final_metrics, "encoder": encoder_metrics}
    write_atomic(staging / DEV_METRICS_FILE, json.dumps(dev_report, indent=2) + "\n")
    split_record = {"id_column": id_column, "seed": recipe.seed, "dev_fraction": recipe.dev_fraction,
                    "train": list(train_ids), "dev": list(dev_ids)}
    write_atomic(staging / SPLIT_FILE, json.dumps(split_record) + "\n")
    _swap_in(staging, out, extras)
    if recipe.progress:
        print(f"dev: macro-F1 {final_metrics['macro_f1']:.4f} accuracy {final_metrics['accuracy']:.4f} "
              f"(encoder alone {encoder_metrics['macro_f1']:.4f}; T {temperature:.2f}, encoder weight "
              f"{config['encoder_weight']:.1f})", file=sys.stderr)
    return dev_report


def config_base(labels: list[str], text_columns: Sequence[str], label_column: str, id_column: str | None) -> dict:
    return {"format": FORMAT_VERSION, "labels": labels, "text_columns": list(text_columns),
            "label_column": label_column, "id_column": id_column, "encoder_weight": 1.0,
            "join": "one column: its text; several: 'name: text' lines, empty ones left out"}


def _swap_in(staging: Path, out: Path, extras: Sequence[Path]) -> None:
    for f in extras:
        if (staging / f.name).exists():
            raise KbqaError(f"--include {f}: the model folder already has a file {f.name}; rename it")
        shutil.copyfile(f, staging / f.name)
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)


def _finish_without_dev(train: list, labels: list[str], staging: Path, out: Path, recipe: ClassifierRecipe,
                        config: dict, encoder_metrics: dict, train_ids: Sequence[str], id_column: str | None,
                        extras: Sequence[Path]) -> dict[str, Any]:
    """No dev rows: the last epoch is kept; the temperature (default 1) and the TF-IDF weight are the recipe's."""
    from kbqa.read.calibrate import Calibration
    from kbqa.read.train import DEV_METRICS_FILE
    from kbqa.read.train_calibration import save_calibration

    temperature = recipe.temperature if recipe.temperature is not None else 1.0
    save_calibration(staging, Calibration(temperature=temperature, threshold=0.0), {"n": 0, "given": True})
    if recipe.combine == "tfidf" and recipe.encoder_weight is not None and recipe.encoder_weight < 1.0:
        from kbqa.classify.tfidf import TfidfLR

        tfidf = TfidfLR.fit([e.text for e in train], [e.label for e in train], labels, seed=recipe.seed)
        tfidf.save(staging)
        config |= {"encoder_weight": recipe.encoder_weight, "tfidf_temperature": 1.0, "tfidf_C": tfidf.c}
    write_atomic(staging / CONFIG_FILE, json.dumps(config, indent=2) + "\n")
    report = {"n": 0, "accuracy": None, "macro_f1": None, "nll": None, "ece": None, "temperature": temperature,
              "encoder_weight": config["encoder_weight"], "encoder": encoder_metrics, "dev": "none (--no-dev)"}
    write_atomic(staging / DEV_METRICS_FILE, json.dumps(report, indent=2) + "\n")
    write_atomic(staging / SPLIT_FILE, json.dumps({"id_column": id_column, "seed": recipe.seed, "dev_fraction": 0.0,
                                                   "train": list(train_ids), "dev": []}) + "\n")
    _swap_in(staging, out, extras)
    return report


def _softmax_t(logits: np.ndarray, temperature: float) -> np.ndarray:
    from kbqa.numeric import softmax

    return softmax(logits, temperature)
