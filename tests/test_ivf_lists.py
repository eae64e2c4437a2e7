"""IVF lists added on disk (kbqa/index/ivf_lists.py): the written index is FAISS's own, byte for byte."""

from __future__ import annotations

import numpy as np
import pytest

from kbqa.index import ivf_lists
from kbqa.index.ivf_lists import ListSpill

faiss = pytest.importorskip("faiss")


def _vectors(n: int, d: int = 32, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("factory, n", [
    ("IVF16,PQ8np", 5000),   # dense list sizes ("full")
    ("IVF16,Flat", 3000),
    ("IVF16,SQ8", 3000),
    ("IVF64,PQ4np", 20),     # most lists empty ("sprs")
])
def test_spilled_index_equals_faiss_written_one(factory, n, tmp_path, monkeypatch):
    monkeypatch.setattr(ivf_lists, "SPILL_ROWS", 700)  # several blocks, and several adds per block
    monkeypatch.setattr(ivf_lists, "ADD_ROWS", 300)
    x = _vectors(max(n, 2000))
    template = faiss.index_factory(x.shape[1], factory, faiss.METRIC_INNER_PRODUCT)
    template.train(x)
    x = x[:n]
    assert ListSpill.supports(faiss, template)
    whole = faiss.clone_index(template)
    for s in range(0, n, 300):
        whole.add_with_ids(x[s:s + 300], np.arange(s, min(s + 300, n), dtype=np.int64))
    faiss.write_index(whole, str(tmp_path / "whole.index"))

    spill = ListSpill(faiss, template, tmp_path / "lists.spill")
    spill.add(x[:1000], 0)
    spill.add(x[1000:], 1000)
    spill.write_index(tmp_path / "spilled.index")
    spill.close()
    assert not (tmp_path / "lists.spill").exists() and template.ntotal == 0
    assert (tmp_path / "spilled.index").read_bytes() == (tmp_path / "whole.index").read_bytes()
    back = faiss.read_index(str(tmp_path / "spilled.index"), faiss.IO_FLAG_MMAP)
    faiss.extract_index_ivf(back).nprobe = 4
    faiss.extract_index_ivf(whole).nprobe = 4
    assert back.ntotal == n
    np.testing.assert_array_equal(back.search(x[:20], 5)[1], whole.search(x[:20], 5)[1])


def test_other_layouts_are_not_spilled():
    x = _vectors(2000)
    for factory in ("Flat", "HNSW8", "IVF16,PQ8x4fs"):
        index = faiss.index_factory(x.shape[1], factory, faiss.METRIC_INNER_PRODUCT)
        index.train(x)
        assert not ListSpill.supports(faiss, index), factory
    filled = faiss.index_factory(x.shape[1], "IVF16,Flat", faiss.METRIC_INNER_PRODUCT)
    filled.train(x)
    filled.add(x[:10])
    assert not ListSpill.supports(faiss, filled)


def _rss_file_mb() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("RssFile:"):
            return int(line.split()[1]) / 1024
    pytest.skip("no /proc/self/status")


def test_save_vectors_from_a_map_is_np_save_and_leaves_no_pages_mapped(tmp_path):
    """A memory-mapped spill is copied block by block with its pages dropped: the same file as np.save,
    and the source's pages no longer count in the process's RSS afterwards."""
    from kbqa.index.faiss_common import drop_pages, save_vectors

    x = _vectors(40_000, d=384, seed=1)  # 61 MB
    x.tofile(tmp_path / "spill.f32")
    mapped = np.memmap(tmp_path / "spill.f32", dtype=np.float32, mode="r", shape=x.shape)
    before = _rss_file_mb()
    save_vectors(tmp_path / "copy.npy", mapped, block=5000)
    after = _rss_file_mb()
    np.save(tmp_path / "ref.npy", x)
    assert (tmp_path / "copy.npy").read_bytes() == (tmp_path / "ref.npy").read_bytes()
    assert after - before < 20  # without dropping: +61 MB
    assert float(np.asarray(mapped[::997]).sum()) == pytest.approx(float(x[::997].sum()))  # still readable
    touched = float(np.asarray(mapped).sum())
    assert _rss_file_mb() - before > 50
    drop_pages(mapped[100:200])  # through a view: the map behind it
    assert _rss_file_mb() - before < 20 and np.isfinite(touched)
    drop_pages(x)  # not a map: nothing happens


def test_gather_rows_is_fancy_indexing_with_at_most_one_span_mapped(tmp_path, monkeypatch):
    """The training sample is gathered span by span: the result is vectors[rows], and at no point does
    more than about one span of the map count in RSS (all of it would, gathered at once)."""
    import kbqa.index.faiss_common as fc

    x = _vectors(40_000, d=384, seed=2)  # 61 MB
    x.tofile(tmp_path / "spill.f32")
    mapped = np.memmap(tmp_path / "spill.f32", dtype=np.float32, mode="r", shape=x.shape)
    rows = np.sort(np.random.default_rng(0).choice(len(x), size=12_000, replace=False))
    before = _rss_file_mb()
    peaks: list[float] = []
    drop = fc.drop_pages

    def recording_drop(array):
        peaks.append(_rss_file_mb() - before)
        drop(array)

    monkeypatch.setattr(fc, "drop_pages", recording_drop)
    got = fc.gather_rows(mapped, rows, block=5000)  # spans of 7.7 MB
    assert np.array_equal(got, x[rows]) and got.dtype == np.float32
    assert len(peaks) == 8 and max(peaks) < 20  # one span (+ fault-around), never the 61 MB
    assert _rss_file_mb() - before < 20
    assert np.array_equal(fc.gather_rows(x, rows[:10]), x[rows[:10]])  # in memory: plain take
    assert fc.gather_rows(mapped, rows[:0]).shape == (0, 384)
