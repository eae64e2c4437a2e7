"""Shared pieces of the corpus loaders: load counters, id checks, gzip-aware opening."""

from __future__ import annotations

import gzip
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from kbqa.errors import InputError


@dataclass
class LoadStats:
    """Counters filled while documents are iterated (read them after the iteration ends)."""

    files: int = 0
    documents: int = 0
    skipped_empty: int = 0
    skipped_unanswered: int = 0
    deleted: list[str] = field(default_factory=list)  # PMIDs from PubMed <DeleteCitation>
    retracted: int = 0


def open_binary(path: Path) -> IO[bytes]:
    """Open ``path`` for reading bytes, decompressing ``.gz`` files transparently."""
    if path.name.endswith(".gz"):
        return gzip.open(path, "rb")
    return open(path, "rb")


def decode_line(raw: bytes, path: Path, line: int) -> str:
    """UTF-8 decode one line, or an InputError naming the line and the bad byte's column."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); "
            "re-save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)",
            path=str(path),
            line=line,
        ) from None


def decode_text(data: bytes, path: Path) -> str:
    """UTF-8 decode a whole file (a leading BOM is dropped), reporting the line of a bad byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(
            f"not valid UTF-8 (byte 0x{data[exc.start]:02x}); re-save the file as UTF-8",
            path=str(path),
            line=line,
        ) from None


def read_bytes(path: Path) -> bytes:
    """All bytes of ``path`` (decompressed when ``.gz``), with a clear error for a broken gzip."""
    try:
        with open_binary(path) as fh:
            return fh.read()
    except (gzip.BadGzipFile, EOFError) as exc:
        raise InputError(f"not a readable gzip file ({exc}); re-compress it or drop the .gz suffix",
                         path=str(path)) from None


def id_string(value: Any, *, path: Path, line: int | None, field_name: str = "id") -> str:
    """A record id as a string: strings verbatim, ints as decimal; anything else is an error."""
    if isinstance(value, bool) or value is None or isinstance(value, float):
        raise InputError(
            f"{field_name!r} must be a string or an integer, got {value!r}; "
            "quote it as a string so it is kept verbatim",
            path=str(path),
            line=line,
        )
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, str):
        raise InputError(f"{field_name!r} must be a string or an integer, got {type(value).__name__}",
                         path=str(path), line=line)
    if not value.strip():
        raise InputError(f"{field_name!r} is empty; every record needs a non-empty id",
                         path=str(path), line=line)
    return value


class IdRegistry:
    """Remembers where each id was first seen, to reject duplicates within one source."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[str, int | None]] = {}

    def add(self, doc_id: str, path: Path, line: int | None) -> None:
        first = self._seen.get(doc_id)
        if first is not None:
            where = first[0] + (f":{first[1]}" if first[1] is not None else "")
            raise InputError(
                f"duplicate id {doc_id!r} (first seen at {where}); ids must be unique within a "
                "source: rename one record or remove the duplicate",
                path=str(path),
                line=line,
            )
        self._seen[doc_id] = (str(path), line)


def clean_meta(values: dict[str, Any]) -> dict[str, Any]:
    """Drop missing values (None/NaN) and turn numpy scalars into plain Python values."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if hasattr(value, "item") and not isinstance(value, (str, bytes)):
            value = value.item()  # numpy scalar -> Python scalar (JSON-able)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        out[str(key)] = value
    return out
