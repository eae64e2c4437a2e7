"""Files on disk: the one sha256 helper and the one atomic write (file or folder).

Every checksum of a file goes through :func:`sha256_file`; every "readers see the old or the new
content, never a mix" write goes through :func:`write_atomic` (a file) or :func:`atomic_folder`
(a folder written next to its final place, then swapped in).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def sha256_file(path: str | Path) -> str:
    """sha256 (hex) of a file's bytes."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def feed_file(digest: Any, path: str | Path) -> None:
    """Stream a file's bytes into a running ``hashlib`` digest (checksums over several files)."""
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)


def weights_sha256(folder: str | Path) -> str | None:
    """sha256 over a model folder's weight files (``*.safetensors``, ``*.bin``: names and bytes, sorted);
    None when it has none (or is not a folder)."""
    root = Path(folder)
    if not root.is_dir():
        return None
    h = hashlib.sha256()
    files = sorted(p for p in root.rglob("*") if p.suffix in (".safetensors", ".bin") and p.is_file())
    for p in files:
        h.update(p.relative_to(root).as_posix().encode())
        feed_file(h, p)
    return h.hexdigest() if files else None


def tree_sha256(folder: Path, files: Iterable[Path], name: Any = None) -> tuple[str, int]:
    """(sha256 over the ``"relpath\\tsha256\\n"`` lines of ``files``, in the order given, file count).

    ``name`` maps a file to its line's name (default: its POSIX path relative to ``folder``).
    """
    digest = hashlib.sha256()
    n = 0
    for path in files:
        label = name(path) if name is not None else path.relative_to(folder).as_posix()
        digest.update(f"{label}\t{sha256_file(path)}\n".encode())
        n += 1
    return digest.hexdigest(), n


def file_checksums(folder: Path, skip: str = "manifest.json", known: dict[str, str] | None = None) -> dict[str, str]:
    """sha256 of every file of a version (or segment) folder except ``skip`` (its own description), by
    relative posix path; ``known`` checksums (e.g. of hard-linked files) are taken, not read again."""
    out: dict[str, str] = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if p.is_file() and rel != skip:
            out[rel] = (known or {}).get(rel) or sha256_file(p)
    return out


def fsync_dir(path: Path) -> None:
    """Make a rename inside ``path`` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(path: Path) -> None:
    """fsync every file and folder under ``path`` (before renaming a staged folder into place)."""
    for p in path.rglob("*"):
        if p.is_file():
            with open(p, "rb") as f:
                os.fsync(f.fileno())
        elif p.is_dir():
            fsync_dir(p)


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old or the new content, never a mix."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        if isinstance(data, bytes):
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        else:
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


@contextmanager
def atomic_folder(final: str | Path, *, suffix: str = ".partial", keep_old: bool = False) -> Iterator[Path]:
    """Yield an empty sibling folder to write into; on success it replaces ``final`` in one rename.

    With ``keep_old`` the previous ``final`` is renamed to ``final.old`` first and removed only after
    the swap, so a crash between the two renames leaves one complete copy (the caller looks there).
    """
    final = Path(final)
    tmp = final.with_name(final.name + suffix)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    yield tmp
    if keep_old:
        old = final.with_name(final.name + ".old")
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
