"""The work folder of ``kbqa train embedder`` / ``kbqa train reranker`` runs (the loop is kbqa.train_loop).

A run lives in ``OUT/work``: ``settings.json`` (a rerun with other settings is refused), the mined
training rows (``NAME.jsonl`` + ``NAME.json``, mined once per settings), and ``checkpoint/``
(kbqa.train_loop's format). Rerunning the same command resumes at the last checkpoint.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kbqa.errors import KbqaError
from kbqa.jsonlines import read_jsonl, write_jsonl


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


def write_summary(out: Path, *, base_model: str, recipe: Any, counts: dict[str, Any], state: Any,
                  started: float, device: str, info: dict[str, Any]) -> dict[str, Any]:
    """``OUT/train_info.json``: what was trained from what, on which data, how long, and the loss."""
    import dataclasses

    import torch

    first, last = state.losses[:20], state.losses[-20:]
    summary = {
        "base_model": base_model,
        "recipe": dataclasses.asdict(recipe),
        **counts,
        "train_seconds": round(state.seconds, 1),
        "wall_seconds_this_run": round(time.time() - started, 1),
        "loss_first_20": round(sum(first) / max(1, len(first)), 4),
        "loss_last_20": round(sum(last) / max(1, len(last)), 4),
        "device": device,
        "torch_threads": torch.get_num_threads(),
        **info,
    }
    (out / "train_info.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary
