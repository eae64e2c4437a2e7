"""Segments (kbqa/index/segments.py): updates write one segment and deletion bitmaps, search masks
deleted rows, ``kbqa index compact`` merges them back; versions, rollback, checks and crash safety hold."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kbqa.cli import main
from kbqa.errors import KbqaError
from kbqa.index.check import check_index, check_version
from kbqa.index.compact import compact_index
from kbqa.index.segments import referenced, segment_names
from kbqa.index.store import IndexFolder
from kbqa.index.update import update_index
from kbqa.index.versions import list_versions, rollback
from kbqa.pipeline import KnowledgeBase

DOCS = Path(__file__).parent / "data" / "kb" / "docs.jsonl"
QUERIES = ["warfarin bleeding", "statin muscle pain", "aspirin heart attack", "metformin kidney", "thyroid amiodarone"]


def rows() -> list[dict]:
    return [json.loads(line) for line in DOCS.read_text().splitlines() if line.strip()]


def write(path: Path, items: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in items))
    return path


NEW = [
    {"id": "n1", "title": "Amiodarone and thyroid", "text": "Amiodarone causes hypothyroidism and thyrotoxicosis; "
     "thyroid function should be checked every six months.", "year": 2021},
    {"id": "n2", "text": "Proton pump inhibitors reduce gastrointestinal bleeding in patients on aspirin.", "year": 2020},
]


@pytest.fixture()
def idx(tiny_cfg, tmp_path) -> Path:
    path = tmp_path / "idx"
    KnowledgeBase.build([DOCS], path, tiny_cfg, progress=False)
    return path


def three_updates(idx: Path, tmp_path: Path, encoder) -> list[dict]:
    """New documents; d2 changed twice; d4 removed and later added back; returns the final corpus."""
    src = {str(r["id"]): r for r in rows()}
    d2a = {**src["d2"], "text": src["d2"]["text"] + " Revised: the bleeding risk rises after 70."}
    d2b = {**d2a, "text": d2a["text"] + " Revised again in 2024."}
    update_index(idx, [write(tmp_path / "u1.jsonl", [d2a, NEW[0]])], delete_ids=["d4"], encoder=encoder)
    update_index(idx, [write(tmp_path / "u2.jsonl", [d2b, NEW[1]])], encoder=encoder)
    update_index(idx, [write(tmp_path / "u3.jsonl", [src["d4"]])], delete_ids=["d1"], encoder=encoder)
    return [d2b if k == "d2" else r for k, r in src.items() if k != "d1"] + NEW


def checksums(kb: KnowledgeBase) -> dict[str, str]:
    """doc id -> checksum of every live document, read through ``kb.documents`` (the stores)."""
    return {d: row["checksum"] for d, row in kb.documents.items()}


def same_hits(a: KnowledgeBase, b: KnowledgeBase, k: int, **search) -> None:
    for ha, hb in zip(a.search_many(QUERIES, k=k, **search), b.search_many(QUERIES, k=k, **search), strict=True):
        assert [h.chunk_id for h in ha] == [h.chunk_id for h in hb]
        assert [h.text for h in ha] == [h.text for h in hb]
        assert np.allclose([h.score for h in ha], [h.score for h in hb], atol=1e-5)


def test_updates_equal_a_fresh_build_and_cost_what_they_change(idx, tiny_cfg, tmp_path, encoder):
    final = three_updates(idx, tmp_path, encoder)
    kb = KnowledgeBase.load(idx, encoder=encoder)
    assert [e["name"] for e in kb.manifest["segments"]] == ["s000001", "s000002", "s000003", "s000004"]
    fresh = tmp_path / "fresh"
    KnowledgeBase.build([write(tmp_path / "final.jsonl", final)], fresh, tiny_cfg, progress=False)
    ref = KnowledgeBase.load(fresh, encoder=encoder)
    assert checksums(kb) == checksums(ref) and kb.manifest["counts"]["documents"] == len(ref.documents)
    assert kb.manifest["documents_digest"] == ref.manifest["documents_digest"] and kb.fingerprint == ref.fingerprint
    assert "documents" not in kb.manifest  # no corpus-sized map: an update writes what it changes
    assert len(kb) == len(ref) and sorted(c.chunk_id for c in kb.iter_chunks()) == sorted(c.chunk_id for c in ref.iter_chunks())
    same_hits(kb.with_search(mode="dense"), ref.with_search(mode="dense"), k=len(ref))  # Flat: every chunk, exactly
    same_hits(kb.with_search(mode="dense"), ref.with_search(mode="dense"), k=4, filters={"year_min": 2019})
    assert check_index(idx).ok
    # an update's version folder holds only its manifest and bitmaps; its segment only the new documents
    v = IndexFolder(idx).version_dir()
    assert sorted(p.name for p in v.iterdir()) == ["deleted-s000001.npy", "deleted-s000002.npy", "manifest.json"]
    seg4 = json.loads((idx / "segments" / "s000004" / "segment.json").read_text())
    assert set(seg4["documents"]) == {"d4"}


def test_deleted_rows_are_masked_everywhere(idx, tmp_path, encoder):
    three_updates(idx, tmp_path, encoder)
    kb = KnowledgeBase.load(idx, encoder=encoder)
    assert "d1" not in kb.documents and "d1#0" not in kb.chunks and kb.document_chunks("d1") == []
    with pytest.raises(KbqaError, match="no chunk"):
        kb.get_chunk("d1#0")
    seg3 = json.loads((idx / "segments" / "s000003" / "segment.json").read_text())  # the second update's
    assert kb.documents["d2"]["checksum"] == seg3["documents"]["d2"]
    assert "Revised again" in " ".join(c.text for c in kb.document_chunks("d2"))  # the newest copy
    texts = {c.chunk_id: c.text for c in kb.iter_chunks()}
    assert len(texts) == len(kb) and not any(cid.startswith("d1#") for cid in texts)
    for mode in ("dense", "lexical", "hybrid"):
        for hits in kb.with_search(mode=mode).search_many(QUERIES, k=len(kb)):
            ids = [h.chunk_id for h in hits]
            assert len(ids) == len(set(ids)) and not any(i.startswith("d1#") for i in ids)
            assert all(h.text == texts[h.chunk_id] for h in hits)  # the live copy of a replaced chunk
    lex = kb.lexical
    for q in QUERIES:
        s = lex.scores(q)
        assert all(s[i] == 0 for i, cid in enumerate(lex.ids) if cid.startswith("d1#"))
    assert len({d["doc_id"] for d in kb.documents.values()}) == len(kb.documents) == kb.manifest["counts"]["documents"]


def test_additions_only_score_bm25_like_a_fresh_build(idx, tiny_cfg, tmp_path, encoder):
    """With nothing deleted, the segments' BM25 uses the statistics of the whole corpus."""
    update_index(idx, [write(tmp_path / "add.jsonl", NEW)], encoder=encoder)
    fresh = tmp_path / "fresh"
    KnowledgeBase.build([DOCS, write(tmp_path / "new.jsonl", NEW)], fresh, tiny_cfg, progress=False)
    a, b = KnowledgeBase.load(idx, encoder=encoder), KnowledgeBase.load(fresh, encoder=encoder)
    for q in QUERIES:
        sa, sb = dict(zip(a.lexical.ids, a.lexical.scores(q))), dict(zip(b.lexical.ids, b.lexical.scores(q)))
        assert sa.keys() == sb.keys() and max(abs(sa[c] - sb[c]) for c in sa) < 1e-5
    same_hits(a.with_search(mode="hybrid"), b.with_search(mode="hybrid"), k=5)


