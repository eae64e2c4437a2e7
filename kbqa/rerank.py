"""Cross-encoder reranking of retrieved candidates (``search.rerank``).

The first ``search.rerank_depth`` candidates of a ranking (dense, lexical or fused) are scored by
a cross-encoder reading ``query [SEP] passage`` and reordered by
``w * sigmoid(logit) + (1 - w) * retrieval score`` with ``w = search.rerank_weight`` (1: the
cross-encoder alone) and the retrieval scores min-max normalised over those candidates. The
sigmoid is a ranking score in (0, 1), not a calibrated probability (the committed reranker is
trained listwise). Candidates past the depth keep their retrieval order after the reranked ones,
their scores rescaled to stay below the lowest reranked score, so every ranking stays sorted by
score. Logits are cached per (query, passage) for repeated queries (``cache_size`` pairs).

``kbqa-medical-reranker`` names the committed ``models/reranker`` (``$KBQA_RERANKER`` overrides where
it is read from); any local CrossEncoder folder or hub name (where the user has it) works too.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from kbqa.config import SearchConfig
from kbqa.errors import KbqaError
from kbqa.numeric import sigmoid
from kbqa.paths import MODEL_ENV, model_dir, model_hint

TUNED_RERANKER = "kbqa-medical-reranker"
RERANKER_ENV = MODEL_ENV["reranker"]
Ranking = list[tuple[str, float]]


def reranker_dir() -> Path | None:
    return model_dir("reranker")


def resolve_reranker(name: str) -> str:
    if name == TUNED_RERANKER:
        path = reranker_dir()
        if path is None or not (path / "config.json").is_file():
            where = f"is not at {path}" if path is not None else "was not found"
            raise KbqaError(
                f"the reranker {TUNED_RERANKER!r} {where}: {model_hint('reranker')}; train one with `kbqa train "
                "reranker --out models/reranker`, or turn reranking off (search.rerank = \"\")"
            )
        return str(path.resolve())
    path = Path(name).expanduser()
    return str(path.resolve()) if path.exists() else name


def load_cross_encoder(source: str, *, max_length: int, device: str | None = None) -> Any:
    """A CrossEncoder with one output in fp32 from a CrossEncoder folder, a sentence-transformers
    folder, a plain transformers encoder folder (a new head is then initialised) or an adapter folder
    on a cross-encoder base (:mod:`kbqa.adapter`)."""
    import torch
    from sentence_transformers import CrossEncoder

    from kbqa.adapter import is_adapter
    from kbqa.adapter import load_cross_encoder as load_adapter_cross_encoder

    kwargs = {"num_labels": 1, "max_length": max_length, "device": device, "model_kwargs": {"dtype": torch.float32}}
    try:
        if is_adapter(source):  # a cross-encoder base + a peft adapter, merged (kbqa.adapter)
            return load_adapter_cross_encoder(source, **kwargs)
        return CrossEncoder(source, **kwargs)
    except OSError as exc:
        raise KbqaError(f"could not load {source!r} as a cross-encoder ({exc.__class__.__name__}: {exc}); "
                        "pass a local model folder") from None


class Reranker:
    """A loaded cross-encoder: ``score(query, passages)`` and ``rerank(query, ranking, texts, depth)``."""

    def __init__(self, model: Any, name: str, path: str, precision: str, batch_size: int = 32,
                 cache_size: int = 50_000) -> None:
        self.model = model
        self.name = name
        self.path = path
        self.precision = precision
        self.batch_size = batch_size
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[str, str], float] = OrderedDict()

    def cache_clear(self) -> None:
        self._cache.clear()

    @classmethod
    def load(cls, name: str, *, device: str = "auto", precision: str = "fp32", max_length: int = 0) -> Reranker:
        from kbqa.embed import pick_device

        if precision not in ("fp32", "bf16"):
            raise KbqaError(f"search.rerank_precision must be 'fp32' or 'bf16', got {precision!r}")
        path = resolve_reranker(name)
        model = load_cross_encoder(path, max_length=max_length or None, device=pick_device(device))
        if int(model.num_labels) != 1:
            raise KbqaError(f"{path}: a reranker has one output (a relevance logit), this model has {model.num_labels}")
        model.eval()
        return cls(model, name, path, precision)

    def identity(self) -> dict[str, Any]:
        from kbqa.embed import weights_checksum

        return {"name": self.name, "path": self.path, "weights_sha256": weights_checksum(self.path),
                "max_length": int(self.model.max_seq_length), "precision": self.precision}

    def logits(self, query: str, passages: Sequence[str]) -> np.ndarray:
        """The cross-encoder's relevance logit of each (query, passage)."""
        out = np.zeros(len(passages), dtype=np.float32)
        todo = []
        for i, p in enumerate(passages):
            hit = self._cache.get((query, p))
            if hit is None:
                todo.append(i)
            else:
                out[i] = hit
                self._cache.move_to_end((query, p))
        if todo:
            fresh = self._predict(query, [passages[i] for i in todo])
            for i, v in zip(todo, fresh, strict=True):
                out[i] = v
                if self.cache_size:
                    self._cache[(query, passages[i])] = float(v)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return out

    def _predict(self, query: str, passages: Sequence[str]) -> np.ndarray:
        import torch

        bf16 = self.precision == "bf16"
        with torch.inference_mode(), torch.autocast(self.model.device.type, dtype=torch.bfloat16, enabled=bf16):
            scores = self.model.predict(
                [(query, p) for p in passages], batch_size=self.batch_size, show_progress_bar=False,
                activation_fn=torch.nn.Identity(), convert_to_numpy=True,
            )
        return np.asarray(scores, dtype=np.float32).reshape(-1)

    def rerank(self, query: str, ranking: Ranking, texts: Sequence[str], depth: int, weight: float = 1.0) -> Ranking:
        """``ranking`` with its first ``depth`` entries reordered (``texts``: the passage text of at
        least those entries, in ranking order); see the module docstring for ``weight`` and the scores."""
        if len(texts) < min(depth, len(ranking)):
            raise KbqaError(f"rerank: {min(depth, len(ranking))} candidates to re-score but {len(texts)} texts")
        if not 0.0 <= weight <= 1.0:
            raise KbqaError(f"search.rerank_weight must be in [0, 1], got {weight}")
        head, tail = ranking[:depth], ranking[depth:]
        if not head:
            return list(ranking)
        probs = sigmoid(self.logits(query, texts[:depth]))
        if weight < 1.0:
            fused = np.array([s for _, s in head], dtype=np.float64)
            span = fused.max() - fused.min()
            fused = (fused - fused.min()) / span if span > 0 else np.ones_like(fused)
            probs = weight * probs + (1.0 - weight) * fused
        order = sorted(range(len(head)), key=lambda i: (-probs[i], i))
        out = [(head[i][0], float(probs[i])) for i in order]
        if tail:
            floor = float(probs.min()) * 0.999
            top = max(abs(s) for _, s in tail) or 1.0
            out += [(cid, floor * (0.5 + 0.5 * max(s, 0.0) / top)) for cid, s in tail]
        return out


