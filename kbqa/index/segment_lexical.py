"""BM25 over the segments of a version, scored with corpus-wide statistics.

Each segment keeps its own bm25s index (``lexical/``) and the token count of every text
(``lexical/doclen.npy``). bm25s stores ``idf(t) * tf/(tf + k1*(1 - b + b*dl/avgdl))`` with its own
segment's idf and average length baked in, so a query term's column is read back to its term
frequencies (the stored value is inverted and rounded: tf is an integer) and scored again with the
statistics of all segments together: the document count, document frequency and average length
over every row, deleted rows included, as Lucene does until segments are merged. Deleted rows score
0. Without deletions the scores equal those of one bm25s index over the same texts (to float32
rounding); ``kbqa index compact`` writes one bm25s index, equal to a fresh build's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kbqa.errors import KbqaError
from kbqa.lexical import LexicalIndex, bm25_idf, lexical_parts, tokenize


class _ChainedIds(Sequence[str]):
    """The ids of several segments, one after the other (deleted rows included), without a copy."""

    def __init__(self, parts: list[list[str]]) -> None:
        self._parts = parts
        self._starts = np.cumsum([0] + [len(p) for p in parts])

    def __len__(self) -> int:
        return int(self._starts[-1])

    def __getitem__(self, row: int) -> str:  # type: ignore[override]
        if row < 0:
            row += len(self)
        part = int(np.searchsorted(self._starts, row, side="right")) - 1
        return self._parts[part][row - int(self._starts[part])]

    def __iter__(self) -> Iterator[str]:
        for p in self._parts:
            yield from p

    def mask_of(self, ids: Any) -> np.ndarray:
        """A bool per row: is its id among ``ids`` (each part's packed lookup where it has one)."""
        return np.concatenate([p.mask_of(ids) if hasattr(p, "mask_of") else
                               np.fromiter((c in ids for c in p), dtype=bool, count=len(p)) for p in self._parts])


class SegmentedLexical:
    """The lexical side of a segmented version: the interface of :class:`kbqa.lexical.LexicalIndex`
    that search uses (``ids``, ``scores``, ``idf``, ``search_many``), rows aligned with the segments."""

    def __init__(self, parts: list[LexicalIndex], deleted: list[np.ndarray | None], where: list[str]) -> None:
        for lex, w in zip(parts, where, strict=True):
            if lex.doc_lengths is None:
                raise KbqaError(f"{w}: the lexical index has no doclen.npy (written before segments); "
                                "run `kbqa index compact` on an index built by this kbqa, or rebuild it")
        self.parts = parts
        self.deleted = deleted
        self.k1, self.b = parts[0].k1, parts[0].b
        self.ids = _ChainedIds([p.ids for p in parts])
        self.n = sum(len(p.ids) for p in parts)
        total = sum(float(np.sum(p.doc_lengths, dtype=np.float64)) for p in parts)
        self.avgdl = total / max(self.n, 1)
        # each segment's own statistics, to invert its stored scores
        self._seg_avgdl = [float(np.mean(p.doc_lengths)) if len(p.ids) else 1.0 for p in parts]

    def __len__(self) -> int:
        return self.n

    def _column(self, part: int, term: str) -> tuple[np.ndarray, np.ndarray]:
        """(rows, stored scores) of ``term`` in segment ``part``."""
        lex = self.parts[part]
        col = lex.retriever.vocab_dict.get(term)
        if col is None:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        s = lex.retriever.scores
        lo, hi = int(s["indptr"][col]), int(s["indptr"][col + 1])
        return np.asarray(s["indices"][lo:hi]), np.asarray(s["data"][lo:hi])

    def _df(self, term: str) -> int:
        return sum(len(self._column(i, term)[0]) for i in range(len(self.parts)))

    def idf(self, terms: Sequence[str]) -> dict[str, float]:
        """Lucene idf of each stemmed term over every segment (see LexicalIndex.idf)."""
        return {t: bm25_idf(self._df(t), self.n) for t in terms}

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every row of every segment (0 for deleted rows), aligned with ``ids``."""
        counts = Counter(tokenize([query])[0])  # a repeated query term counts again, as in bm25s
        out = np.zeros(self.n, dtype=np.float32)  # as bm25s: one float32 per row
        columns = {t: [self._column(i, t) for i in range(len(self.parts))] for t in counts}
        start = 0
        for i, lex in enumerate(self.parts):
            dl = lex.doc_lengths
            for term, times in counts.items():
                rows, stored = columns[term][i]
                if not len(rows):
                    continue
                df_seg = len(rows)
                tf = _term_frequencies(stored, bm25_idf(df_seg, len(lex.ids)), dl[rows], self._seg_avgdl[i], self.k1, self.b)
                df = sum(len(c[0]) for c in columns[term])
                norm = self.k1 * (1 - self.b + self.b * dl[rows] / self.avgdl)
                out[start + rows] += (times * bm25_idf(df, self.n) * tf / (tf + norm)).astype(np.float32)
            if self.deleted[i] is not None:
                out[start:start + len(lex.ids)][self.deleted[i]] = 0.0
            start += len(lex.ids)
        return out

    def search_many(self, queries: list[str], k: int = 10) -> list[list[tuple[str, float]]]:
        """Top ``k`` ``(id, score)`` per query among live rows, best first (as LexicalIndex.search_many)."""
        from kbqa.numeric import top_k

        live = self.n - sum(int(d.sum()) for d in self.deleted if d is not None)
        k = max(0, min(int(k), live))
        out = []
        for query in queries:
            s = self.scores(query)
            if self.n > live:
                s = s.copy()
                start = 0
                for lex, d in zip(self.parts, self.deleted, strict=True):
                    if d is not None:
                        s[start:start + len(lex.ids)][d] = -np.inf
                    start += len(lex.ids)
            order = top_k(s, k) if k else []
            out.append([(self.ids[int(i)], float(s[i])) for i in order])
        return out


def _term_frequencies(stored: np.ndarray, idf: float, dl: np.ndarray, avgdl: float, k1: float, b: float) -> np.ndarray:
    """Invert bm25s' stored ``idf * tf/(tf + K)`` (K from the segment's own statistics) to tf."""
    tfc = np.clip(stored.astype(np.float64) / idf, 0.0, 1.0 - 1e-9)
    k = k1 * (1 - b + b * dl / avgdl)
    return np.maximum(np.rint(tfc * k / (1.0 - tfc)), 1.0)


def load_lexical(directory: str | Path) -> Any:
    """The lexical side at ``directory`` for search: a :class:`LexicalIndex`, or for one written in
    parts a :class:`SegmentedLexical` scoring them as one index."""
    parts = lexical_parts(directory)
    if len(parts) == 1:
        return parts[0][1]
    return SegmentedLexical([lex for _, lex in parts], [None] * len(parts), [str(p) for p, _ in parts])


def doc_lengths(texts: list[str]) -> np.ndarray:
    """Tokens per text as LexicalIndex.build counts them (for lexical indexes saved without doclen.npy)."""
    return np.fromiter((len(t) for t in tokenize(texts)), dtype=np.int32, count=len(texts))