def test_compaction_keeps_results_and_rollback_crosses_it(idx, tiny_cfg, tmp_path, encoder, capsys):
    final = three_updates(idx, tmp_path, encoder)
    before = KnowledgeBase.load(idx, encoder=encoder)
    assert main(["index", "compact", "--index", str(idx), "--keep", "10", "--quiet"]) == 0
    assert "merged 4 segments into one" in capsys.readouterr().out
    after = KnowledgeBase.load(idx, encoder=encoder)
    assert after.version == "v000005" and "segments" not in after.manifest and check_index(idx).ok
    same_hits(before.with_search(mode="dense"), after.with_search(mode="dense"), k=len(after))
    fresh = tmp_path / "fresh"
    KnowledgeBase.build([write(tmp_path / "final.jsonl", final)], fresh, tiny_cfg, progress=False)
    same_hits(after.with_search(mode="hybrid"), KnowledgeBase.load(fresh, encoder=encoder).with_search(mode="hybrid"), k=5)
    assert [(v.kind, v.segments) for v in list_versions(idx)] == [("update", 2), ("update", 3), ("update", 4), ("compact", 1)]
    assert compact_index(idx).committed is False  # one piece already

    # rollback across the compaction: the segmented version still has its segments
    assert rollback(idx, "4") == ("v000005", "v000004")  # the version before compaction
    back = KnowledgeBase.load(idx, encoder=encoder)
    same_hits(back.with_search(mode="dense"), after.with_search(mode="dense"), k=len(after))
    assert check_index(idx).ok
    # an update on the rolled-back version, then pruning: segments no kept version lists are removed
    update_index(idx, [write(tmp_path / "n3.jsonl", [{"id": "n3", "text": "Digoxin toxicity and hypokalemia."}])],
                 encoder=encoder, keep=1)
    assert IndexFolder(idx).versions() == ["v000006"]
    assert set(segment_names(idx)) == referenced(idx) == {"s000001", "s000002", "s000003", "s000004", "s000005"}
    compact_index(idx, keep=1)
    assert segment_names(idx) == [] and check_index(idx).ok


