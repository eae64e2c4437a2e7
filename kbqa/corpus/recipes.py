"""Corpus recipes (``corpora/<name>.toml``): where a dataset comes from and the sha256 of every file.

A recipe records the upstream, the licence, the loader format, the path of the dataset inside a
mirror (``mirror_dir``) and the checksums of what the mirror holds: per file, or for a folder of
thousands of files one ``tree_sha256`` = sha256 over the sorted ``"relative/path\\t<sha256>\\n"``
lines, plus the file count. Verifying is cached in a stamp keyed on sizes and mtimes.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from kbqa.errors import KbqaError
from kbqa.files import sha256_file
from kbqa.files import tree_sha256 as files_tree_sha256
from kbqa.paths import cache_dir
from kbqa.paths import recipes_dir as recipes_path

RECIPES_DIR: Path | None = None  # None: kbqa.paths.recipes_dir() (packaged, $KBQA_HOME/corpora or the checkout's)


@dataclass(frozen=True)
class FileCheck:
    path: str  # relative to the dataset folder
    sha256: str
    size: int


@dataclass(frozen=True)
class TreeCheck:
    path: str  # folder relative to the dataset folder ("." for the folder itself)
    glob: str  # which files count, e.g. "*/*.xml"
    files: int
    tree_sha256: str


@dataclass(frozen=True)
class Download:
    url: str
    archive: str = "file"  # "file" | "zip" | "tar" (tar, tar.gz, tgz)
    strip: int = 0  # leading path components dropped when unpacking (1 for GitHub archives)
    path: str = ""  # for archive="file": where the file goes inside the dataset folder
    sha256: str = ""  # of the downloaded file itself, when known


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str
    format: str
    licence: str
    citation: str
    homepage: str
    upstream: tuple[str, ...]
    mirror_dir: str  # the dataset's folder inside a mirror root
    entry: str  # what resolve_source returns, relative to the dataset folder ("." = the folder)
    files: tuple[FileCheck, ...] = ()
    trees: tuple[TreeCheck, ...] = ()
    download: Download | None = None
    mirror_only: str = ""  # why there is no download (e.g. a derived split)


@cache
def _recipe_model() -> Any:
    """The pydantic models a recipe file is validated with (unknown keys refused at every level)."""
    from pydantic import field_validator

    from kbqa.strict import Strict

    class FileIn(Strict):
        path: str
        sha256: str
        size: int

    class TreeIn(Strict):
        path: str
        glob: str
        files: int
        tree_sha256: str

    class DownloadIn(Strict):
        url: str
        archive: str = "file"
        strip: int = 0
        path: str = ""
        sha256: str = ""

    class RecipeIn(Strict):
        name: str
        description: str
        format: str
        licence: str
        citation: str = ""
        homepage: str = ""
        upstream: tuple[str, ...] = ()
        mirror_dir: str
        entry: str = "."
        mirror_only: str = ""
        files: tuple[FileIn, ...] = ()
        trees: tuple[TreeIn, ...] = ()
        download: DownloadIn | None = None

        @field_validator("download", mode="before")
        @classmethod
        def _no_download(cls, v: Any) -> Any:
            return v or None  # an empty [download] table means none

    return RecipeIn


def _parse(path: Path) -> Recipe:
    from kbqa.strict import describe, unknown_keys, validate

    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise KbqaError(f"{path}: not valid TOML: {exc}") from None
    model = _recipe_model()

    def explain(exc: Any) -> str:
        unknown = unknown_keys(exc)
        if unknown:
            return f"{path}: unknown key(s) {unknown}; known: {sorted(model.model_fields)}"
        return f"{path}: incomplete or wrong recipe ({describe(exc.errors()[0])}); see corpora/README.md"

    r = validate(model, data, explain)
    return Recipe(
        name=r.name, description=r.description, format=r.format, licence=r.licence, citation=r.citation,
        homepage=r.homepage, upstream=r.upstream, mirror_dir=r.mirror_dir, entry=r.entry,
        files=tuple(FileCheck(**f.model_dump()) for f in r.files),
        trees=tuple(TreeCheck(**t.model_dump()) for t in r.trees),
        download=Download(**r.download.model_dump()) if r.download else None,
        mirror_only=r.mirror_only,
    )


def list_recipes(recipes_dir: Path | None = None) -> dict[str, Recipe]:
    """All recipes, by name, from ``corpora/`` (or ``recipes_dir``)."""
    folder = Path(recipes_dir) if recipes_dir else RECIPES_DIR or recipes_path()
    recipes = {}
    for path in sorted(folder.glob("*.toml")):
        recipe = _parse(path)
        if recipe.name != path.stem:
            raise KbqaError(f"{path}: name {recipe.name!r} must match the file name {path.stem!r}")
        recipes[recipe.name] = recipe
    return recipes


def get_recipe(name: str, recipes_dir: Path | None = None) -> Recipe | None:
    """The recipe called ``name``, or None."""
    return list_recipes(recipes_dir).get(name)


def tree_files(folder: Path, pattern: str) -> list[Path]:
    """Files under ``folder`` matching ``pattern``, sorted by their relative POSIX path."""
    return sorted((p for p in folder.glob(pattern) if p.is_file()), key=lambda p: p.relative_to(folder).as_posix())


def tree_sha256(folder: Path, pattern: str) -> tuple[str, int]:
    """(sha256 over sorted ``"relpath\\tsha256\\n"`` lines, file count) for a folder."""
    return files_tree_sha256(folder, tree_files(folder, pattern))


def _stamp_key(recipe: Recipe, root: Path) -> str:
    """A hash of the recipe's checks and the size+mtime of every file they cover."""
    digest = hashlib.sha256(json.dumps([str(root.resolve()), repr(recipe.files), repr(recipe.trees)]).encode())
    paths = [root / f.path for f in recipe.files]
    for tree in recipe.trees:
        paths.extend(tree_files(root / tree.path, tree.glob))
    for path in paths:
        try:
            st = path.stat()
        except FileNotFoundError:
            digest.update(f"{path}\tmissing\n".encode())
            continue
        digest.update(f"{path}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def verify(recipe: Recipe, root: Path, *, use_stamp: bool = True) -> bool:
    """Check every file and tree of ``recipe`` under ``root``; KbqaError naming the first mismatch.

    Returns True when the files were hashed, False when a stamp from an earlier verification of
    the same sizes and mtimes made hashing unnecessary.
    """
    root = Path(root)
    stamp = cache_dir() / "verified" / f"{recipe.name}-{_stamp_key(recipe, root)[:24]}.json"
    if use_stamp and stamp.is_file():
        return False
    for check in recipe.files:
        path = root / check.path
        if not path.is_file():
            raise KbqaError(f"{recipe.name}: missing file {path}; fetch the dataset again "
                            f"(`kbqa corpus fetch {recipe.name}`) or point --mirror at a complete copy")
        actual = sha256_file(path)
        if actual != check.sha256:
            raise KbqaError(f"{recipe.name}: checksum mismatch for {path}: expected sha256 {check.sha256}, "
                            f"got {actual}; the file is corrupt or a different version: fetch it again")
    for tree in recipe.trees:
        folder = root / tree.path
        actual, count = tree_sha256(folder, tree.glob)
        if count != tree.files or actual != tree.tree_sha256:
            raise KbqaError(
                f"{recipe.name}: checksum mismatch for the tree {folder}/{tree.glob}: expected "
                f"{tree.files} files with tree_sha256 {tree.tree_sha256}, got {count} files with "
                f"{actual}; files are missing, extra or changed: fetch the dataset again")
    try:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(json.dumps({"recipe": recipe.name, "root": str(root.resolve())}) + "\n")
    except OSError:
        pass  # a read-only cache only costs re-hashing next time
    return True
