"""The resumable training loop shared by ``kbqa train embedder`` and ``kbqa train reranker``.

A run lives in ``OUT/work``: ``settings.json`` (a rerun with other settings is refused), the mined
training data, and ``checkpoint/`` (model as safetensors, AdamW moments as safetensors, the step
and losses as JSON; no pickles), written atomically every ``checkpoint_every`` steps. Rerunning the
same command resumes at the last checkpoint. The batch of a step and its dropout depend only on the
seed and the step, so a resumed run equals an uninterrupted one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kbqa.errors import KbqaError
from kbqa.files import atomic_folder
from kbqa.jsonlines import read_jsonl, write_jsonl
from kbqa.read.checkpoint import optimizer_tensors, restore_optimizer


def lr_at(step: int, total: int, lr: float, warmup: float) -> float:
    """Linear warm-up over the first ``warmup`` share of the steps, then linear decay to 0."""
    warm = max(1, int(total * warmup))
    if step < warm:
        return lr * (step + 1) / warm
    return lr * max(0.0, (total - step) / max(1, total - warm))


def open_work(out: Path, settings: dict[str, Any]) -> Path:
    """``OUT/work`` for a run with ``settings``; another run's folder is refused, not overwritten."""
    work = out / "work"
    work.mkdir(parents=True, exist_ok=True)
    saved = work / "settings.json"
    if saved.is_file():
        old = json.loads(saved.read_text())
        if old != json.loads(json.dumps(settings)):
            raise KbqaError(
                f"{work} holds a run with other settings ({saved}); pass another --out or delete {work} to start over"
            )
    else:
        saved.write_text(json.dumps(settings, indent=1))
    return work


def cached_rows(
    work: Path, name: str, make: Callable[[], tuple[list[dict[str, Any]], dict[str, Any]]]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Training rows and their description from ``work/NAME.jsonl`` + ``NAME.json`` when a previous
    run of the same settings mined them; otherwise ``make()`` them and store them atomically."""
    rows_file, info_file = work / f"{name}.jsonl", work / f"{name}.json"
    if rows_file.is_file() and info_file.is_file():
        rows = list(read_jsonl(rows_file))
        return rows, json.loads(info_file.read_text())
    rows, info = make()
    write_jsonl(rows_file, rows, atomic=True)
    info_file.write_text(json.dumps(info, indent=1))
    return rows, info


def save_checkpoint(work: Path, model: Any, optimizer: Any, state: dict[str, Any]) -> None:
    from safetensors.torch import save_file

    with atomic_folder(work / "checkpoint", suffix=".tmp", keep_old=True) as tmp:
        training = model.training
        model.save(str(tmp / "model"))
        model.train(training)  # CrossEncoder.save switches to eval mode; the run must keep its dropout
        tensors, param_groups = optimizer_tensors(optimizer)
        save_file(tensors, str(tmp / "optimizer.safetensors"))
        (tmp / "state.json").write_text(json.dumps({**state, "optimizer": {"param_groups": param_groups}}, indent=1))


def load_checkpoint(work: Path) -> Path | None:
    for name in ("checkpoint", "checkpoint.old"):  # .old survives a crash between the two renames
        if (work / name / "state.json").is_file():
            return work / name
    return None


def resume_state(work: Path) -> tuple[Path | None, dict[str, Any]]:
    """The last checkpoint (None for a fresh run) and the loop state to start from."""
    ckpt = load_checkpoint(work)
    if ckpt is None:
        return None, {"step": 0, "losses": [], "seconds": 0.0}
    return ckpt, json.loads((ckpt / "state.json").read_text())


def run_steps(
    *,
    work: Path,
    model: Any,
    optimizer: Any,
    ckpt: Path | None,
    state: dict[str, Any],
    total: int,
    step_loss: Callable[[int], Any],
    lr: float,
    warmup: float,
    seed: int,
    checkpoint_every: int,
    desc: str,
    progress: bool,
) -> dict[str, Any]:
    """Optimise ``step_loss(step)`` for steps ``state["step"] .. total-1`` (AdamW, clipped
    gradients, the :func:`lr_at` schedule), checkpointing as it goes; returns the final state."""
    import torch
    from safetensors.torch import load_file
    from tqdm.auto import tqdm

    if ckpt is not None:
        restore_optimizer(optimizer, load_file(str(ckpt / "optimizer.safetensors")), state["optimizer"]["param_groups"])
    model.train()
    bar = tqdm(total=total, initial=state["step"], desc=desc, unit="step", disable=not progress)
    t0 = time.time() - state["seconds"]
    try:
        for step in range(state["step"], total):
            torch.manual_seed(seed * 1_000_003 + step)
            for group in optimizer.param_groups:  # a group's "lr_scale" (e.g. a new head's) scales the schedule
                group["lr"] = lr_at(step, total, lr, warmup) * group.get("lr_scale", 1.0)
            loss = step_loss(step)
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
                save_checkpoint(work, model, optimizer, state)
    except KeyboardInterrupt:
        bar.close()
        print(f"interrupted at step {state['step']}/{total}; rerun the same command to resume "
              f"from the last checkpoint in {work}")
        raise
    bar.close()
    model.eval()
    return state


def write_summary(out: Path, *, base_model: str, recipe: Any, counts: dict[str, Any], state: dict[str, Any],
                  started: float, device: str, info: dict[str, Any]) -> dict[str, Any]:
    """``OUT/train_info.json``: what was trained from what, on which data, how long, and the loss."""
    import dataclasses

    import torch

    first, last = state["losses"][:20], state["losses"][-20:]
    summary = {
        "base_model": base_model,
        "recipe": dataclasses.asdict(recipe),
        **counts,
        "train_seconds": round(state["seconds"], 1),
        "wall_seconds_this_run": round(time.time() - started, 1),
        "loss_first_20": round(sum(first) / max(1, len(first)), 4),
        "loss_last_20": round(sum(last) / max(1, len(last)), 4),
        "device": device,
        "torch_threads": torch.get_num_threads(),
        **info,
    }
    (out / "train_info.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary
