"""Inference for the fine-tuned BERT-style sequence classifiers (reader, DDI classifier, ...).

:class:`SequenceClassifier` loads a folder written by :func:`kbqa.read.train.train_classifier` and
predicts logits and probabilities. The batching and tokenising helpers here are shared with training,
which imports this module (never the reverse).
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kbqa.errors import KbqaError
from kbqa.numeric import softmax

TRAIN_FILE = "kbqa_train.json"  # written by training: params, labels, data checksums, command


@dataclass(frozen=True)
class Example:
    """One labelled example: a text (or text pair) and its label."""

    text: str
    text_pair: str | None
    label: str


def torch_device(name: str) -> Any:
    """``name`` as a torch device; "auto" picks CUDA when present."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def tokenize_pairs(tokenizer: Any, pairs: Sequence[tuple[str, str | None]], max_length: int) -> list[list[int]]:
    """Token ids per pair, truncating the longer side first (so long passages lose their tail)."""
    out: list[list[int]] = []
    for text, pair in pairs:
        enc = tokenizer(text, pair, truncation="longest_first" if pair else True, max_length=max_length)
        out.append(list(enc["input_ids"]))
    return out


def length_batches(lengths: Sequence[int], batch_size: int, rng: random.Random | None) -> list[list[int]]:
    """Indices grouped into batches of similar length; batch order shuffled when ``rng`` is given."""
    if rng is None:
        order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    else:  # random order among similar lengths, so batches differ between epochs
        jitter = [rng.random() for _ in lengths]
        order = sorted(range(len(lengths)), key=lambda i: (lengths[i] // 16, jitter[i]))
    batches = [order[s : s + batch_size] for s in range(0, len(order), batch_size)]
    if rng is not None:
        rng.shuffle(batches)
    return batches


def collate(ids: list[list[int]], pad_id: int, device: Any) -> dict[str, Any]:
    import torch

    width = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for row, seq in enumerate(ids):
        input_ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
    return {"input_ids": input_ids.to(device), "attention_mask": mask.to(device)}


def batch_logits(model: Any, ids: list[list[int]], pad_id: int, batch_size: int, device: Any, progress: bool,
                 precision: str = "fp32") -> np.ndarray:
    """The model's logits for token-id sequences, shape (n, num_labels), in batches of similar length."""
    import torch
    from tqdm.auto import tqdm

    out = np.zeros((len(ids), model.config.num_labels), dtype=np.float32)
    batches = length_batches([len(x) for x in ids], batch_size, None)
    model.eval()
    bf16 = precision == "bf16"
    with torch.inference_mode(), torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16):
        for batch in tqdm(batches, desc="predict", disable=not progress, leave=False):
            logits = model(**collate([ids[i] for i in batch], pad_id, device)).logits
            out[batch] = logits.float().cpu().numpy()
    return out


class SequenceClassifier:
    """A fine-tuned classifier loaded from a folder written by :func:`kbqa.read.train.train_classifier`."""

    def __init__(self, model: Any, tokenizer: Any, labels: list[str], model_dir: Path, max_length: int,
                 precision: str = "fp32") -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.labels = labels
        self.model_dir = model_dir
        self.max_length = max_length
        self.precision = precision  # "fp32" or "bf16" (autocast at inference; weights stay fp32)
        self.precision_reason = "requested"  # why (kbqa.precision): "amx", "probe 1.80x", "cuda"...

    @classmethod
    def load(cls, model_dir: str | Path, *, device: str = "auto", max_length: int | None = None,
             precision: str = "fp32", light: bool = False) -> SequenceClassifier:
        """Load and check a classifier folder; a missing file or inconsistent label map is a KbqaError.

        ``max_length`` overrides the training length at inference (e.g. to read whole index chunks);
        ``precision`` is ``fp32``, ``bf16`` (autocast) or ``auto`` (bf16 only where it is faster: :mod:`kbqa.precision`).
        ``light``: a BERT classifier runs on :mod:`kbqa.bert` (same logits, without transformers'
        2-3 s import); other architectures load with transformers either way."""
        from kbqa import bert
        from kbqa.precision import resolve as resolve_precision

        folder = Path(model_dir)
        labels, trained_length = check_model_dir(folder)
        dev = torch_device(device)
        if light and bert.supported(folder, classifier=True):
            model = bert.load_bert(folder, num_labels=len(labels), device=dev)
            tokenizer: Any = bert.PairTokenizer(folder, int(model.config.pad_token_id or 0))
        else:
            import torch
            from transformers import AutoModelForSequenceClassification, AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(str(folder))
            model = AutoModelForSequenceClassification.from_pretrained(str(folder), dtype=torch.float32)
            model.to(dev).eval()
        chosen = resolve_precision(precision, dev)
        clf = cls(model, tokenizer, labels, folder, max_length or trained_length, chosen.name)
        clf.precision_reason = chosen.reason
        return clf

    def predict_logits(
        self, examples: Sequence[tuple[str, str | None]], batch_size: int = 32, progress: bool = False
    ) -> np.ndarray:
        """Raw logits, shape (n, n_labels), columns in ``self.labels`` order."""
        if not examples:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        ids = tokenize_pairs(self.tokenizer, list(examples), self.max_length)
        device = next(self.model.parameters()).device
        return batch_logits(self.model, ids, self.tokenizer.pad_token_id or 0, batch_size, device, progress,
                            self.precision)

    def predict_proba(
        self, examples: Sequence[tuple[str, str | None]], batch_size: int = 32, progress: bool = False
    ) -> np.ndarray:
        """Label probabilities, shape (n, n_labels), columns in ``self.labels`` order."""
        return softmax(self.predict_logits(examples, batch_size=batch_size, progress=progress))


def check_model_dir(folder: Path) -> tuple[list[str], int]:
    """The folder's labels (in id order) and max_length, after checking files and the label map."""
    if not folder.is_dir():
        raise KbqaError(f"model folder {folder} does not exist; train one first")
    missing = [name for name in ("config.json", TRAIN_FILE) if not (folder / name).is_file()]
    if not any(folder.glob("*.safetensors")):
        missing.append("model.safetensors")
    if not ((folder / "tokenizer.json").is_file() or (folder / "vocab.txt").is_file()):
        missing.append("tokenizer.json")
    if missing:
        raise KbqaError(f"model folder {folder} is incomplete: missing {missing}; retrain it or copy the whole folder")
    try:
        config = json.loads((folder / "config.json").read_text())
        info = json.loads((folder / TRAIN_FILE).read_text())
    except json.JSONDecodeError as exc:
        raise KbqaError(f"model folder {folder}: unreadable JSON ({exc})") from exc
    id2label = {int(k): v for k, v in config.get("id2label", {}).items()}
    label2id = {k: int(v) for k, v in config.get("label2id", {}).items()}
    labels = [id2label[i] for i in sorted(id2label)]
    expected = list(info.get("labels", []))
    if (
        sorted(id2label) != list(range(len(id2label)))
        or {v: k for k, v in id2label.items()} != label2id
        or labels != expected
    ):
        raise KbqaError(
            f"model folder {folder}: inconsistent label map (config.json id2label {id2label}, label2id {label2id}, "
            f"{TRAIN_FILE} labels {expected}); the folder was edited or mixed up: retrain it"
        )
    return labels, int(info.get("params", {}).get("max_length", 512))
