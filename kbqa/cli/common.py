"""Small pieces shared by CLI command modules."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any, ContextManager, TextIO


def load_config_arg(args: Any) -> Any:
    from kbqa.config import load_config

    return load_config(getattr(args, "config", None), preset=getattr(args, "preset", None) or "default")


def read_jsonl_input(path: str, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; bad lines raise with file and line."""
    from kbqa.jsonlines import iter_jsonl

    return iter_jsonl(path, required)


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


def add_rerank_args(parser: Any) -> None:
    parser.add_argument("--rerank", metavar="MODEL", default=None,
                        help="rerank the best candidates with this cross-encoder (kbqa-medical-reranker = models/reranker, "
                        "or a folder); 'off' turns reranking off (default: the index's search settings)")
    parser.add_argument("--rerank-depth", type=int, default=None, metavar="N",
                        help="candidates re-scored by the reranker (default 20)")
    parser.add_argument("--typed", choices=["on", "off"], default=None,
                        help="typed retrieval: prefer passages of the question's type about its focus "
                        "(docs/question_types.md; default: the index's search.typed setting)")


def apply_rerank_args(kb: Any, args: Any) -> Any:
    """``kb`` with --rerank / --rerank-depth / --typed applied (unchanged when neither is given)."""
    over: dict[str, Any] = {}
    if args.rerank is not None:
        over["rerank"] = "" if args.rerank.strip().lower() in ("", "off", "none") else args.rerank
    if args.rerank_depth is not None:
        over["rerank_depth"] = args.rerank_depth
    if getattr(args, "typed", None) is not None:
        over["typed"] = args.typed == "on"
    return kb.with_search(**over) if over else kb


def parse_columns(items: list[str]) -> dict[str, str] | None:
    """``--column FIELD=COLUMN`` arguments as {field: column} (None when none are given)."""
    from kbqa.errors import KbqaError

    out = {}
    for item in items:
        key, sep, col = item.partition("=")
        if not sep:
            raise KbqaError(f"--column expects FIELD=COLUMN, got {item!r}")
        out[key.strip()] = col.strip()
    return out or None


def deidentifier_arg(args: Any) -> Any:
    """A kbqa.deid DocumentDeidentifier when ``--deidentify`` was given, else None (nothing imported)."""
    if not getattr(args, "deidentify", False):
        return None
    from kbqa.deid.documents import DocumentDeidentifier

    return DocumentDeidentifier()
