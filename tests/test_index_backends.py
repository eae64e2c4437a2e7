"""FAISS against the exact numpy reference on synthetic vectors; id bookkeeping; save/load."""

from __future__ import annotations

import numpy as np
import pytest

from kbqa.config import IndexConfig
from kbqa.errors import KbqaError
from kbqa.index import create_index, load_index


def unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture()
def data():
    rng = np.random.default_rng(0)
    return [f"doc{i}#0" for i in range(500)], unit(rng, 500, 24), unit(rng, 20, 24)


def both(dim: int):
    return create_index(IndexConfig(backend="exact"), dim), create_index(IndexConfig(backend="faiss"), dim)


def test_faiss_flat_matches_exact(data):
    ids, vecs, queries = data
    exact, fast = both(24)
    for index in (exact, fast):
        index.add(ids, vecs)
    want, got = exact.search(queries, 10), fast.search(queries, 10)
    for w, g in zip(want, got):
        assert [i for i, _ in w] == [i for i, _ in g]
        np.testing.assert_allclose([s for _, s in w], [s for _, s in g], atol=1e-5)
    # brute force by hand for the first query
    best = np.argsort(-(vecs @ queries[0]))[:10]
    assert [ids[i] for i in best] == [i for i, _ in want[0]]


def test_k_is_clamped_and_empty_index(data):
    ids, vecs, queries = data
    for index in both(24):
        assert index.search(queries[:2], 5) == [[], []]
        index.add(ids[:3], vecs[:3])
        assert len(index.search(queries[:1], 50)[0]) == 3


def test_allowed_subset_and_remove(data):
    ids, vecs, queries = data
    allowed = set(ids[100:140])
    for index in both(24):
        index.add(ids, vecs)
        hits = index.search(queries, 10, allowed=allowed)
        assert all(i in allowed for row in hits for i, _ in row)
        assert all(len(row) == 10 for row in hits)
        assert index.remove([ids[0], ids[7], "missing"]) == 2
        assert len(index) == 498
        top = {i for row in index.search(queries, 498) for i, _ in row}
        assert ids[0] not in top and ids[7] not in top and ids[8] in top
    exact, fast = both(24)
    for index in (exact, fast):
        index.add(ids, vecs)
        index.remove(ids[10:20])
    assert [i for i, _ in exact.search(queries, 10)[3]] == [i for i, _ in fast.search(queries, 10)[3]]


def test_duplicate_ids_and_bad_shapes_rejected(data):
    ids, vecs, _ = data
    for index in both(24):
        index.add(ids[:5], vecs[:5])
        with pytest.raises(KbqaError, match="duplicate"):
            index.add(ids[4:6], vecs[4:6])
        assert len(index) == 5  # nothing half-added
        with pytest.raises(KbqaError, match="shape"):
            index.add(["x"], np.zeros((1, 3), dtype=np.float32))


def test_save_load_round_trip_and_cross_backend(tmp_path, data):
    ids, vecs, queries = data
    fast = create_index(IndexConfig(), 24)
    fast.add(ids, vecs)
    fast.save(tmp_path)
    again = load_index(tmp_path, IndexConfig(), 24)
    reference = load_index(tmp_path, IndexConfig(backend="exact"), 24)  # same folder, numpy backend
    assert fast.search(queries, 7) == again.search(queries, 7)
    assert [i for i, _ in fast.search(queries, 7)[0]] == [i for i, _ in reference.search(queries, 7)[0]]
    with pytest.raises(KbqaError, match="dimension"):
        load_index(tmp_path, IndexConfig(), 32)


def test_bad_factory_string():
    with pytest.raises(KbqaError, match="factory"):
        create_index(IndexConfig(factory="NotAnIndex"), 8)