@lru_cache(maxsize=4)
def load_reranker(name: str, device: str = "auto", precision: str = "fp32", max_length: int = 0) -> Reranker:
    """One loaded reranker per setting, shared by every KnowledgeBase of the process."""
    return Reranker.load(name, device=device, precision=precision, max_length=max_length)


def reranker_for(cfg: SearchConfig, device: str = "auto") -> Reranker | None:
    """The cross-encoder of ``cfg.rerank`` (loaded once per process); None when reranking is off."""
    if not cfg.rerank:
        return None
    return load_reranker(cfg.rerank, device, cfg.rerank_precision, cfg.rerank_max_length)


def rerank_rankings(
    queries: Sequence[str],
    rankings: Sequence[Ranking],
    k: int,
    cfg: SearchConfig,
    passage: Callable[[str], str],
    device: str = "auto",
) -> list[Ranking]:
    """The ``search.rerank`` step: each query's ranking with its first ``cfg.rerank_depth``
    candidates re-scored (``passage``: a chunk id's text as the cross-encoder reads it), cut to
    ``k``; the rankings unchanged when reranking is off."""
    reranker = reranker_for(cfg, device)
    if reranker is None:
        return list(rankings)
    depth = cfg.rerank_depth
    return [
        reranker.rerank(q, row, [passage(cid) for cid, _ in row[:depth]], depth, cfg.rerank_weight)[:k]
        for q, row in zip(queries, rankings, strict=True)
    ]
