"""LoRA on a sentence-transformers model (peft), saved as an adapter folder (:mod:`kbqa.adapter`).

``kbqa train embedder --lora-rank R`` trains low-rank updates of the transformer's Linear layers
instead of every weight, and saves only them: an adapter of a few MB next to the sentence-transformers
files and kbqa's record of the base, refused above :data:`kbqa.adapter.MAX_ADAPTER_BYTES`.
The layers adapted default to peft's choice for the architecture (BERT/MiniLM: ``query``, ``value``;
MPNet: ``q``, ``v``); ``--lora-targets`` names others.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kbqa import adapter
from kbqa.errors import KbqaError

# peft's per-architecture defaults lack some encoders kbqa can train on
DEFAULT_TARGETS = {"mpnet": ["q", "v"]}


def add_lora(model: Any, *, rank: int, alpha: float, dropout: float, targets: Sequence[str] = ()) -> None:
    """Wrap the transformer of ``model`` (in place) with fresh LoRA layers; only they stay trainable."""
    from peft import LoraConfig, get_peft_model

    module = model[0]
    model_type = getattr(module.model.config, "model_type", "?")
    chosen = list(targets) or DEFAULT_TARGETS.get(model_type)  # None: peft's default for the architecture
    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=chosen, bias="none")
    try:
        with adapter.peft_warnings_off():
            module.model = get_peft_model(module.model, config)
    except ValueError as exc:
        raise KbqaError(f"LoRA on a {model_type!r} model: {exc}; pass --lora-targets with the names of its Linear "
                        "layers to adapt (e.g. query,value)") from None
    check_size(model)


def adapter_bytes(model: Any) -> int:
    """Bytes of the adapter's tensors as they will be saved (fp32 LoRA matrices)."""
    from peft import get_peft_model_state_dict

    return sum(t.numel() * t.element_size() for t in get_peft_model_state_dict(model[0].model).values())


def check_size(model: Any) -> int:
    size = adapter_bytes(model)
    if size > adapter.MAX_ADAPTER_BYTES:
        raise KbqaError(f"the LoRA adapter would be {size:,} bytes, over the {adapter.MAX_ADAPTER_BYTES:,} an adapter "
                        "may have: lower --lora-rank or adapt fewer layers (--lora-targets)")
    return size


def save_adapter(model: Any, out: str | Path, *, base: str, base_folder: str | Path) -> dict[str, Any]:
    """Save the adapter of ``model`` in ``out``: the sentence-transformers files without the
    transformer's weights, peft's adapter files and kbqa's record (returned)."""
    import peft

    out = Path(out)
    size = check_size(model)
    record = adapter.make_record(base, base_folder, out)  # before writing: fails on a base that cannot be one
    peft_model = model[0].model
    model.save(str(out), safe_serialization=True)  # modules, pooling, tokenizer, config.json (+ full weights)
    for p in out.iterdir():
        if p.is_file() and (p.name.startswith(("model.safetensors", "pytorch_model")) or p.name == "README.md"):
            p.unlink()
    peft_model.get_base_model().config.save_pretrained(str(out))  # config.json: the architecture, for readers
    for cfg in peft_model.peft_config.values():  # a local folder: peft's vocabulary check stays off the hub
        cfg.base_model_name_or_path = str(base_folder)
    peft_model.save_pretrained(str(out), safe_serialization=True)
    (out / "README.md").unlink(missing_ok=True)  # peft's generic card; MODEL_CARD.md is kbqa's
    # adapter_config.json names the base by its sentence-transformers name, not the trainer's path
    # (other tools read it; kbqa finds the base through the record)
    config_file = out / adapter.ADAPTER_CONFIG
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config["base_model_name_or_path"] = record["base"].get("pypi", {}).get("hub_name") or str(base)
    config_file.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    record["adapter"] = {"peft_version": peft.__version__, "tensor_bytes": size,
                         "file_bytes": (out / adapter.ADAPTER_WEIGHTS).stat().st_size}
    (out / adapter.RECORD).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return record


def remove_adapter_files(out: str | Path) -> None:
    """Drop an earlier adapter's files from ``out`` (a full model saved there must not look like one)."""
    for name in (adapter.ADAPTER_CONFIG, adapter.ADAPTER_WEIGHTS, adapter.RECORD):
        (Path(out) / name).unlink(missing_ok=True)
