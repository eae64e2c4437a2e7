"""The on-disk chunk store (kbqa/index/chunkstore.py): ids, offsets, filters, old versions, damage."""

from __future__ import annotations

import itertools
import json
import os
import shutil
from pathlib import Path

import pytest

from kbqa.errors import KbqaError
from kbqa.filters import Filters
from kbqa.index.chunkstore import STORE, ChunkStore
from kbqa.index.store import IndexFolder
from kbqa.jsonlines import read_jsonl
from kbqa.pipeline import KnowledgeBase

DOCS = Path(__file__).parent / "data" / "kb" / "docs.jsonl"


@pytest.fixture(scope="module")
def kb(tiny_cfg, tmp_path_factory) -> KnowledgeBase:
    return KnowledgeBase.build([DOCS], tmp_path_factory.mktemp("kb") / "idx", tiny_cfg, progress=False)


def _vdir(kb: KnowledgeBase) -> Path:
    return IndexFolder(kb.index_dir).version_dir(kb.version)


def test_store_holds_exactly_the_jsonl_rows(kb):
    vdir = _vdir(kb)
    assert (vdir / STORE).is_file() and STORE in kb.manifest["files"]  # checksummed like every version file
    docs = {d["doc_id"]: d for d in read_jsonl(vdir / "documents.jsonl")}
    rows = list(read_jsonl(vdir / "chunks.jsonl"))
    got = list(kb.iter_chunks())
    assert [c.chunk_id for c in got] == [r["chunk_id"] for r in rows] == list(kb.chunks)
    for c, r in zip(got, rows):
        assert (c.doc_id, c.text, c.start, c.end) == (r["doc_id"], r["text"], r["start"], r["end"])
        assert (c.title, c.meta) == (docs[r["doc_id"]]["title"], docs[r["doc_id"]]["meta"])
    assert {d: kb.documents[d] for d in kb.documents} == docs and len(kb.documents) == len(docs)
    assert kb.get_chunk(rows[0]["chunk_id"]).text == rows[0]["text"]
    with pytest.raises(KbqaError, match="no chunk"):
        kb.get_chunk("nope#0")
    assert "nope" not in kb.documents and rows[0]["chunk_id"] in kb.chunks
    doc = rows[0]["doc_id"]
    assert [c.chunk_id for c in kb.document_chunks(doc)] == [r["chunk_id"] for r in rows if r["doc_id"] == doc]
    assert kb.document_chunks("nope") == []


FILTER_SETS = [
    {}, {"include_retracted": True}, {"year_min": 2015}, {"year_max": 2012, "include_retracted": True},
    {"year_min": 2010, "year_max": 2020}, {"source": "LITERATURE"}, {"source": "trials", "include_retracted": True},
    {"mesh": "metformin"}, {"mesh": "Aspirin", "year_max": 2016}, {"publication_type": "review"},
    {"publication_type": "randomized controlled trial", "year_min": 2000},
]


@pytest.mark.parametrize("spec", FILTER_SETS)
def test_sql_filters_equal_filters_accepts(kb, spec):
    """The store answers filters with SQL; the reference is Filters.accepts over every document's meta."""
    f = Filters.parse(spec).with_retracted_default(False)
    expect = {c.chunk_id for c in kb.iter_chunks() if f.accepts(kb.documents[c.doc_id]["meta"])}
    assert kb.store.allowed(f) == expect


def test_filters_are_not_all_trivial(kb):
    """The fixture documents make the filter cases above tell something apart."""
    sizes = {len(kb.store.allowed(Filters.parse(s).with_retracted_default(False))) for s in FILTER_SETS}
    assert len(sizes) >= 6 and kb.store.any_retracted


def test_version_without_store_loads_from_jsonl(kb, tmp_path):
    """Versions written before the store existed still load (the store is built in memory) and answer the same."""
    old = tmp_path / "old"
    shutil.copytree(kb.index_dir, old, ignore=shutil.ignore_patterns(".lock"))
    (old / kb.version / STORE).unlink()
    with pytest.raises(KbqaError, match=r"store\.sqlite is missing"):  # a version that lists it: damaged
        KnowledgeBase.load(old, encoder=kb.encoder)
    manifest = json.loads((old / kb.version / "manifest.json").read_text())
    del manifest["files"][STORE]  # as written before the store existed
    (old / kb.version / "manifest.json").write_text(json.dumps(manifest))
    legacy = KnowledgeBase.load(old, encoder=kb.encoder)
    assert "in memory" in legacy.store.where
    for q, f in itertools.product(["warfarin bleeding", "vitamin D"], [None, {"year_min": 2015}, {"mesh": "aspirin"}, {"source": "trials", "include_retracted": True}]):
        assert legacy.search(q, k=5, filters=f) == kb.search(q, k=5, filters=f)
    assert list(legacy.iter_chunks()) == list(kb.iter_chunks())


def test_damaged_store_is_named(kb, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(kb.index_dir, bad, ignore=shutil.ignore_patterns(".lock"))
    path = bad / kb.version / STORE
    os.chmod(path, 0o644)
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(KbqaError, match=r"store\.sqlite"):
        KnowledgeBase.load(bad, encoder=kb.encoder)
    from kbqa.index.check import check_index

    report = check_index(bad)
    assert not report.ok and any(STORE in p for p in report.problems)


def test_cache_is_bounded(kb, monkeypatch):
    import kbqa.index.chunkstore as cs

    store = ChunkStore.open(_vdir(kb))
    monkeypatch.setattr(cs, "CACHE_CHUNKS", 3)
    ids = list(kb.chunks)
    got = store.chunks(ids)
    assert len(got) == len(ids) > 3 and len(store._cache) == 3
    assert store.chunks(ids[:2]) == {i: got[i] for i in ids[:2]}


def test_rows_go_in_by_one_statement_in_order(tmp_path):
    """insert_rows keeps order, types, NULLs and non-ASCII text, and adds no statement per block size."""
    import sqlite3

    from kbqa.index.chunkstore import insert_rows

    db = sqlite3.connect(tmp_path / "t.db")
    db.execute("CREATE TABLE t(a INT, b TEXT, c REAL)")
    rows = [(i, None if i % 3 == 0 else f"x{i} é \"q\" '", i / 4) for i in range(11)]
    insert_rows(db, "t", rows)
    insert_rows(db, "t", [])
    insert_rows(db, "t", [(11, "y", 0.5)])
    assert db.execute("SELECT a, b, c FROM t ORDER BY rowid").fetchall() == [*rows, (11, "y", 0.5)]
    assert [type(v) for v in db.execute("SELECT a, b, c FROM t WHERE a = 1").fetchone()] == [int, str, float]


def test_repeated_document_in_a_store_names_both_positions(tmp_path):
    from kbqa.index.chunkstore import DuplicateDocument, StoreWriter

    w = StoreWriter(tmp_path / STORE)
    row = {"title": "", "meta": {}, "checksum": "c", "n_chunks": 0}
    w.add_documents([{**row, "doc_id": f"d{i}"} for i in range(5)])
    with pytest.raises(DuplicateDocument) as err:
        w.add_documents([{**row, "doc_id": i} for i in ("e0", "e1", "d3")])
    assert (err.value.doc_id, err.value.first, err.value.position) == ("d3", 3, 7)
    with pytest.raises(DuplicateDocument) as err:
        w.add_documents([{**row, "doc_id": i} for i in ("f0", "f1", "f0")])
    assert (err.value.doc_id, err.value.first, err.value.position) == ("f0", 5, 7)
    w.close()
