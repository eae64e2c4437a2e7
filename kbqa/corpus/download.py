"""Fetching recipe datasets: verify a local mirror in place, or download, unpack and verify.

Mirror resolution: the ``mirror`` argument, else ``$KBQA_MIRROR``, else ``../shared/data``
relative to the current directory when it exists. Mirrored files are used in place, never copied.
Without a mirror the recipe's ``[download]`` goes into ``$KBQA_CACHE`` (default ``~/.cache/kbqa``).
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

from kbqa.corpus.recipes import Recipe, cache_dir, get_recipe, list_recipes, sha256_file, verify
from kbqa.errors import KbqaError

DEFAULT_MIRROR = Path("..") / "shared" / "data"
urlopen = urllib.request.urlopen  # module attribute so tests can swap in an offline opener


def default_mirror() -> Path | None:
    """``$KBQA_MIRROR``, else ``../shared/data`` from the current directory when it exists."""
    env = os.environ.get("KBQA_MIRROR")
    if env:
        return Path(env)
    return DEFAULT_MIRROR if DEFAULT_MIRROR.is_dir() else None


def fetch(
    name: str,
    *,
    mirror: str | Path | None = None,
    dest: str | Path | None = None,
    recipes_dir: Path | None = None,
) -> Path:
    """The verified local folder of recipe ``name`` (mirror in place, or downloaded into the cache)."""
    recipe = get_recipe(name, recipes_dir)
    if recipe is None:
        known = ", ".join(sorted(list_recipes(recipes_dir))) or "none"
        raise KbqaError(f"unknown corpus recipe {name!r}; known recipes: {known} (see `kbqa corpus list`)")
    explicit = mirror is not None or bool(os.environ.get("KBQA_MIRROR"))
    root = Path(mirror) if mirror is not None else default_mirror()
    if root is not None:
        folder = root / recipe.mirror_dir
        if folder.is_dir():
            verify(recipe, folder)
            return folder
        if explicit:
            or_download = " or unset it to download" if recipe.download else ""
            raise KbqaError(f"mirror {root} has no {recipe.mirror_dir}/ for recipe {name!r}; point "
                            f"--mirror (or KBQA_MIRROR) at a folder holding it{or_download}")
    return download(recipe, Path(dest) if dest else cache_dir() / "datasets" / recipe.name)


def download(recipe: Recipe, folder: Path) -> Path:
    """Download ``recipe`` into ``folder`` (skipped when already there and valid), unpack, verify."""
    if recipe.download is None:
        raise KbqaError(f"{recipe.name} cannot be downloaded: {recipe.mirror_only or 'no [download] in its recipe'}. "
                        "Use a mirror: --mirror DIR or KBQA_MIRROR (e.g. ../shared/data)")
    try:
        verify(recipe, folder)
        return folder  # a complete earlier download
    except KbqaError:
        pass
    spec = recipe.download
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".download-") as tmp:
        archive = Path(tmp) / (PurePosixPath(spec.url).name or "download")
        print(f"kbqa: downloading {spec.url}", flush=True)
        try:
            with urlopen(spec.url) as response, open(archive, "wb") as out:
                shutil.copyfileobj(response, out)
        except OSError as exc:  # URLError is an OSError
            raise KbqaError(f"{recipe.name}: download of {spec.url} failed ({exc}); "
                            "retry, or use a mirror with --mirror DIR") from None
        if spec.sha256:
            actual = sha256_file(archive)
            if actual != spec.sha256:
                raise KbqaError(f"{recipe.name}: checksum mismatch for {spec.url}: expected sha256 "
                                f"{spec.sha256}, got {actual}; the upstream file changed or the download broke")
        _unpack(archive, folder, spec.archive, spec.strip, spec.path)
    verify(recipe, folder)
    return folder


def _target(folder: Path, member: str, strip: int) -> Path | None:
    parts = PurePosixPath(member).parts[strip:]
    if not parts:
        return None
    if PurePosixPath(member).is_absolute() or ".." in parts:
        raise KbqaError(f"refusing to unpack {member!r}: it points outside the dataset folder")
    return folder.joinpath(*parts)


def _unpack(archive: Path, folder: Path, kind: str, strip: int, path: str) -> None:
    if kind == "file":
        target = folder / (path or archive.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(archive, target)
    elif kind == "zip":
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                target = _target(folder, info.filename, strip)
                if target is None or info.is_dir():
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
    elif kind == "tar":
        with tarfile.open(archive) as tf:
            for member in tf.getmembers():
                target = _target(folder, member.name, strip)
                if target is None or not member.isfile():
                    continue  # links and devices are never unpacked
                target.parent.mkdir(parents=True, exist_ok=True)
                with tf.extractfile(member) as src, open(target, "wb") as out:  # type: ignore[union-attr]
                    shutil.copyfileobj(src, out)
    else:
        raise KbqaError(f"unknown archive type {kind!r} in recipe; use file, zip or tar")