@pytest.mark.parametrize("factory", ["sq8", "hnsw", "ivf-flat"])
def test_trained_kinds_share_their_training(tiny_cfg, tmp_path, encoder, factory, monkeypatch):
    cfg = tiny_cfg.replace(index={"factory": factory})
    idx = tmp_path / "idx"
    sources = [DOCS]
    if factory.startswith("ivf"):  # k-means wants 39 vectors per list
        words = "aspirin warfarin statin metformin bleeding stroke kidney muscle fracture insulin".split()
        sources.append(write(tmp_path / "filler.jsonl", [
            {"id": f"f{i}", "text": " ".join(words[(i + j) % len(words)] for j in range(5 + i % 7)) + "."}
            for i in range(60)
        ]))
    KnowledgeBase.build(sources, idx, cfg, progress=False)
    three_updates(idx, tmp_path, encoder)
    kb = KnowledgeBase.load(idx, encoder=encoder).with_search(mode="dense")
    assert check_index(idx).ok and len(kb) == sum(1 for _ in kb.iter_chunks())
    for hits in kb.search_many(QUERIES, k=len(kb)):
        assert not any(h.chunk_id.startswith("d1#") for h in hits)
    state = json.loads((idx / "segments" / "s000002" / "index.json").read_text())
    base = json.loads((idx / "segments" / "s000001" / "index.json").read_text())
    assert state["factory"] == base["factory"] and state.get("trained_on") == base.get("trained_on")  # not retrained
    from kbqa.index.ivf_lists import ListSpill

    spilled, real = [], ListSpill.add
    monkeypatch.setattr(ListSpill, "add", lambda self, v, first: spilled.append(len(v)) or real(self, v, first))
    compact_index(idx)
    after = KnowledgeBase.load(idx, encoder=encoder).with_search(mode="dense")
    assert spilled == ([len(after)] if factory.startswith("ivf") else [])
    assert check_index(idx).ok and checksums(after) == checksums(kb)
    assert [h.chunk_id for h in after.search("warfarin bleeding", k=3)] == [h.chunk_id for h in kb.search("warfarin bleeding", k=3)]
    # the compaction streamed its vectors to disk and (IVF) its lists through a spill file: the files are
    # those of the same twin fed every vector in memory
    from kbqa.index.faiss_approx import TrainedFaissIndex

    vdir = IndexFolder(idx).version_dir()
    vectors = np.load(vdir / "vectors.npy")
    ids = json.loads((vdir / "ids.json").read_text())
    assert len(ids) == len(vectors) == len(after) and not list(vdir.rglob("*.spill"))
    reference = TrainedFaissIndex.empty_from(idx / "segments" / "s000001", after.config.index, vectors.shape[1])
    reference.add(ids, vectors)
    (tmp_path / "ref").mkdir()
    reference.save(tmp_path / "ref")
    for name in ("faiss.index", "labels.npy", "ids.json", "vectors.npy"):
        assert (vdir / name).read_bytes() == (tmp_path / "ref" / name).read_bytes(), name


