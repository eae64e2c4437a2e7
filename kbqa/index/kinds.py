"""Index kinds: named presets over FAISS factory strings, their training needs and GPU placement.

``index.factory`` takes either a FAISS ``index_factory`` string (``"Flat"``, ``"IVF1024,PQ48"``, ...)
or one of the presets below. Templates are filled in at training time, when the number of
vectors is known: ``{nlist}`` (IVF lists, about 4*sqrt(n) rounded to a power of two unless
``index.nlist`` is set) and ``{pq_m}`` (PQ sub-quantizers: one byte per 8 dimensions; ``np``: no polysemous training,
which costs minutes and serves only Hamming-filtered search, unused here).

Training needs a minimum sample, as FAISS's k-means does (it warns below 39 points per centroid):
an IVF kind needs ``39 * nlist`` vectors, a PQ kind with 8-bit codes ``39 * 256 = 9984``. Below
that, building raises a ``KbqaError`` naming the kind, the minimum and the fix. The sample is
``index.train_size`` vectors (default: ``50 * nlist``, at least the minimum, at most all of them),
drawn with a fixed seed so that a build is reproducible.

How each kind handles updates (``remove``):

* flat, sq8 (``IndexFlatCodes``): rows are removed and compacted in place.
* IVF kinds: vectors carry explicit labels; ``remove_ids`` drops them from their lists.
* HNSW cannot remove from its graph: removed vectors become tombstones, masked at search with an
  ``IDSelectorNot``; once tombstones exceed ``index.rebuild_fraction`` of the graph it is rebuilt
  from the stored float32 vectors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from kbqa.config import IndexConfig
from kbqa.errors import KbqaError

MIN_POINTS_PER_CENTROID = 39  # FAISS's k-means warns below this many training points per centroid
TRAIN_POINTS_PER_LIST = 50
DEFAULT_TRAIN_SIZE = 65536  # kinds without lists (sq8, PQ): enough for codebooks and ranges
ADVISE_APPROXIMATE_ABOVE = 1_000_000  # `kbqa index info` suggests a preset past this many vectors


@dataclass(frozen=True)
class Preset:
    template: str
    nprobe: int = 0
    ef_search: int = 0
    refine: int = 1  # 1 = results as the index scores them; r > 1 re-scores r*k candidates exactly
    about: str = ""


PRESETS: dict[str, Preset] = {
    "flat": Preset("Flat", about="exact inner product (default; 4 bytes/dim)"),
    "hnsw": Preset("HNSW32", ef_search=128, about="graph; fast queries, +~256 B/vector of links, no training"),
    "ivf-flat": Preset("IVF{nlist},Flat", nprobe=128, about="inverted lists over float32 vectors"),
    "ivf-sq8": Preset("IVF{nlist},SQ8", nprobe=128, refine=4, about="inverted lists over 8-bit scalar codes (1 byte/dim)"),
    "ivf-pq": Preset("IVF{nlist},PQ{pq_m}np", nprobe=256, refine=100,
                     about="inverted lists over PQ codes (1 byte per 8 dims); re-scored against stored vectors"),
    "ivf-pq-fine": Preset("IVF{nlist},PQ{pq_fine}np", nprobe=256, refine=32,
                          about="ivf-pq with twice the code bytes (1 byte per 4 dims): fewer candidates to re-score"),
    "opq-ivf-pq": Preset("OPQ{pq_m},IVF{nlist},PQ{pq_m}np", nprobe=256, refine=100, about="ivf-pq with an OPQ rotation"),
    "sq8": Preset("SQ8", refine=4, about="exhaustive scan over 8-bit scalar codes (1 byte/dim)"),
}


def preset_name(factory: str) -> str | None:
    key = factory.strip().lower()
    return key if key in PRESETS else None


def auto_nlist(n: int) -> int:
    """About 4*sqrt(n), a power of two, never more lists than the sample can train."""
    target = 4 * math.sqrt(max(n, 1))
    nlist = 2 ** max(0, round(math.log2(target)))
    return max(1, min(nlist, n // MIN_POINTS_PER_CENTROID))


def resolve_factory(cfg: IndexConfig, dim: int, n: int) -> str:
    """The concrete FAISS factory string for ``n`` vectors of ``dim`` dimensions."""
    name = preset_name(cfg.factory)
    template = PRESETS[name].template if name else cfg.factory
    return template.format(nlist=cfg.nlist or auto_nlist(n), pq_m=_pq_m(dim, 8), pq_fine=_pq_m(dim, 4))


def _pq_m(dim: int, dims_per_code: int) -> int:
    m = max(1, dim // dims_per_code)
    while dim % m:  # PQ needs m to divide the dimension
        m -= 1
    return m


def query_params(cfg: IndexConfig) -> dict[str, int]:
    """nprobe / ef_search / refine in effect: the config's when set (> 0), else the preset's."""
    name = preset_name(cfg.factory)
    p = PRESETS[name] if name else Preset(cfg.factory, nprobe=16, ef_search=64)
    return {
        "nprobe": cfg.nprobe or p.nprobe,
        "ef_search": cfg.ef_search or p.ef_search,
        "refine": cfg.refine or p.refine,
    }


def structure(faiss: Any, index: Any) -> str:
    """'compact' (rows renumbered on removal), 'ivf' (explicit labels) or 'graph' (no removal)."""
    if extract_ivf(faiss, index) is not None:
        return "ivf"
    if any("HNSW" in type(part).__name__ for part in _parts(faiss, index)):
        return "graph"
    return "compact"


def extract_ivf(faiss: Any, index: Any) -> Any:
    """The IVF layer inside ``index`` (through pre-transforms and refine wrappers), or None."""
    try:
        return faiss.extract_index_ivf(index)
    except (RuntimeError, AttributeError):
        return None


def min_training_size(faiss: Any, index: Any) -> int:
    """Vectors needed to train ``index`` well (0 when it needs no training)."""
    if index.is_trained:
        return 0
    need = 1
    ivf = extract_ivf(faiss, index)
    if ivf is not None:
        need = max(need, MIN_POINTS_PER_CENTROID * ivf.nlist)
    ksub = _pq_centroids(faiss, index)
    if ksub:
        need = max(need, MIN_POINTS_PER_CENTROID * ksub)
    return need


def _pq_centroids(faiss: Any, index: Any) -> int:
    for part in _parts(faiss, index):
        pq = getattr(part, "pq", None)
        if pq is not None and hasattr(pq, "ksub"):
            return int(pq.ksub)
    return 0


def _parts(faiss: Any, index: Any) -> list[Any]:
    out = [faiss.downcast_index(index)]
    if type(out[0]).__name__ == "IndexPreTransform":
        out.append(faiss.downcast_index(out[0].index))
    return out


def train_size(cfg: IndexConfig, faiss: Any, index: Any, n: int) -> int:
    need = min_training_size(faiss, index)
    if need == 0:
        return 0
    if n < need:
        raise KbqaError(
            f"index.factory {cfg.factory!r} needs at least {need} vectors to train "
            f"(FAISS k-means wants {MIN_POINTS_PER_CENTROID} per centroid), but there are only {n}; "
            "use the 'flat' preset for a corpus this small, or set a smaller index.nlist"
        )
    ivf = extract_ivf(faiss, index)
    auto = max(need, TRAIN_POINTS_PER_LIST * ivf.nlist if ivf is not None else DEFAULT_TRAIN_SIZE)
    return min(n, max(cfg.train_size or auto, need))


def gpu_plan(cfg: IndexConfig, n_gpu: int, kind: str) -> str:
    """Where a FAISS index lives: 'cpu', 'replicate' (throughput) or 'shard' (memory) across GPUs.

    FAISS has no GPU HNSW: graph kinds stay on the CPU. ``use_gpu = 'always'`` with no GPU is an error.
    """
    if cfg.use_gpu == "always" and n_gpu == 0:
        raise KbqaError("index.use_gpu = 'always' but FAISS sees no GPU (is faiss-gpu-cu12 installed?)")
    if n_gpu == 0 or cfg.use_gpu == "never" or kind == "graph":
        return "cpu"
    return "shard" if cfg.gpu_shard and n_gpu > 1 else "replicate"
