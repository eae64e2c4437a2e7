"""The versions of an index folder: list them with their counts, make an earlier one current again.

Each build or update commits a new immutable version folder (kbqa/index/store.py); these read
their manifests and switch the ``CURRENT`` pointer back, after an integrity check (kbqa/index/check.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kbqa.errors import KbqaError
from kbqa.index.manifest import read_manifest
from kbqa.index.store import IndexFolder, resolve_version


@dataclass(frozen=True)
class VersionInfo:
    """One version folder: its counts and how it was made (``kind`` is "build", "update" or "compact";
    ``segments``: how many it lists, 1 for a one-piece version)."""

    name: str
    current: bool
    created: str
    kind: str
    documents: int
    chunks: int
    retracted: int
    added: int = 0
    changed: int = 0
    removed: int = 0
    segments: int = 1
    error: str = ""  # why the manifest could not be read, if it could not


def list_versions(index_dir: str | Path) -> list[VersionInfo]:
    """Every version folder, oldest first."""
    folder = IndexFolder(index_dir)
    current = folder.current()
    out = []
    for name in folder.versions():
        try:
            m = read_manifest(folder.version_dir(name))
        except KbqaError as exc:
            out.append(VersionInfo(name, name == current, "", "?", 0, 0, 0, error=str(exc)))
            continue
        c, u = m.get("counts", {}), m.get("update") or {}
        out.append(
            VersionInfo(
                name=name, current=name == current, created=m.get("created", ""), kind="update" if u else "compact" if m.get("compacted") else "build",
                documents=c.get("documents", 0), chunks=c.get("chunks", 0), retracted=c.get("retracted", 0),
                added=u.get("added", 0), changed=u.get("changed", 0), removed=u.get("removed", 0),
                segments=len(m.get("segments") or [None]),
            )
        )
    return out


def rollback(index_dir: str | Path, to: str, *, check: Callable[[IndexFolder, str], Any] | None = None) -> tuple[str, str]:
    """Make version ``to`` current again by switching the pointer (atomic; nothing is copied or
    deleted). The target is verified first and refused if damaged. Returns (previous, now current)."""
    from kbqa.index.check import check_version

    folder = IndexFolder(index_dir)
    folder.current()
    with folder.lock():
        previous = folder.current()
        name = resolve_version(folder, to)
        result = (check or check_version)(folder, name)
        if getattr(result, "problems", None):
            raise KbqaError(
                f"refusing to roll back to {name}: it fails the integrity check ({'; '.join(result.problems[:3])})"
            )
        folder.switch(name)
    return previous, name
