"""``kbqa deid``: de-identify the text columns of a CSV/TSV or JSONL file, every row and column kept."""

from __future__ import annotations

import io
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kbqa.errors import InputError, KbqaError

FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


@dataclass
class DeidReport:
    """What was replaced, by category: counts only, never the text."""

    rows: int = 0
    cells: int = 0
    cells_changed: int = 0
    replaced: Counter[str] = field(default_factory=Counter)


def file_format(path: Path, given: str | None = None) -> str:
    if given:
        if given not in ("csv", "tsv", "jsonl"):
            raise KbqaError(f"unknown format {given!r}; use csv, tsv or jsonl")
        return given
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise KbqaError(f"{path}: cannot tell the format from {path.suffix!r}; name it .csv, .tsv or .jsonl or pass --format")
    return fmt


def deidentify_file(
    src: str | Path, out: str | Path, columns: list[str], *, format: str | None = None, progress: bool = False,
    deid: Any = None,
) -> DeidReport:
    """Write ``src`` to ``out`` with each of ``columns`` de-identified in place (same name, same position).

    An unknown column, an empty file or a malformed row is refused before anything is written."""
    from kbqa.deid.engine import default_deidentifier
    from kbqa.files import write_atomic

    src, out = Path(src), Path(out)
    if not src.is_file():
        raise KbqaError(f"input file not found: {src}")
    if not columns:
        raise KbqaError("no text column given: pass --text-column NAME (default: text)")
    fmt = file_format(src, format)
    deid = deid or default_deidentifier()
    report = DeidReport()
    before = Counter(deid.counts)

    def clean(text: str) -> str:
        report.cells += 1
        new = deid(text)
        report.cells_changed += new != text
        return new

    if fmt == "jsonl":
        text = _jsonl(src, columns, clean, report, progress)
    else:
        text = _table(src, columns, clean, report, progress, sep="," if fmt == "csv" else "\t")
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, text)
    report.replaced = deid.counts - before
    return report


def _bar(total: int | None, progress: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="de-identifying", unit=" rows", disable=not progress, dynamic_ncols=True)


def _table(src: Path, columns: list[str], clean: Any, report: DeidReport, progress: bool, sep: str) -> str:
    import pandas as pd

    from kbqa.corpus.base import decode_text, read_bytes

    raw = decode_text(read_bytes(src), src)
    if not raw.strip():
        raise InputError("empty file: expected a header row and data rows", path=str(src))
    try:  # every cell verbatim as text: "007" stays "007", empty stays empty
        frame = pd.read_csv(io.StringIO(raw), sep=sep, dtype=str, keep_default_na=False, na_filter=False)
    except pd.errors.EmptyDataError:
        raise InputError("empty file: expected a header row and data rows", path=str(src)) from None
    except pd.errors.ParserError as exc:
        raise InputError(f"cannot parse as {'TSV' if sep == chr(9) else 'CSV'}: {exc}", path=str(src)) from None
    present = [str(c) for c in frame.columns]
    missing = [c for c in columns if c not in present]
    if missing:
        raise InputError(f"no column {missing[0]!r}; columns present: {present} (choose with --text-column)",
                         path=str(src))
    if frame.empty:
        raise InputError("no data rows below the header", path=str(src))
    with _bar(len(frame), progress) as bar:
        for col in columns:
            frame[col] = [clean(v) if v.strip() else v for v in frame[col]]
        bar.update(len(frame))
    report.rows = len(frame)
    return frame.to_csv(index=False, sep=sep, lineterminator="\n")


def _jsonl(src: Path, columns: list[str], clean: Any, report: DeidReport, progress: bool) -> str:
    from kbqa.jsonlines import iter_jsonl

    rows = list(iter_jsonl(src))
    if not rows:
        raise InputError("empty file: expected one JSON object per line", path=str(src))
    seen: set[str] = set()
    for _, obj in rows:
        seen.update(obj)
    missing = [c for c in columns if c not in seen]
    if missing:
        raise InputError(f"no field {missing[0]!r} in any line; fields present: {sorted(seen)} "
                         "(choose with --text-column)", path=str(src))
    lines = []
    with _bar(len(rows), progress) as bar:
        for n, obj in rows:
            for col in columns:
                value = obj.get(col)
                if value is None:
                    continue
                if not isinstance(value, str):
                    raise InputError(f"field {col!r} is {type(value).__name__}, not text", path=str(src), line=n)
                if value.strip():
                    obj[col] = clean(value)
            lines.append(json.dumps(obj, ensure_ascii=False) + "\n")
            bar.update(1)
    report.rows = len(rows)
    return "".join(lines)
