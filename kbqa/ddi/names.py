"""Drug names: user drug lists, brand -> generic synonym files, name variants and mention matching."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from kbqa.errors import InputError, KbqaError

LIST_SUFFIXES = {"", ".txt", ".lst", ".list"}


def normalize(name: str) -> str:
    """Lower case, single spaces, no surrounding punctuation: the key names are compared by."""
    return " ".join(name.strip().strip(".,;:").lower().split())


def read_drug_list(path: str | Path) -> list[str]:
    """One drug name per line; blank lines and ``#`` comments are skipped."""
    p = Path(path)
    if p.suffix.lower() not in LIST_SUFFIXES:
        raise KbqaError(
            f"{p}: unknown drug list format {p.suffix!r}; give a plain text file with one drug name per line"
        )
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KbqaError(f"drug list not found: {p}") from None
    except UnicodeDecodeError:
        raise KbqaError(f"{p}: not UTF-8 text; give a plain text file with one drug name per line") from None
    names = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if "\t" in line or ", " in line or ";" in line:
            raise InputError(
                f"{line!r} looks like several fields; the drug list takes one drug name per line", path=str(p), line=n
            )
        names.append(line)
    if not names:
        raise KbqaError(f"{p}: no drug names found (one name per line expected)")
    return names


def load_synonyms(path: str | Path) -> dict[str, str]:
    """Brand (or other alias) -> generic name, keys and values normalised.

    Accepts a JSON object ``{"Coumadin": "warfarin"}`` or a two-column TSV/CSV (``brand,generic``,
    an optional header line ``brand,generic``).
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KbqaError(f"synonyms file not found: {p}") from None
    except UnicodeDecodeError:
        raise KbqaError(f"{p}: synonyms file is not UTF-8 text") from None
    out: dict[str, str] = {}
    if p.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"not valid JSON ({exc.msg})", path=str(p), line=exc.lineno) from None
        if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
            raise InputError('expected a JSON object of strings {"brand": "generic", ...}', path=str(p))
        rows = [(n, k, v) for n, (k, v) in enumerate(data.items(), 1)]
    elif p.suffix.lower() in (".tsv", ".csv", ".txt"):
        delim = "\t" if p.suffix.lower() == ".tsv" or "\t" in text else ","
        rows = []
        for n, row in enumerate(csv.reader(text.splitlines(), delimiter=delim), 1):
            if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
                continue
            if len(row) != 2:
                raise InputError(f"expected 2 columns (brand, generic), got {len(row)}", path=str(p), line=n)
            if n == 1 and normalize(row[0]) == "brand":
                continue
            rows.append((n, row[0], row[1]))
    else:
        raise KbqaError(f"{p}: unknown synonyms format {p.suffix!r}; use .json, .tsv or .csv")
    for n, brand, generic in rows:
        b, g = normalize(brand), normalize(generic)
        if not b or not g:
            raise InputError("empty brand or generic name", path=str(p), line=n)
        out[b] = g
    return out


def canonical(name: str, synonyms: dict[str, str] | None = None) -> str:
    """The generic name of ``name`` when the synonyms know it, else its normalised self."""
    key = normalize(name)
    return (synonyms or {}).get(key, key)


def variants(name: str, synonyms: dict[str, str] | None = None) -> list[str]:
    """Names to look for: the name, its generic, every brand of that generic, hyphen/space spellings."""
    syn = synonyms or {}
    generic = canonical(name, syn)
    found = {normalize(name), generic} | {b for b, g in syn.items() if g == generic}
    for v in list(found):
        found |= {v.replace("-", " "), v.replace(" ", "-")}
    return sorted(found, key=lambda v: (-len(v), v))


def mention_pattern(names: list[str]) -> re.Pattern[str]:
    """Case-insensitive whole-word match of any name (plural ``s`` allowed; flexible space/hyphen)."""
    parts = [r"[\s-]+".join(re.escape(w) for w in re.split(r"[\s-]+", n)) for n in names if n]
    return re.compile(r"(?<![\w])(?:" + "|".join(parts) + r")(?:e?s)?(?![\w])", re.IGNORECASE)
