"""Small numeric helpers shared by retrieval, reranking and reading: softmax, sigmoid, top-k."""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature`` (computed in float64, returned as float32)."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def sigmoid(z: np.ndarray) -> np.ndarray:
    """The logistic function, in float64."""
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest scores, by score descending then index ascending (ties are
    deterministic); all indices, so ordered, when ``k >= len(scores)``."""
    s = np.asarray(scores)
    k = max(0, min(int(k), len(s)))
    if k == 0:
        return np.zeros(0, dtype=np.intp)
    top = np.argpartition(-s, k - 1)[:k] if k < len(s) else np.arange(len(s))
    return top[np.lexsort((top, -s[top]))]
