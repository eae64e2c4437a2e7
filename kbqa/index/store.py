"""The index folder on disk: immutable versions, an atomically switched pointer, a writer lock.

Layout::

    DIR/CURRENT             name of the committed version, e.g. "v000003" (replaced atomically)
    DIR/v000003/            manifest.json, documents.jsonl, chunks.jsonl, vectors.npy, ids.json, faiss.index
    DIR/.staging-*/         a version being written; removed on failure or by the next writer
    DIR/.lock               held (flock) by the one writer

A version folder is never modified once CURRENT points at it, so a crash at any moment leaves
the last committed version intact; readers holding an older version keep working.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kbqa.errors import KbqaError

POINTER = "CURRENT"
STAGING_PREFIX = ".staging-"


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: str) -> None:
    """Write ``data`` to ``path`` so readers see the old or the new content, never a mix."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
            n += 1
        f.flush()
        os.fsync(f.fileno())
    return n


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


class IndexFolder:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def exists(self) -> bool:
        return (self.root / POINTER).is_file()

    def current(self) -> str:
        try:
            name = (self.root / POINTER).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            hint = ""
            if self.root.is_dir() and any(self.root.iterdir()):
                hint = " (the folder exists but holds no committed index: was a build interrupted?)"
            raise KbqaError(
                f"no kbqa index at {self.root}{hint}; build one with `kbqa index build SOURCE --index {self.root}`"
            ) from None
        if not (self.root / name).is_dir():
            raise KbqaError(f"{self.root}/{POINTER} names version {name!r}, which is missing; run `kbqa index check`")
        return name

    def version_dir(self, name: str | None = None) -> Path:
        return self.root / (name or self.current())

    def versions(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and p.name.startswith("v") and p.name[1:].isdigit())

    def next_version(self) -> str:
        existing = self.versions()
        n = int(existing[-1][1:]) + 1 if existing else 1
        return f"v{n:06d}"

    def clean_staging(self) -> None:
        """Remove folders left by writers that died (only call while holding the lock)."""
        if self.root.is_dir():
            for p in self.root.iterdir():
                if p.name.startswith(STAGING_PREFIX):
                    shutil.rmtree(p, ignore_errors=True)

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive writer lock; a dead holder's lock is released by the OS (flock)."""
        import fcntl

        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / ".lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
                raise KbqaError(
                    f"{self.root} is being written by pid {holder}; wait for it to finish and retry"
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            self.clean_staging()
            yield
        finally:
            os.close(fd)

    @contextmanager
    def staging(self) -> Iterator[Path]:
        """A fresh folder for a new version; deleted unless committed."""
        path = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=self.root))
        try:
            yield path
        finally:
            if path.exists():
                shutil.rmtree(path, ignore_errors=True)

    def commit(self, staging: Path) -> str:
        """Make ``staging`` the current version: rename it into place, then switch the pointer."""
        for p in staging.iterdir():
            if p.is_file():
                with open(p, "rb") as f:
                    os.fsync(f.fileno())
        name = self.next_version()
        final = self.root / name
        os.rename(staging, final)
        _fsync_dir(self.root)
        write_atomic(self.root / POINTER, name + "\n")
        return name

    def prune(self, keep: int) -> list[str]:
        """Delete all but the newest ``keep`` versions (never the current one)."""
        current = self.current()
        old = [v for v in self.versions() if v != current][: max(0, len(self.versions()) - keep)]
        for v in old:
            shutil.rmtree(self.root / v, ignore_errors=True)
        return old
