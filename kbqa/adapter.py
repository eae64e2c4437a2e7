"""Parameter-efficient adapters (peft LoRA): a fine-tuned model kept as its base plus a small delta.

An adapter folder is a sentence-transformers folder without the transformer's weights
(``kbqa train embedder --lora-rank R`` writes one):

- ``adapter_model.safetensors`` + ``adapter_config.json``: peft's LoRA weights and settings;
- ``modules.json``, ``sentence_bert_config.json``, ``1_Pooling/``, ``config.json``, the tokenizer files:
  the model around the transformer, as sentence-transformers saved it;
- ``kbqa_adapter.json``: kbqa's record of the base: a PyPI spec (:mod:`kbqa.bases`: packages, versions
  and how to find the folder in them) or a local folder (its path, and its path relative to the adapter,
  so that a copied ``models/`` keeps working), and the base weights' sha256.

:func:`load_model` finds the base offline, checks its sha256 against the record, loads it with
sentence-transformers, applies the adapter with peft and merges it into the weights (inference then
costs what the base costs). :func:`adapter_checksum` is the model's ``weights_sha256``: it covers the
base's sha256 and the adapter's files, so an index built with one adapter, or with the bare base,
refuses another. peft is imported here only, and only when an adapter is loaded.

Why not ``SentenceTransformer(folder)`` directly: its peft path reads the base from
``adapter_config.json``'s ``base_model_name_or_path`` (a hub name or the trainer's absolute path,
neither available offline on another machine), and transformers 5.24's integration asks for peft >= 0.22.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kbqa.bases import BaseSpec, base_path, pypi_base
from kbqa.errors import KbqaError
from kbqa.files import sha256_file, weights_sha256

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
RECORD = "kbqa_adapter.json"
RECORD_FORMAT = 1
MAX_ADAPTER_BYTES = 50_000_000  # what may be committed as an adapter (issue 18)


def is_adapter(path: str | Path) -> bool:
    """Whether ``path`` is an adapter folder (it holds ``adapter_config.json``)."""
    return (Path(path) / ADAPTER_CONFIG).is_file()


def read_record(folder: str | Path) -> dict[str, Any]:
    """The folder's ``kbqa_adapter.json``, checked."""
    path = Path(folder) / RECORD
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KbqaError(f"{folder} holds a peft adapter but no {RECORD} naming its base model; save adapters with "
                        "`kbqa train embedder --lora-rank R`, or write the record (docs/adapters.md)") from None
    except json.JSONDecodeError as exc:
        raise KbqaError(f"{path}: not valid JSON ({exc})") from None
    base = record.get("base") if isinstance(record, dict) else None
    if (record.get("format") != RECORD_FORMAT or not isinstance(base, dict) or not base.get("weights_sha256")
            or ("pypi" in base) == ("path" in base)):
        raise KbqaError(f"{path}: expected format {RECORD_FORMAT} with base.weights_sha256 and either base.pypi "
                        "or base.path (docs/adapters.md)")
    return record


def make_record(base: str, base_folder: str | Path, folder: str | Path) -> dict[str, Any]:
    """The record of an adapter saved in ``folder`` and trained on ``base`` (a PyPI base's name, else a
    local folder) found at ``base_folder``."""
    if is_adapter(base_folder):
        raise KbqaError(f"the base {base!r} is itself an adapter; train on a full model")
    sha = weights_sha256(base_folder)
    if sha is None:
        raise KbqaError(f"the base {base!r} at {base_folder} has no weight files; an adapter needs a local base")
    spec = pypi_base(base)
    if spec is not None:
        where: dict[str, Any] = {"pypi": spec.pinned().to_json()}
    else:
        absolute = Path(base_folder).resolve()
        where = {"path": str(absolute), "relative": os.path.relpath(absolute, Path(folder).resolve())}
    return {"format": RECORD_FORMAT, "base": {"name": base, **where, "weights_sha256": sha}}


def resolve_base(folder: str | Path) -> Path:
    """The base model folder of the adapter in ``folder``, found offline and checked against the record."""
    folder = Path(folder)
    record = read_record(folder)
    base = record["base"]
    if "pypi" in base:
        spec = BaseSpec.from_json(base["pypi"], str(folder / RECORD))
        path = base_path(spec)
        fix = f"`{spec.pip_command()}`"
    else:
        # beside the adapter as it was when trained (a copied models/), else where it was
        candidates = [(folder / base["relative"]).resolve()] if base.get("relative") else []
        candidates.append(Path(base["path"]))
        path = next((p for p in candidates if p.is_dir()), None)
        places = " or ".join(str(p) for p in candidates)
        fix = f"put the base it was trained on at {places} ({folder / RECORD} names it)"
        if path is None:
            raise KbqaError(f"the adapter at {folder} needs its base model {base['name']!r}, which is not at {places}: "
                            f"{fix}")
    sha = weights_sha256(path)
    if sha != base["weights_sha256"]:
        raise KbqaError(f"the adapter at {folder} was trained on a base {base['name']!r} with weights sha256 "
                        f"{base['weights_sha256'][:12]}..., but the one at {path} has {str(sha)[:12]}...: {fix}")
    return path


def adapter_checksum(folder: str | Path) -> str:
    """The identity of base + adapter: sha256 over the base weights' recorded sha256 and the adapter's
    config and weights (the record is checked against the real base when the model loads)."""
    folder = Path(folder)
    lines = [f"base\t{read_record(folder)['base']['weights_sha256']}"]
    lines += [f"{name}\t{sha256_file(folder / name)}" for name in (ADAPTER_CONFIG, ADAPTER_WEIGHTS)]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def merge_adapter(model: Any, folder: str | Path) -> None:
    """Apply the peft adapter in ``folder`` to the transformer of a sentence-transformers model
    (SentenceTransformer or CrossEncoder) and merge it into the weights, in place."""
    try:
        from peft import PeftModel
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise ImportError(f"the adapter at {folder} needs peft: `pip install kbqa` installs it") from exc
    module = model[0]  # the Transformer module; its .model is the transformers model (.auto_model has no setter)
    with peft_warnings_off():
        adapted = PeftModel.from_pretrained(module.model, str(folder), is_trainable=False)
    module.model = adapted.merge_and_unload()


@contextmanager
def peft_warnings_off() -> Iterator[None]:
    """peft 0.21 calls transformers 5's deprecated ``is_gradient_checkpointing``: not the user's concern."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        yield


def load_model(folder: str | Path, *, device: str, dtype: Any = None) -> Any:
    """The SentenceTransformer of an adapter folder: its base (offline, checked) with the adapter merged,
    reading the folder's own ``max_seq_length``."""
    from sentence_transformers import SentenceTransformer

    base = resolve_base(folder)
    model = SentenceTransformer(str(base), device=device, local_files_only=True,
                                model_kwargs={"dtype": dtype} if dtype is not None else None)
    merge_adapter(model, folder)
    st_config = Path(folder) / "sentence_bert_config.json"
    if st_config.is_file():
        saved = json.loads(st_config.read_text(encoding="utf-8")).get("max_seq_length")
        if saved:
            model.max_seq_length = int(saved)
    return model


def load_cross_encoder(folder: str | Path, **kwargs: Any) -> Any:
    """The CrossEncoder of an adapter folder whose base is a cross-encoder (``kwargs``: CrossEncoder's)."""
    from sentence_transformers import CrossEncoder

    model = CrossEncoder(str(resolve_base(folder)), local_files_only=True, **kwargs)
    merge_adapter(model, folder)
    return model
