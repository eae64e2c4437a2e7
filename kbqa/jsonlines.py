"""Reading JSON-lines inputs (queries, questions, pairs, training examples) with precise errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
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
