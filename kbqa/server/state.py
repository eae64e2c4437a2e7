"""What the server holds: the served index version, the reader, and the one thread that encodes queries.

Concurrency model:

* The encoder (a tokenizer + a torch model) is not safe to call from several threads at once, so
  every use of it happens under ``encoder_lock``; the reader likewise under ``reader_lock``.
* Search requests are queued to :class:`SearchBatcher`, one thread that takes every query waiting
  at that moment and encodes them in one batch (``search_many``). Under concurrent load this costs
  one forward pass per batch instead of one per query (``benchmarks/load_test.py`` measures it).
* A newly committed index version is loaded beside the served one and swapped in with one
  assignment. A request takes ``served.kb`` once, at its start, so requests in flight finish on the
  version they started with; the old version is freed when the last of them lets go of it.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import defaultdict
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kbqa.filters import Filters
from kbqa.types import Hit

log = logging.getLogger("kbqa.server")


@dataclass(frozen=True)
class _Job:
    kb: Any
    query: str
    k: int
    filters: Filters | None
    future: Future


class SearchBatcher:
    """One worker thread; ``submit`` returns a Future of the query's hits."""

    def __init__(self, encoder_lock: threading.Lock, max_batch: int = 32) -> None:
        self.encoder_lock = encoder_lock
        self.max_batch = max_batch
        self.batches = 0  # counters for /index and the load benchmark
        self.queries = 0
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="kbqa-search-batcher", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        with self._start_lock:
            if self._thread is not None:
                self._queue.put(None)
                self._thread.join(timeout=30)
                self._thread = None

    def submit(self, kb: Any, query: str, k: int, filters: Filters | None = None) -> Future:
        """Queue one query; the Future gets its hits (or the search's exception)."""
        if self._thread is None:  # an app run without its lifespan (e.g. a bare TestClient)
            self.start()
        fut: Future = Future()
        self._queue.put(_Job(kb, query, k, filters, fut))
        return fut

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            batch = [job]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            self._search(batch)
            if stop:
                return

    def _search(self, batch: list[_Job]) -> None:
        # one search_many per (index version, filters); k is the largest asked, cut per job below
        groups: dict[tuple[int, Filters | None], list[_Job]] = defaultdict(list)
        for job in batch:
            if job.future.set_running_or_notify_cancel():
                groups[(id(job.kb), job.filters)].append(job)
        for jobs in groups.values():
            try:
                k = max(j.k for j in jobs)
                with self.encoder_lock:
                    results = jobs[0].kb.search_many([j.query for j in jobs], k, jobs[0].filters)
                answered = list(zip(jobs, results, strict=True))
                self.batches += 1
                self.queries += len(jobs)
            except BaseException as exc:  # handed to the waiting requests, never lost in this thread
                for j in jobs:
                    j.future.set_exception(exc)
                continue
            for j, hits in answered:
                j.future.set_result(hits[: j.k])


class LockedEncoder:
    """The served encoder, one caller at a time (the reader's highlighter also encodes)."""

    def __init__(self, encoder: Any, lock: threading.Lock) -> None:
        self._encoder = encoder
        self._lock = lock

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            return self._encoder.encode_queries(texts)

    def encode_passages(self, texts: list[str], **kwargs: Any) -> np.ndarray:
        with self._lock:
            return self._encoder.encode_passages(texts, **kwargs)


