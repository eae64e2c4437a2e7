"""Labelled tables for the text classifier: CSV, TSV, JSONL or Parquet through pandas, checked at the edge.

Every error names the file and the row (CSV/TSV: the line, assuming one row per line with the header on
line 1; JSONL: the line; Parquet: the data row, 1-based) and says how to fix it. Ids are the ``id``
column when present (or the one named), else the 1-based data row number, as strings.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kbqa.errors import InputError, KbqaError

FORMATS = {
    ".csv": "csv", ".csv.gz": "csv", ".tsv": "tsv", ".tsv.gz": "tsv", ".tab": "tsv",
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet",
}
DEFAULT_ID_COLUMN = "id"


def table_format(path: str | Path) -> str:
    """``csv``, ``tsv``, ``jsonl`` or ``parquet`` from the file name."""
    name = Path(path).name.lower()
    for suffix, fmt in sorted(FORMATS.items(), key=lambda kv: -len(kv[0])):
        if name.endswith(suffix):
            return fmt
    raise KbqaError(f"{path}: unknown table format; use one of {', '.join(sorted(FORMATS))}")


@dataclass
class Table:
    """A table read from ``path``: its rows (a pandas DataFrame, every column kept) and where each row was."""

    path: Path
    frame: Any  # pandas.DataFrame
    format: str
    lines: list[int]  # per row: the line (CSV/TSV/JSONL) or 1-based row number (Parquet), for messages

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def columns(self) -> list[str]:
        return [str(c) for c in self.frame.columns]

    def error(self, i: int, message: str) -> InputError:
        """An error about row ``i`` (0-based) that names the file and its line or row."""
        if self.format == "parquet":
            return InputError(f"row {self.lines[i]}: {message}", path=str(self.path))
        return InputError(message, path=str(self.path), line=self.lines[i])

    def require(self, columns: Sequence[str], role: str) -> None:
        missing = [c for c in columns if c not in self.columns]
        if missing:
            raise InputError(f"no {role} column {missing[0]!r}; columns present: {self.columns} "
                             f"(name the right one with --{role}-column)", path=str(self.path))


def read_table(path: str | Path) -> Table:
    """The rows of a CSV/TSV/JSONL/Parquet file; cells of CSV/TSV stay verbatim strings ("007" stays "007")."""
    import pandas as pd

    p = Path(path)
    fmt = table_format(p)
    if not p.is_file():
        raise KbqaError(f"input file not found: {p}")
    if fmt == "jsonl":
        from kbqa.jsonlines import iter_jsonl

        numbered = list(iter_jsonl(p))
        frame = pd.DataFrame([obj for _, obj in numbered])
        lines = [n for n, _ in numbered]
    else:
        try:
            if fmt == "parquet":
                frame = pd.read_parquet(p)
            else:
                frame = pd.read_csv(p, sep="\t" if fmt == "tsv" else ",", dtype=str, keep_default_na=False,
                                    skip_blank_lines=False)
        except ImportError as exc:
            raise KbqaError(f"{p}: reading {fmt} needs {exc.name or 'pyarrow'}; pip install pyarrow") from None
        except pd.errors.EmptyDataError:
            raise InputError("empty file: expected a header row and data rows", path=str(p)) from None
        except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as exc:
            raise InputError(f"pandas cannot read it as {fmt.upper()} ({exc}); check the format and encoding "
                             "(UTF-8)", path=str(p)) from None
        lines = list(range(1, len(frame) + 1)) if fmt == "parquet" else list(range(2, len(frame) + 2))
        if fmt != "parquet":  # blank lines read as all-empty rows: dropped, the others keep their line
            keep = [i for i, row in enumerate(frame.itertuples(index=False)) if any(str(v).strip() for v in row)]
            frame, lines = frame.iloc[keep].reset_index(drop=True), [lines[i] for i in keep]
    frame.columns = [str(c) for c in frame.columns]
    if len(frame) == 0:
        raise InputError("no data rows", path=str(p))
    return Table(p, frame, fmt, lines)


def is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    try:
        import pandas as pd

        if value is pd.NA or value is pd.NaT:
            return True
    except ImportError:  # pragma: no cover - pandas is a dependency
        pass
    return not str(value).strip()


def join_texts(row: Mapping[str, Any], columns: Sequence[str]) -> str:
    """The model input of a row: one text column as it is; several as ``name: value`` lines (empty ones left
    out), so the model knows which column said what."""
    if len(columns) == 1:
        value = row.get(columns[0])
        return "" if is_empty(value) else " ".join(str(value).split())
    parts = [f"{c}: {' '.join(str(row.get(c)).split())}" for c in columns if not is_empty(row.get(c))]
    return "\n".join(parts)


def texts(table: Table, columns: Sequence[str]) -> list[str]:
    """The joined text of every row; an empty one is an error naming its row."""
    table.require(columns, "text")
    out = []
    for i, row in enumerate(table.frame[list(columns)].to_dict("records")):
        text = join_texts(row, columns)
        if not text:
            raise table.error(i, f"empty text in column(s) {list(columns)}; fill it in or drop the row")
        out.append(text)
    return out


def labels(table: Table, column: str) -> list[str]:
    """The label of every row as a string; an empty one is an error naming its row."""
    table.require([column], "label")
    out = []
    for i, value in enumerate(table.frame[column].tolist()):
        if is_empty(value):
            raise table.error(i, f"empty label in column {column!r}; every training row needs a label")
        out.append(_label_text(value))
    return out


def _label_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a numeric label column read as float (1.0) is the label "1"
    return str(value).strip()


def row_ids(table: Table, column: str | None = None) -> tuple[list[str], str | None]:
    """Each row's id and the column it came from: ``column``, else ``id`` when present, else the 1-based
    row number (column None). Ids must be unique."""
    if column is None and DEFAULT_ID_COLUMN in table.columns:
        column = DEFAULT_ID_COLUMN
    if column is None:
        return [str(i) for i in range(1, len(table) + 1)], None
    table.require([column], "id")
    ids = []
    for i, value in enumerate(table.frame[column].tolist()):
        if is_empty(value):
            raise table.error(i, f"empty id in column {column!r}; every row needs an id (or drop the column)")
        ids.append(_label_text(value))
    seen: dict[str, int] = {}
    for i, v in enumerate(ids):
        if v in seen:
            raise table.error(i, f"duplicate id {v!r} in column {column!r} (also row {seen[v] + 1}); ids must be unique")
        seen[v] = i
    return ids, column


def check_label_counts(table: Table, gold: Sequence[str], minimum: int, why: str) -> None:
    """Every label must have ``minimum`` rows; the error names the label and its (first) row."""
    counts = Counter(gold)
    if len(counts) < 2:
        raise InputError(f"only one label ({next(iter(counts), '')!r}); a classifier needs at least two",
                         path=str(table.path))
    for label, n in sorted(counts.items(), key=lambda kv: (kv[1], kv[0])):
        if n < minimum:
            raise table.error(gold.index(label), f"label {label!r} has only {n} example(s); {why} needs at least "
                              f"{minimum} per label: add examples or drop the label")


def prediction_columns(existing: Sequence[str], names: Sequence[str]) -> dict[str, str]:
    """The name each added column gets: itself, or ``predicted_NAME`` when the input already has ``NAME``
    (an input column is never overwritten)."""
    taken = set(existing)
    return {n: (f"predicted_{n}" if n in taken else n) for n in names}


def write_predictions(table: Table, ids: Sequence[str], id_column: str | None, class_labels: Sequence[str],
                      probs: Any, out: str | Path | None) -> str:
    """One prediction per input row, every input column kept; returns where it went.

    CSV/TSV/Parquet out: the input columns plus ``label``, ``confidence`` and ``p_LABEL`` per label;
    JSONL out: ``{"id", "label", "confidence", "probabilities": {label: p}}`` plus the input's fields.
    The output format follows ``out``'s name (stdout: the input's, JSONL for Parquet input)."""
    import sys

    import numpy as np

    probs = np.asarray(probs, dtype=float)
    best = probs.argmax(1) if len(probs) else np.zeros(0, dtype=int)
    predicted = [class_labels[j] for j in best]
    confidence = [round(float(probs[i, j]), 6) for i, j in enumerate(best)]
    fmt = table_format(out) if out not in (None, "-") else ("jsonl" if table.format == "parquet" else table.format)
    if fmt == "jsonl":
        from kbqa.jsonlines import dumps_jsonl
        from kbqa.serialize import to_jsonable

        records = table.frame.to_dict("records")
        keys = prediction_columns([k for k in table.columns if k != id_column], ("id", "label", "confidence",
                                                                                "probabilities"))
        rows = []
        for i, rec in enumerate(records):
            row = {keys["id"]: ids[i], keys["label"]: predicted[i], keys["confidence"]: confidence[i],
                   keys["probabilities"]: {lab: round(float(p), 6) for lab, p in zip(class_labels, probs[i])}}
            rest = {k: (None if is_empty(v) and not isinstance(v, str) else v) for k, v in rec.items() if k != id_column}
            rows.append({**row, **to_jsonable(rest)})
        text = dumps_jsonl(rows, ensure_ascii=False)
        if out in (None, "-"):
            sys.stdout.write(text)
            return "stdout"
        from kbqa.files import write_atomic

        Path(out).parent.mkdir(parents=True, exist_ok=True)
        write_atomic(out, text)
        return str(out)
    frame = table.frame.copy()
    prob_names = [f"p_{lab}" for lab in class_labels]
    keys = prediction_columns(frame.columns, ["label", "confidence", *prob_names])
    frame[keys["label"]] = predicted
    frame[keys["confidence"]] = confidence
    for j, name in enumerate(prob_names):
        frame[keys[name]] = np.round(probs[:, j], 6)
    if out in (None, "-"):
        frame.to_csv(sys.stdout, sep="\t" if fmt == "tsv" else ",", index=False)
        return "stdout"
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(out).with_name(f".{Path(out).name}.partial")
    if fmt == "parquet":
        frame.to_parquet(tmp, index=False)
    else:
        frame.to_csv(tmp, sep="\t" if fmt == "tsv" else ",", index=False)
    tmp.replace(out)
    return str(out)