def test_legacy_index_is_adopted_as_first_segment(idx, tiny_cfg, tmp_path, encoder):
    """An index written before store.sqlite and doclen.npy existed: the first update writes them for segment s1."""
    v = idx / "v000001"
    (v / "lexical" / "doclen.npy").unlink()
    (v / "store.sqlite").unlink()
    manifest = json.loads((v / "manifest.json").read_text())
    del manifest["files"]["lexical/doclen.npy"], manifest["files"]["store.sqlite"]
    (v / "manifest.json").write_text(json.dumps(manifest))
    assert check_index(idx).ok
    update_index(idx, [write(tmp_path / "add.jsonl", NEW)], encoder=encoder)
    fresh = tmp_path / "fresh"
    KnowledgeBase.build([DOCS, write(tmp_path / "new.jsonl", NEW)], fresh, tiny_cfg, progress=False)
    a, b = KnowledgeBase.load(idx, encoder=encoder), KnowledgeBase.load(fresh, encoder=encoder)
    same_hits(a.with_search(mode="lexical"), b.with_search(mode="lexical"), k=5)
    assert check_index(idx).ok and not (v / "lexical" / "doclen.npy").exists()  # the old version is untouched
    assert (idx / "segments" / "s000001" / "store.sqlite").is_file()


def test_update_manifest_does_not_grow_with_the_corpus(tiny_cfg, tmp_path, encoder):
    """An update's version holds a documents digest, not an id -> checksum map of the corpus: the same
    update of a 10x larger index writes a manifest of (about) the same size."""
    base = rows()
    sizes = []
    for reps in (1, 10):
        corpus = [{**r, "id": f"{r['id']}~{i}"} for i in range(reps) for r in base]
        idx = tmp_path / f"idx{reps}"
        KnowledgeBase.build([write(tmp_path / f"c{reps}.jsonl", corpus)], idx, tiny_cfg, progress=False)
        update_index(idx, [write(tmp_path / "add.jsonl", NEW)], delete_ids=[f"{base[0]['id']}~0"], encoder=encoder)
        manifest = IndexFolder(idx).version_dir() / "manifest.json"
        assert "documents" not in json.loads(manifest.read_text()) and check_index(idx).ok
        sizes.append(manifest.stat().st_size)
    assert len(base) >= 5 and abs(sizes[1] - sizes[0]) < 200, sizes


def test_documents_digest_is_checked_and_old_manifests_still_work(idx, tiny_cfg, tmp_path, encoder):
    """The digest of a segmented version is verified against the segments' live documents; a manifest
    written before the digest (an id -> checksum map) still loads, updates and checks."""
    from kbqa.index.manifest import documents_digest, index_fingerprint

    v1 = idx / "v000001"
    manifest = json.loads((v1 / "manifest.json").read_text())
    kb = KnowledgeBase.load(idx, encoder=encoder)
    old = {k: v for k, v in manifest.items() if k != "documents_digest"}
    old["documents"] = checksums(kb)  # the format of earlier kbqa versions
    old["fingerprint"] = index_fingerprint(old)
    (v1 / "manifest.json").write_text(json.dumps(old, indent=1))
    assert check_index(idx).ok and len(KnowledgeBase.load(idx, encoder=encoder).documents) == len(kb.documents)
    update_index(idx, [write(tmp_path / "add.jsonl", NEW)], delete_ids=["d4"], encoder=encoder)
    after = KnowledgeBase.load(idx, encoder=encoder)
    expected = {d: c for d, c in old["documents"].items() if d != "d4"} | {
        d: after.documents[d]["checksum"] for d in ("n1", "n2")}
    assert checksums(after) == expected and after.manifest["documents_digest"] == documents_digest(expected.items())
    assert check_index(idx).ok

    v2 = IndexFolder(idx).version_dir()
    bad = json.loads((v2 / "manifest.json").read_text())
    bad["documents_digest"] = documents_digest({**expected, "d4": "0" * 64}.items())
    bad["fingerprint"] = index_fingerprint(bad)
    (v2 / "manifest.json").write_text(json.dumps(bad, indent=1))
    assert any("do not add up to the manifest's documents_digest" in p for p in check_index(idx).problems)


