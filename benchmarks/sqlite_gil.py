"""SQLite inserts beside a busy Python thread (why kbqa.index.chunkstore.insert_rows uses one JSON statement):
``executemany`` releases the GIL for every row and takes it back only after the switch interval.

    python benchmarks/sqlite_gil.py     # 6,000 rows: executemany vs insert_rows, alone and beside a busy thread
"""

from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from kbqa.index.chunkstore import insert_rows  # noqa: E402


def run(busy: bool, how: str) -> float:
    with tempfile.TemporaryDirectory() as d:
        db = sqlite3.connect(Path(d) / "t.db")
        db.executescript("PRAGMA journal_mode=DELETE; PRAGMA synchronous=OFF; CREATE TABLE d(id TEXT PRIMARY KEY, t TEXT);")
        stop = threading.Event()

        def spin() -> None:
            while not stop.is_set():
                pass

        thread = threading.Thread(target=spin)
        if busy:
            thread.start()
        started = time.perf_counter()
        for b in range(20):
            rows = [(f"id{b}-{i}", "text " * 50) for i in range(300)]
            if how == "executemany":
                db.executemany("INSERT INTO d VALUES (?,?)", rows)
            else:
                insert_rows(db, "d", rows)
            db.commit()
        seconds = time.perf_counter() - started
        stop.set()
        if busy:
            thread.join()
        db.close()
        return round(seconds, 3)


if __name__ == "__main__":
    print(json.dumps({f"{how}, {'busy thread' if busy else 'alone'}": run(busy, how)
                      for how in ("executemany", "insert_rows") for busy in (False, True)}))
