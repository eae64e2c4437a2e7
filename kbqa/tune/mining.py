"""Hard-negative mining over one source: BM25 and dense candidates, merged, filtered, drawn with a seed.

A :class:`Source` is what a dataset adapter (:mod:`kbqa.tune.pairs`) hands over: train queries with
their positive passage and the documents that answer them, and the pool of passages negatives are
drawn from. Negatives come from the pool ranked by BM25 and by the base dense model, alternating
between the two lists; chunks of any document that answers the query and passages with the
positive's text are excluded, and one of the top ``NEG_DEPTH`` is drawn per query with the seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kbqa.numeric import top_k

NEG_DEPTH = 8  # negatives are drawn among the top of the merged BM25/dense candidates
CANDIDATES = 30  # per retriever
# share of --max-pairs per source; what a source cannot fill goes to the others in this order
# (liveqa, cross-validation only, comes on top: the shares of the default sources stay as they were)
MIX = {"medquad": 0.7, "claims": 0.2, "pubmedqa": 0.1, "liveqa": 0.2}


@dataclass
class Source:
    """One dataset's train queries and the passage pool its negatives are drawn from."""

    name: str
    passages: dict[str, str] = field(default_factory=dict)  # chunk id -> text as embedded
    passage_doc: dict[str, str] = field(default_factory=dict)  # chunk id -> document id
    # (query id, query, positive chunk id, ids of every document that answers the query)
    queries: list[tuple[str, str, str, frozenset[str]]] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # data file -> sha256


def allocate(sizes: dict[str, int], max_pairs: int) -> dict[str, int]:
    """Pairs taken per source: ``MIX`` shares of ``max_pairs``, leftovers passed on in MIX order."""
    quota = {name: min(sizes.get(name, 0), int(round(max_pairs * share))) for name, share in MIX.items()}
    spare = max_pairs - sum(quota.values())
    for name in MIX:
        extra = min(spare, sizes.get(name, 0) - quota[name])
        quota[name] += max(0, extra)
        spare -= max(0, extra)
    return {k: v for k, v in quota.items() if k in sizes}


def dense_pool_vectors(encoder: Any, src: Source, reuse_index: str | Path | None) -> tuple[list[str], np.ndarray]:
    """Vectors of the source's pool by the base encoder, reusing an index's stored vectors where it
    holds the same chunk (same id and text); an index built by another embedder is refused."""
    ids = list(src.passages)
    vecs = np.zeros((len(ids), encoder.dim), dtype=np.float32)
    todo = list(range(len(ids)))
    if reuse_index is not None:
        reused = _reuse_vectors(Path(reuse_index), encoder, ids, src)
        for i, v in reused.items():
            vecs[i] = v
        todo = [i for i in range(len(ids)) if i not in reused]
    if todo:
        vecs[todo] = encoder.encode_passages([src.passages[ids[i]] for i in todo], progress=True)
    return ids, vecs


def _reuse_vectors(root: Path, encoder: Any, ids: list[str], src: Source) -> dict[int, np.ndarray]:
    from kbqa.index.manifest import require_same_embedder
    from kbqa.index.store import IndexFolder

    folder, version = IndexFolder.at(root)
    manifest = folder.manifest(version)
    require_same_embedder(manifest, encoder.identity(), root, "mine with that index's model or drop --mine-index")
    stored, matrix = folder.vectors(version)
    row = {cid: i for i, cid in enumerate(stored)}
    texts = {c["chunk_id"]: c["text"] for c in folder.chunk_rows(version) if c["chunk_id"] in src.passages}
    out = {}
    for i, cid in enumerate(ids):
        if cid in row and cid in texts and src.passages[cid].endswith(texts[cid]):
            out[i] = np.asarray(matrix[row[cid]], dtype=np.float32)
    return out


def mine(
    src: Source, encoder: Any, n_pairs: int, seed: int, *, reuse_index: str | Path | None = None, negatives: int = 1
) -> list[dict[str, Any]]:
    """``n_pairs`` training rows of the source (queries drawn with ``seed``). With one negative a row
    is a triplet (``negative``, ``neg_id``, ``neg_by``); with more, ``negatives`` / ``neg_ids`` /
    ``neg_by`` are lists of up to that many distinct hard negatives."""
    from kbqa.lexical import LexicalIndex

    rng = random.Random(f"{seed}:{src.name}")
    queries = sorted(src.queries)
    rng.shuffle(queries)
    queries = queries[:n_pairs]
    if not queries:
        return []
    lexical = LexicalIndex.build(list(src.passages), list(src.passages.values()))
    bm25 = lexical.search_many([q for _, q, _, _ in queries], CANDIDATES)
    ids, pool = dense_pool_vectors(encoder, src, reuse_index)
    qv = encoder.encode_queries([q for _, q, _, _ in queries])
    depth = min(CANDIDATES, len(ids))
    out = []
    for row, (qid, query, pos_id, answering) in enumerate(queries):
        sims = pool @ qv[row]
        dense = [ids[i] for i in top_k(sims, depth)]
        lex = [cid for cid, _ in bm25[row]]
        merged: list[tuple[str, str]] = []
        for pair in zip(lex + [""] * len(dense), dense + [""] * len(lex)):
            for cid, by in zip(pair, ("bm25", "dense")):
                if cid and cid not in {c for c, _ in merged}:
                    merged.append((cid, by))
        pos_text = src.passages[pos_id]
        eligible = [
            (cid, by) for cid, by in merged
            if src.passage_doc[cid] not in answering and src.passages[cid] != pos_text
        ][:NEG_DEPTH]
        if not eligible:
            continue
        row = {"source": src.name, "qid": qid, "query": query, "positive": pos_text, "pos_id": pos_id}
        if negatives == 1:
            neg_id, by = eligible[rng.randrange(len(eligible))]
            out.append({**row, "negative": src.passages[neg_id], "neg_id": neg_id, "neg_by": by})
            continue
        drawn = sorted(rng.sample(range(len(eligible)), min(negatives, len(eligible))))
        out.append({
            **row, "negatives": [src.passages[eligible[i][0]] for i in drawn],
            "neg_ids": [eligible[i][0] for i in drawn], "neg_by": [eligible[i][1] for i in drawn],
        })
    return out
