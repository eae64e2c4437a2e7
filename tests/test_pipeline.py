"""KnowledgeBase end to end on a tiny random encoder: build, load, search, filters, failure safety."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kbqa.config import Config
from kbqa.errors import KbqaError
from kbqa.index.manifest import documents_digest
from kbqa.index.store import IndexFolder
from kbqa.pipeline import KnowledgeBase

DOCS = Path(__file__).parent / "data" / "kb" / "docs.jsonl"


@pytest.fixture(scope="module")
def kb(tiny_cfg, tmp_path_factory) -> KnowledgeBase:
    return KnowledgeBase.build([DOCS], tmp_path_factory.mktemp("kb") / "idx", tiny_cfg, progress=False)


def test_build_counts_chunks_and_offsets(kb):
    counts = kb.manifest["counts"]
    assert counts["documents"] == 6 and counts["skipped_empty"] == 1 and counts["retracted"] == 1
    assert counts["chunks"] == len(kb) == counts["vectors"] > counts["documents"]  # size 24 splits documents
    docs = {json.loads(l)["id"]: json.loads(l) for l in DOCS.read_text().splitlines()}
    tok = kb.encoder.tokenizer
    for chunk in kb.iter_chunks():
        text = docs[chunk.doc_id if chunk.doc_id != "5" else 5]["text"]
        assert text[chunk.start : chunk.end] == chunk.text
        assert chunk.chunk_id.startswith(chunk.doc_id + "#")
        title = chunk.title + "\n\n" if chunk.title else ""
        assert len(tok.tokenize(title + chunk.text)) <= kb.encoder.max_tokens  # never truncated by the model


def test_ids_kept_verbatim_and_manifest(kb):
    assert "5" in kb.documents  # a numeric id became its decimal string
    m = kb.manifest
    assert m["format_version"] == 1 and m["embedder"]["dim"] == 32 and m["version"] == "v000001"
    assert "documents" not in m and len(m["fingerprint"]) == 16  # the manifest does not grow with the corpus
    assert m["counts"]["documents"] == len(kb.documents) == len(list(kb.documents))
    assert m["documents_digest"] == documents_digest((d, row["checksum"]) for d, row in kb.documents.items())


def test_search_shapes_and_k_clamp(kb):
    hits = kb.search("warfarin bleeding", k=3)
    assert len(hits) == 3 and hits[0].score >= hits[1].score >= hits[2].score
    everything = kb.search("anything", k=10_000)
    assert len(everything) == len(kb) - sum(1 for c in kb.iter_chunks() if c.doc_id == "5")
    batch = kb.search_many(["warfarin bleeding", "statin muscle"], k=4)
    assert [h.chunk_id for h in batch[0]] == [h.chunk_id for h in kb.search("warfarin bleeding", k=4)]
    with pytest.raises(KbqaError, match="k must be"):
        kb.search("x", k=0)
    with pytest.raises(KbqaError, match="empty"):
        kb.search("   ")


def test_filters(kb):
    assert all(h.doc_id != "5" for h in kb.search("vitamin D fractures", k=50))  # retracted: excluded by default
    assert "5" in {h.doc_id for h in kb.search("vitamin D fractures", k=50, filters={"include_retracted": True})}
    hits = kb.search("therapy", k=50, filters={"year_min": 2015, "year_max": 2020})
    assert hits and all(2015 <= h.meta["year"] <= 2020 for h in hits)
    assert {h.doc_id for h in kb.search("x", k=50, filters={"source": "TRIALS"})} == {"d3"}
    assert {h.doc_id for h in kb.search("x", k=50, filters={"mesh": "aspirin"})} == {"d2"}
    assert {h.doc_id for h in kb.search("x", k=50, filters={"publication_type": "randomized controlled trial"})} == {"d3"}
    assert kb.search("x", k=5, filters={"year_min": 2100}) == []
    with pytest.raises(KbqaError, match="unknown filter"):
        kb.search("x", filters={"yr": 2000})


def test_configured_retracted_default_holds_with_other_filters(kb):
    keep = kb.with_search(exclude_retracted=False)
    assert "5" in {h.doc_id for h in keep.search("vitamin D fractures", k=50)}
    # any other filter used to drop retracted documents whatever the setting said
    assert "5" in {h.doc_id for h in keep.search("vitamin D fractures", k=50, filters={"source": "trials"})}
    assert "5" in {h.doc_id for h in keep.search("x", k=50, filters={"year_min": 2016, "year_max": 2018})}
    assert "5" not in {h.doc_id for h in keep.search("x", k=50, filters={"source": "trials", "include_retracted": False})}
    assert "5" not in {h.doc_id for h in kb.search("x", k=50, filters={"source": "trials"})}  # excluded by default


def test_load_round_trip(kb, tiny_cfg):
    again = KnowledgeBase.load(kb.index_dir)
    assert again.fingerprint == kb.fingerprint
    assert [h.chunk_id for h in again.search("aspirin", k=5)] == [h.chunk_id for h in kb.search("aspirin", k=5)]
    exact = KnowledgeBase.load(kb.index_dir, tiny_cfg.replace(index={"backend": "exact"}))
    assert type(exact.index).__name__ == "ExactIndex" and type(kb.index).__name__ == "FaissIndex"
    assert [h.chunk_id for h in exact.search("aspirin", k=5)] == [h.chunk_id for h in kb.search("aspirin", k=5)]


def test_other_embedder_is_refused(kb, other_encoder_dir):
    other = Config().replace(embed={"model": str(other_encoder_dir)})
    with pytest.raises(KbqaError, match="built with embedder"):
        KnowledgeBase.load(kb.index_dir, other)


def test_unsupported_format_version_is_refused(kb, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(kb.index_dir, copy)
    mpath = copy / IndexFolder(copy).current() / "manifest.json"
    manifest = json.loads(mpath.read_text())
    manifest["format_version"] = 99
    mpath.write_text(json.dumps(manifest))
    with pytest.raises(KbqaError, match="format version 99"):
        KnowledgeBase.load(copy)


def test_existing_index_needs_overwrite_and_bad_input_loses_nothing(tiny_cfg, tmp_path):
    idx = tmp_path / "idx"
    kb = KnowledgeBase.build([DOCS], idx, tiny_cfg, progress=False)
    with pytest.raises(KbqaError, match="overwrite"):
        KnowledgeBase.build([DOCS], idx, tiny_cfg, progress=False)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "n1", "text": "fine"}\n{"id": "n2", "text": broken}\n')
    with pytest.raises(KbqaError, match=r"bad.jsonl:2"):
        KnowledgeBase.build([bad], idx, tiny_cfg, overwrite=True, progress=False)
    dup = tmp_path / "dup.jsonl"
    dup.write_text('{"id": "d1", "text": "the same id as in docs.jsonl"}\n')
    with pytest.raises(KbqaError, match="duplicate document id 'd1'"):
        KnowledgeBase.build([DOCS, dup], idx, tiny_cfg, overwrite=True, progress=False)
    survivor = KnowledgeBase.load(idx)  # the failed rebuilds left the committed index as it was
    assert survivor.fingerprint == kb.fingerprint and survivor.version == "v000001"
    assert not [p for p in idx.iterdir() if p.name.startswith(".staging")]
    rebuilt = KnowledgeBase.build([DOCS], idx, tiny_cfg, overwrite=True, progress=False)
    assert rebuilt.version == "v000002" and IndexFolder(idx).versions() == ["v000002"]


def test_interrupted_build_leaves_no_index(tiny_cfg, tmp_path, monkeypatch):
    import kbqa.index.build as build

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(build, "create_index", boom)
    with pytest.raises(KeyboardInterrupt):
        KnowledgeBase.build([DOCS], tmp_path / "idx", tiny_cfg, progress=False)
    with pytest.raises(KbqaError, match="no kbqa index"):
        KnowledgeBase.load(tmp_path / "idx")


def test_empty_corpus_is_an_error(tiny_cfg, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"id": "a", "text": ""}\n')
    with pytest.raises(KbqaError, match="no document with text"):
        KnowledgeBase.build([empty], tmp_path / "idx", tiny_cfg, progress=False)


def test_writer_lock(tiny_cfg, tmp_path):
    folder = IndexFolder(tmp_path / "idx")
    with folder.lock():
        with pytest.raises(KbqaError, match="being written"):
            KnowledgeBase.build([DOCS], tmp_path / "idx", tiny_cfg, progress=False, overwrite=True)


def test_query_vectors_are_cached_and_returned_as_copies(kb, monkeypatch):
    import numpy as np

    enc = kb.encoder
    first = enc.encode_queries(["aspirin and stroke", "insulin dosing", "aspirin and stroke"])
    assert np.array_equal(first[0], first[2])
    calls = []
    real = enc._encode
    monkeypatch.setattr(enc, "_encode", lambda texts, progress: calls.append(list(texts)) or real(texts, progress))
    again = enc.encode_queries(["insulin dosing", "aspirin and stroke", "new question"])
    assert calls == [["new question"]]  # only the unseen text is encoded
    assert np.array_equal(again[0], first[1]) and np.array_equal(again[1], first[0])
    again[0][:] = 0  # callers may modify what they get back
    assert np.array_equal(enc.encode_queries(["insulin dosing"])[0], first[1])
    assert enc.encode_queries([]).shape == (0, enc.dim)


def test_opening_config_merges_what_a_load_may_change() -> None:
    from kbqa.config import IndexConfig, SearchConfig, opening_config

    built = Config().replace(index={"factory": "hnsw", "ef_search": 32}, search={"k": 7})
    assert opening_config(built) == built
    assert opening_config(built, search=SearchConfig(k=3)).search.k == 3
    asked = Config().replace(embed={"device": "cpu", "batch_size": 8}, index={"backend": "exact", "nprobe": 4})
    opened = opening_config(built, asked, query_time={"ef_search": 64})
    assert (opened.embed.model, opened.embed.device, opened.embed.batch_size) == (built.embed.model, "cpu", 8)
    assert opened.index == IndexConfig(backend="exact", factory="hnsw", nprobe=4, ef_search=64)
    assert opened.search == asked.search and opened.chunk == built.chunk
    # the CLI's query-time flags alone keep the index's own search settings
    assert opening_config(built, query_time={"nprobe": 2}) == built.replace(index={"nprobe": 2})
