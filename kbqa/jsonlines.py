"""JSON lines: the one reader and writer.

``iter_jsonl`` reads user inputs (queries, questions, pairs, training examples) with precise errors;
``read_jsonl`` reads files kbqa wrote itself (index versions, reports, work files); ``write_jsonl``
writes one object per line (atomically with ``atomic=True``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from kbqa.errors import InputError, KbqaError


def iter_jsonl(path: str | Path, required: tuple[str, ...] = ()) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for each non-blank line; a bad line raises with file and line."""
    p = Path(path)
    if not p.is_file():
        raise KbqaError(f"input file not found: {p}")
    with open(p, "rb") as f:
        for n, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise InputError("not UTF-8 text; re-encode the file as UTF-8", path=str(p), line=n) from None
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"not valid JSON ({exc.msg})", path=str(p), line=n) from None
            if not isinstance(obj, dict):
                raise InputError("each line must be a JSON object", path=str(p), line=n)
            missing = [k for k in required if k not in obj]
            if missing:
                raise InputError(f"missing field(s) {missing}; each line needs {list(required)}", path=str(p), line=n)
            yield n, obj


def read_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """The objects of a JSONL file kbqa wrote itself (blank lines skipped)."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def dumps_jsonl(rows: Iterable[Any], *, compact: bool = False, ensure_ascii: bool = True) -> str:
    """The JSONL text of ``rows``: one ``json.dumps`` per line, each ending in a newline."""
    seps = (",", ":") if compact else None
    return "".join(json.dumps(r, ensure_ascii=ensure_ascii, separators=seps) + "\n" for r in rows)


def write_jsonl(path: str | Path, rows: Iterable[Any], *, compact: bool = False, ensure_ascii: bool = True,
                atomic: bool = False) -> int:
    """Write ``rows`` one per line; returns how many. ``atomic`` replaces the file in one rename."""
    rows = list(rows)
    text = dumps_jsonl(rows, compact=compact, ensure_ascii=ensure_ascii)
    if atomic:
        from kbqa.files import write_atomic

        write_atomic(path, text)
    else:
        Path(path).write_text(text, encoding="utf-8")
    return len(rows)
