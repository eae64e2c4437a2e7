"""The string id of every vector, in row order, with a reverse map.

An index being written keeps its ids as a list and a dict (fast to extend). A loaded index keeps them
packed (:class:`PackedIds`): one UTF-8 blob, its offsets, and a sorted 64-bit hash per id for lookups,
about 45 bytes per id instead of about 150 for a list and a dict of Python strings, which is most of
what serving a large index holds besides its vectors (docs/scaling.md). A loaded table that is
changed (``extend``, ``remove_rows``) is unpacked first.
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Collection, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from kbqa.errors import KbqaError

_MASK = (1 << 64) - 1
_PRIME = 0x100000001B3  # FNV-64's prime: the polynomial hash's base
_BLOCK = 1 << 20  # ids hashed per numpy block (bounds the temporaries)


def _mix(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser (uint64, wrapping)."""
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


def _powers(n: int) -> np.ndarray:
    out = np.empty(max(n, 1), dtype=np.uint64)
    p = 1
    for i in range(len(out)):
        out[i] = p
        p = (p * _PRIME) & _MASK
    return out


def hash_ids(blob: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each id of a packed blob: sum of (byte + 1) x PRIME**position, plus the length,
    mixed (vectorised; equal ids always hash equal, and lookups compare the ids themselves)."""
    n = len(offsets) - 1
    out = np.empty(n, dtype=np.uint64)
    lengths = np.diff(offsets)
    powers = _powers(int(lengths.max()) if n else 1)
    with np.errstate(over="ignore"):
        for first in range(0, n, _BLOCK):
            last = min(n, first + _BLOCK)
            lo, hi = int(offsets[first]), int(offsets[last])
            lens = lengths[first:last]
            starts = offsets[first:last] - lo
            pos = np.arange(hi - lo, dtype=np.int64) - np.repeat(starts, lens)
            terms = (blob[lo:hi].astype(np.uint64) + np.uint64(1)) * powers[pos]
            sums = np.zeros(last - first, dtype=np.uint64)
            nonempty = lens > 0
            if terms.size:
                sums[nonempty] = np.add.reduceat(terms, starts[nonempty])
            out[first:last] = _mix(sums + lens.astype(np.uint64))
    return out


def pack(ids: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
    """(blob, offsets) of ``ids``: their UTF-8 bytes end to end, and n + 1 offsets into them (streamed:
    no Python object per id is kept)."""
    blob = bytearray()
    lengths = array("q")
    for i in ids:
        e = i.encode("utf-8")
        blob += e
        lengths.append(len(e))
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    if lengths:
        np.cumsum(np.frombuffer(lengths, dtype=np.int64), out=offsets[1:])
    return np.frombuffer(bytes(blob), dtype=np.uint8), offsets


class PackedIds:
    """Read-only ids in row order: a UTF-8 blob, offsets, and hashes sorted for lookups."""

    def __init__(self, blob: np.ndarray, offsets: np.ndarray) -> None:
        self._blob = blob
        self._offsets = offsets
        hashes = hash_ids(blob, offsets)
        self._order = np.argsort(hashes, kind="stable").astype(np.uint32 if len(hashes) < 2**32 else np.int64)
        self._sorted = hashes[self._order]
        del hashes
        dup = self._duplicate()
        if dup is not None:
            raise KbqaError(f"duplicate vector id {dup!r}")

    @classmethod
    def from_ids(cls, ids: Iterable[str]) -> PackedIds:
        return cls(*pack(ids))

    @classmethod
    def from_json_file(cls, path: Path) -> PackedIds:
        """ids.json (a JSON list of strings) packed without holding a Python string per id: the quotes
        delimit the ids whenever the file has no escape (ids are ASCII there); otherwise json.loads."""
        data = np.fromfile(path, dtype=np.uint8)
        if data.size and not (data == ord("\\")).any():
            text = data
            head = np.flatnonzero(~np.isin(text, np.frombuffer(b" \t\r\n", dtype=np.uint8)))
            if head.size and text[head[0]] == ord("[") and text[head[-1]] == ord("]"):
                quotes = np.flatnonzero(text == ord('"'))
                starts, ends = quotes[0::2] + 1, quotes[1::2]
                if len(starts) == len(ends):
                    inside = np.zeros(text.size + 1, dtype=np.int8)
                    inside[starts] += 1  # starts are distinct, and so are ends
                    inside[ends] -= 1
                    keep = np.cumsum(inside[:-1], dtype=np.int8).astype(bool)
                    outside = text[~keep]  # brackets, commas, quotes and blanks only: a list of strings
                    if not np.isin(outside, np.frombuffer(b'[],"  \t\r\n', dtype=np.uint8)).all():
                        raise KbqaError(f"{path}: not a list of string ids; run `kbqa index check`")
                    offsets = np.zeros(len(starts) + 1, dtype=np.int64)
                    np.cumsum(ends - starts, out=offsets[1:])
                    return cls(text[keep].copy(), offsets)
        try:
            ids = json.loads(data.tobytes().decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise KbqaError(f"{path} cannot be read ({exc.__class__.__name__}); run `kbqa index check`") from None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise KbqaError(f"{path}: not a list of string ids; run `kbqa index check`")
        return cls.from_ids(ids)

    def _duplicate(self) -> str | None:
        same = np.flatnonzero(self._sorted[1:] == self._sorted[:-1])
        if not len(same):
            return None
        # runs of equal hashes: equal ids, or (rarely) a collision; compare the ids within each run
        firsts = same[np.concatenate(([True], same[1:] != same[:-1] + 1))]
        for first in firsts:
            seen: set[str] = set()
            at = int(first)
            while at < len(self._sorted) and self._sorted[at] == self._sorted[first]:
                cid = self[int(self._order[at])]
                if cid in seen:
                    return cid
                seen.add(cid)
                at += 1
        return None

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, row: int) -> str:
        row = int(row)
        if row < 0:
            row += len(self)
        if not 0 <= row < len(self):
            raise IndexError(row)
        return self._blob[self._offsets[row]:self._offsets[row + 1]].tobytes().decode("utf-8")

    def __iter__(self) -> Iterator[str]:
        for first in range(0, len(self), 65536):
            last = min(len(self), first + 65536)
            lo = int(self._offsets[first])
            raw = self._blob[lo:int(self._offsets[last])].tobytes()
            cuts = (self._offsets[first:last + 1] - lo).tolist()
            for a, b in zip(cuts, cuts[1:]):
                yield raw[a:b].decode("utf-8")

    def __contains__(self, chunk_id: object) -> bool:
        return isinstance(chunk_id, str) and len(self.rows_array([chunk_id])) == 1

    def __eq__(self, other: object) -> bool:
        """Equal to a list, tuple or table of the same ids in the same order (as a list would be)."""
        if isinstance(other, PackedIds):
            return np.array_equal(self._offsets, other._offsets) and np.array_equal(self._blob, other._blob)
        if isinstance(other, (list, tuple)):
            return len(other) == len(self) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable-sequence semantics: compared by content

    def rows_array(self, ids: Collection[str]) -> np.ndarray:
        """Rows of those ``ids`` that are in the table, ascending."""
        ids = [i for i in ids if isinstance(i, str)]
        if not ids or not len(self):
            return np.zeros(0, dtype=np.int64)
        blob, offsets = pack(ids)
        hashes = hash_ids(blob, offsets)
        lo = np.searchsorted(self._sorted, hashes, side="left")
        hi = np.searchsorted(self._sorted, hashes, side="right")
        found = [self._verify(blob, offsets, np.flatnonzero(hi - lo == 1), lo)]
        for j in np.flatnonzero(hi - lo > 1):  # a hash shared by several ids (a collision): compare each
            want = blob[offsets[j]:offsets[j + 1]]
            for at in range(int(lo[j]), int(hi[j])):
                row = int(self._order[at])
                a, b = self._offsets[row], self._offsets[row + 1]
                if b - a == len(want) and np.array_equal(self._blob[a:b], want):
                    found.append(np.asarray([row], dtype=np.int64))
                    break
        return np.sort(np.concatenate(found))

    def _verify(self, blob: np.ndarray, offsets: np.ndarray, which: np.ndarray, lo: np.ndarray) -> np.ndarray:
        """Rows of the asked ids ``which`` whose hash matched one row: kept where the bytes are equal
        (vectorised: the ids and their candidate rows compared byte by byte)."""
        rows = self._order[lo[which]].astype(np.int64)
        length = offsets[which + 1] - offsets[which]
        same = length == (self._offsets[rows + 1] - self._offsets[rows])
        which, rows, length = which[same], rows[same], length[same]
        if not len(rows):
            return rows
        starts = np.cumsum(length) - length
        within = np.arange(int(length.sum()), dtype=np.int64) - np.repeat(starts, length)
        equal = blob[np.repeat(offsets[which], length) + within] == self._blob[np.repeat(self._offsets[rows], length) + within]
        ok = np.ones(len(rows), dtype=bool)
        nonempty = length > 0
        if equal.size:
            ok[nonempty] = np.logical_and.reduceat(equal, starts[nonempty])
        return rows[ok]

    def mask_of(self, ids: Collection[str]) -> np.ndarray:
        """A bool per row: is its id among ``ids``."""
        mask = np.zeros(len(self), dtype=bool)
        mask[self.rows_array(ids)] = True
        return mask

    @property
    def nbytes(self) -> int:
        return int(self._blob.nbytes + self._offsets.nbytes + self._order.nbytes + self._sorted.nbytes)


class IdTable:
    def __init__(self, ids: Iterable[str] = ()) -> None:
        self._ids: list[str] = []
        self._row: dict[str, int] = {}
        self._packed: PackedIds | None = None
        self._last: tuple[Any, np.ndarray] | None = None  # (filter's id set, its rows): see rows_array
        self.extend(ids)

    @classmethod
    def packed(cls, packed: PackedIds) -> IdTable:
        table = cls()
        table._packed = packed
        return table

    def _unpack(self) -> None:
        if self._packed is not None:
            self._ids = list(self._packed)
            self._row = {cid: r for r, cid in enumerate(self._ids)}
            self._packed = None

    def __len__(self) -> int:
        return len(self._packed) if self._packed is not None else len(self._ids)

    def __getitem__(self, row: int) -> str:
        return self._packed[row] if self._packed is not None else self._ids[row]

    def __iter__(self) -> Iterator[str]:
        return iter(self._packed) if self._packed is not None else iter(self._ids)

    def __contains__(self, chunk_id: object) -> bool:
        return chunk_id in self._packed if self._packed is not None else chunk_id in self._row

    def extend(self, ids: Iterable[str]) -> None:
        self._unpack()
        self._last = None
        for chunk_id in ids:
            if chunk_id in self._row:
                raise KbqaError(f"duplicate vector id {chunk_id!r}")
            self._row[chunk_id] = len(self._ids)
            self._ids.append(chunk_id)

    def rows_of(self, ids: Collection[str]) -> list[int]:
        if self._packed is not None:
            return self._packed.rows_array(ids).tolist()
        return sorted(self._row[i] for i in ids if i in self._row)

    def rows_array(self, ids: Collection[str]) -> np.ndarray:
        """``rows_of`` as int64, remembered for the last immutable set asked: a metadata filter's
        chunk ids (cached per filter by the store) are looked up once, not on every query."""
        last = self._last
        if last is not None and last[0] is ids:
            return last[1]
        if self._packed is not None:
            rows = self._packed.rows_array(ids)
        else:
            rows = np.asarray(self.rows_of(ids), dtype=np.int64)
        if isinstance(ids, frozenset):
            self._last = (ids, rows)
        return rows

    def remove_rows(self, rows: list[int]) -> None:
        self._unpack()
        self._last = None
        drop = set(rows)
        self._ids = [cid for r, cid in enumerate(self._ids) if r not in drop]
        self._row = {cid: r for r, cid in enumerate(self._ids)}

    def save(self, path: Path) -> None:
        """ids.json: a JSON list (written in blocks, never as one list of every id)."""
        with open(path, "w", encoding="utf-8") as f:
            f.write("[")
            block: list[str] = []
            first = True
            for cid in self:
                block.append(cid)
                if len(block) == 65536:
                    f.write(("" if first else ", ") + json.dumps(block)[1:-1])
                    first, block = False, []
            if block:
                f.write(("" if first else ", ") + json.dumps(block)[1:-1])
            f.write("]")

    @classmethod
    def load(cls, path: Path) -> IdTable:
        """A loaded table is packed (see the module docstring)."""
        return cls.packed(PackedIds.from_json_file(path))
