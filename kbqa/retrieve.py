"""Dense, lexical and fused retrieval over one index version -> ranked (chunk id, score) lists,
then the cross-encoder step of ``search.rerank`` (kbqa.rerank) when it is on: :func:`rank`.

Fusion combines the dense (embedding) and lexical (BM25) rankings of the same chunks:
- ``rrf``: reciprocal-rank fusion, score = sum_i w_i / (rrf_k + rank_i) (Cormack et al., 2009);
- ``score``: min-max normalised scores per query, weighted sum (a chunk missing from one side gets 0 there).

BM25's weight is ``search.lexical_weight``, or ``search.lexical_weight_long`` for a query of more than
``search.long_query_words`` words when that is set (:func:`lexical_weight_for`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from typing import Any

import numpy as np

from kbqa.config import SearchConfig
from kbqa.numeric import top_k
from kbqa.rerank import rerank_rankings

Ranking = list[tuple[str, float]]


_WORD = re.compile(r"\w+")


def query_words(query: str) -> int:
    """The words of a query as ``search.long_query_words`` counts them: runs of letters and digits."""
    return len(_WORD.findall(query))


def lexical_weight_for(query: str, cfg: SearchConfig) -> float:
    """BM25's fusion weight for ``query``: ``cfg.lexical_weight_long`` when ``cfg.long_query_words`` is
    set (> 0) and the query has more words than that, else ``cfg.lexical_weight``."""
    if cfg.long_query_words and query_words(query) > cfg.long_query_words:
        return cfg.lexical_weight_long
    return cfg.lexical_weight


def fuse_rrf(rankings: Sequence[Ranking], weights: Sequence[float], rrf_k: float) -> Ranking:
    scores: dict[str, float] = {}
    for ranking, w in zip(rankings, weights, strict=True):
        for rank, (cid, _) in enumerate(ranking, start=1):
            scores[cid] = scores.get(cid, 0.0) + w / (rrf_k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def fuse_scores(rankings: Sequence[Ranking], weights: Sequence[float]) -> Ranking:
    scores: dict[str, float] = {}
    for ranking, w in zip(rankings, weights, strict=True):
        if not ranking:
            continue
        values = np.array([s for _, s in ranking], dtype=np.float64)
        lo, hi = float(values.min()), float(values.max())
        span = hi - lo
        for cid, s in ranking:
            norm = (s - lo) / span if span > 0 else 1.0
            scores[cid] = scores.get(cid, 0.0) + w * norm
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def lexical_search(lexical: Any, queries: Sequence[str], k: int, allowed: Collection[str] | None) -> list[Ranking]:
    """BM25 top-k per query among ``allowed`` chunks; chunks sharing no term with the query are left out."""
    mask = None
    if allowed is not None:
        last = getattr(lexical, "_allowed_mask", None)  # a filter's mask, built once per filter (immutable set)
        if last is not None and last[0] is allowed:
            mask = last[1]
        else:
            ids = lexical.ids
            if hasattr(ids, "mask_of"):  # packed ids (a loaded index): hashed lookups, no string per row
                mask = ids.mask_of(allowed)
            else:
                mask = np.fromiter((cid in allowed for cid in ids), dtype=bool, count=len(ids))
            if isinstance(allowed, frozenset):
                lexical._allowed_mask = (allowed, mask)
    out: list[Ranking] = []
    for query in queries:
        s = lexical.scores(query)
        if mask is not None:
            s = np.where(mask, s, 0.0)
        top = top_k(s, min(k, int((s > 0).sum())))
        out.append([(lexical.ids[i], float(s[i])) for i in top if s[i] > 0])
    return out


def retrieve(
    queries: Sequence[str],
    k: int,
    *,
    cfg: SearchConfig,
    encoder: Any,
    index: Any,
    lexical: Any,
    allowed: Collection[str] | None,
) -> list[Ranking]:
    """Top-``k`` chunk ids per query according to ``cfg.mode`` (dense, lexical or hybrid)."""
    mode = cfg.mode
    if mode != "dense" and lexical is None:
        mode = "dense"  # an index built without a lexical side: dense only (said in `index info`)
    if mode == "lexical":
        return lexical_search(lexical, queries, k, allowed)
    depth = k if mode == "dense" else max(k, cfg.candidates)
    dense = index.search(encoder.encode_queries(list(queries)), depth, allowed)
    if mode == "dense":
        return dense
    lexical_rankings = lexical_search(lexical, queries, depth, allowed)
    fused = []
    for query, d, l in zip(queries, dense, lexical_rankings, strict=True):
        weights = (cfg.dense_weight, lexical_weight_for(query, cfg))
        ranking = fuse_rrf((d, l), weights, cfg.rrf_k) if cfg.fusion == "rrf" else fuse_scores((d, l), weights)
        fused.append(ranking[:k])
    return fused


def rank(
    queries: Sequence[str],
    k: int,
    *,
    cfg: SearchConfig,
    encoder: Any,
    index: Any,
    lexical: Any,
    allowed: Collection[str] | None,
    passage: Callable[[str], str],
    device: str = "auto",
) -> list[Ranking]:
    """The top ``k`` per query: :func:`retrieve` (deep enough for the reranker to fill ``k``), then
    the rerank step when ``cfg.rerank`` is set (``passage``: a chunk id's text for the cross-encoder)."""
    depth = max(k, cfg.rerank_depth) if cfg.rerank else k
    rankings = retrieve(queries, depth, cfg=cfg, encoder=encoder, index=index, lexical=lexical, allowed=allowed)
    return rerank_rankings(queries, rankings, k, cfg, passage, device)
