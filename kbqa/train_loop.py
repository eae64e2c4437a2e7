"""The one training loop of kbqa: the reader, the DDI classifier, the embedder and the reranker all train here.

What a run gets, whatever the model:

- AdamW over :func:`param_groups` (no weight decay on biases and LayerNorm weights; a newly
  initialised head, a ``classifier``/``score`` module, may learn at its own ``head_lr``);
- a ``transformers`` learning-rate schedule chosen by name (``LoopSettings.schedule``, default
  ``"linear"``: warm-up over ``warmup_ratio`` of the optimizer steps, then linear decay to 0);
- gradient accumulation and clipping;
- per-batch seeding: the dropout of a batch depends only on the seed and the batch's position, so a
  resumed run equals an uninterrupted one;
- a progress bar, and an interruption (Ctrl-C) that says how to resume;
- one pickle-free checkpoint format, written atomically every ``checkpoint_every`` optimizer steps and at
  the end of every epoch::

      CHECKPOINT/state.json              run key, position (epoch, batch, step), losses, epoch history,
                                         kept-weights record, optimizer param groups, scheduler state
      CHECKPOINT/model.safetensors       the weights being trained
      CHECKPOINT/optimizer.safetensors   AdamW's moments
      CHECKPOINT/kept.safetensors        weights an epoch callback kept (the best epoch on dev, a running
                                         mean of the last epochs), when any

  A run started again with the same run key (its settings and data) resumes from the checkpoint; another
  run's checkpoint, or an unreadable one, is ignored with a note and the run starts afresh.

``accelerate`` is not used: kbqa trains on one device (CPU, or one GPU when present), which this loop
handles directly, and ``Accelerator.save_state`` pickles the optimizer and random states, which kbqa's
checkpoints must not.

Callers supply the model, the number of batches of each epoch and a ``batch_loss(epoch, batch)``; what
a batch is (tokenised pairs, triplets, query groups) stays with them.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kbqa.errors import KbqaError
from kbqa.files import atomic_folder

# transformers' schedules that need nothing but the warm-up and the total number of steps
SCHEDULES = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup",
             "inverse_sqrt")
HEAD_MODULES = ("classifier", "score")
NO_DECAY = ("bias", "LayerNorm.weight", "layer_norm.weight")
STATE_FILE = "state.json"


@dataclass(frozen=True)
class LoopSettings:
    """How :func:`train_loop` optimises (the model and the data are the caller's)."""

    lr: float
    weight_decay: float = 0.01
    head_lr: float | None = None  # the new head's learning rate; None: ``lr``
    schedule: str = "linear"  # one of SCHEDULES (transformers.get_scheduler)
    warmup_ratio: float = 0.1  # share of the optimizer steps spent warming up
    max_grad_norm: float = 1.0
    grad_accum: int = 1  # batches per optimizer step
    seed: int = 0
    checkpoint_every: int = 0  # optimizer steps between checkpoints (0: at the end of each epoch only)
    desc: str = "train"
    progress: bool = True

    def __post_init__(self) -> None:
        check_schedule(self.schedule)
        if not 0 < self.lr < 1:
            raise KbqaError(f"lr must be in (0, 1), got {self.lr}")
        if self.head_lr is not None and not 0 < self.head_lr < 1:
            raise KbqaError(f"head_lr must be in (0, 1), got {self.head_lr}")
        if not 0 <= self.warmup_ratio < 1:
            raise KbqaError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.grad_accum < 1 or self.checkpoint_every < 0 or self.max_grad_norm <= 0:
            raise KbqaError("grad_accum must be >= 1, checkpoint_every >= 0 and max_grad_norm > 0")


def check_schedule(name: str) -> str:
    if name not in SCHEDULES:
        raise KbqaError(f"unknown learning-rate schedule {name!r}; use one of {', '.join(SCHEDULES)}")
    return name


@dataclass
class LoopState:
    """Where a run stands; everything but ``kept_tensors`` goes to ``state.json``."""

    epoch: int = 0  # epochs finished
    batch: int = 0  # batches of the current epoch done
    step: int = 0  # optimizer steps done
    losses: list[float] = field(default_factory=list)  # mean batch loss of each optimizer step
    history: list[dict[str, Any]] = field(default_factory=list)  # one record per finished epoch
    kept: dict[str, Any] | None = None  # what ``kept_tensors`` are (e.g. {"epoch": 2, "score": 0.61, ...})
    kept_tensors: dict[str, Any] | None = None
    seconds: float = 0.0  # training time, summed over resumed runs

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "kept_tensors"}


