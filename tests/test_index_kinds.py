"""Approximate index kinds against exact search: recall, save/load, updates, tombstones, GPU placement."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import KB_DOCS, tiny_config_toml

from kbqa.config import IndexConfig
from kbqa.errors import KbqaError
from kbqa.index.exact import ExactIndex
from kbqa.index.faiss_backend import FaissIndex
from kbqa.index.kinds import PRESETS, auto_nlist, gpu_plan, resolve_factory

faiss = pytest.importorskip("faiss")

DIM = 32
# kind -> (config, recall@10 threshold against exact search on the clustered data below)
KINDS = {
    "hnsw": ({"factory": "hnsw"}, 0.95),
    "ivf-flat": ({"factory": "ivf-flat"}, 0.9),
    "ivf-sq8": ({"factory": "ivf-sq8"}, 0.9),
    "sq8": ({"factory": "sq8"}, 0.95),
    # 4-bit PQ (16 centroids per sub-quantizer) trains on a few thousand vectors; re-scored x8
    "ivf-pq4": ({"factory": "IVF16,PQ16x4np", "refine": 8}, 0.9),
}


KIND_PARAMS = [pytest.param(k, marks=pytest.mark.slow) if k == "ivf-pq4" else k for k in sorted(KINDS)]


def clustered(n: int, seed: int = 0, clusters: int = 40) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, DIM))
    x = centres[rng.integers(0, clusters, n)] + 0.35 * rng.normal(size=(n, DIM))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def ids(n: int, prefix: str = "c") -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def recall(found, truth) -> float:
    return float(np.mean([len({i for i, _ in f} & {i for i, _ in t}) / max(len(t), 1) for f, t in zip(found, truth)]))


def build(cfg: IndexConfig, vectors: np.ndarray, names: list[str]) -> FaissIndex:
    index = FaissIndex.create(DIM, cfg)
    for start in range(0, len(vectors), 700):  # blocks, as a build adds them
        index.add(names[start:start + 700], vectors[start:start + 700])
    return index


def exact(vectors: np.ndarray, names: list[str]) -> ExactIndex:
    ref = ExactIndex(DIM)
    ref.add(names, vectors)
    return ref


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    x = clustered(3200)
    q = clustered(60, seed=7)
    return x, q


@pytest.mark.parametrize("kind", KIND_PARAMS)
def test_kind_matches_exact_search_and_survives_save_load(kind, data, tmp_path):
    x, q = data
    over, threshold = KINDS[kind]
    cfg = IndexConfig(use_gpu="never", **over)
    index = build(cfg, x, ids(len(x)))
    truth = exact(x, ids(len(x))).search(q, 10)
    found = index.search(q, 10)
    assert recall(found, truth) >= threshold
    for row in found:
        scores = [s for _, s in row]
        assert len(row) == 10 and scores == sorted(scores, reverse=True) and len({i for i, _ in row}) == 10
    info = index.describe()
    assert info["kind"] in (kind, "custom") and info["tombstones"] == 0
    assert info["resolved_factory"] == resolve_factory(cfg, DIM, len(x))
    index.save(tmp_path)
    meta = json.loads((tmp_path / "index.json").read_text())
    assert meta["factory"] == info["resolved_factory"]
    assert np.allclose(np.load(tmp_path / "vectors.npy"), x)  # float32 originals, not codes
    loaded = FaissIndex.load(tmp_path, cfg, DIM)
    assert loaded.search(q, 10) == found
    assert isinstance(loaded.stored(), np.memmap)  # refinement reads the vectors from disk


@pytest.mark.parametrize("kind", KIND_PARAMS)
def test_updates_per_kind_add_change_remove(kind, data, tmp_path):
    x, q = data
    over, threshold = KINDS[kind]
    cfg = IndexConfig(use_gpu="never", **over)
    names = ids(len(x))
    index = build(cfg, x[:2800], names[:2800])
    index.search(q[:1], 1)  # trained now; what follows is an update of a trained index
    trained = index.state
    index.save(tmp_path)
    index = FaissIndex.load(tmp_path, cfg, DIM)
    # IVF lists are served from a read-only memory map; changing them first takes a private copy
    # (FAISS would abort the process on a write to mapped lists)
    assert (index.mapped_from is not None) == (index.state.structure == "ivf")
    gone = names[:150]
    assert index.remove(gone + ["never-there"]) == 150
    assert index.mapped_from is None
    changed = names[150:200]
    index.remove(changed)
    fresh = clustered(50, seed=99)
    index.add(changed, fresh)  # the same ids with new vectors
    index.add(names[2800:], x[2800:])  # new ones
    live_names = names[200:] + changed
    live = np.concatenate([x[200:], fresh])
    assert len(index) == len(live_names)
    found = index.search(q, 10)
    assert not {i for row in found for i, _ in row} & set(gone)
    assert recall(found, exact(live, live_names).search(q, 10)) >= threshold
    top = index.search(fresh[:10], 1)
    assert sum(row[0][0] == name for row, name in zip(top, changed[:10])) >= 9  # the new vectors are searched
    if index.state.structure == "ivf":
        assert index.state.nlist == trained.nlist and index.state.trained_on == trained.trained_on
        assert index.index.ntotal == len(index)  # remove_ids dropped them from the lists: no retraining


def test_hnsw_tombstones_masked_then_rebuilt(data, tmp_path):
    x, q = data
    names = ids(len(x))
    index = build(IndexConfig(factory="hnsw", rebuild_fraction=0.1), x, names)
    index.remove(names[:200])  # 6% < 10%: tombstones, no rebuild
    assert index.tombstones() == 200 and index.index.ntotal == len(x) and index.state.rebuilds is None
    masked = index.search(x[:200], 5)  # the removed vectors themselves as queries
    assert not {i for row in masked for i, _ in row} & set(names[:200])
    assert all(len(row) == 5 for row in masked)
    allowed = set(names[100:400])  # filters and tombstones together
    assert {i for row in index.search(x[:200], 5, allowed=allowed) for i, _ in row} <= allowed - set(names[:200])
    index.save(tmp_path)
    loaded = FaissIndex.load(tmp_path, IndexConfig(factory="hnsw"), DIM)
    assert loaded.tombstones() == 200 and loaded.search(x[:200], 5) == masked
    loaded.remove(names[200:400])  # 400 of 3200 = 12.5% > 10%: rebuilt from the stored vectors
    assert loaded.tombstones() == 0 and loaded.state.rebuilds == 1 and loaded.index.ntotal == len(x) - 400
    truth = exact(x[400:], names[400:]).search(q, 10)
    assert recall(loaded.search(q, 10), truth) >= 0.9


def test_query_time_settings_trade_recall(data):
    x, q = data
    names = ids(len(x))
    index = build(IndexConfig(factory="ivf-flat", use_gpu="never"), x, names)
    truth = exact(x, names).search(q, 10)
    index.cfg = IndexConfig(factory="ivf-flat", nprobe=1)
    one = recall(index.search(q, 10), truth)
    index.cfg = IndexConfig(factory="ivf-flat", nprobe=index.state.nlist)  # every list: exhaustive
    assert recall(index.search(q, 10), truth) == 1.0 > one
    assert index.describe()["nprobe"] == index.state.nlist


def test_training_needs_a_minimum_sample():
    index = FaissIndex.create(DIM, IndexConfig(factory="ivf-pq"))
    index.add(ids(2000), clustered(2000))
    with pytest.raises(KbqaError, match=r"needs at least 9984 vectors to train.*'flat'"):
        index.search(clustered(1), 5)
    assert auto_nlist(1_000_000) == 4096 and auto_nlist(100) == 2 and auto_nlist(10) == 1
    assert resolve_factory(IndexConfig(factory="ivf-pq"), 384, 1_000_000) == "IVF4096,PQ48np"
    assert resolve_factory(IndexConfig(factory="ivf-flat", nlist=100), 384, 10**6) == "IVF100,Flat"


def test_bad_settings_are_refused():
    with pytest.raises(KbqaError, match="not a valid FAISS factory"):
        FaissIndex.create(DIM, IndexConfig(factory="IVFx,Nope"))
    with pytest.raises(KbqaError, match="rebuild_fraction"):
        IndexConfig(rebuild_fraction=0)
    with pytest.raises(KbqaError, match="nprobe"):
        IndexConfig(nprobe=-1)


def test_an_index_refuses_a_config_of_another_kind(data, tmp_path):
    x, _ = data
    build(IndexConfig(factory="ivf-flat"), x, ids(len(x))).save(tmp_path)
    with pytest.raises(KbqaError, match=r"built as 'ivf-flat' \(IVF\d+,Flat\).*config asks for index.factory = 'hnsw'"):
        FaissIndex.load(tmp_path, IndexConfig(factory="hnsw"), DIM)
    resolved = json.loads((tmp_path / "index.json").read_text())["factory"]  # the resolved string is accepted too
    assert len(FaissIndex.load(tmp_path, IndexConfig(factory=resolved, nprobe=4), DIM)) == len(x)


# ---- GPU placement (decided without a GPU: FAISS's GPU calls are replaced by recording fakes) ----
def test_gpu_plan():
    assert gpu_plan(IndexConfig(), 0, "ivf") == "cpu"
    assert gpu_plan(IndexConfig(), 2, "ivf") == "replicate"
    assert gpu_plan(IndexConfig(gpu_shard=True), 2, "ivf") == "shard"
    assert gpu_plan(IndexConfig(gpu_shard=True), 1, "ivf") == "replicate"
    assert gpu_plan(IndexConfig(), 4, "graph") == "cpu"  # no GPU HNSW in FAISS
    assert gpu_plan(IndexConfig(use_gpu="never"), 4, "ivf") == "cpu"
    with pytest.raises(KbqaError, match="sees no GPU"):
        gpu_plan(IndexConfig(use_gpu="always"), 0, "compact")


@pytest.fixture()
def fake_gpus(monkeypatch):
    calls: list[tuple[str, object]] = []

    class Options:
        shard = False
        useFloat16 = False

    def to_gpus(index, co=None):
        calls.append(("to_gpu", co.shard if co else None))
        return index  # the CPU index stands in for the GPU copy: same API, real results

    def to_cpu(index):
        calls.append(("to_cpu", None))
        return index

    monkeypatch.setattr(faiss, "get_num_gpus", lambda: 2, raising=False)
    monkeypatch.setattr(faiss, "index_cpu_to_all_gpus", to_gpus, raising=False)
    monkeypatch.setattr(faiss, "index_gpu_to_cpu", to_cpu, raising=False)
    monkeypatch.setattr(faiss, "GpuMultipleClonerOptions", Options, raising=False)
    return calls


@pytest.mark.parametrize("shard", [False, True])
def test_ivf_trains_adds_and_searches_on_the_gpus_and_saves_a_cpu_index(fake_gpus, data, tmp_path, shard):
    x, q = data
    index = build(IndexConfig(factory="ivf-flat", gpu_shard=shard), x, ids(len(x)))
    found = index.search(q, 10)
    assert fake_gpus[0] == ("to_gpu", shard) and index.plan == ("shard" if shard else "replicate")
    index.add(["late"], x[:1])  # goes to the GPU copy...
    index.save(tmp_path)  # ...and the CPU index is brought up to date before it is written
    assert ("to_cpu", None) in fake_gpus
    assert FaissIndex.load(tmp_path, IndexConfig(factory="ivf-flat", use_gpu="never"), DIM).search(q, 10)[0][0] == found[0][0]
    assert index.describe()["gpu"] == index.plan


def test_hnsw_stays_on_the_cpu_with_gpus(fake_gpus, data):
    x, q = data
    index = build(IndexConfig(factory="hnsw"), x[:500], ids(500))
    index.search(q, 3)
    assert index.plan == "cpu" and not fake_gpus


# ---- through the knowledge base: manifest, updates in place, check, refusal ----
@pytest.mark.parametrize("factory", ["hnsw", "sq8"])
def test_kb_records_the_kind_and_updates_in_place(tiny_cfg, tmp_path, factory):
    from kbqa.index.check import check_index
    from kbqa.index.update import update_index
    from kbqa.pipeline import KnowledgeBase

    idx = tmp_path / "idx"
    kb = KnowledgeBase.build([KB_DOCS], idx, tiny_cfg.replace(index={"factory": factory}), progress=False)
    info = kb.manifest["index"]
    assert info["kind"] == factory and info["resolved_factory"] == PRESETS[factory].template and info["tombstones"] == 0
    docs = [json.loads(line) for line in KB_DOCS.read_text().splitlines() if line.strip()]
    changed = {**docs[1], "text": docs[1]["text"] + " Revised in 2024 after a new trial."}
    new = {"id": "n1", "title": "Amiodarone", "text": "Amiodarone causes hypothyroidism; check thyroid function."}
    delta = tmp_path / "delta.jsonl"
    delta.write_text(json.dumps(changed) + "\n" + json.dumps(new) + "\n")
    report = update_index(idx, [delta], delete_ids=[str(docs[0]["id"])])
    assert report.added == ("n1",) and report.changed == (str(changed["id"]),) and len(report.removed) == 1
    after = KnowledgeBase.load(idx)
    assert after.manifest["index"]["kind"] == factory
    hits = after.search("amiodarone thyroid", 50)
    assert str(docs[0]["id"]) not in {h.doc_id for h in hits} and "n1" in {h.doc_id for h in hits}
    assert len(after.index) == len(after.chunks)
    assert check_index(idx).ok
    ref = KnowledgeBase.load(idx, tiny_cfg.replace(index={"backend": "exact"}))  # same folder, exact reference
    assert {h.chunk_id for h in ref.search("amiodarone thyroid", 5)} == {h.chunk_id for h in after.search("amiodarone thyroid", 5)}
    with pytest.raises(KbqaError, match="config asks for index.factory"):
        KnowledgeBase.load(idx, tiny_cfg.replace(index={"factory": "ivf-flat"}))


@pytest.mark.parametrize("factory,option", [("hnsw", "--ef-search"), ("sq8", "--refine")])
def test_cli_builds_a_kind_and_takes_query_time_settings(tiny_cfg, tmp_path, capsys, factory, option):
    from kbqa.cli import main
    from kbqa.pipeline import KnowledgeBase

    cfg_file = tmp_path / "tiny.toml"
    cfg_file.write_text(tiny_config_toml(tiny_cfg.embed.model))
    idx = tmp_path / "idx"
    assert main(["index", "build", str(KB_DOCS), "--index", str(idx), "--config", str(cfg_file),
                 "--factory", factory, "--quiet"]) == 0
    assert main(["index", "info", "--index", str(idx)]) == 0
    out = capsys.readouterr().out
    assert f"faiss {factory} = " in out and "advice" not in out
    assert main(["search", "warfarin bleeding", "--index", str(idx), option, "3", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    setting = {option.removeprefix("--").replace("-", "_"): 3}
    same = KnowledgeBase.load(idx, tiny_cfg.replace(index={"factory": factory, **setting}))  # the API, same setting
    assert same.config.index.ef_search == 3 if factory == "hnsw" else same.config.index.refine == 3
    assert [h["chunk_id"] for h in printed] == [h.chunk_id for h in same.search("warfarin bleeding", k=10)]
    assert len(printed) == 10
    assert main(["search", "warfarin", "--index", str(idx), option, "0"]) != 0
    assert "must be at least 1" in capsys.readouterr().err


def test_kb_too_small_for_a_trained_kind_fails_cleanly(tiny_cfg, tmp_path):
    from kbqa.pipeline import KnowledgeBase

    with pytest.raises(KbqaError, match="needs at least .* vectors to train"):
        KnowledgeBase.build([KB_DOCS], tmp_path / "idx", tiny_cfg.replace(index={"factory": "ivf-pq"}), progress=False)
    assert not (tmp_path / "idx" / "CURRENT").exists()


def test_info_advises_an_approximate_kind_past_a_million_vectors():
    from kbqa.cli.index import advise

    assert advise({"backend": "faiss", "factory": "Flat"}, 1_000_000) is None
    assert "--factory ivf-pq" in advise({"backend": "faiss", "factory": "Flat"}, 2_000_000)
    assert advise({"backend": "faiss", "factory": "hnsw", "resolved_factory": "HNSW32"}, 5_000_000) is None


@pytest.mark.parametrize("kind", ["ivf-flat", "ivf-sq8"])
def test_two_level_training_over_the_memory_budget(kind, data, tmp_path, monkeypatch):
    """A training sample over index.train_memory_mb trains the IVF quantizer in two levels (each coarse
    cluster's rows alone, kbqa/index/two_level.py): as good as one level here, recorded, and reloaded."""
    from kbqa.index import two_level

    x, q = data
    over, threshold = KINDS[kind]
    seen: list[int] = []
    real = two_level.train
    monkeypatch.setattr(two_level, "train", lambda *a, **k: seen.append(len(a[3])) or real(*a, **k))
    one = build(IndexConfig(use_gpu="never", **over), x, ids(len(x)))
    one.search(q[:1], 1)
    assert not seen and one.state.two_level_coarse is None  # the default budget: one level
    cfg = IndexConfig(use_gpu="never", train_memory_mb=0.1, **over)  # the sample: 3200 x 32 x 4 B = 0.4 MB
    index = build(cfg, x, ids(len(x)))
    truth = exact(x, ids(len(x))).search(q, 10)
    found = index.search(q, 10)
    assert seen == [len(x)] and index.state.two_level_coarse == round(np.sqrt(index.state.nlist))
    assert index.faiss.extract_index_ivf(index.index).quantizer.ntotal == index.state.nlist
    assert recall(found, truth) >= threshold
    assert recall(found, truth) >= recall(one.search(q, 10), truth) - 0.05
    index.save(tmp_path)
    loaded = FaissIndex.load(tmp_path, cfg, DIM)
    assert loaded.state.two_level_coarse == index.state.two_level_coarse and loaded.search(q, 10) == found
    with pytest.raises(KbqaError, match="train_memory_mb"):
        IndexConfig(train_memory_mb=-1)


def test_two_level_pieces(tmp_path):
    from kbqa.index import two_level

    counts = np.array([5, 0, 100, 3, 900])
    for total in (1, 4, 50, 1008):
        fine = two_level.allocate(counts, total)
        assert fine.sum() == total and (fine <= counts).all()
        if total >= 4:
            assert ((fine > 0) == (counts > 0)).all()  # every non-empty cluster gets a centroid
    assert list(two_level.allocate(np.array([1, 1, 1, 97]), 10)) == [1, 1, 1, 7]
    with pytest.raises(ValueError, match="cannot make"):
        two_level.allocate(np.array([2, 2]), 5)
    ivf = faiss.index_factory(DIM, "IVF64,Flat", faiss.METRIC_INNER_PRODUCT)
    assert not two_level.applies(faiss, ivf, 1000, DIM, 1)  # 0.12 MB: within the budget
    assert two_level.applies(faiss, ivf, 10_000, DIM, 1)
    assert not two_level.applies(faiss, ivf, 10_000, DIM, 0)  # 0: never
    assert not two_level.applies(faiss, faiss.index_factory(DIM, "PCA16,IVF64,Flat"), 10**6, DIM, 1)
    x = clustered(6000, seed=3)
    mapped = np.lib.format.open_memmap(tmp_path / "v.npy", mode="w+", dtype=np.float32, shape=x.shape)
    mapped[:] = x
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    done = two_level.train(faiss, ivf, mapped, np.arange(0, 6000, 2), seed=1, scratch=scratch)
    assert ivf.is_trained and ivf.quantizer.ntotal == 64 and done["coarse"] == 8
    assert not list(scratch.iterdir())  # the cluster-ordered sample is removed
    centroids = ivf.quantizer.reconstruct_n(0, 64)
    assert np.allclose(np.linalg.norm(centroids, axis=1), 1, atol=1e-4)  # spherical, as IVF's own k-means
