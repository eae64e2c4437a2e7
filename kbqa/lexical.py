"""BM25 lexical search over chunk texts (bm25s, English stopwords, Snowball English stemmer).

The index stores the string id of every row next to bm25s' own files, so search results never
expose row positions. On disk (no pickle)::

    lexical/
      lexical.json           kbqa's manifest: format, ids, tokenizer settings, bm25 parameters
      params.index.json      \
      vocab.index.json        |  bm25s' own files (``BM25.save``), arrays saved with allow_pickle=False
      data/indices/indptr.csc.index.npy
      doclen.npy             tokens per text (int32): what segments need to score with corpus-wide
                             statistics (kbqa.index.segment_lexical); absent in older indexes

A side of more than ``index.lexical_part_rows`` texts is written in parts, so that a build never
holds more than one part's tokens in memory (bm25s indexes in memory)::

    lexical/
      parts.json             format, the part folders in row order, their row counts
      part-000000/           one index as above (lexical.json, bm25s' files, doclen.npy)
      part-000001/ ...

and scored as one index: kbqa.index.segment_lexical sums the parts' statistics (equal to one bm25s
index over all the texts, to float32 rounding).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Iterable, Sequence
from typing import Any

from kbqa.errors import KbqaError

FORMAT = "kbqa-lexical/1"
MANIFEST = "lexical.json"
PARTS = "parts.json"
PARTS_FORMAT = "kbqa-lexical-parts/1"
DOCLEN = "doclen.npy"
STOPWORDS = "en"
STEMMER = "english"


def _stemmer() -> Any:
    try:
        import Stemmer  # PyStemmer
    except ImportError:  # pragma: no cover - a declared dependency
        from kbqa.errors import missing_extra

        raise missing_extra("PyStemmer", "lexical") from None
    return Stemmer.Stemmer(STEMMER)


def tokenize(texts: list[str]) -> list[list[str]]:
    """Lower-cased word tokens of each text, English stopwords removed, stemmed (as indexed)."""
    import bm25s

    return bm25s.tokenize(
        texts, stopwords=STOPWORDS, stemmer=_stemmer(), return_ids=False, show_progress=False
    )


def bm25_idf(df: int, n: int) -> float:
    """Lucene's BM25 idf of a term held by ``df`` of ``n`` texts (never negative; held by none: the rarest)."""
    import math

    return math.log(1.0 + (n - df + 0.5) / (df + 0.5))


@dataclass
class LexicalIndex:
    """A BM25 index over texts identified by string ids. Build with :meth:`build`, not ``__init__``."""

    ids: Sequence[str]  # a list when built, kbqa.index.ids.PackedIds when loaded
    retriever: Any  # bm25s.BM25
    k1: float = 1.5
    b: float = 0.75
    doc_lengths: Any = None  # tokens per text (numpy int32), None for indexes saved before it was kept

    @classmethod
    def build(cls, ids: list[str], texts: list[str], *, k1: float = 1.5, b: float = 0.75) -> LexicalIndex:
        """Index ``texts`` (Lucene BM25, k1/b as given) under their ``ids``."""
        import bm25s

        if len(ids) != len(texts):
            raise KbqaError(f"LexicalIndex.build: {len(ids)} ids but {len(texts)} texts")
        if not ids:
            raise KbqaError("LexicalIndex.build: nothing to index (no texts given)")
        seen: set[str] = set()
        dup = next((i for i in ids if i in seen or seen.add(i)), None)
        if dup is not None:
            raise KbqaError(f"LexicalIndex.build: duplicate id {dup!r}; ids must be unique")
        tokens = tokenize(list(texts))
        if not any(tokens):
            raise KbqaError("LexicalIndex.build: no text has a word left after stopword removal; nothing to index")
        retriever = bm25s.BM25(k1=k1, b=b, method="lucene")
        retriever.index(tokens, show_progress=False)
        import numpy as np

        lengths = np.fromiter((len(t) for t in tokens), dtype=np.int32, count=len(tokens))
        return cls(ids=[str(i) for i in ids], retriever=retriever, k1=k1, b=b, doc_lengths=lengths)

    def __len__(self) -> int:
        return len(self.ids)

    def scores(self, query: str) -> Any:
        """BM25 score of every indexed text for ``query`` (numpy array aligned with ``self.ids``)."""
        import numpy as np

        tokens = tokenize([query])[0]
        known = [t for t in tokens if t in self.retriever.vocab_dict]
        if not known:
            return np.zeros(len(self.ids), dtype=np.float32)
        return np.asarray(self.retriever.get_scores(known), dtype=np.float32)

    def idf(self, terms: Sequence[str]) -> dict[str, float]:
        """BM25 (Lucene) idf of each stemmed term over the indexed texts; a term no text holds gets
        the highest idf, as rare as can be."""
        indptr = self.retriever.scores["indptr"]  # CSC over the vocabulary: a column's length = its document frequency
        vocab = self.retriever.vocab_dict
        n = len(self.ids)
        return {t: bm25_idf(int(indptr[vocab[t] + 1] - indptr[vocab[t]]) if t in vocab else 0, n) for t in terms}

    def search_many(self, queries: list[str], k: int = 10) -> list[list[tuple[str, float]]]:
        """Top ``k`` ``(id, score)`` pairs per query, best first; ``k`` is clamped to the index size.

        Ties (including texts sharing no word with the query, score 0) keep indexing order.
        """
        from kbqa.numeric import top_k

        k = max(0, min(int(k), len(self.ids)))
        out: list[list[tuple[str, float]]] = []
        for query in queries:
            if k == 0:
                out.append([])
                continue
            s = self.scores(query)
            order = top_k(s, k)  # by score desc, then row asc: deterministic
            out.append([(self.ids[i], float(s[i])) for i in order])
        return out

    def save(self, directory: str | Path) -> Path:
        """Write the index to ``directory`` (created); returns it."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        self.retriever.save(str(d), show_progress=False)  # no corpus: ids live in lexical.json
        if self.doc_lengths is not None:
            import numpy as np

            np.save(d / DOCLEN, np.asarray(self.doc_lengths, dtype=np.int32), allow_pickle=False)
        manifest = {
            "format": FORMAT,
            "stopwords": STOPWORDS,
            "stemmer": STEMMER,
            "method": "lucene",
            "k1": self.k1,
            "b": self.b,
            "count": len(self.ids),
            "ids": self.ids,
        }
        (d / MANIFEST).write_text(json.dumps(manifest) + "\n", encoding="utf-8")
        return d

    @classmethod
    def load(cls, directory: str | Path) -> LexicalIndex:
        """Load an index written by :meth:`save`, refusing one made with other tokenizer settings."""
        import bm25s

        d = Path(directory)
        path = d / MANIFEST
        if not path.is_file():
            raise KbqaError(f"no lexical index at {d} (missing {MANIFEST}); build one with LexicalIndex.build")
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise KbqaError(f"{path}: not valid JSON ({exc}); rebuild the lexical index") from None
        if manifest.get("format") != FORMAT:
            raise KbqaError(f"{path}: format {manifest.get('format')!r}, expected {FORMAT!r}; rebuild it")
        if (manifest.get("stopwords"), manifest.get("stemmer")) != (STOPWORDS, STEMMER):
            raise KbqaError(
                f"{path}: built with stopwords={manifest.get('stopwords')!r} stemmer={manifest.get('stemmer')!r}, "
                f"this kbqa tokenizes with {STOPWORDS!r}/{STEMMER!r}; rebuild the lexical index"
            )
        retriever = bm25s.BM25.load(str(d), mmap=True, show_progress=False)
        from kbqa.index.ids import PackedIds

        ids = PackedIds.from_ids(str(i) for i in manifest.pop("ids"))  # packed: ~45 B per id, not ~150
        if retriever.scores["num_docs"] != len(ids):
            raise KbqaError(f"{d}: {len(ids)} ids but bm25s holds {retriever.scores['num_docs']} rows; rebuild it")
        lengths = None
        if (d / DOCLEN).is_file():
            import numpy as np

            lengths = np.load(d / DOCLEN, allow_pickle=False)
            if lengths.shape != (len(ids),):
                raise KbqaError(f"{d / DOCLEN}: {lengths.shape[0]} lengths for {len(ids)} ids; rebuild the lexical index")
        return cls(ids=ids, retriever=retriever, k1=float(manifest["k1"]), b=float(manifest["b"]), doc_lengths=lengths)


def write_lexical(directory: str | Path, rows: Iterable[tuple[str, str]], *, part_rows: int) -> int:
    """Index ``(id, text)`` rows into ``directory`` (created): one :class:`LexicalIndex`, or, when there
    are more than ``part_rows`` rows, parts of ``part_rows`` rows (the last one shorter) listed in
    ``parts.json``. Only one part's texts and tokens are in memory at a time. Returns the parts written."""
    if part_rows < 1:
        raise KbqaError(f"write_lexical: part_rows must be >= 1, got {part_rows}")
    d = Path(directory)
    names: list[str] = []
    counts: list[int] = []
    ids: list[str] = []
    texts: list[str] = []

    def flush() -> None:
        name = f"part-{len(names):06d}"
        LexicalIndex.build(ids, texts).save(d / name)
        names.append(name)
        counts.append(len(ids))
        ids.clear()
        texts.clear()

    for chunk_id, text in rows:
        if len(ids) == part_rows:  # a full part and more to come: it is a part, not the whole side
            flush()
        ids.append(chunk_id)
        texts.append(text)
    if not names:
        LexicalIndex.build(ids, texts).save(d)
        return 1
    if ids:
        flush()
    manifest = {"format": PARTS_FORMAT, "parts": names, "counts": counts, "count": sum(counts)}
    (d / PARTS).write_text(json.dumps(manifest) + "\n", encoding="utf-8")
    return len(names)


def lexical_parts(directory: str | Path) -> list[tuple[Path, LexicalIndex]]:
    """The parts of the lexical side at ``directory`` in row order: itself for a one-piece side
    (written by :meth:`LexicalIndex.save`), else the parts ``parts.json`` lists, each checked."""
    d = Path(directory)
    listing = d / PARTS
    if not listing.is_file():
        return [(d, LexicalIndex.load(d))]
    try:
        manifest = json.loads(listing.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise KbqaError(f"{listing}: not valid JSON ({exc}); rebuild the lexical index") from None
    if (manifest.get("format") != PARTS_FORMAT or not manifest.get("parts")
            or len(manifest.get("counts") or []) != len(manifest["parts"])):
        raise KbqaError(f"{listing}: format {manifest.get('format')!r} with parts {manifest.get('parts')!r}, "
                        f"expected {PARTS_FORMAT!r} listing at least one part and its row count; rebuild the lexical index")
    out = []
    for name, count in zip(manifest["parts"], manifest["counts"], strict=True):
        lex = LexicalIndex.load(d / name)
        if len(lex) != int(count):
            raise KbqaError(f"{d / name}: {len(lex)} rows, {listing} lists {count}; rebuild the lexical index")
        if lex.doc_lengths is None:
            raise KbqaError(f"{d / name}: no {DOCLEN}; rebuild the lexical index")
        out.append((d / name, lex))
    return out

