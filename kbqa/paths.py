"""Where kbqa finds its files: the one place that knows, so nothing depends on the working directory.

Shipped with the package (package data): the evidence page (``kbqa/static``), and, in a wheel, the
committed splits and corpus recipes (``kbqa/_data/splits``, ``kbqa/_data/recipes``, copied there at
build time from ``eval/splits/*.json`` and ``corpora/*.toml``; see setup.py).

The committed models (``models/reader``, ``embedder``, ``reranker``, ``ddi``, ``qtype``; ~45 MB each) are not in
the wheel. The folder of model NAME is the first of:

1. its own variable, when set: ``$KBQA_READER``, ``$KBQA_EMBEDDER``, ``$KBQA_RERANKER``, ``$KBQA_DDI``,
   ``$KBQA_QTYPE``;
2. ``DIR/NAME`` when the command line gave ``--models-dir DIR`` (:func:`use_models_dir`);
3. ``$KBQA_HOME/models/NAME`` when ``$KBQA_HOME`` is set (a clone of the repository, or any folder
   holding a copy of its ``models/``);
4. ``models/NAME`` of the checkout kbqa runs from (not for an installed wheel).

Splits and recipes: the package's copy, else ``$KBQA_HOME/eval/splits`` / ``$KBQA_HOME/corpora``, else
the checkout's. Anchor: ir_datasets ``util.home_path()``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from kbqa.errors import KbqaError

HOME_ENV = "KBQA_HOME"
PACKAGE = Path(__file__).resolve().parent
_DATA = PACKAGE / "_data"  # present in an installed wheel only
# each committed model and the variable that points at its folder directly
MODEL_ENV = {"reader": "KBQA_READER", "embedder": "KBQA_EMBEDDER", "reranker": "KBQA_RERANKER", "ddi": "KBQA_DDI",
             "qtype": "KBQA_QTYPE"}
SPLITS = ("pubmedqa", "medquad", "medquad-collections", "ddi2013", "qtype")  # committed splits, by name

_models_dir: Path | None = None


def use_models_dir(folder: str | Path | None) -> None:
    """Look for the models in ``folder`` (``--models-dir``) before ``$KBQA_HOME``; None undoes it."""
    global _models_dir
    _models_dir = Path(folder).expanduser().resolve() if folder else None


def checkout() -> Path | None:
    """The repository checkout kbqa runs from, or None for an installed package."""
    root = PACKAGE.parent
    return root if (root / "pyproject.toml").is_file() and (root / "models").is_dir() else None


def home() -> Path | None:
    """``$KBQA_HOME`` when set."""
    value = os.environ.get(HOME_ENV)
    return Path(value).expanduser() if value else None


def model_dir(name: str) -> Path | None:
    """The folder of the committed model ``name`` (see the module docstring for the order), or None
    when nothing says where to look. The folder may not exist: callers check, and explain with
    :func:`model_hint`."""
    if name not in MODEL_ENV:
        raise ValueError(f"unknown committed model {name!r}; one of {sorted(MODEL_ENV)}")
    value = os.environ.get(MODEL_ENV[name])
    if value:
        return Path(value).expanduser()
    if _models_dir is not None:
        return _models_dir / name
    base = home() or checkout()
    return base / "models" / name if base is not None else None


def cache_dir() -> Path:
    """``$KBQA_CACHE`` or ``~/.cache/kbqa``: downloads, verification stamps, unpacked base models."""
    return Path(os.environ.get("KBQA_CACHE") or Path.home() / ".cache" / "kbqa")


def model_hint(name: str) -> str:
    """How to point kbqa at the committed model ``name``: for error messages."""
    return (
        f"set ${HOME_ENV} to a folder holding models/{name} (a clone of the kbqa repository, or a copy of "
        f"its models/), pass --models-dir DIR, or set ${MODEL_ENV[name]} to the model folder"
    )


def _data_file(packaged: str, home_rel: str, name: str) -> Path:
    """``name`` in the package's data, else under ``$KBQA_HOME``, else in the checkout."""
    candidates = [_DATA / packaged / name]
    candidates += [base / home_rel / name for base in (home(), PACKAGE.parent) if base is not None]
    return next((p for p in candidates if p.exists()), candidates[-1])


def recipes_dir() -> Path:
    """The folder of the corpus recipes (``corpora/*.toml``)."""
    return _data_file("recipes", "corpora", "")


def split_path(split: str | Path) -> Path:
    """The file of a split: a committed one by name (``pubmedqa``) or by its place in the repository
    (``eval/splits/pubmedqa.json``, from whatever folder kbqa runs in), else the path given."""
    name = str(split)
    if name.startswith("eval/splits/") and name.endswith(".json"):
        name = name[len("eval/splits/"):-len(".json")]
    if name in SPLITS:
        return _data_file("splits", "eval/splits", f"{name}.json")
    return Path(split).expanduser()


def load_split(split: str | Path = "pubmedqa") -> dict[str, Any]:
    """A train/dev split (:func:`split_path`): its JSON object, with ``train`` and ``dev`` lists of ids
    (other keys, e.g. ``folds`` or the maker's record, kept). The one split reader."""
    p = split_path(split)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KbqaError(
            f"split file not found: {p}; pass a split file, or a committed split by name ({', '.join(SPLITS)})"
        ) from None
    except json.JSONDecodeError as exc:
        raise KbqaError(f"{p}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in ("train", "dev")):
        raise KbqaError(f"{p}: expected an object with 'train' and 'dev' lists of ids")
    return data


def split_part(split: str | Path, part: str) -> list[str]:
    """The ids of ``part`` (``train``, ``dev``, another list the file holds, or ``all`` = train + dev sorted)."""
    data = load_split(split)
    if part == "all":
        return sorted({i for key in ("train", "dev") for i in data[key]})
    if not isinstance(data.get(part), list):
        raise KbqaError(f"{split_path(split)} has no part {part!r}; choose one of train, dev, all")
    return list(data[part])
