"""Document-level rankings for evaluation: dense (the knowledge base) and BM25 baselines.

Indexes hold chunks, judgements name documents: a document's score is its best chunk's, and enough
chunks are retrieved that every question gets at least ``min_docs`` distinct documents (clamped to
the index), so that R@100 is real whatever ``-k`` says.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

# (queries, k) -> per query, ranked (doc_id, score) chunk hits, best first
ChunkSearch = Callable[[list[str], int], list[list[tuple[str, float]]]]
MIN_DOCS = 100


def best_per_doc(chunk_hits: Iterable[tuple[str, float]]) -> list[tuple[str, float]]:
    """Collapse ranked chunk hits to documents, keeping each document's first (best) chunk."""
    seen: dict[str, float] = {}
    for doc_id, score in chunk_hits:
        if doc_id not in seen:
            seen[doc_id] = score
    return list(seen.items())


def doc_rankings(
    search: ChunkSearch,
    queries: list[str],
    *,
    n_chunks: int,
    n_docs: int,
    min_docs: int = MIN_DOCS,
    batch_size: int = 64,
    progress: Any = None,
) -> list[list[tuple[str, float]]]:
    """For each query, documents best first, at least ``min(min_docs, n_docs)`` of them when possible.

    Starts from ``min_docs`` x the mean chunks per document (x1.5) and doubles ``k`` for the queries
    that still have too few distinct documents, up to the index size.
    """
    target = min(min_docs, n_docs)
    per_doc = max(1.0, n_chunks / max(1, n_docs))
    first_k = min(n_chunks, math.ceil(target * per_doc * 1.5) + 10)
    out: list[list[tuple[str, float]]] = [[] for _ in queries]
    for start in range(0, len(queries), batch_size):
        todo = list(range(start, min(start + batch_size, len(queries))))
        k = first_k
        while todo:
            results = search([queries[i] for i in todo], k)
            short = []
            for i, hits in zip(todo, results):
                out[i] = best_per_doc(hits)
                if len(out[i]) < target and k < n_chunks:
                    short.append(i)
            todo, k = short, min(n_chunks, k * 2)
        if progress is not None:
            progress.update(min(batch_size, len(queries) - start))
    return out


def dense_search(kb: Any) -> ChunkSearch:
    """Plain embedding search through ``kb.search_many`` (no filters)."""

    def search(queries: list[str], k: int) -> list[list[tuple[str, float]]]:
        return [[(h.doc_id, float(h.score)) for h in hits] for hits in kb.search_many(queries, k=k)]

    return search


def lexical_for(kb: Any, chunks: list[Any]) -> Any:
    """The knowledge base's BM25 side when it covers exactly these chunks: the stored one, or the one
    ``kb.with_lexical()`` builds in memory for a version built without; else (a stand-in knowledge
    base, other chunks) one built in memory over the chunks' embed text (title + text)."""
    from kbqa.chunk import embed_text
    from kbqa.config import ChunkConfig
    from kbqa.lexical import LexicalIndex

    if hasattr(kb, "with_lexical"):
        kb = kb.with_lexical()
    stored = getattr(kb, "lexical", None)
    if stored is not None and set(stored.ids) == {c.chunk_id for c in chunks}:
        return stored
    cfg = getattr(getattr(kb, "config", None), "chunk", None) or ChunkConfig()
    return LexicalIndex.build([c.chunk_id for c in chunks], [embed_text(c, cfg) for c in chunks])


def bm25_search(lexical: Any, chunk_doc: dict[str, str]) -> ChunkSearch:
    """BM25 over chunks, hits mapped from chunk ids to their documents."""

    def search(queries: list[str], k: int) -> list[list[tuple[str, float]]]:
        return [[(chunk_doc[cid], s) for cid, s in hits] for hits in lexical.search_many(queries, k)]

    return search
