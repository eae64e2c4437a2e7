"""Backends by name: ``index.backend = "exact"`` (numpy, the reference) or ``"faiss"`` (CPU or GPU)."""

from __future__ import annotations

from pathlib import Path

from kbqa.config import IndexConfig
from kbqa.index.protocol import VectorIndex


def create_index(cfg: IndexConfig, dim: int) -> VectorIndex:
    if cfg.backend == "exact":
        from kbqa.index.exact import ExactIndex

        return ExactIndex(dim)
    from kbqa.index.faiss_backend import FaissIndex

    return FaissIndex.create(dim, cfg)


def load_index(folder: Path, cfg: IndexConfig, dim: int) -> VectorIndex:
    if cfg.backend == "exact":
        from kbqa.index.exact import ExactIndex

        return ExactIndex.load(folder, dim)
    from kbqa.index.faiss_backend import FaissIndex

    return FaissIndex.load(folder, cfg, dim)
