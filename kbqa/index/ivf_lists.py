"""Inverted lists added on disk: an IVF index's codes for a build, without holding them in RAM.

An IVF index keeps every vector's code (e.g. ivf-pq-fine: 96 bytes + an 8-byte label) in in-memory
inverted lists until it is written, so a build's memory grew with the corpus (about 1 GB at 10M chunks).
``ListSpill`` adds the vectors a block at a time to an empty copy of the trained index, appends that
block's lists to a file in the staging folder and empties the copy; ``write_index`` then writes
``faiss.index`` list by list from the blocks: the header FAISS writes for the trained, empty index (its
vector count set) followed by the lists in FAISS's own ``ArrayInvertedLists`` layout ("ilar", dense
"full" or sparse "sprs" sizes, then each list's codes and labels). The file is byte for byte what
``faiss.write_index`` writes for the same vectors added in the same order (tests/test_ivf_lists.py), and
a build's memory holds one block's codes, whatever the corpus size.

Only plain CPU IVF indexes whose serialisation ends with their inverted lists qualify
(``ListSpill.supports``: IVF-Flat, IVF-SQ, IVF-PQ); anything else is added in memory as before.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

import numpy as np

from kbqa.index.faiss_common import drop_pages

# what FAISS writes for empty ArrayInvertedLists: "ilar", nlist, code_size, "sprs", an empty size vector
_EMPTY_TAIL = struct.Struct("<4sQQ4sQ")
SPILL_FILE = "ivf-lists.spill"  # in a build's staging folder, removed once faiss.index is written
SPILL_ROWS = 262_144  # vectors per spilled block: ~27 MB of ivf-pq-fine codes held at a time
ADD_ROWS = 65_536  # vectors per FAISS add call (bounded temporaries)


def _serialised(faiss: Any, index: Any) -> bytes | None:
    """FAISS's bytes for ``index`` (its lists empty), or None if they do not end with empty
    ArrayInvertedLists (another layout: not for ListSpill)."""
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is None or ivf.invlists.compute_ntotal() or type(faiss.downcast_index(index)).__name__ not in (
        "IndexIVFFlat", "IndexIVFScalarQuantizer", "IndexIVFPQ",
    ):
        return None
    blob = faiss.serialize_index(index).tobytes()
    if _EMPTY_TAIL.unpack(blob[-_EMPTY_TAIL.size:]) != (b"ilar", ivf.nlist, ivf.code_size, b"sprs", 0):
        return None
    return blob


class ListSpill:
    """The inverted lists of a trained IVF ``template`` (kept empty), filled block by block on disk."""

    def __init__(self, faiss: Any, template: Any, path: Path) -> None:
        self.faiss = faiss
        self.template = template
        ivf = faiss.extract_index_ivf(template)
        self.nlist = int(ivf.nlist)
        self.code_size = int(ivf.code_size)
        self.path = path
        self.blocks: list[tuple[int, np.ndarray]] = []  # (file offset, entries per list)
        self.ntotal = 0
        self._file = open(path, "wb")

    @staticmethod
    def supports(faiss: Any, index: Any) -> bool:
        return bool(index.is_trained) and not index.ntotal and _serialised(faiss, index) is not None

    def add(self, vectors: np.ndarray, first_label: int) -> None:
        """Add ``vectors`` (rows labelled ``first_label``, ``first_label + 1``, ...) as the next block(s)."""
        faiss = self.faiss
        for start in range(0, len(vectors), SPILL_ROWS):
            part = vectors[start:start + SPILL_ROWS]
            block = faiss.clone_index(self.template)
            for s in range(0, len(part), ADD_ROWS):
                chunk = np.ascontiguousarray(part[s:s + ADD_ROWS], dtype=np.float32)
                labels = np.arange(first_label + start + s, first_label + start + s + len(chunk), dtype=np.int64)
                block.add_with_ids(chunk, labels)
                drop_pages(vectors)  # a memory-mapped source: its pages out of RSS as the pass goes
            self._append(faiss.extract_index_ivf(block).invlists)
            del block
        self.ntotal += len(vectors)

    def _append(self, invlists: Any) -> None:
        faiss = self.faiss
        sizes = np.array([invlists.list_size(i) for i in range(self.nlist)], dtype=np.uint64)
        offset = self._file.tell()
        for i in np.flatnonzero(sizes):
            n = int(sizes[i])
            codes = faiss.rev_swig_ptr(invlists.get_codes(int(i)), n * self.code_size)
            ids = faiss.rev_swig_ptr(invlists.get_ids(int(i)), n)
            self._file.write(memoryview(codes))
            self._file.write(memoryview(ids))
        self.blocks.append((offset, sizes))

    def write_index(self, path: Path) -> None:
        """Write the whole index (template + every block's lists) to ``path`` as FAISS would."""
        self._file.flush()
        header = self._header()
        sizes = sum((s for _, s in self.blocks), np.zeros(self.nlist, dtype=np.uint64))
        starts = [(off, np.concatenate([[0], np.cumsum(s * (self.code_size + 8))[:-1]]).astype(np.int64), s)
                  for off, s in self.blocks]
        with open(self.path, "rb") as src, open(path, "wb") as out:
            out.write(header)
            nonzero = np.flatnonzero(sizes)
            out.write(struct.pack("<4sQQ", b"ilar", self.nlist, self.code_size))
            if len(nonzero) > self.nlist // 2:
                out.write(b"full" + struct.pack("<Q", self.nlist) + sizes.astype("<u8").tobytes())
            else:
                pairs = np.stack([nonzero.astype(np.uint64), sizes[nonzero]], axis=1).ravel()
                out.write(b"sprs" + struct.pack("<Q", len(pairs)) + pairs.astype("<u8").tobytes())
            fd = src.fileno()
            for i in nonzero:
                parts = [(off + int(rel[i]), int(s[i])) for off, rel, s in starts if s[i]]
                for pos, n in parts:  # codes of every block, then their labels
                    out.write(os.pread(fd, n * self.code_size, pos))
                for pos, n in parts:
                    out.write(os.pread(fd, n * 8, pos + n * self.code_size))
            out.flush()
            os.fsync(out.fileno())

    def _header(self) -> bytes:
        """FAISS's bytes for the template with ``ntotal`` set, without its empty lists."""
        self.template.ntotal = self.ntotal
        try:
            blob = _serialised(self.faiss, self.template)
        finally:
            self.template.ntotal = 0
        if blob is None:
            raise RuntimeError("the IVF template no longer serialises with empty lists")
        return blob[:-_EMPTY_TAIL.size]

    def close(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)
