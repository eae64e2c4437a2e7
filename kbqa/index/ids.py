"""The string id of every vector, in row order, with a reverse map."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from kbqa.errors import KbqaError


class IdTable:
    def __init__(self, ids: Iterable[str] = ()) -> None:
        self._ids: list[str] = []
        self._row: dict[str, int] = {}
        self._last: tuple[Any, np.ndarray] | None = None  # (filter's id set, its rows): see rows_array
        self.extend(ids)

    def __len__(self) -> int:
        return len(self._ids)

    def __getitem__(self, row: int) -> str:
        return self._ids[row]

    def __iter__(self):
        return iter(self._ids)

    def __contains__(self, chunk_id: object) -> bool:
        return chunk_id in self._row

    def extend(self, ids: Iterable[str]) -> None:
        self._last = None
        for chunk_id in ids:
            if chunk_id in self._row:
                raise KbqaError(f"duplicate vector id {chunk_id!r}")
            self._row[chunk_id] = len(self._ids)
            self._ids.append(chunk_id)

    def rows_of(self, ids: Collection[str]) -> list[int]:
        return sorted(self._row[i] for i in ids if i in self._row)

    def rows_array(self, ids: Collection[str]) -> np.ndarray:
        """``rows_of`` as int64, remembered for the last immutable set asked: a metadata filter's
        chunk ids (cached per filter by the store) are looked up once, not on every query."""
        last = self._last
        if last is not None and last[0] is ids:
            return last[1]
        rows = np.asarray(self.rows_of(ids), dtype=np.int64)
        if isinstance(ids, frozenset):
            self._last = (ids, rows)
        return rows

    def remove_rows(self, rows: list[int]) -> None:
        self._last = None
        drop = set(rows)
        self._ids = [cid for r, cid in enumerate(self._ids) if r not in drop]
        self._row = {cid: r for r, cid in enumerate(self._ids)}

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self._ids), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> IdTable:
        return cls(json.loads(path.read_text(encoding="utf-8")))
