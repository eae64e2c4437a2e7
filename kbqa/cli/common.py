"""Small pieces shared by CLI command modules."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any, ContextManager, TextIO

from kbqa.errors import InputError, KbqaError


def load_config_arg(args: Any) -> Any:
    from kbqa.config import load_config

    return load_config(getattr(args, "config", None), preset=getattr(args, "preset", None) or "default")


def read_jsonl_input(path: str, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; bad lines raise with file and line."""
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
                raise InputError(f"missing field(s) {missing}", path=str(p), line=n)
            yield n, obj


def open_out(path: str | None) -> ContextManager[TextIO]:
    """A writable text stream for ``path`` (stdout for None or "-"), as a context manager."""
    if path in (None, "-"):
        return nullcontext(sys.stdout)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return open(path, "w", encoding="utf-8")


def dump(obj: Any, out: TextIO | None = None, *, line: bool = False) -> None:
    from kbqa.serialize import to_jsonable

    out = out or sys.stdout
    if line:
        out.write(json.dumps(to_jsonable(obj), ensure_ascii=False) + "\n")
    else:
        out.write(json.dumps(to_jsonable(obj), ensure_ascii=False, indent=2) + "\n")


def shorten(text: str, width: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"