class LockedClassifier:
    """The reader's classifier, one caller at a time."""

    def __init__(self, classifier: Any, lock: threading.Lock) -> None:
        self._classifier = classifier
        self._lock = lock
        self.labels = classifier.labels

    def predict_logits(self, pairs: Any, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        with self._lock:
            return self._classifier.predict_logits(pairs, batch_size=batch_size, progress=False)


class AskView:
    """What ``kbqa.read.answer.answer`` needs from a KnowledgeBase, routed through the batcher and locks."""

    def __init__(self, kb: Any, batcher: SearchBatcher, encoder: LockedEncoder) -> None:
        self._kb = kb
        self._batcher = batcher
        self.encoder = encoder
        self.fingerprint = kb.fingerprint

    @property
    def knowledge_base(self) -> Any:
        """The served KnowledgeBase (its documents name the foci the intent is matched against)."""
        return self._kb

    def search(self, query: str, k: int = 10, filters: Filters | dict | None = None) -> list[Hit]:
        parsed = None if filters is None else Filters.parse(filters)
        return self._batcher.submit(self._kb, query, k, parsed).result()


class ServedIndex:
    """The served KnowledgeBase version and reader; reloads when DIR/CURRENT names a new version."""

    def __init__(self, kb: Any, reader: Any = None, *, batch_max: int = 32, watch_interval: float = 2.0) -> None:
        self.kb = kb
        self.encoder_lock = threading.Lock()
        self.reader_lock = threading.Lock()
        self.batcher = SearchBatcher(self.encoder_lock, batch_max)
        self.reader = None if reader is None else _locked_reader(reader, self.reader_lock)
        self.reader_name = None if reader is None else Path(str(reader.model_dir)).name
        self.watch_interval = watch_interval
        self.reloads = 0
        self.last_reload_error: str | None = None
        self._reload_lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    # ---- lifecycle ------------------------------------------------------------------
    def start(self) -> None:
        self.batcher.start()
        if self.watch_interval > 0 and self._watcher is None:
            self._stop.clear()
            self._watcher = threading.Thread(target=self._watch, name="kbqa-index-watcher", daemon=True)
            self._watcher.start()

    def stop(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=30)
            self._watcher = None
        self.batcher.stop()

    # ---- reload ---------------------------------------------------------------------
    def current_on_disk(self) -> str:
        from kbqa.index.store import IndexFolder

        return IndexFolder(self.kb.index_dir).current()

    def reload(self) -> tuple[str, str]:
        """Load the committed version if it is new; (previous version, served version).

        Raises KbqaError (the old version stays served) when the new version cannot be loaded.
        """
        with self._reload_lock:  # one load at a time; requests keep being served meanwhile
            old = self.kb
            try:
                new = old.reload()
            except Exception as exc:
                self.last_reload_error = f"{type(exc).__name__}: {exc}"
                raise
            self.last_reload_error = None
            if new is not old:
                self.kb = new  # the swap: one assignment, atomic for the readers of self.kb
                self.reloads += 1
                log.info("serving index version %s (was %s)", new.version, old.version)
            return old.version, new.version

    def _watch(self) -> None:
        last_error = None
        failed = None  # a version that failed to load is not retried each tick (POST /reload still tries)
        while not self._stop.wait(self.watch_interval):
            on_disk = None
            try:
                on_disk = self.current_on_disk()
                if on_disk not in (self.kb.version, failed):
                    self.reload()
                last_error = None
            except Exception as exc:  # keep serving the old version; say so once, not every tick
                failed = on_disk
                msg = f"{type(exc).__name__}: {exc}"
                if msg != last_error:
                    log.warning("index version check failed, still serving %s: %s", self.kb.version, msg)
                last_error = msg

    # ---- queries --------------------------------------------------------------------
    async def search(self, kb: Any, query: str, k: int, filters: Filters | None) -> list[Hit]:
        import asyncio

        return await asyncio.wrap_future(self.batcher.submit(kb, query, k, filters))

    def ask(self, kb: Any, question: str, k: int, filters: Filters | None) -> Any:
        """The reader's Answer for ``question`` over ``kb`` (blocking: run it in a worker thread)."""
        from kbqa.read.answer import answer

        view = AskView(kb, self.batcher, LockedEncoder(kb.encoder, self.encoder_lock))
        return answer(view, question, k=k, reader=self.reader, filters=filters)


def _locked_reader(reader: Any, lock: threading.Lock) -> Any:
    """A Reader sharing ``reader``'s calibration and checksum whose classifier takes ``lock``."""
    from kbqa.read.reader import Reader

    locked = Reader(LockedClassifier(reader.classifier, lock), reader.calibration, reader.model_dir)
    locked._checksum = reader.checksum  # computed once here, not on the first request
    return locked
