"""BERT in plain torch, loaded from a Hugging Face folder: query-time models without transformers.

Importing transformers' modeling code costs 2-3 s per process (it pulls in torch.distributed,
dynamo, sympy and scipy), more than a whole query. The committed embedder and reader are BERTs
(MiniLM), a post-norm transformer that takes 40 lines of torch (attention by torch's fused
``scaled_dot_product_attention``, as transformers' own BERT uses it), so they load here: ``config.json`` for the shape, the safetensors file memory-mapped
(``safe_open``; float32 files are used in place, float16 ones upcast once), ``tokenizer.json`` via
the ``tokenizers`` library. Outputs equal transformers' ``BertModel`` /
``BertForSequenceClassification`` within float32 rounding (tests/test_light_models.py).
``supported(folder)`` says whether a folder qualifies; callers fall back to transformers otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

WEIGHTS = "model.safetensors"


def read_config(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def supported(folder: str | Path, *, classifier: bool = False) -> bool:
    """Whether ``folder`` is a BERT this module reproduces exactly (else: load it with transformers)."""
    folder = Path(folder)
    cfg = read_config(folder)
    if cfg is None or not (folder / WEIGHTS).is_file() or not (folder / "tokenizer.json").is_file():
        return False
    archs = cfg.get("architectures") or []
    return (
        cfg.get("model_type") == "bert"
        and cfg.get("hidden_act", "gelu") == "gelu"
        and cfg.get("position_embedding_type", "absolute") == "absolute"
        and not cfg.get("is_decoder", False)
        and (not classifier or archs == ["BertForSequenceClassification"])
        and (classifier or not archs or archs == ["BertModel"])
        and (not classifier or cfg.get("problem_type") in (None, "single_label_classification"))
    )


def load_tokenizer(folder: str | Path, max_length: int) -> Any:
    """The folder's ``tokenizer.json`` truncating to ``max_length`` tokens (special tokens included), unpadded."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(Path(folder) / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_length, strategy="longest_first")
    return tok


