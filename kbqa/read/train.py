"""Fine-tuning BERT-style sequence classifiers (reader, DDI classifier, ...); inference is kbqa.read.classifier.

``AutoModelForSequenceClassification`` trained by kbqa.train_loop (AdamW, a transformers schedule,
resumable pickle-free checkpoints) on class-weighted cross-entropy over length-sorted, dynamically
padded batches; the best epoch is kept by a dev metric (or the mean of the last epochs).
The saved folder is self-describing and pickle-free: fp16 safetensors, tokenizer, ``config.json``
with the label map, ``kbqa_train.json`` (params, data checksums, command) and ``dev_metrics.json``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import random
import shutil
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kbqa.errors import KbqaError
from kbqa.files import atomic_folder
from kbqa.read.classifier import (
    TRAIN_FILE,
    Example,
    batch_logits,
    collate,
    length_batches,
    tokenize_pairs,
    torch_device,
)

DEV_METRICS_FILE = "dev_metrics.json"
SELECT_METRICS = ("macro_f1", "micro_f1", "accuracy", "loss")
CLASS_WEIGHTS = ("balanced", "sqrt", "none")


@dataclass(frozen=True)
class TrainParams:
    """Hyper-parameters of :func:`train_classifier`."""

    epochs: int = 3
    lr: float = 3e-5
    batch_size: int = 16
    max_length: int = 256
    warmup_ratio: float = 0.1
    schedule: str = "linear"  # a transformers schedule (kbqa.train_loop.SCHEDULES)
    weight_decay: float = 0.01
    seed: int = 0
    class_weights: str = "balanced"  # "balanced" (n / (k * count)) | "sqrt" (its square root) | "none"
    grad_accum: int = 1
    select_metric: str = "macro_f1"  # "macro_f1" | "micro_f1" | "accuracy" | "loss" (dev)
    # The label that means "no relation": micro_f1 is then micro-averaged over the other labels only
    # (precision/recall of the positive classes, the DDIExtraction 2013 measure); needed for "micro_f1".
    negative_label: str | None = None
    # Dev predictions multiply P(negative_label) by this (prior correction when training saw only a
    # fraction of the negatives: 1 / kept fraction), so the kept epoch is chosen as it will be used.
    negative_weight: float = 1.0
    max_grad_norm: float = 1.0
    head_lr: float | None = None  # learning rate of the freshly initialised head; None: same as lr
    label_smoothing: float = 0.0
    # > 0: save the mean of the weights after each of the last ``average_last`` epochs (checkpoint
    # averaging, no epoch selection on dev) instead of the best epoch by ``select_metric``.
    average_last: int = 0
    eval_batch_size: int = 32
    device: str = "auto"  # "auto" picks CUDA when present
    progress: bool = True
    checkpoint_every: int = 0  # optimizer steps between checkpoints (0: after each epoch only)
    # Sentence-transformers checkpoints (e.g. all-MiniLM-L6-v2) ship an untrained, near-zero BERT pooler
    # (weight std ~0.01) that starves the encoder of gradient; "identity" restarts it as tanh(h_CLS).
    pooler_init: str = "keep"  # "keep" | "identity"
    # "fp32", "bf16" (autocast in training and dev predictions) or "auto": bf16 only where this machine
    # runs it faster (kbqa.precision: CUDA, AMX, a timed probe); the weights and optimizer stay fp32
    precision: str = "fp32"

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.grad_accum < 1:
            raise KbqaError("epochs, batch_size and grad_accum must all be >= 1")
        if not 0 < self.lr < 1:
            raise KbqaError(f"lr must be in (0, 1), got {self.lr}")
        if not 8 <= self.max_length <= 4096:
            raise KbqaError(f"max_length must be in [8, 4096], got {self.max_length}")
        if self.class_weights not in CLASS_WEIGHTS:
            raise KbqaError(f"class_weights must be one of {CLASS_WEIGHTS}, got {self.class_weights!r}")
        if self.select_metric not in SELECT_METRICS:
            raise KbqaError(f"select_metric must be one of {SELECT_METRICS}, got {self.select_metric!r}")
        if self.select_metric == "micro_f1" and not self.negative_label:
            raise KbqaError("select_metric 'micro_f1' (over the positive labels) needs negative_label, e.g. 'none'")
        if self.pooler_init not in ("keep", "identity"):
            raise KbqaError(f"pooler_init must be 'keep' or 'identity', got {self.pooler_init!r}")
        if self.negative_weight <= 0:
            raise KbqaError(f"negative_weight must be > 0, got {self.negative_weight}")
        if not 0 <= self.warmup_ratio < 1:
            raise KbqaError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.checkpoint_every < 0:
            raise KbqaError(f"checkpoint_every must be >= 0, got {self.checkpoint_every}")
        from kbqa.train_loop import check_schedule

        check_schedule(self.schedule)
        from kbqa.precision import PRECISIONS

        if self.precision not in PRECISIONS:
            raise KbqaError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if not 0 <= self.average_last <= self.epochs:
            raise KbqaError(f"average_last must be in [0, epochs={self.epochs}], got {self.average_last}")


def examples_checksum(examples: Sequence[Example]) -> str:
    """sha256 of the examples' canonical JSON: identifies the exact training data."""
    h = hashlib.sha256()
    for ex in examples:
        h.update(json.dumps([ex.text, ex.text_pair, ex.label], ensure_ascii=False).encode())
        h.update(b"\n")
    return h.hexdigest()


