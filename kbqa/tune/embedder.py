"""Fine-tune the bi-encoder on (query, positive, hard negative) triplets: ``kbqa train embedder``.

Loss: sentence-transformers' ``MultipleNegativesRankingLoss`` (InfoNCE over the batch's positives
and hard negatives). The loop is a plain PyTorch one rather than ``SentenceTransformerTrainer`` so
that training needs no ``datasets``/``pyarrow`` and its checkpoints hold no pickles: every
``checkpoint_every`` steps the model (safetensors), the AdamW moments (safetensors) and the step
are written to ``OUT/work/checkpoint`` atomically; rerunning the same command resumes there.
Batches and dropout depend only on the seed and the step, so a resumed run equals an
uninterrupted one. The result is a sentence-transformers folder in fp16 safetensors.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kbqa.errors import KbqaError
from kbqa.read.checkpoint import optimizer_tensors, restore_optimizer


@dataclass(frozen=True)
class EmbedderRecipe:
    max_pairs: int = 12000
    epochs: int = 1
    batch_size: int = 32
    lr: float = 3e-5
    warmup: float = 0.1  # share of the steps with a linear warm-up, then linear decay
    weight_decay: float = 0.01
    scale: float = 20.0  # MNRL's similarity scale (1 / temperature)
    # passages are cut to this many tokens while training only (2x faster on a CPU than 256; the
    # opening of an answer carries its topic); the saved model reads its full window again
    max_seq_length: int = 128
    seed: int = 0
    sources: tuple[str, ...] = ("medquad", "pubmedqa", "claims")


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


def _lr_at(step: int, total: int, recipe: EmbedderRecipe) -> float:
    warm = max(1, int(total * recipe.warmup))
    if step < warm:
        return recipe.lr * (step + 1) / warm
    return recipe.lr * max(0.0, (total - step) / max(1, total - warm))


def _save_checkpoint(work: Path, model: Any, optimizer: Any, state: dict[str, Any]) -> None:
    from safetensors.torch import save_file

    tmp = work / "checkpoint.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save(str(tmp / "model"))
    tensors, param_groups = optimizer_tensors(optimizer)
    save_file(tensors, str(tmp / "optimizer.safetensors"))
    (tmp / "state.json").write_text(json.dumps({**state, "optimizer": {"param_groups": param_groups}}, indent=1))
    final, old = work / "checkpoint", work / "checkpoint.old"
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def _load_checkpoint(work: Path) -> Path | None:
    for name in ("checkpoint", "checkpoint.old"):  # .old survives a crash between the two renames
        if (work / name / "state.json").is_file():
            return work / name
    return None


def _restore_optimizer(optimizer: Any, ckpt: Path, state: dict[str, Any]) -> None:
    from safetensors.torch import load_file

    restore_optimizer(optimizer, load_file(str(ckpt / "optimizer.safetensors")), state["optimizer"]["param_groups"])


def _prepare(out: Path, recipe: EmbedderRecipe, base_model: str, data: dict[str, str], mine_index: dict[str, str] | None,
             encoder: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The triplets for this recipe: read from ``OUT/work`` when already mined with the same settings."""
    from kbqa.chunk import Chunker
    from kbqa.config import ChunkConfig

    work = out / "work"
    work.mkdir(parents=True, exist_ok=True)
    settings = {"recipe": asdict(recipe), "base_model": base_model, "data": data}
    saved = work / "settings.json"
    if saved.is_file():
        old = json.loads(saved.read_text())
        if old != json.loads(json.dumps(settings)):
            raise KbqaError(
                f"{work} holds a run with other settings ({saved}); pass another --out or delete {work} to start over"
            )
    else:
        saved.write_text(json.dumps(settings, indent=1))
    pairs_file, info_file = work / "triplets.jsonl", work / "triplets.json"
    if pairs_file.is_file() and info_file.is_file():
        triplets = [json.loads(line) for line in pairs_file.read_text(encoding="utf-8").splitlines()]
        return triplets, json.loads(info_file.read_text())
    from kbqa.tune.pairs import build_triplets

    chunker = Chunker(ChunkConfig(), encoder.tokenizer, encoder.max_tokens)
    triplets, info = build_triplets(
        encoder, chunker, sources=recipe.sources, data=data, max_pairs=recipe.max_pairs, seed=recipe.seed,
        mine_index=mine_index,
    )
    tmp = pairs_file.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(t) + "\n" for t in triplets), encoding="utf-8")
    os.replace(tmp, pairs_file)
    info_file.write_text(json.dumps(info, indent=1))
    return triplets, info


