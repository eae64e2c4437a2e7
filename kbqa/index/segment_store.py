"""The chunk store of a segmented version: each segment's ``store.sqlite``, deleted rows masked.

A live chunk id is held by exactly one segment's live rows (a changed document's chunks keep their
ids: the old rows are deleted, the new segment holds the new ones). Likewise a live document has one
live copy: the segment holding it whose rows of it are not deleted (``Segment.deleted_docs``). Nothing
here is corpus-sized in memory: documents are looked up in the segments' stores. Same interface as
:class:`kbqa.index.chunkstore.ChunkStore`, which ``KnowledgeBase`` and its views use.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Any

from kbqa.filters import Filters
from kbqa.index.chunkstore import ALLOWED_CACHE
from kbqa.index.segments import Segment
from kbqa.types import Chunk


class SegmentedStore:
    def __init__(self, segments: list[Segment], n_documents: int | None = None) -> None:
        self.segments = segments
        self.n_chunks = sum(s.live for s in segments)
        # the manifest's count; counted from the stores when not given (a version being checked or updated)
        self.n_documents = n_documents if n_documents is not None else sum(
            s.store.n_documents - len(s.deleted_docs) for s in segments)
        self.any_retracted = any(s.store.any_retracted for s in segments)
        self.where = ", ".join(str(s.path) for s in segments)
        self._lock = threading.Lock()
        self._allowed: OrderedDict[Filters, frozenset[str]] = OrderedDict()

    def close(self) -> None:
        for s in self.segments:
            s.store.close()

    def __len__(self) -> int:
        return self.n_chunks

    # ---- chunks ---------------------------------------------------------------------------
    def chunks(self, ids: Iterable[str]) -> dict[str, Chunk]:
        out: dict[str, Chunk] = {}
        wanted = set(ids)
        for seg in reversed(self.segments):  # newest first: most ids asked for are recent ones
            if not wanted:
                break
            for cid, chunk in seg.store.chunks(wanted).items():
                if cid not in seg.deleted_ids:
                    out[cid] = chunk
                    wanted.discard(cid)
        return out

    def chunk(self, chunk_id: str) -> Chunk | None:
        return self.chunks([chunk_id]).get(chunk_id)

    def iter_chunks(self) -> Iterator[Chunk]:
        for seg in self.segments:
            for c in seg.store.iter_chunks():
                if c.chunk_id not in seg.deleted_ids:
                    yield c

    def iter_ids(self) -> Iterator[str]:
        for seg in self.segments:
            yield from (cid for cid in seg.store.iter_ids() if cid not in seg.deleted_ids)

    def document_chunks(self, doc_id: str) -> list[Chunk]:
        for seg in reversed(self.segments):
            if doc_id in seg.deleted_docs:
                continue
            found = seg.store.document_chunks(doc_id)
            if found:
                return found
        return []

    # ---- documents ------------------------------------------------------------------------
    def document(self, doc_id: str) -> dict[str, Any] | None:
        for seg in reversed(self.segments):  # newest first: the live copy of a changed document is there
            if doc_id in seg.deleted_docs:
                continue
            row = seg.store.document(doc_id)
            if row is not None:
                return row
        return None

    def iter_documents(self) -> Iterator[dict[str, Any]]:
        """Live documents, segment by segment (each has one live copy)."""
        for seg in self.segments:
            for row in seg.store.iter_documents():
                if row["doc_id"] not in seg.deleted_docs:
                    yield row

    # ---- filters --------------------------------------------------------------------------
    def allowed(self, filters: Filters) -> frozenset[str]:
        """Live chunk ids passing ``filters``: each segment's answer less its deleted rows."""
        with self._lock:
            if filters in self._allowed:
                self._allowed.move_to_end(filters)
                return self._allowed[filters]
        ids: set[str] = set()
        for seg in self.segments:
            ids.update(seg.store.allowed(filters) - seg.deleted_ids)
        out = frozenset(ids)
        with self._lock:
            self._allowed[filters] = out
            while len(self._allowed) > ALLOWED_CACHE:
                self._allowed.popitem(last=False)
        return out