def test_missing_or_damaged_segment_is_named(idx, tmp_path, encoder):
    update_index(idx, [write(tmp_path / "add.jsonl", NEW)], delete_ids=["d4"], encoder=encoder)
    seg = idx / "segments" / "s000002"
    with open(seg / "faiss.index", "r+b") as f:
        f.write(b"garbage!")
    report = check_index(idx)
    assert any("segment s000002" in p and "faiss.index" in p for p in report.problems), report.problems
    with pytest.raises(KbqaError, match="s000002"):
        KnowledgeBase.load(idx, encoder=encoder)
    with pytest.raises(KbqaError, match="refusing to roll back"):
        rollback(idx, "2")
    (seg / "store.sqlite").unlink()
    assert any("segment s000002" in p and "store.sqlite is missing" in p for p in check_index(idx).problems)
    shutil.rmtree(seg)
    assert any("segment s000002" in p and "is missing" in p for p in check_index(idx).problems)
    with pytest.raises(KbqaError, match=r"segment .*s000002.* is missing"):
        KnowledgeBase.load(idx, encoder=encoder)
    (idx / "v000002" / "deleted-s000001.npy").write_bytes(b"\x93NUMPY broken")
    assert any("deleted-s000001.npy" in p for p in check_index(idx).problems)
    assert rollback(idx, "1") == ("v000002", "v000001") and check_index(idx).ok  # the one-piece base still serves


KILLER = r"""
import os, signal, sys
sys.path.insert(0, sys.argv[1])
import torch, sentence_transformers  # imported once; each run happens in a forked child
from test_faults import install_faults
from kbqa.config import Config
from kbqa.embed import load_encoder
from kbqa.index.compact import compact_index
from kbqa.index.update import update_index
model, idx, source = sys.argv[2:5]
encoder = load_encoder(Config().replace(embed={"model": model}).embed)
for line in sys.stdin:
    op, step = line.split()
    pid = os.fork()
    if pid == 0:
        install_faults(lambda i, _: i == int(step) and os.kill(os.getpid(), signal.SIGKILL))
        if op == "update":
            update_index(idx, [source], delete_ids=["d4"], keep=2, encoder=encoder)
        else:
            compact_index(idx, keep=2)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    print("killed" if os.WIFSIGNALED(status) else "finished", flush=True)
"""


