"""Case files for ``kbqa diagnose --input`` and ``kbqa eval diagnose``: JSONL, CSV, TSV or Parquet via pandas.

Ids as in ``kbqa classify``: the id column when named, else ``id`` when present, else the 1-based data
row number. Errors name the file and the line (JSONL, CSV/TSV with the header on line 1) or data row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kbqa.errors import InputError, KbqaError

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "tsv", ".tab": "tsv",
           ".parquet": "parquet", ".pq": "parquet"}


@dataclass(frozen=True)
class Case:
    id: str
    text: str
    label: str | None
    row: dict[str, Any]  # every column of the row


def _empty(value: Any) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return True
    return not str(value).strip()


def _cell(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def read_cases(path: str | Path, text_column: str = "text", id_column: str | None = None,
               label_column: str | None = None) -> list[Case]:
    """The rows of a case file; an unknown column, an empty text or label, or a duplicate id is an error."""
    import pandas as pd

    p = Path(path)
    fmt = FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise KbqaError(f"{p}: unknown case file format; use one of {', '.join(sorted(FORMATS))}")
    if not p.is_file():
        raise KbqaError(f"case file not found: {p}")
    if fmt == "jsonl":
        from kbqa.jsonlines import iter_jsonl

        numbered = list(iter_jsonl(p))
        frame, lines = pd.DataFrame([obj for _, obj in numbered]), [n for n, _ in numbered]
    else:
        try:
            frame = (pd.read_parquet(p) if fmt == "parquet" else
                     pd.read_csv(p, sep="\t" if fmt == "tsv" else ",", dtype=str, keep_default_na=False))
        except ImportError as exc:
            raise KbqaError(f"{p}: reading {fmt} needs {exc.name or 'pyarrow'}; pip install pyarrow") from None
        except pd.errors.EmptyDataError:
            raise InputError("empty file: expected a header row and data rows", path=str(p)) from None
        except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as exc:
            raise InputError(f"pandas cannot read it as {fmt.upper()} ({exc})", path=str(p)) from None
        lines = list(range(1, len(frame) + 1)) if fmt == "parquet" else list(range(2, len(frame) + 2))
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    if not len(frame):
        raise InputError("no cases (no data rows)", path=str(p))
    if id_column is None and "id" in columns:
        id_column = "id"
    for role, col in (("text", text_column), ("id", id_column), ("label", label_column)):
        if col is not None and col not in columns:
            raise InputError(f"no {role} column {col!r}; columns present: {columns} (name it with --{role}-column)",
                             path=str(p))

    def where(i: int, message: str) -> InputError:
        if fmt == "parquet":
            return InputError(f"row {lines[i]}: {message}", path=str(p))
        return InputError(message, path=str(p), line=lines[i])

    out, seen = [], set()
    for i, row in enumerate(frame.to_dict("records")):
        text = row.get(text_column)
        if _empty(text):
            raise where(i, f"empty text in column {text_column!r}; describe the case or drop the row")
        case_id = _cell(row[id_column]) if id_column is not None and not _empty(row[id_column]) else None
        if id_column is not None and case_id is None:
            raise where(i, f"empty id in column {id_column!r}")
        case_id = case_id or str(i + 1)
        if case_id in seen:
            raise where(i, f"duplicate id {case_id!r}; ids must be unique")
        seen.add(case_id)
        label = None
        if label_column is not None:
            if _empty(row[label_column]):
                raise where(i, f"empty label in column {label_column!r}")
            label = _cell(row[label_column])
        out.append(Case(case_id, " ".join(str(text).split()), label, row))
    return out