def seed_everything(seed: int) -> None:
    """Python's, numpy's and torch's generators (transformers' ``set_seed``)."""
    from transformers import set_seed

    set_seed(seed)


def param_groups(model: Any, settings: LoopSettings) -> list[dict[str, Any]]:
    """AdamW groups: the body with and without weight decay (biases, LayerNorm weights), and the head
    (parameters under a ``classifier``/``score`` module) at ``head_lr`` when one is set."""
    head, decay, no_decay = [], [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if settings.head_lr is not None and set(name.split(".")) & set(HEAD_MODULES):
            head.append(p)
        elif name.endswith(NO_DECAY):
            no_decay.append(p)
        else:
            decay.append(p)
    groups = [{"params": decay, "weight_decay": settings.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    if head:
        groups.append({"params": head, "weight_decay": settings.weight_decay, "lr": settings.head_lr})
    return [g for g in groups if g["params"]]


def optimizer_steps(epoch_batches: Sequence[int], grad_accum: int) -> list[int]:
    """Optimizer steps of each epoch (an epoch's last, shorter accumulation still steps)."""
    return [math.ceil(n / grad_accum) for n in epoch_batches]


def train_loop(
    model: Any,
    epoch_batches: Sequence[int],
    batch_loss: Callable[[int, int], Any],
    settings: LoopSettings,
    *,
    checkpoint: str | Path | None = None,
    run_key: dict[str, Any] | None = None,
    on_epoch_end: Callable[[int, dict[str, Any], LoopState], None] | None = None,
) -> LoopState:
    """Train ``model`` on ``batch_loss(epoch, batch)`` (0-based) for ``len(epoch_batches)`` epochs of
    ``epoch_batches[e]`` batches each; returns the final :class:`LoopState` with the model in eval mode.

    ``on_epoch_end(epoch, record, state)`` runs after each epoch (1-based) with the epoch's record
    (``train_loss``, ``elapsed_s``); it may add to the record (dev metrics, which go to ``state.history``)
    and set ``state.kept``/``state.kept_tensors``. ``checkpoint``: the folder to checkpoint to and
    resume from (``run_key`` identifies the run; see the module docstring).
    """
    import torch
    from tqdm.auto import tqdm
    from transformers import get_scheduler

    if not epoch_batches or min(epoch_batches) < 1:
        raise KbqaError(f"every epoch needs at least one batch, got {list(epoch_batches)}")
    optimizer = torch.optim.AdamW(param_groups(model, settings), lr=settings.lr)
    per_epoch = optimizer_steps(epoch_batches, settings.grad_accum)
    total = sum(per_epoch)
    scheduler = get_scheduler(settings.schedule, optimizer, num_warmup_steps=int(total * settings.warmup_ratio),
                              num_training_steps=total)
    key = json.loads(json.dumps(run_key or {}))
    folder = Path(checkpoint) if checkpoint is not None else None
    state = (load_checkpoint(folder, key, model, optimizer, scheduler) if folder is not None else None) or LoopState()
    started = time.time() - state.seconds
    bar = tqdm(total=total, initial=state.step, desc=settings.desc, unit="step", disable=not settings.progress)

    def save() -> None:
        state.seconds = time.time() - started
        if folder is not None:
            save_checkpoint(folder, key, model, optimizer, scheduler, state)

    try:
        for epoch in range(state.epoch, len(epoch_batches)):
            model.train()
            n = epoch_batches[epoch]
            first_batch = sum(epoch_batches[:epoch])
            pending: list[float] = []
            group = settings.grad_accum
            for b in range(state.batch, n):
                if (b % settings.grad_accum) == 0:
                    group = min(settings.grad_accum, n - b)  # the epoch's last accumulation may be shorter
                torch.manual_seed(settings.seed * 1_000_003 + first_batch + b)
                loss = batch_loss(epoch, b)
                (loss / group).backward()
                pending.append(float(loss.detach()))
                if len(pending) == group:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), settings.max_grad_norm)
                    optimizer.step()
                    scheduler.step()
                    optimizer.zero_grad(set_to_none=True)
                    state.losses.append(round(sum(pending) / len(pending), 4))
                    pending = []
                    state.step += 1
                    state.batch = b + 1
                    bar.update(1)
                    recent = state.losses[-20:]
                    bar.set_postfix(loss=f"{sum(recent) / len(recent):.4f}")
                    if settings.checkpoint_every and state.step % settings.checkpoint_every == 0 and state.batch < n:
                        save()
            epoch_losses = state.losses[sum(per_epoch[:epoch]):state.step]
            state.epoch, state.batch = epoch + 1, 0
            record: dict[str, Any] = {"epoch": epoch + 1,
                                      "train_loss": round(sum(epoch_losses) / max(1, len(epoch_losses)), 4),
                                      "elapsed_s": round(time.time() - started, 1)}
            if on_epoch_end is not None:
                on_epoch_end(epoch + 1, record, state)
            state.history.append(record)
            save()
    except KeyboardInterrupt:
        bar.close()
        where = f"; rerun the same command to resume from the checkpoint in {folder}" if folder is not None else ""
        print(f"interrupted at step {state.step}/{total}{where}", file=sys.stderr)
        raise
    bar.close()
    state.seconds = time.time() - started
    model.eval()
    return state


def save_checkpoint(folder: Path, run_key: dict[str, Any], model: Any, optimizer: Any, scheduler: Any,
                    state: LoopState) -> None:
    """Write the checkpoint to a sibling folder and swap it in (the previous one survives a crash)."""
    from safetensors.torch import save_file, save_model

    with atomic_folder(folder, suffix=".tmp", keep_old=True) as tmp:
        save_model(model, str(tmp / "model.safetensors"))
        tensors, groups = optimizer_tensors(optimizer)
        save_file(tensors, str(tmp / "optimizer.safetensors"))
        if state.kept_tensors is not None:
            save_file({k: v.contiguous() for k, v in state.kept_tensors.items()}, str(tmp / "kept.safetensors"))
        meta = {"run_key": run_key, "state": state.to_json(), "param_groups": groups,
                "scheduler": scheduler.state_dict()}
        (tmp / STATE_FILE).write_text(json.dumps(meta) + "\n")


def load_checkpoint(folder: Path, run_key: dict[str, Any], model: Any, optimizer: Any,
                    scheduler: Any) -> LoopState | None:
    """Restore model, optimizer and scheduler in place and return the run's state; None (with a note on
    stderr) when there is no checkpoint, it belongs to another run, or it cannot be read."""
    from safetensors.torch import load_file, load_model

    found = next((f for f in (folder, folder.with_name(folder.name + ".old")) if (f / STATE_FILE).is_file()), None)
    if found is None:
        return None
    try:
        meta = json.loads((found / STATE_FILE).read_text())
        if meta.get("run_key") != run_key:
            print(f"ignoring checkpoint {found}: it was made with other settings or data; starting afresh",
                  file=sys.stderr)
            return None
        load_model(model, str(found / "model.safetensors"))
        restore_optimizer(optimizer, load_file(str(found / "optimizer.safetensors")), meta["param_groups"])
        scheduler.load_state_dict(meta["scheduler"])
        state = LoopState(**meta["state"])
        if (found / "kept.safetensors").is_file():
            state.kept_tensors = load_file(str(found / "kept.safetensors"))
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        print(f"ignoring unreadable checkpoint {found} ({exc}); starting afresh", file=sys.stderr)
        return None
    print(f"resumed from {found} at epoch {state.epoch + 1}, step {state.step}", file=sys.stderr)
    return state


def optimizer_tensors(optimizer: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """An optimizer's state as safetensors-ready tensors (``{param}.{name}``) and its param groups (JSON)."""
    import torch

    opt = optimizer.state_dict()
    tensors = {f"{idx}.{name}": torch.as_tensor(value).detach().cpu().contiguous()
               for idx, st in opt["state"].items() for name, value in st.items()}
    return tensors, opt["param_groups"]


def restore_optimizer(optimizer: Any, tensors: dict[str, Any], groups: list[dict[str, Any]]) -> None:
    """The inverse of :func:`optimizer_tensors`."""
    st: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        idx, name = key.split(".", 1)
        st.setdefault(int(idx), {})[name] = value
    optimizer.load_state_dict({"state": st, "param_groups": groups})


def weights_copy(model: Any) -> dict[str, Any]:
    """A CPU copy of the model's weights (for ``state.kept_tensors``)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def identity_pooler(model: Any) -> None:
    """Restart a BERT pooler as tanh(h_CLS): identity weight, zero bias (``pooler_init="identity"``).

    Sentence-transformers checkpoints (e.g. all-MiniLM-L6-v2) ship an untrained, near-zero pooler
    (weight std ~0.01) that starves the encoder of gradient when a classifier head sits on it.
    """
    import torch

    dense = getattr(getattr(getattr(model, "base_model", None), "pooler", None), "dense", None)
    if dense is None or dense.weight.shape[0] != dense.weight.shape[1]:
        raise KbqaError("pooler_init='identity' needs a BERT-style model with a square pooler; use 'keep'")
    with torch.no_grad():
        dense.weight.copy_(torch.eye(dense.weight.shape[0]))
        dense.bias.zero_()
