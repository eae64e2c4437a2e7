"""Fine-tune the bi-encoder on (query, positive, hard negative) triplets: ``kbqa train embedder``.

Loss: sentence-transformers' ``MultipleNegativesRankingLoss`` (InfoNCE over the batch's positives
and hard negatives). The loop is kbqa.train_loop (kbqa's one loop) rather than
``SentenceTransformerTrainer`` so that training needs no ``datasets``/``pyarrow`` and its checkpoints
hold no pickles; rerunning the same command resumes at the last checkpoint, and a resumed run
equals an uninterrupted one. The result is a sentence-transformers folder in fp16 safetensors, or
with ``--lora-rank`` an adapter folder (a peft LoRA adapter on the base, :mod:`kbqa.adapter`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kbqa.errors import KbqaError
from kbqa.tune.workdir import cached_rows, open_work, write_summary


@dataclass(frozen=True)
class EmbedderRecipe:
    max_pairs: int = 12000
    epochs: int = 1
    batch_size: int = 32
    lr: float = 3e-5
    warmup: float = 0.1  # share of the steps spent warming up (then the schedule decays)
    schedule: str = "linear"  # a transformers schedule (kbqa.train_loop.SCHEDULES)
    weight_decay: float = 0.01
    scale: float = 20.0  # MNRL's similarity scale (1 / temperature)
    # passages are cut to this many tokens while training only (2x faster on a CPU than 256; the
    # opening of an answer carries its topic); the saved model reads its full window again
    max_seq_length: int = 128
    seed: int = 0
    sources: tuple[str, ...] = ("medquad", "pubmedqa", "claims")
    # with source liveqa: the cross-validation fold left out, or "none" (the final fit on every fold)
    liveqa_holdout: int | str | None = None
    # LoRA (kbqa.tune.lora): rank 0 = full fine-tuning; else a peft adapter is trained and saved alone
    lora_rank: int = 0
    lora_alpha: float = 32.0
    lora_dropout: float = 0.05
    lora_targets: tuple[str, ...] = ()  # the Linear layers adapted; () = the architecture's default


def recipe_key(recipe: EmbedderRecipe) -> dict[str, Any]:
    """The recipe as a run's settings record: the LoRA fields only when LoRA is on, so that work
    folders of full fine-tuning runs made before LoRA existed still resume."""
    key = asdict(recipe)
    if not recipe.lora_rank:
        for name in ("lora_rank", "lora_alpha", "lora_dropout", "lora_targets"):
            key.pop(name)
    return key


def batches(triplets: Sequence[dict[str, Any]], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Shuffled batches in which no query or positive text repeats (a repeat would be a false
    in-batch negative); a triplet that would repeat one waits for the next batch."""
    order = list(range(len(triplets)))
    random.Random(f"{seed}:{epoch}").shuffle(order)
    out: list[list[int]] = []
    pending = order
    while pending:
        batch: list[int] = []
        seen: set[str] = set()
        later: list[int] = []
        for i in pending:
            keys = {"q:" + triplets[i]["query"], "p:" + triplets[i]["positive"], "p:" + triplets[i]["negative"]}
            if len(batch) < batch_size and not keys & seen:
                batch.append(i)
                seen |= {"q:" + triplets[i]["query"], "p:" + triplets[i]["positive"]}
            else:
                later.append(i)
        out.append(batch)
        pending = later
    return out


