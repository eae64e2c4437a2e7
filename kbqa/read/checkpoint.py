"""Per-epoch training checkpoints for kbqa.read.train, pickle-free: tensors in safetensors, the rest in JSON.

A checkpoint holds the model, optimizer and scheduler state, the batch-order and torch random states,
the history and the best epoch so far. It is only resumed by a run with the same params and data
(``run_key``); another run starts afresh. Written to a temp folder and swapped in, so an interrupted
write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

from kbqa.files import atomic_folder

CHECKPOINT_JSON = "checkpoint.json"
TENSORS = "state.safetensors"


def optimizer_tensors(optimizer: Any, prefix: str = "") -> tuple[dict[str, Any], list[dict]]:
    """An optimizer's state as safetensors-ready tensors (``{prefix}{param}.{name}``) and its param groups (JSON)."""
    import torch

    opt = optimizer.state_dict()
    tensors = {f"{prefix}{idx}.{name}": torch.as_tensor(value).detach().cpu().contiguous()
               for idx, state in opt["state"].items() for name, value in state.items()}
    return tensors, opt["param_groups"]


def restore_optimizer(optimizer: Any, tensors: dict[str, Any], param_groups: list[dict], prefix: str = "") -> None:
    """The inverse of :func:`optimizer_tensors` (other keys in ``tensors`` are ignored)."""
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith(prefix):
            idx, name = key[len(prefix):].split(".", 1)
            state.setdefault(int(idx), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": param_groups})


def save_checkpoint(
    folder: Path, run_key: dict, epoch: int, elapsed_s: float, history: list, best: tuple,
    model: Any, optimizer: Any, scheduler: Any, rng: random.Random,
) -> None:
    import torch
    from safetensors.torch import save_file

    score, best_epoch, metrics, best_state = best
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tensors.update({f"best.{k}": v.contiguous() for k, v in best_state.items()})
    opt_tensors, param_groups = optimizer_tensors(optimizer, "opt.")
    tensors.update(opt_tensors)
    tensors["torch_rng"] = torch.get_rng_state()
    version, internal, gauss = rng.getstate()
    meta = {
        "run_key": run_key,
        "epoch": epoch,
        "elapsed_s": elapsed_s,
        "history": history,
        "best": {"score": score, "epoch": best_epoch, "metrics": metrics},
        "param_groups": param_groups,
        "scheduler": scheduler.state_dict(),
        "rng": [version, list(internal), gauss],
    }
    with atomic_folder(folder) as tmp:
        save_file(tensors, str(tmp / TENSORS))
        (tmp / CHECKPOINT_JSON).write_text(json.dumps(meta) + "\n")


def load_checkpoint(
    folder: Path, run_key: dict, model: Any, optimizer: Any, scheduler: Any, rng: random.Random
) -> dict | None:
    """Restore the states in place; returns epoch/history/best/elapsed_s, or None (with a note) when the
    checkpoint belongs to another run or cannot be read."""
    from safetensors.torch import load_file

    try:
        meta = json.loads((folder / CHECKPOINT_JSON).read_text())
        tensors = load_file(str(folder / TENSORS))
    except (OSError, ValueError) as exc:
        print(f"ignoring unreadable checkpoint {folder} ({exc}); starting afresh", file=sys.stderr)
        return None
    if meta.get("run_key") != json.loads(json.dumps(run_key)):
        print(f"ignoring checkpoint {folder}: it was made with other params or data; starting afresh", file=sys.stderr)
        return None
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    restore_optimizer(optimizer, tensors, meta["param_groups"], "opt.")
    scheduler.load_state_dict(meta["scheduler"])
    import torch

    torch.set_rng_state(tensors["torch_rng"])
    version, internal, gauss = meta["rng"]
    rng.setstate((version, tuple(internal), gauss))
    b = meta["best"]
    best_state = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")}
    return {"epoch": meta["epoch"], "elapsed_s": meta["elapsed_s"], "history": meta["history"],
            "best": (b["score"], b["epoch"], b["metrics"], best_state)}