def _check_examples(examples: Sequence[Example], labels: list[str], name: str) -> None:
    known = set(labels)
    for i, ex in enumerate(examples):
        if ex.label not in known:
            raise KbqaError(
                f"{name} example {i} ({ex.text[:60]!r}) has label {ex.label!r}, not one of {labels}; "
                "fix the data or pass the label in labels"
            )
        if not ex.text or not ex.text.strip():
            raise KbqaError(f"{name} example {i} has an empty text")


def classification_metrics(
    gold: Sequence[int], pred: Sequence[int], labels: list[str], negative_label: str | None = None
) -> dict[str, Any]:
    """Accuracy, macro-F1 and per-label F1 (scikit-learn).

    With ``negative_label`` also ``micro_f1``/``micro_precision``/``micro_recall`` over the other
    labels: a positive predicted as another positive counts as both a false positive and a false negative.
    """
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    idx = list(range(len(labels)))
    per = f1_score(gold, pred, labels=idx, average=None, zero_division=0)
    out: dict[str, Any] = {
        "n": len(gold),
        "accuracy": float(accuracy_score(gold, pred)),
        "macro_f1": float(f1_score(gold, pred, labels=idx, average="macro", zero_division=0)),
        "f1": {lab: float(v) for lab, v in zip(labels, per)},
        "confusion": confusion_matrix(gold, pred, labels=idx).tolist(),
    }
    if negative_label is not None:
        if negative_label not in labels:
            raise KbqaError(f"negative_label {negative_label!r} is not one of the labels {labels}")
        positive = [i for i, lab in enumerate(labels) if lab != negative_label]
        p, r, f, _ = precision_recall_fscore_support(gold, pred, labels=positive, average="micro", zero_division=0)
        out.update(micro_f1=float(f), micro_precision=float(p), micro_recall=float(r))
    return out


def class_weights(train: Sequence[Example], labels: list[str], mode: str) -> list[float]:
    """Loss weight per label: "balanced" n / (k * count) (sklearn's), "sqrt" its square root (milder:
    rare labels gain recall without flooding precision), "none" all 1. An absent label gets 1."""
    if mode not in CLASS_WEIGHTS:
        raise KbqaError(f"class weights must be one of {CLASS_WEIGHTS}, got {mode!r}")
    if mode == "none":
        return [1.0] * len(labels)
    counts = Counter(ex.label for ex in train)
    n = len(train)
    balanced = [n / (len(labels) * counts[lab]) if counts[lab] else 1.0 for lab in labels]
    return [math.sqrt(w) for w in balanced] if mode == "sqrt" else balanced


def train_classifier(
    train: list[Example],
    dev: list[Example] | None,
    labels: list[str],
    base_model: str | Path,
    out_dir: str | Path,
    params: TrainParams,
    *,
    special_tokens: list[str] | None = None,
    metadata: dict | None = None,
    checkpoint_dir: str | Path | None = None,
) -> dict:
    """Fine-tune ``base_model`` on ``train``; keep the best epoch on ``dev`` by ``params.select_metric``
    (or, with ``params.average_last``, the mean weights of the last epochs).

    Returns the dev metrics of the kept epoch (the last epoch's training loss when ``dev`` is None).
    ``base_model`` is any local encoder folder (a classifier with the same labels continues training).
    ``checkpoint_dir``: kbqa.train_loop checkpoints there (every ``params.checkpoint_every`` steps and after
    each epoch), and a run with the same data and params started again resumes from it; removed once the
    model is saved.
    """
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from kbqa.precision import resolve as resolve_precision
    from kbqa.train_loop import LoopSettings, identity_pooler, seed_everything, train_loop, weights_copy

    if not train:
        raise KbqaError("no training examples")
    if len(set(labels)) != len(labels) or not labels:
        raise KbqaError(f"labels must be distinct and non-empty, got {labels}")
    _check_examples(train, labels, "train")
    if dev:
        _check_examples(dev, labels, "dev")
    if params.negative_label is not None and params.negative_label not in labels:
        raise KbqaError(f"negative_label {params.negative_label!r} is not one of the labels {labels}")
    base = Path(base_model)
    if not (base / "config.json").is_file():
        raise KbqaError(f"base model {base} has no config.json; pass a local Hugging Face model folder")
    out = Path(out_dir)
    seed_everything(params.seed)  # the new head's initialisation
    device = torch_device(params.device)
    precision = resolve_precision(params.precision, device)
    bf16 = precision.name == "bf16"

    tokenizer = AutoTokenizer.from_pretrained(str(base))
    if special_tokens:
        tokenizer.add_special_tokens({"additional_special_tokens": list(special_tokens)})
    label2id = {lab: i for i, lab in enumerate(labels)}
    model = AutoModelForSequenceClassification.from_pretrained(
        str(base),
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id=label2id,
        ignore_mismatched_sizes=True,
        dtype=torch.float32,
    )
    if special_tokens:
        model.resize_token_embeddings(len(tokenizer))
    if params.pooler_init == "identity":
        identity_pooler(model)
    model.to(device)
    pad_id = tokenizer.pad_token_id or 0

    train_ids = tokenize_pairs(tokenizer, [(e.text, e.text_pair) for e in train], params.max_length)
    train_y = [label2id[e.label] for e in train]
    dev_ids = tokenize_pairs(tokenizer, [(e.text, e.text_pair) for e in dev], params.max_length) if dev else []
    dev_y = [label2id[e.label] for e in dev] if dev else []
    # every epoch's length-sorted batches, drawn up front from the seed (a resumed run redraws the same)
    rng = random.Random(params.seed)
    plan = [length_batches([len(x) for x in train_ids], params.batch_size, rng) for _ in range(params.epochs)]

    weights = torch.tensor(class_weights(train, labels, params.class_weights), dtype=torch.float32, device=device)
    loss_fn = torch.nn.CrossEntropyLoss(weight=weights, label_smoothing=params.label_smoothing)
    dev_loss_fn = torch.nn.CrossEntropyLoss()

    def batch_loss(epoch: int, b: int) -> Any:
        batch = plan[epoch][b]
        inputs = collate([train_ids[i] for i in batch], pad_id, device)
        target = torch.tensor([train_y[i] for i in batch], dtype=torch.long, device=device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(**inputs).logits
        return loss_fn(logits.float(), target)

    def dev_metrics() -> dict[str, Any]:
        logits = batch_logits(model, dev_ids, pad_id, params.eval_batch_size, device, params.progress,
                              precision.name)
        shifted = logits.copy()
        if params.negative_label is not None:
            shifted[:, label2id[params.negative_label]] += math.log(params.negative_weight)
        metrics = classification_metrics(dev_y, shifted.argmax(1).tolist(), labels, params.negative_label)
        metrics["loss"] = float(dev_loss_fn(torch.from_numpy(logits), torch.tensor(dev_y)))
        return metrics

    first_averaged = params.epochs - params.average_last + 1 if params.average_last else None

    def keep(epoch: int, record: dict[str, Any], state: Any) -> None:
        """The dev metrics of the epoch; the kept weights: the best epoch, or the running mean of the last ones."""
        if dev:
            metrics = record["dev"] = dev_metrics()
            score = -metrics["loss"] if params.select_metric == "loss" else metrics[params.select_metric]
        else:
            metrics, score = {"train_loss": record["train_loss"]}, float(epoch)  # keep the last epoch
        if params.progress:
            shown = {k: round(v, 4) for k, v in metrics.items() if isinstance(v, float)}
            print(f"epoch {epoch}: train_loss {record['train_loss']:.4f} dev {shown}", file=sys.stderr)
        if first_averaged is not None:
            if epoch >= first_averaged:
                current, n = weights_copy(model), epoch - first_averaged + 1
                if state.kept_tensors is not None and n > 1:
                    current = {k: state.kept_tensors[k] + (v - state.kept_tensors[k]) / n if v.is_floating_point() else v
                               for k, v in current.items()}
                state.kept, state.kept_tensors = {"score": float(epoch), "epoch": epoch, "metrics": metrics}, current
        elif state.kept is None or score > state.kept["score"]:
            state.kept = {"score": score, "epoch": epoch, "metrics": metrics}
            state.kept_tensors = weights_copy(model)

    settings = LoopSettings(
        lr=params.lr, weight_decay=params.weight_decay, head_lr=params.head_lr, schedule=params.schedule,
        warmup_ratio=params.warmup_ratio, max_grad_norm=params.max_grad_norm, grad_accum=params.grad_accum,
        seed=params.seed, checkpoint_every=params.checkpoint_every, desc="train", progress=params.progress,
    )
    tracked = {k: v for k, v in dataclasses.asdict(params).items() if k not in ("progress", "checkpoint_every")}
    run_key = {"params": tracked, "base_model": str(base), "labels": labels,
               "special_tokens": list(special_tokens or []),
               "train": examples_checksum(train), "dev": examples_checksum(dev or [])}
    state = train_loop(model, [len(p) for p in plan], batch_loss, settings, checkpoint=checkpoint_dir,
                       run_key=run_key, on_epoch_end=keep)

    assert state.kept is not None and state.kept_tensors is not None
    best_epoch, best_metrics = state.kept["epoch"], state.kept["metrics"]
    model.load_state_dict(state.kept_tensors)
    if first_averaged is not None and first_averaged < params.epochs:
        best_metrics = dev_metrics() if dev else best_metrics  # the averaged weights' own dev figures
        best_metrics = {**best_metrics, "averaged_epochs": [first_averaged, params.epochs]}
    info = {
        "labels": labels,
        "base_model": str(base),
        "params": dataclasses.asdict(params),
        "special_tokens": list(special_tokens or []),
        "best_epoch": best_epoch,
        "history": state.history,
        "data": {
            "train": {"n": len(train), "sha256": examples_checksum(train), "labels": dict(Counter(e.label for e in train))},
            "dev": {"n": len(dev or []), "sha256": examples_checksum(dev or []), "labels": dict(Counter(e.label for e in dev or []))},
        },
        "command": " ".join(sys.argv),
        "train_seconds": round(state.seconds, 1),
        "device": str(device),
        "precision": str(precision),
        "torch_threads": torch.get_num_threads(),
        "metadata": metadata or {},
    }
    _save(model, tokenizer, out, info, {**best_metrics, "epoch": best_epoch})
    if checkpoint_dir is not None:
        for leftover in (Path(checkpoint_dir), Path(str(checkpoint_dir) + ".old")):
            shutil.rmtree(leftover, ignore_errors=True)
    return {**best_metrics, "epoch": best_epoch}


def _save(model: Any, tokenizer: Any, out: Path, info: dict, dev_metrics: dict) -> None:
    """Write to a sibling temp folder, then swap it in: a crash never leaves a half-written model."""
    import torch

    with atomic_folder(out) as tmp:
        model.to("cpu").to(torch.float16).save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        (tmp / TRAIN_FILE).write_text(json.dumps(info, indent=2) + "\n")
        (tmp / DEV_METRICS_FILE).write_text(json.dumps(dev_metrics, indent=2) + "\n")
        for stray in ("training_args.bin",):
            (tmp / stray).unlink(missing_ok=True)
