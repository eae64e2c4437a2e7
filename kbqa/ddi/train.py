"""Train the DDI pair classifier (none / mechanism / effect / advise / int) on the DDI 2013 corpus.

Each candidate pair becomes its blinded sentence (kbqa.ddi.blind); pairs removed by the filter
rules are never shown to the model (they are predicted ``none``). The generic trainer
kbqa.read.train does the fine-tuning; this module prepares the data and records the DDI
settings in the model folder (``kbqa_train.json`` -> ``metadata``), which prediction reuses.
"""

from __future__ import annotations

import dataclasses
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kbqa.ddi.blind import PairExample, check_style, crop, pair_examples, pair_marks
from kbqa.ddi.corpus import LABELS, NEGATIVE, DDIDocument, read_corpus, split_docs
from kbqa.errors import KbqaError
from kbqa.files import sha256_file, tree_sha256
from kbqa.paths import load_split

DEFAULT_SPLIT = "eval/splits/ddi2013.json"  # the committed split, found by kbqa.paths from any folder


@dataclass(frozen=True)
class DDISettings:
    """How sentences are turned into classifier inputs; saved with the model, reused at prediction."""

    filter_pairs: bool = True
    max_words: int = 80
    neg_keep: float = 0.3  # fraction of (unfiltered) training negatives kept, drawn with the seed
    entity_style: str = "blind"  # "blind" (DRUG1/DRUG2/DRUGN) | "markers" (<< a >> ... [[ b ]]); see kbqa.ddi.blind

    def __post_init__(self) -> None:
        check_style(self.entity_style)

    def to_dict(self) -> dict[str, Any]:
        return {"task": "ddi", "filter_pairs": self.filter_pairs, "max_words": self.max_words, "neg_keep": self.neg_keep,
                "entity_style": self.entity_style}


def data_checksum(folder: str | Path) -> dict[str, Any]:
    """sha256 over the sorted (relative path, file sha256) list of the corpus XML files."""
    root = Path(folder)
    files = sorted(root.rglob("*.xml")) if root.is_dir() else [root]
    digest, n = tree_sha256(root, files, name=lambda f: f.relative_to(root) if root.is_dir() else f.name)
    return {"files": n, "sha256": digest}


def model_inputs(examples: list[PairExample], settings: DDISettings) -> list[str]:
    return [crop(e.text, settings.max_words, marks=pair_marks(settings.entity_style)) for e in examples]


def train_ddi(
    data: str | Path,
    out_dir: str | Path,
    base_model: str | Path,
    *,
    split: str | Path | None = DEFAULT_SPLIT,
    settings: DDISettings | None = None,
    params: Any = None,
    none_weight: float | None = None,
) -> dict:
    """Fine-tune ``base_model`` on the training documents of ``split`` (all of ``data`` when None).

    ``base_model`` is a plain encoder folder, or a DDI model folder written here: training then continues
    from it (a later stage, e.g. on a larger draw of negatives; see :func:`base_ddi_model`), recorded in
    the metadata as ``continues``.

    ``none_weight`` (saved in ddi.json, also used to pick the epoch): P(none) is multiplied by it at
    prediction; None: ``1 / neg_keep``, the prior correction for the subsampled negatives.
    Returns the dev metrics of the kept epoch (see kbqa.read.train.train_classifier).
    """
    from kbqa.read.classifier import Example
    from kbqa.read.train import TrainParams, train_classifier

    settings = settings or DDISettings()
    continues = base_ddi_model(base_model)  # None: a plain encoder
    params = params or TrainParams(epochs=2, lr=1e-4, batch_size=16, max_length=128, class_weights="sqrt",
                                   head_lr=1e-3, pooler_init="identity" if continues is None else "keep")
    if continues is not None:
        if params.pooler_init != "keep":
            raise KbqaError(f"{base_model} is a trained DDI model: continuing from it needs pooler_init 'keep' "
                            f"(got {params.pooler_init!r}, which would reset its trained pooler)")
        if continues["entity_style"] != settings.entity_style:
            raise KbqaError(f"{base_model} was trained with entity_style {continues['entity_style']!r}; "
                            f"continue with the same style, not {settings.entity_style!r}")
    if not 0 < settings.neg_keep <= 1:
        raise KbqaError(f"neg_keep must be in (0, 1], got {settings.neg_keep}")
    none_weight = 1.0 / settings.neg_keep if none_weight is None else none_weight
    if none_weight <= 0:
        raise KbqaError(f"none_weight must be > 0, got {none_weight}")
    # the kept epoch is the best by the DDI measure, with the P(none) weighting used at prediction
    params = dataclasses.replace(params, select_metric="micro_f1", negative_label=NEGATIVE, negative_weight=none_weight)
    docs = read_corpus(data)
    train_docs, dev_docs = split_docs(docs, load_split(split)) if split else (docs, [])
    style = settings.entity_style
    train_ex = [e for e in pair_examples(train_docs, filter_pairs=settings.filter_pairs, style=style) if not e.filtered]
    rng = random.Random(params.seed)
    train_ex = [e for e in train_ex if e.label != NEGATIVE or rng.random() < settings.neg_keep]
    dev_ex = [e for e in pair_examples(dev_docs, filter_pairs=settings.filter_pairs, style=style) if not e.filtered]
    train = [Example(t, None, e.label) for t, e in zip(model_inputs(train_ex, settings), train_ex)]
    dev = [Example(t, None, e.label) for t, e in zip(model_inputs(dev_ex, settings), dev_ex)]
    metadata = {
        **settings.to_dict(),
        "data": {"path": str(data), **data_checksum(data)},
        "split": str(split) if split else None,
        "licence": "DDI corpus: CC BY-NC 4.0 (non-commercial)",
    }
    if continues is not None:
        metadata["continues"] = continues
    # an interrupted run started again with the same command resumes after its last finished epoch
    checkpoint = Path(out_dir).with_name(Path(out_dir).name + ".ckpt")
    metrics = train_classifier(train, dev or None, list(LABELS), base_model, out_dir, params, metadata=metadata,
                               checkpoint_dir=checkpoint)
    write_drug_names(train_docs, out_dir)
    write_settings(out_dir, none_weight=none_weight)
    return metrics


def base_ddi_model(base_model: str | Path) -> dict[str, Any] | None:
    """What ``base_model`` is, when it is a DDI model folder written by :func:`train_ddi` (training then
    continues from it: its encoder, pooler and classification head); None for a plain encoder folder.

    A kbqa classifier folder for another task or with another label map is a KbqaError: its head would be
    silently re-initialised or its labels mixed up.
    """
    from kbqa.read.classifier import TRAIN_FILE, check_model_dir

    folder = Path(base_model)
    if not (folder / TRAIN_FILE).is_file():
        return None
    labels, _ = check_model_dir(folder)
    try:
        info = json.loads((folder / TRAIN_FILE).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise KbqaError(f"{folder / TRAIN_FILE}: not valid JSON ({exc})") from None
    meta = info.get("metadata") or {}
    if meta.get("task") != "ddi":
        raise KbqaError(f"{folder} is a kbqa classifier for task {meta.get('task')!r}, not a DDI model; "
                        "pass a DDI model folder or a plain encoder as the base")
    if labels != list(LABELS):
        raise KbqaError(f"{folder} has labels {labels}, expected {list(LABELS)} in this order; it cannot be continued")
    weights = sorted(folder.glob("*.safetensors"))
    return {
        "path": str(folder),
        "weights_sha256": {w.name: sha256_file(w) for w in weights},
        "command": info.get("command"),
        "neg_keep": meta.get("neg_keep"),
        "entity_style": meta.get("entity_style", "blind"),
        "best_epoch": info.get("best_epoch"),
    }


def write_settings(out_dir: str | Path, *, none_weight: float) -> Path:
    """Prediction settings (model.SETTINGS_FILE). ``none_weight = 1/neg_keep`` undoes negative subsampling:
    on dev it raised micro-F1 from 62.3 to 66.3 for a model trained on 30% of the negatives."""
    from kbqa.ddi.model import SETTINGS_FILE

    path = Path(out_dir) / SETTINGS_FILE
    path.write_text(json.dumps({"none_weight": round(none_weight, 4)}, indent=2) + "\n", encoding="utf-8")
    return path


def write_drug_names(docs: list[DDIDocument], out_dir: str | Path) -> Path:
    """Save the drug names annotated in ``docs`` (one per line) next to the model.

    At prediction the check blinds these as DRUGN when they appear beside the pair, as training did
    with the annotated mentions.
    """
    from kbqa.ddi.model import DRUG_NAMES_FILE

    names = {" ".join(e.text.lower().split()) for d in docs for s in d.sentences for e in s.entities}
    path = Path(out_dir) / DRUG_NAMES_FILE
    path.write_text("".join(f"{n}\n" for n in sorted(names) if len(n) >= 3), encoding="utf-8")
    return path
