"""The index folder on disk: immutable versions, an atomically switched pointer, a writer lock.

Layout::

    DIR/CURRENT             name of the committed version, e.g. "v000003" (replaced atomically)
    DIR/v000003/            manifest.json, documents.jsonl, chunks.jsonl, store.sqlite, vectors.npy, ids.json, faiss.index
                            (a one-piece version), or manifest.json + deletion bitmaps (a segmented one)
    DIR/segments/s000002/   an immutable segment, shared by the versions that list it (kbqa.index.segments)
    DIR/.staging-*/         a version being written; removed on failure or by the next writer
    DIR/.build-KEY/         a full build being written; kept if interrupted, resumed by the same build (kbqa.index.resume)
    DIR/.trash-*/           a version being deleted (renamed first); removed by the next writer
    DIR/.lock               held (flock) by the one writer

A version folder is never modified once CURRENT points at it, so a crash at any moment leaves
the last committed version intact; readers holding an older version keep working.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kbqa import files
from kbqa.errors import KbqaError
from kbqa.files import file_checksums, write_atomic  # noqa: F401 (file_checksums: re-exported)
from kbqa.index.ids import IdTable
from kbqa.jsonlines import read_jsonl

if TYPE_CHECKING:
    import numpy as np

POINTER = "CURRENT"
STAGING_PREFIX = ".staging-"
TRASH_PREFIX = ".trash-"  # a version being deleted: renamed first, so no half-deleted vNNNNNN remains
MANIFEST = "manifest.json"


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

    @classmethod
    def at(cls, path: str | Path) -> tuple[IndexFolder, str]:
        """The index folder and version named by ``path``: an index folder (its committed version)
        or one of its version folders."""
        path = Path(path)
        if (path / POINTER).is_file() or not (path / MANIFEST).is_file():
            folder = cls(path)
            return folder, folder.current()
        return cls(path.parent), path.name

    # ---- what a version holds, for readers outside kbqa.index (tuning, evaluation) ----
    def manifest(self, name: str | None = None) -> dict[str, Any]:
        """The version's manifest (checked for format and format version)."""
        from kbqa.index.manifest import read_manifest

        return read_manifest(self.version_dir(name))

    def vectors(self, name: str | None = None) -> tuple[list[str], np.ndarray]:
        """The version's chunk ids and their float32 vectors (memory-mapped), row for row."""
        import numpy as np

        vdir = self.version_dir(name)
        manifest = self.manifest(name)
        if manifest.get("segments"):
            from kbqa.index.segments import live_vectors

            return live_vectors(self.root, vdir, manifest)
        ids = list(IdTable.load(vdir / "ids.json"))
        matrix = np.load(vdir / "vectors.npy", mmap_mode="r", allow_pickle=False)
        if matrix.ndim != 2 or len(matrix) != len(ids):
            raise KbqaError(f"{vdir}: {len(ids)} ids but vectors of shape {matrix.shape}; run `kbqa index check`")
        return ids, matrix

    def chunk_rows(self, name: str | None = None) -> Iterator[dict[str, Any]]:
        """The version's chunks.jsonl rows (chunk_id, doc_id, text, start, end); of a segmented
        version, its live chunks segment by segment."""
        manifest = self.manifest(name)
        if manifest.get("segments"):
            from kbqa.index.segments import live_chunk_rows

            return live_chunk_rows(self.root, self.version_dir(name), manifest)
        return read_jsonl(self.version_dir(name) / "chunks.jsonl")

    def document_rows(self, name: str | None = None) -> Iterator[dict[str, Any]]:
        """The version's documents.jsonl rows (doc_id, title, meta, checksum, n_chunks); of a
        segmented version, its live documents."""
        manifest = self.manifest(name)
        if manifest.get("segments"):
            from kbqa.index.segments import live_document_rows

            return live_document_rows(self.root, self.version_dir(name), manifest)
        return read_jsonl(self.version_dir(name) / "documents.jsonl")

    def lexical(self, name: str | None = None) -> Any:
        """The version's BM25 side (kbqa.lexical.load_lexical: memory-mapped, one index or its parts scored
        as one), or None if it was built without (a segmented version's is opened with it by
        KnowledgeBase.load: kbqa.index.segment_lexical)."""
        path = self.version_dir(name) / "lexical"
        if not path.is_dir():
            return None
        from kbqa.index.segment_lexical import load_lexical

        return load_lexical(path)

    def versions(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and p.name.startswith("v") and p.name[1:].isdigit())

    def next_version(self) -> str:
        existing = self.versions()
        n = int(existing[-1][1:]) + 1 if existing else 1
        return f"v{n:06d}"

    def clean_staging(self) -> None:
        """Remove what writers that died left behind (only call while holding the lock):
        staging folders, half-deleted versions, temporary pointer files."""
        if self.root.is_dir():
            for p in self.root.iterdir():
                if p.name.startswith((STAGING_PREFIX, TRASH_PREFIX)):
                    shutil.rmtree(p, ignore_errors=True)
                elif p.name.startswith(f".{POINTER}.tmp-") and p.is_file():
                    p.unlink(missing_ok=True)
            from kbqa.index.segments import collect_garbage

            collect_garbage(self.root)  # segments no version lists (a writer killed before its commit)

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
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
                if not holder.isdigit() or not _pid_alive(int(holder)):
                    time.sleep(0.05)  # a new holder may not have written its pid over the last one's yet
                    holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
                raise KbqaError(_busy_message(self.root, holder)) from None
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
        files.fsync_tree(staging)
        name = self.next_version()
        final = self.root / name
        os.rename(staging, final)
        files.fsync_dir(self.root)
        write_atomic(self.root / POINTER, name + "\n")
        return name

    def prune(self, keep: int) -> list[str]:
        """Delete all but the newest ``keep`` versions (never the current one)."""
        current = self.current()
        old = [v for v in self.versions() if v != current][: max(0, len(self.versions()) - keep)]
        for v in old:
            self.discard(v)
        if old:
            from kbqa.index.segments import collect_garbage

            collect_garbage(self.root)  # segments only the pruned versions listed
        return old

    def switch(self, name: str) -> None:
        """Point CURRENT at the committed version ``name`` (atomic; the caller holds the lock)."""
        if name not in self.versions():
            raise KbqaError(f"{self.root} has no version {name!r}; versions: {', '.join(self.versions()) or 'none'}")
        write_atomic(self.root / POINTER, name + "\n")

    def discard(self, name: str) -> None:
        """Delete a version that is not current: renamed away first (atomic), then removed, so a
        crash midway leaves no half-deleted version folder, only trash the next writer clears."""
        if self.exists() and name == self.current():
            raise KbqaError(f"refusing to delete {name}: it is the current version of {self.root}")
        trash = self.root / f"{TRASH_PREFIX}{name}-{os.getpid()}"
        try:
            os.rename(self.root / name, trash)
        except FileNotFoundError:
            return
        files.fsync_dir(self.root)
        shutil.rmtree(trash, ignore_errors=True)


def resolve_version(folder: IndexFolder, spec: str) -> str:
    """'v000002', 'v2' or '2' -> 'v000002'; anything else is an error listing the versions."""
    digits = spec[1:] if spec.lower().startswith("v") else spec
    if not digits.isdigit():
        raise KbqaError(f"not a version: {spec!r}; give a name such as v000002 or a number")
    name = f"v{int(digits):06d}"
    if name not in folder.versions():
        raise KbqaError(f"{folder.root} has no version {name}; versions: {', '.join(folder.versions()) or 'none'}")
    return name


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def _busy_message(root: Path, holder: str) -> str:
    """Who holds the writer lock. flock is released by the OS when its holder dies, so a held lock
    means a live process: the one named, or (if that one is gone) a child it forked that inherited it."""
    if not holder.isdigit():
        return f"{root} is being written by another process; wait for it to finish and retry"
    pid = int(holder)
    if pid == os.getpid():
        return f"{root} is already being written by this process (pid {pid}); finish that update first"
    if _pid_alive(pid):
        return f"{root} is being written by pid {pid}; wait for it to finish and retry"
    return (
        f"{root} is locked by a process that inherited the lock from pid {pid}, which has exited; "
        f"stop that process (see `fuser {root}/.lock`) and retry"
    )
