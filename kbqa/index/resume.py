"""Resumable full builds: the staging folder of a build outlives an interruption.

A full build writes into ``DIR/.build-KEY/`` (KEY: a hash of the sources, their sizes and times,
the config and the embedder) instead of a throw-away staging folder. After every batch it makes the
batch durable (documents.jsonl, chunks.jsonl, store.sqlite, and the batch's vectors appended to
``vectors.f32``) and then records the batch in ``progress.json`` (atomically). Run the same build
again after Ctrl-C, a crash or SIGKILL and it cuts the files back to that record, re-adds the saved
vectors to a fresh index (no re-embedding), skips the documents already written and goes on.
A build of other sources or settings discards the folder and starts over; bad input (a KbqaError)
discards it too, since the fix may change what was read before.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from kbqa.config import fingerprint
from kbqa.files import write_atomic

BUILD_PREFIX = ".build-"
PROGRESS = "progress.json"
SPILL = "vectors.f32"  # the vectors of the completed batches, row-major float32, no header


def build_key(sources: list[dict[str, Any]], config: dict[str, Any], embedder: dict[str, Any]) -> str:
    """What must be equal for a build to continue another: sources (with sizes and mtimes), config, model."""
    stats = []
    for info in sources:
        path = Path(info["path"])
        found = sorted(path.rglob("*")) if path.is_dir() else [path]
        stats.append([[str(p), p.stat().st_size, p.stat().st_mtime_ns] for p in found if p.is_file()])
    return fingerprint({"sources": sources, "stats": stats, "config": config, "embedder": embedder})


class BuildProgress:
    """The checkpoint file and vector spill of one resumable build folder."""

    def __init__(self, staging: Path, key: str, dim: int) -> None:
        self.staging = staging
        self.key = key
        self.dim = dim
        self._spill = open(staging / SPILL, "ab")

    @classmethod
    def open(cls, root: Path, key: str, dim: int) -> tuple[BuildProgress, dict[str, Any] | None]:
        """The build folder for ``key`` under ``root`` and its last checkpoint (None: a fresh start).
        Build folders of other keys are removed (the caller holds the index's writer lock)."""
        staging = root / f"{BUILD_PREFIX}{key}"
        for p in root.iterdir():
            if p.name.startswith(BUILD_PREFIX) and p != staging:
                shutil.rmtree(p, ignore_errors=True)
        prior = None
        try:
            prior = json.loads((staging / PROGRESS).read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            shutil.rmtree(staging, ignore_errors=True)  # no usable checkpoint: start over
        if prior is not None and (prior.get("key") != key or prior.get("dim") != dim):
            shutil.rmtree(staging, ignore_errors=True)
            prior = None
        staging.mkdir(exist_ok=True)
        if prior is not None:
            with open(staging / SPILL, "r+b") as f:  # drop vectors written after the checkpoint
                f.truncate(prior["chunks"] * dim * 4)
        return cls(staging, key, dim), prior

    def append(self, vectors: np.ndarray) -> None:
        self._spill.write(np.ascontiguousarray(vectors, dtype=np.float32).tobytes())

    def save(self, state: dict[str, Any]) -> None:
        """Record a completed batch; everything it names must be durable already (``writer.checkpoint``)."""
        self._spill.flush()
        os.fsync(self._spill.fileno())
        write_atomic(self.staging / PROGRESS, json.dumps({"key": self.key, "dim": self.dim, **state}))

    def memmap(self, rows: int) -> np.ndarray:
        """The first ``rows`` vectors written, memory-mapped (read-only)."""
        self._spill.flush()
        if not rows:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.memmap(self.staging / SPILL, dtype=np.float32, mode="r", shape=(rows, self.dim))

    def saved_vectors(self, rows: int, block: int) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, vectors) of the checkpointed vectors, ``block`` rows at a time."""
        spill = self.memmap(rows)
        for start in range(0, rows, block):
            yield start, np.array(spill[start : start + block])

    def finish(self) -> None:
        """Remove the resume files before the folder becomes a version."""
        self._spill.close()
        (self.staging / PROGRESS).unlink(missing_ok=True)
        (self.staging / SPILL).unlink(missing_ok=True)

    def close(self) -> None:
        self._spill.close()
