"""Corpus layer: files, folders or recipe names -> ``Document`` records.

    for doc in iter_documents("pubmedqa"):            # a recipe, verified from the mirror
    for doc in iter_documents("notes.csv", columns={"id": "case_id", "text": "abstract"}):
    for doc in iter_documents("medline/", format="pubmed", stats=stats):  # a folder, sorted order
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from pathlib import Path

from kbqa.corpus import jsonl, medquad, pubmed, pubmedqa, table
from kbqa.corpus.base import IdRegistry, LoadStats, open_binary
from kbqa.corpus.download import fetch
from kbqa.corpus.recipes import Recipe, get_recipe, list_recipes, verify
from kbqa.errors import InputError, KbqaError
from kbqa.types import Document

__all__ = ["FORMATS", "LoadStats", "Recipe", "fetch", "infer_format", "iter_documents", "list_recipes",
           "resolve_source", "source_files", "verify"]

FORMATS = ("jsonl", "csv", "tsv", "pubmedqa", "medquad", "pubmed", "ddi2013")

_LOADERS = {
    "jsonl": (jsonl.iter_file, jsonl.SUFFIXES),
    "csv": (functools.partial(table.iter_file, sep=","), table.SUFFIXES["csv"]),
    "tsv": (functools.partial(table.iter_file, sep="\t"), table.SUFFIXES["tsv"]),
    "pubmedqa": (pubmedqa.iter_file, pubmedqa.SUFFIXES),
    "medquad": (medquad.iter_file, medquad.SUFFIXES),
    "pubmed": (pubmed.iter_file, pubmed.SUFFIXES),
}
# Recipe formats that are not document corpora, and what reads them instead.
_OTHER_USES = {
    "reader-jsonl": "reader training data ({id, question, context, label}); use it with `kbqa train reader`",
}
_HINT = f"pass the format explicitly (--format / format=), one of: {', '.join(FORMATS)}"


def _head(path: Path, size: int) -> bytes:
    try:
        with open_binary(path) as fh:
            return fh.read(size)
    except (OSError, EOFError):
        return b""  # unreadable: not inferred; the loader reports it properly if asked


def _sniff_xml(path: Path) -> str | None:
    head = _head(path, 4096)
    if b"<PubmedArticleSet" in head:
        return "pubmed"
    if any(tag in head for tag in (b"<QAPair", b"<qaPairs", b"<Focus", b"<doctitle-focus")):
        return "medquad"  # <Document>, <DiseaseFile> and the older lower-case <doc> schema
    return None


def _infer_file(path: Path) -> str | None:
    name = path.name.lower()
    for fmt in ("jsonl", "csv", "tsv"):
        if name.endswith(_LOADERS[fmt][1]):
            return fmt
    if name.endswith((".xml", ".xml.gz")):
        return _sniff_xml(path)
    if name.endswith((".json", ".json.gz")):
        return "pubmedqa" if b'"CONTEXTS"' in _head(path, 65536) else None
    return None


def infer_format(path: Path) -> str:
    """The loader format of a file or folder, from its extension and (for XML/JSON) its content."""
    path = Path(path)
    if path.is_dir():
        found = sorted({fmt for p in path.rglob("*") if p.is_file() and (fmt := _infer_file(p))})
        if len(found) == 1:
            return found[0]
        what = f"files of several formats {found}" if found else "no file of a known format"
        raise KbqaError(f"{path}: cannot infer the format of this folder ({what}); {_HINT}")
    fmt = _infer_file(path)
    if fmt is None:
        raise KbqaError(f"{path}: cannot infer the format from the name or content; {_HINT}")
    return fmt


def resolve_source(source: str | Path, *, mirror: str | Path | None = None) -> tuple[Path, str | None]:
    """(local path, format or None): an existing path wins, else a recipe name (fetched and verified)."""
    path = Path(source)
    if path.exists():
        return path, None
    recipe = get_recipe(str(source))
    if recipe is None:
        known = ", ".join(sorted(list_recipes()))
        raise KbqaError(f"{source}: no such file or folder, and not a corpus recipe; known recipes: {known}")
    folder = fetch(recipe.name, mirror=mirror)
    return folder / recipe.entry, recipe.format


def source_files(path: str | Path, fmt: str) -> list[Path]:
    """The files a source path stands for in format ``fmt``: itself, or a folder's files in sorted order."""
    return _files(Path(path), fmt)


def _files(path: Path, fmt: str) -> list[Path]:
    if not path.is_dir():
        return [path]
    suffixes = _LOADERS[fmt][1] if fmt in _LOADERS else (".xml",)
    files = [p for p in path.rglob("*") if p.is_file() and p.name.lower().endswith(suffixes)]
    if not files:
        raise KbqaError(f"{path}: no {fmt} files ({', '.join(suffixes)}) in this folder")
    return sorted(files, key=lambda p: p.relative_to(path).as_posix())


def iter_documents(
    source: str | Path,
    format: str | None = None,
    *,
    stats: LoadStats | None = None,
    mirror: str | Path | None = None,
    columns: Mapping[str, str] | None = None,
) -> Iterator[Document]:
    """Documents of a file, a folder (walked in sorted order) or a recipe name.

    ``columns`` maps the roles id/text/title to other keys or columns (jsonl, csv, tsv).
    ``stats`` (a ``LoadStats``) is filled as the iteration goes. Ids must be unique within the
    source, except PubMed XML where a later file may revise an earlier record.
    """
    stats = stats if stats is not None else LoadStats()
    path, recipe_format = resolve_source(source, mirror=mirror)
    fmt = format or recipe_format or infer_format(path)
    if fmt in _OTHER_USES:
        raise KbqaError(f"{source} is {_OTHER_USES[fmt]}, not a document corpus")
    if fmt == "ddi2013":  # the DDI corpus has its own reader (kbqa.ddi); its documents index too
        yield from _ddi_documents(path, stats)
        return
    if fmt not in _LOADERS:
        raise KbqaError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    loader = _LOADERS[fmt][0]
    ids = IdRegistry()
    for file in _files(path, fmt):
        stats.files += 1
        try:
            for doc in loader(file, stats=stats, ids=ids, columns=columns):
                stats.documents += 1
                yield doc
        except InputError:
            raise
        except (OSError, EOFError) as exc:
            raise InputError(f"cannot read: {exc}", path=str(file)) from None


def _ddi_documents(path: Path, stats: LoadStats) -> Iterator[Document]:
    from kbqa.ddi.corpus import iter_documents as ddi_documents

    stats.files += len(_files(path, "ddi2013")) if path.is_dir() else 1
    for doc in ddi_documents(path):
        stats.documents += 1
        yield doc