def _build(cfg: dict[str, Any], num_labels: int) -> Any:
    import torch
    from torch import nn
    from torch.nn import functional as F

    hidden, eps, heads = cfg["hidden_size"], cfg.get("layer_norm_eps", 1e-12), cfg["num_attention_heads"]

    class Layer(nn.Module):
        """BERT's post-norm layer: attention (torch's fused SDPA) and a GELU feed-forward block."""

        def __init__(self) -> None:
            super().__init__()
            self.qkv = nn.Linear(hidden, 3 * hidden)  # query, key and value projections, packed
            self.out = nn.Linear(hidden, hidden)
            self.norm1 = nn.LayerNorm(hidden, eps=eps)
            self.up = nn.Linear(hidden, cfg["intermediate_size"])
            self.down = nn.Linear(cfg["intermediate_size"], hidden)
            self.norm2 = nn.LayerNorm(hidden, eps=eps)

        def forward(self, x: Any, keep: Any) -> Any:
            b, t, _ = x.shape
            q, k, v = self.qkv(x).view(b, t, 3, heads, hidden // heads).permute(2, 0, 3, 1, 4)
            a = F.scaled_dot_product_attention(q, k, v, attn_mask=keep).transpose(1, 2).reshape(b, t, hidden)
            x = self.norm1(x + self.out(a))
            return self.norm2(x + self.down(F.gelu(self.up(x))))

    class Bert(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.word = nn.Embedding(cfg["vocab_size"], hidden)
            self.position = nn.Embedding(cfg["max_position_embeddings"], hidden)
            self.token_type = nn.Embedding(cfg.get("type_vocab_size", 2), hidden)
            self.norm = nn.LayerNorm(hidden, eps=eps)
            self.layers = nn.ModuleList(Layer() for _ in range(cfg["num_hidden_layers"]))
            if num_labels:
                self.pooler = nn.Linear(hidden, hidden)
                self.classifier = nn.Linear(hidden, num_labels)
            self.config = SimpleNamespace(**{**cfg, "num_labels": num_labels})

        def hidden_states(self, input_ids: Any, attention_mask: Any) -> Any:
            positions = torch.arange(input_ids.shape[1], device=input_ids.device)
            # the word table may stay float16 as stored (memory-mapped): only the looked-up rows are upcast
            x = self.word(input_ids).float() + self.position(positions)[None] + self.token_type.weight[0]
            x = self.norm(x)
            keep = attention_mask.bool()[:, None, None, :]  # attend to real tokens only
            for layer in self.layers:
                x = layer(x, keep)
            return x

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            """``.last_hidden_state``, and ``.logits`` for a classifier (token types are all 0)."""
            x = self.hidden_states(input_ids, attention_mask)
            if not num_labels:
                return SimpleNamespace(last_hidden_state=x)
            return SimpleNamespace(last_hidden_state=x, logits=self.classifier(torch.tanh(self.pooler(x[:, 0]))))

    # on the meta device and without init: the weights are assigned from the file right after, and
    # initialising meta tensors runs torch's Python decompositions, which import dynamo (~0.9 s)
    with torch.device("meta"), _no_init():
        return Bert()


@contextmanager
def _no_init() -> Iterator[None]:
    """torch.nn.init's random initialisers as no-ops (as transformers' ``no_init_weights`` does)."""
    from torch.nn import init

    names = ("normal_", "uniform_", "kaiming_uniform_", "ones_", "zeros_")
    saved = {name: getattr(init, name) for name in names}
    try:
        for name in names:
            setattr(init, name, lambda tensor, *args, **kwargs: tensor)
        yield
    finally:
        for name, fn in saved.items():
            setattr(init, name, fn)


def _state_dict(path: Path, cfg: dict[str, Any], num_labels: int) -> dict[str, Any]:
    """HF BERT tensors renamed to the module's (q, k, v packed as torch's attention expects)."""
    import torch
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        names = {k.removeprefix("bert."): k for k in f.keys()}

        def get(name: str) -> Any:
            t = f.get_tensor(names[name])  # a view of the memory-mapped file
            # float16 files upcast through numpy: torch's own conversion runs multi-threaded and was
            # 20x slower on a busy 2-core machine (0.29 s vs 0.013 s per model)
            return t if t.dtype == torch.float32 else torch.from_numpy(t.numpy().astype(np.float32))

        sd = {
            "word.weight": f.get_tensor(names["embeddings.word_embeddings.weight"]),  # as stored
            "position.weight": get("embeddings.position_embeddings.weight"),
            "token_type.weight": get("embeddings.token_type_embeddings.weight"),
            "norm.weight": get("embeddings.LayerNorm.weight"),
            "norm.bias": get("embeddings.LayerNorm.bias"),
        }
        for i in range(cfg["num_hidden_layers"]):
            src, dst = f"encoder.layer.{i}.", f"layers.{i}."
            for part in ("weight", "bias"):
                sd[dst + f"qkv.{part}"] = torch.from_numpy(np.concatenate(
                    [get(src + f"attention.self.{m}.{part}").numpy() for m in ("query", "key", "value")]
                ))
                sd[dst + f"out.{part}"] = get(src + f"attention.output.dense.{part}")
                sd[dst + f"norm1.{part}"] = get(src + f"attention.output.LayerNorm.{part}")
                sd[dst + f"up.{part}"] = get(src + f"intermediate.dense.{part}")
                sd[dst + f"down.{part}"] = get(src + f"output.dense.{part}")
                sd[dst + f"norm2.{part}"] = get(src + f"output.LayerNorm.{part}")
        if num_labels:
            for part in ("weight", "bias"):
                sd[f"pooler.{part}"] = get(f"pooler.dense.{part}")
                sd[f"classifier.{part}"] = get(f"classifier.{part}")
    return sd


def load_bert(folder: str | Path, *, num_labels: int = 0, device: str = "cpu") -> Any:
    """The BERT (a classifier with ``num_labels`` > 0) in ``folder``, in eval mode on ``device``.

    Raises KeyError if the weights file lacks a tensor (check :func:`supported` first)."""
    folder = Path(folder)
    cfg = read_config(folder)
    if cfg is None:
        raise FileNotFoundError(f"{folder}/config.json")
    model = _build(cfg, num_labels)
    model.load_state_dict(_state_dict(folder / WEIGHTS, cfg, num_labels), assign=True)
    return model.to(device).eval()


def pad_batch(ids: list[list[int]], pad_id: int, device: Any) -> tuple[Any, Any]:
    """Right-padded ``input_ids`` and ``attention_mask`` tensors for token id lists."""
    import torch

    width = max(len(x) for x in ids)
    input_ids = np.full((len(ids), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(ids), width), dtype=np.int64)
    for row, seq in enumerate(ids):
        input_ids[row, : len(seq)] = seq
        mask[row, : len(seq)] = 1
    return torch.from_numpy(input_ids).to(device), torch.from_numpy(mask).to(device)


class PairTokenizer:
    """The slice of a transformers tokenizer that kbqa's classifiers call, on a ``tokenizers.Tokenizer``:
    ``tok(text, pair, truncation=..., max_length=...)["input_ids"]`` and ``pad_token_id``."""

    def __init__(self, folder: str | Path, pad_token_id: int) -> None:
        from tokenizers import Tokenizer

        self.backend_tokenizer = Tokenizer.from_file(str(Path(folder) / "tokenizer.json"))
        self.backend_tokenizer.no_padding()
        self.pad_token_id = pad_token_id

    def __call__(self, text: str, text_pair: str | None = None, *, truncation: bool | str = True,
                 max_length: int | None = None) -> dict[str, list[int]]:
        tok = self.backend_tokenizer
        if truncation and max_length:  # "longest_first" (as transformers' True) trims the longer side first
            tok.enable_truncation(max_length, strategy="longest_first")
        else:
            tok.no_truncation()
        return {"input_ids": tok.encode(text, text_pair).ids}