def _prepare(out: Path, recipe: EmbedderRecipe, base_model: str, data: dict[str, str], mine_index: dict[str, str] | None,
             encoder: Any, splits: dict[str, str] | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The triplets for this recipe: read from ``OUT/work`` when already mined with the same settings."""
    from kbqa.chunk import Chunker
    from kbqa.config import ChunkConfig

    from kbqa.tune.pairs import build_triplets

    key: dict[str, Any] = {"recipe": recipe_key(recipe), "base_model": base_model, "data": data}
    if splits:  # only when given, so runs mined before --split existed still resume
        key["splits"] = splits
    work = open_work(out, key)
    chunker = Chunker(ChunkConfig(), encoder.tokenizer, encoder.max_tokens)
    return cached_rows(work, "triplets", lambda: build_triplets(
        encoder, chunker, sources=recipe.sources, data=data, max_pairs=recipe.max_pairs, seed=recipe.seed,
        mine_index=mine_index, liveqa_holdout=recipe.liveqa_holdout, splits=splits,
    ))


def train_embedder(
    out: str | Path,
    *,
    recipe: EmbedderRecipe = EmbedderRecipe(),
    base_model: str = "all-MiniLM-L6-v2",
    data: dict[str, str] | None = None,
    mine_index: dict[str, str] | None = None,
    checkpoint_every: int = 25,
    progress: bool = True,
    splits: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Mine triplets, fine-tune ``base_model`` on them and save the fp16 model in ``out`` (with
    ``recipe.lora_rank``: train a LoRA adapter and save it alone, :mod:`kbqa.tune.lora`). ``splits``
    replaces a source's committed split file (e.g. ``{"medquad": "eval/splits/medquad-collections.json"}``)."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from kbqa.config import EmbedConfig
    from kbqa.embed import load_encoder, resolve_model
    from kbqa.train_loop import LoopSettings, check_schedule, train_loop
    from kbqa.tune.lora import add_lora, remove_adapter_files, save_adapter
    from kbqa.tune.pairs import DEFAULT_DATA

    check_schedule(recipe.schedule)
    out = Path(out)
    data = {**DEFAULT_DATA, **(data or {})}
    started = time.time()
    base = load_encoder(EmbedConfig(model=base_model))
    triplets, info = _prepare(out, recipe, base_model, data, mine_index, base, splits)
    if not triplets:
        raise KbqaError("no training triplets: check the data paths (--data NAME=PATH)")
    del base
    plan = [batches(triplets, recipe.batch_size, recipe.seed, epoch) for epoch in range(recipe.epochs)]
    work = out / "work"
    device = "cuda" if torch.cuda.is_available() else "cpu"
    base_folder = resolve_model(base_model)
    model = SentenceTransformer(base_folder, device=device, model_kwargs={"dtype": torch.float32})
    if recipe.lora_rank:
        torch.manual_seed(recipe.seed)  # LoRA's A matrices start random: the same run starts the same
        add_lora(model, rank=recipe.lora_rank, alpha=recipe.lora_alpha, dropout=recipe.lora_dropout,
                 targets=recipe.lora_targets)
    full_length = model.max_seq_length
    model.max_seq_length = min(full_length, recipe.max_seq_length)
    loss_fn = MultipleNegativesRankingLoss(model, scale=recipe.scale)

    def batch_loss(epoch: int, b: int) -> Any:
        rows = [triplets[i] for i in plan[epoch][b]]
        features = []
        for column in ("query", "positive", "negative"):
            feats = model.preprocess([r[column] for r in rows])
            features.append({k: v.to(device) if hasattr(v, "to") else v for k, v in feats.items()})
        return loss_fn(features, None)

    settings = LoopSettings(lr=recipe.lr, weight_decay=recipe.weight_decay, schedule=recipe.schedule,
                            warmup_ratio=recipe.warmup, seed=recipe.seed, checkpoint_every=checkpoint_every,
                            desc="train embedder", progress=progress)
    state = train_loop(model, [len(p) for p in plan], batch_loss, settings, checkpoint=work / "checkpoint",
                       run_key={"recipe": recipe_key(recipe), "base_model": base_model, "triplets": len(triplets)})
    model.max_seq_length = full_length
    counts: dict[str, Any] = {"triplets": len(triplets), "steps": state.step}
    if recipe.lora_rank:
        record = save_adapter(model, out, base=base_model, base_folder=base_folder)
        counts.update(adapter=record["adapter"], base_weights_sha256=record["base"]["weights_sha256"])
    else:
        remove_adapter_files(out)
        model.half()
        model.save(str(out), safe_serialization=True)
    return write_summary(out, base_model=base_model, recipe=recipe, counts=counts,
                         state=state, started=started, device=device, info=info)