def test_sigkill_during_update_and_compaction(idx, tiny_cfg, tiny_encoder_dir, tmp_path, encoder):
    """SIGKILL at write steps of an update and of a compaction: the index stays loadable, checked,
    in the state before or after, leaves no orphan segment, and the next run completes."""
    from test_faults import install_faults

    source = write(tmp_path / "add.jsonl", NEW)
    pristine = tmp_path / "pristine"
    shutil.copytree(idx, pristine)
    update_index(idx, [source], delete_ids=["d4"], keep=2, encoder=encoder)
    segmented = tmp_path / "segmented"
    shutil.copytree(idx, segmented)
    after_update = KnowledgeBase.load(segmented, encoder=encoder).manifest["documents_digest"]
    states = [KnowledgeBase.load(pristine, encoder=encoder).manifest["documents_digest"], after_update]

    def count(op: str, start: Path) -> int:
        work = tmp_path / f"count-{op}"
        shutil.copytree(start, work)
        names: list[str] = []
        restore = install_faults(lambda i, name: names.append(name))
        try:
            update_index(work, [source], delete_ids=["d4"], keep=2, encoder=encoder) if op == "update" else compact_index(work, keep=2)
        finally:
            restore()
        return len(names)

    plan = [("update", pristine, count("update", pristine)), ("compact", segmented, count("compact", segmented))]
    work = tmp_path / "work"
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    killer = subprocess.Popen(
        [sys.executable, "-c", KILLER, str(Path(__file__).parent), str(tiny_encoder_dir), str(work), str(source)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
    )
    try:
        for op, start, n in plan:
            versions = set()
            for step in sorted({1, 2, n // 4, n // 2, (3 * n) // 4, n - 2, n - 1, n}):
                shutil.rmtree(work, ignore_errors=True)
                shutil.copytree(start, work)
                killer.stdin.write(f"{op} {step}\n")
                killer.stdin.flush()
                assert killer.stdout.readline().strip() == "killed", (op, step, n)
                report = check_index(work)
                assert report.ok, (op, step, report.problems)
                folder = IndexFolder(work)
                for name in folder.versions():
                    assert check_version(folder, name).ok, (op, step, name)
                kb = KnowledgeBase.load(work, encoder=encoder)
                assert kb.manifest["documents_digest"] in states and kb.search("warfarin bleeding", k=3)
                versions.add(kb.version)
                # the next writer removes what the killed one left, then the run completes
                update_index(work, [source], delete_ids=["d4"], keep=2, encoder=encoder) if op == "update" else compact_index(work, keep=2)
                assert set(segment_names(work)) == referenced(work)
                assert not [p for p in (work / "segments").iterdir() if p.name.startswith(".")]
                assert KnowledgeBase.load(work, encoder=encoder).manifest["documents_digest"] == after_update
                assert check_index(work).ok
            assert len(versions) == 2, (op, versions)  # kills landed before and after the commit
    finally:
        killer.stdin.close()
        killer.wait(timeout=60)


def test_segmented_bm25_equals_one_bm25s_index():
    """Three bm25s segments scored together equal one bm25s index over the same texts (Lucene BM25):
    the stored scores are read back to term frequencies and re-weighted with corpus-wide statistics."""
    import random

    from kbqa.index.segment_lexical import SegmentedLexical
    from kbqa.lexical import LexicalIndex

    rng = random.Random(0)
    words = "warfarin bleeding aspirin heart attack kidney failure liver dose children fever statin muscle pain".split()
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(0, 40))) for _ in range(300)]
    texts[7] = "the and of"  # nothing left after stopwords
    ids = [f"c{i}" for i in range(300)]
    whole = LexicalIndex.build(ids, texts)
    parts = [LexicalIndex.build(ids[a:b], texts[a:b]) for a, b in ((0, 150), (150, 290), (290, 300))]
    seg = SegmentedLexical(parts, [None, None, None], ["a", "b", "c"])
    assert list(seg.ids) == ids and seg.ids[151] == "c151"
    for q in ("warfarin bleeding", "aspirin aspirin heart", "kidney failure children fever", "unknownword"):
        assert np.allclose(seg.scores(q), whole.scores(q), atol=1e-6)
    assert seg.idf(["aspirin"]) == pytest.approx(whole.idf(["aspirin"]))
    deleted = np.zeros(140, dtype=bool)
    deleted[:5] = True
    masked = SegmentedLexical(parts, [None, deleted, None], ["a", "b", "c"])
    top = masked.search_many(["aspirin heart"], k=300)[0]
    assert len(top) == 295 and not {f"c{i}" for i in range(150, 155)} & {i for i, _ in top}


def test_ctrl_c_during_compaction_leaves_the_segmented_version(idx, tmp_path, encoder):
    from test_faults import install_faults

    update_index(idx, [write(tmp_path / "add.jsonl", NEW)], delete_ids=["d4"], encoder=encoder)
    before = KnowledgeBase.load(idx, encoder=encoder)

    def interrupt(i: int, name: str) -> None:
        if name.endswith("LexicalIndex.save"):  # midway: rows written, the BM25 side being saved
            raise KeyboardInterrupt

    restore = install_faults(interrupt)
    try:
        with pytest.raises(KeyboardInterrupt):
            compact_index(idx)
    finally:
        restore()
    assert IndexFolder(idx).current() == before.version and check_index(idx).ok
    assert not [p for p in idx.iterdir() if p.name.startswith(".staging")]
    same_hits(KnowledgeBase.load(idx, encoder=encoder).with_search(mode="dense"), before.with_search(mode="dense"), k=5)
    assert compact_index(idx).committed  # and it runs again to the end