def train_embedder(
    out: str | Path,
    *,
    recipe: EmbedderRecipe = EmbedderRecipe(),
    base_model: str = "all-MiniLM-L6-v2",
    data: dict[str, str] | None = None,
    mine_index: dict[str, str] | None = None,
    checkpoint_every: int = 25,
    progress: bool = True,
) -> dict[str, Any]:
    """Mine triplets, fine-tune ``base_model`` on them and save the fp16 model in ``out``."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from tqdm.auto import tqdm

    from kbqa.config import EmbedConfig
    from kbqa.embed import load_encoder, resolve_model
    from kbqa.tune.pairs import DEFAULT_DATA

    out = Path(out)
    data = {**DEFAULT_DATA, **(data or {})}
    started = time.time()
    base = load_encoder(EmbedConfig(model=base_model))
    triplets, info = _prepare(out, recipe, base_model, data, mine_index, base)
    if not triplets:
        raise KbqaError("no training triplets: check the data paths (--data NAME=PATH)")
    del base
    plan = [b for epoch in range(recipe.epochs) for b in batches(triplets, recipe.batch_size, recipe.seed, epoch)]
    total = len(plan)
    work = out / "work"
    ckpt = _load_checkpoint(work)
    state: dict[str, Any] = {"step": 0, "losses": [], "seconds": 0.0}
    device = "cuda" if torch.cuda.is_available() else "cpu"
    source = resolve_model(base_model)
    if ckpt is not None:
        state = json.loads((ckpt / "state.json").read_text())
        source = str(ckpt / "model")
    model = SentenceTransformer(source, device=device, model_kwargs={"dtype": torch.float32})
    full_length = model.max_seq_length
    model.max_seq_length = min(full_length, recipe.max_seq_length)
    loss_fn = MultipleNegativesRankingLoss(model, scale=recipe.scale)
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    if ckpt is not None:
        _restore_optimizer(optimizer, ckpt, state)
    model.train()
    bar = tqdm(total=total, initial=state["step"], desc="train embedder", unit="step", disable=not progress)
    t0 = time.time() - state["seconds"]
    try:
        for step in range(state["step"], total):
            rows = [triplets[i] for i in plan[step]]
            torch.manual_seed(recipe.seed * 1_000_003 + step)
            features = []
            for column in ("query", "positive", "negative"):
                feats = model.preprocess([r[column] for r in rows])
                features.append({k: v.to(device) if hasattr(v, "to") else v for k, v in feats.items()})
            for group in optimizer.param_groups:
                group["lr"] = _lr_at(step, total, recipe)
            loss = loss_fn(features, None)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            state["losses"].append(round(float(loss.item()), 4))
            state["step"] = step + 1
            state["seconds"] = time.time() - t0
            bar.update(1)
            bar.set_postfix(loss=f"{sum(state['losses'][-20:]) / len(state['losses'][-20:]):.3f}")
            if state["step"] % checkpoint_every == 0 and state["step"] < total:
                _save_checkpoint(work, model, optimizer, state)
    except KeyboardInterrupt:
        bar.close()
        print(f"interrupted at step {state['step']}/{total}; rerun the same command to resume "
              f"from the last checkpoint in {work}")
        raise
    bar.close()
    model.eval()
    model.max_seq_length = full_length
    model.half()
    model.save(str(out), safe_serialization=True)
    summary = {
        "base_model": base_model,
        "recipe": asdict(recipe),
        "triplets": len(triplets),
        "steps": total,
        "train_seconds": round(state["seconds"], 1),
        "wall_seconds_this_run": round(time.time() - started, 1),
        "loss_first_20": round(sum(state["losses"][:20]) / max(1, len(state["losses"][:20])), 4),
        "loss_last_20": round(sum(state["losses"][-20:]) / max(1, len(state["losses"][-20:])), 4),
        "device": device,
        "torch_threads": torch.get_num_threads(),
        **info,
    }
    (out / "train_info.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary
