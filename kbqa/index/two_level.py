"""Two-level k-means for IVF quantizers whose training sample would not fit a memory budget.

An IVF kind trains its ``nlist`` centroids on ``50 * nlist`` sampled vectors (kinds.py), and ``nlist`` grows
as about ``4 * sqrt(n)``: the sample is 315 MB of float32 at 1M 384-d vectors, 1.26 GB at 10M, and it is
the largest thing a build holds once everything else streams (docs/scaling.md section 13). Above
``index.train_memory_mb`` the quantizer is trained in two levels instead, as ``faiss.contrib.clustering``'s
``two_level_clustering`` does, but without ever holding the sample:

1. about ``sqrt(nlist)`` coarse centroids, from an evenly spread subset of the sample (256 per centroid);
2. every sampled vector assigned to its coarse centroid, span by span from the (memory-mapped) vectors;
3. the sample written to a scratch file in coarse-cluster order;
4. each coarse cluster's share of the ``nlist`` fine centroids (proportional to its size) trained on its
   own rows alone, read back from the scratch file, with the index's own clustering settings;
5. the fine centroids become the IVF quantizer, and the rest of the index (PQ / SQ codebooks, on residuals)
   trains on at most ``REST_ROWS`` sampled vectors, as FAISS does once its quantizer is trained.

The memory held is then the largest coarse cluster's rows plus the rest's sample, instead of the whole
sample. The centroids differ from one-level k-means, so recall is measured against it
(``benchmarks/ivf_two_level.py``).
"""

from __future__ import annotations

import math
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from kbqa.index.faiss_common import drop_pages, gather_rows

COARSE_POINTS = 256  # sampled vectors per coarse centroid (FAISS's default max_points_per_centroid)
REST_ROWS = 65_536  # PQ/SQ codebooks: FAISS's PQ k-means samples 256 x 256 points anyway
SPAN_ROWS = 65_536  # rows of the mapped vectors read (and their pages dropped) at a time


def applies(faiss: Any, index: Any, sample_rows: int, dim: int, budget_mb: int) -> bool:
    """Two-level training for ``index``: a plain IVF index (no pre-transform) whose float32 training
    sample is over ``budget_mb`` (0 = never), with enough lists to split."""
    if budget_mb <= 0 or sample_rows * dim * 4 <= budget_mb * 2**20:
        return False
    top = faiss.downcast_index(index)
    return isinstance(top, faiss.IndexIVF) and int(top.nlist) >= 4


def _spans(rows: np.ndarray) -> Iterator[tuple[int, int]]:
    """[lo, hi) ranges of the sorted ``rows`` that fall within one span of ``SPAN_ROWS`` vector rows."""
    lo = 0
    while lo < len(rows):
        hi = int(np.searchsorted(rows, (int(rows[lo]) // SPAN_ROWS + 1) * SPAN_ROWS, side="left"))
        yield lo, hi
        lo = hi


def allocate(counts: np.ndarray, total: int) -> np.ndarray:
    """Fine centroids per coarse cluster: proportional to its rows (cumulative rounding, as FAISS's
    contrib does), summing to ``total``, at least one for every non-empty cluster and never more than
    its rows."""
    cum = np.cumsum(counts)
    out = cum * total // max(1, int(cum[-1]))
    out[1:] -= out[:-1].copy()
    out = np.minimum(np.maximum(out, (counts > 0).astype(out.dtype)), counts)
    while out.sum() > total:  # the minimum of one pushed the sum over: take from the largest shares
        out[int(np.argmax(out))] -= 1
    while out.sum() < total:  # capped by rows: give to the clusters with rows to spare, largest first
        spare = counts - out
        if spare.max() <= 0:
            raise ValueError(f"{int(counts.sum())} training rows cannot make {total} centroids")
        out[int(np.argmax(np.where(spare > 0, counts / np.maximum(out, 1), -1)))] += 1
    return out


def train(faiss: Any, index: Any, vectors: np.ndarray, sample: np.ndarray, *, seed: int,
          scratch: Path | None = None) -> dict[str, Any]:
    """Train ``index`` (an untrained ``faiss.IndexIVF``) in two levels on the rows ``sample`` (sorted) of
    ``vectors``; the scratch file goes under ``scratch`` (a temporary folder by default) and is removed.
    Returns what was done (coarse clusters, their sizes, the rows the rest trained on)."""
    ivf = faiss.downcast_index(index)
    d, nlist = int(vectors.shape[1]), int(ivf.nlist)
    cp = ivf.cp
    spherical = bool(cp.spherical)
    nc1 = max(2, round(math.sqrt(nlist)))
    coarse_rows = sample[:: max(1, len(sample) // (nc1 * COARSE_POINTS))]
    coarse = faiss.Kmeans(d, nc1, niter=int(cp.niter), seed=seed, spherical=spherical,
                          max_points_per_centroid=COARSE_POINTS)
    coarse.train(gather_rows(vectors, coarse_rows, SPAN_ROWS))

    labels = np.empty(len(sample), dtype=np.int64)
    for lo, hi in _spans(sample):
        labels[lo:hi] = coarse.index.search(np.ascontiguousarray(vectors[sample[lo:hi]]), 1)[1][:, 0]
        drop_pages(vectors)
    counts = np.bincount(labels, minlength=nc1)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    # where each sampled row goes in the cluster-ordered scratch file
    position = np.empty(len(sample), dtype=np.int64)
    position[np.argsort(labels, kind="stable")] = np.arange(len(sample))
    del labels

    folder = Path(tempfile.mkdtemp(prefix="kbqa-train-", dir=scratch))
    try:
        ordered = np.lib.format.open_memmap(folder / "sample.npy", mode="w+", dtype=np.float32,
                                            shape=(len(sample), d))
        for lo, hi in _spans(sample):
            ordered[position[lo:hi]] = vectors[sample[lo:hi]]
            drop_pages(vectors)
            drop_pages(ordered)
        del position
        ordered.flush()
        fine = allocate(counts, nlist)
        centroids = np.empty((nlist, d), dtype=np.float32)
        at = 0
        for c in range(nc1):
            k = int(fine[c])
            if k == 0:
                continue
            rows = np.array(ordered[starts[c]:starts[c] + counts[c]])
            drop_pages(ordered)
            if k == 1:
                centre = rows.mean(axis=0)
                if spherical:
                    centre /= max(float(np.linalg.norm(centre)), 1e-12)
                centroids[at] = centre
            else:
                km = faiss.Kmeans(d, k, niter=int(cp.niter), seed=seed + 1 + c, spherical=spherical,
                                  max_points_per_centroid=int(cp.max_points_per_centroid))
                km.train(rows)
                centroids[at:at + k] = km.centroids
            at += k
            del rows
        del ordered
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    ivf.quantizer.reset()
    ivf.quantizer.add(centroids)  # trained, with nlist entries: FAISS's train() leaves it as it is
    rest = sample[:: max(1, math.ceil(len(sample) / REST_ROWS))]
    index.train(gather_rows(vectors, rest, SPAN_ROWS))
    return {"method": "two-level", "coarse": nc1, "coarse_sizes": [int(counts.min()), int(counts.max())],
            "rest_trained_on": len(rest)}
