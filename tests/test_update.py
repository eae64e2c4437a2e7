"""Incremental updates, versions, rollback and the integrity check, on a tiny random encoder."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from kbqa.cli import main
from kbqa.errors import KbqaError
from kbqa.index.check import check_index
from kbqa.index.compact import compact_index
from kbqa.index.store import IndexFolder
from kbqa.index.update import update_index
from kbqa.index.versions import list_versions, rollback
from kbqa.pipeline import KnowledgeBase

DATA = Path(__file__).parent / "data"
DOCS = DATA / "kb" / "docs.jsonl"
PUBMED = DATA / "corpus" / "pubmed_sample.xml"
QUERIES = ["warfarin bleeding", "statin muscle pain", "influenza vaccine", "metformin kidney", "aspirin heart attack"]


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_jsonl(path: Path, items: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in items))
    return path


@pytest.fixture()
def base(tiny_cfg, tmp_path) -> Path:
    idx = tmp_path / "idx"
    KnowledgeBase.build([DOCS], idx, tiny_cfg, progress=False)
    return idx


def delta(tmp_path: Path) -> tuple[Path, list[dict]]:
    """d2 revised, two new documents; and the final corpus a fresh build should equal once d4 is removed."""
    src = {str(r["id"]): r for r in rows(DOCS)}
    d2 = {**src["d2"], "text": src["d2"]["text"] + " A 2024 meta-analysis confirmed the bleeding risk in adults over 70."}
    new = [
        {"id": "n1", "title": "Amiodarone and thyroid", "text": "Amiodarone causes hypothyroidism and thyrotoxicosis; "
         "thyroid function should be checked every six months during long-term therapy.", "year": 2021},
        {"id": "n2", "text": "Proton pump inhibitors reduce upper gastrointestinal bleeding in patients on dual "
         "antiplatelet therapy.", "year": 2020, "source": "trials"},
    ]
    final = [d2 if k == "d2" else r for k, r in src.items() if k not in ("d4", "d6")] + new
    return write_jsonl(tmp_path / "delta.jsonl", [d2, *new]), final


def test_update_embeds_only_what_changed_and_equals_a_fresh_build(base, tiny_cfg, encoder, tmp_path, monkeypatch):
    update_file, final = delta(tmp_path)
    embedded: list[str] = []
    original = type(encoder).encode_passages

    def spy(self, texts, **kw):
        embedded.extend(texts)
        return original(self, texts, **kw)

    monkeypatch.setattr(type(encoder), "encode_passages", spy)
    report = update_index(base, [update_file], delete_ids=["d4", "nope"], encoder=encoder)
    monkeypatch.undo()
    assert (report.base_version, report.version, report.committed) == ("v000001", "v000002", True)
    assert report.added == ("n1", "n2") and report.changed == ("d2",) and report.removed == ("d4",)
    assert report.not_found == ("nope",) and report.unchanged == 4
    assert "added 2, changed 1, removed 1" in report.summary()
    updated = KnowledgeBase.load(base)
    assert embedded and all(t.startswith(("Aspirin", "Amiodarone", "Proton")) for t in embedded)  # titles prefix chunks
    assert report.chunks_embedded == len(embedded) == sum(1 for c in updated.iter_chunks() if c.doc_id in ("d2", "n1", "n2"))
    assert report.chunks_reused == len(updated) - len(embedded)

    fresh_dir = tmp_path / "fresh"
    KnowledgeBase.build([write_jsonl(tmp_path / "final.jsonl", final)], fresh_dir, tiny_cfg, progress=False)
    # the update wrote one segment: the base version became segment s1 (hard links), d2's and d4's rows are deleted
    old = KnowledgeBase.load(base, version="v000001")
    replaced = sum(len(old.document_chunks(d)) for d in ("d2", "d4"))
    assert [(e["name"], e["deleted"]) for e in updated.manifest["segments"]] == [("s000001", replaced), ("s000002", 0)]
    assert updated.manifest["segments"][1]["chunks"] == report.chunks_embedded
    a, b = KnowledgeBase.load(base).with_search(mode="dense"), KnowledgeBase.load(fresh_dir).with_search(mode="dense")
    for ha, hb in zip(a.search_many(QUERIES, k=8), b.search_many(QUERIES, k=8), strict=True):  # Flat: exact
        assert [h.chunk_id for h in ha] == [h.chunk_id for h in hb]
        assert np.allclose([h.score for h in ha], [h.score for h in hb], atol=1e-5)
        assert [h.text for h in ha] == [h.text for h in hb]
    assert a.manifest["documents_digest"] == b.manifest["documents_digest"] and a.manifest["update"]["removed"] == 1
    assert {d: r["checksum"] for d, r in a.documents.items()} == {d: r["checksum"] for d, r in b.documents.items()}
    assert a.fingerprint == b.fingerprint
    assert check_index(base).ok

    # compaction: one piece again, holding what a fresh build holds (changed documents now come last)
    compacted = compact_index(base)
    assert compacted.version == "v000003" and compacted.dropped == replaced
    new_v, fresh_v = base / "v000003", fresh_dir / "v000001"
    for name in ("documents.jsonl", "chunks.jsonl"):
        assert sorted((new_v / name).read_text().splitlines()) == sorted((fresh_v / name).read_text().splitlines())
    a, b = KnowledgeBase.load(base), KnowledgeBase.load(fresh_dir)
    for q in QUERIES:  # BM25 of every chunk: the statistics of a fresh build again
        sa, sb = dict(zip(a.lexical.ids, a.lexical.scores(q))), dict(zip(b.lexical.ids, b.lexical.scores(q)))
        assert sa.keys() == sb.keys() and all(abs(sa[c] - sb[c]) < 1e-5 for c in sa)
    ha, hb = a.with_search(mode="hybrid"), b.with_search(mode="hybrid")
    for ra, rb in zip(ha.search_many(QUERIES, k=5), hb.search_many(QUERIES, k=5), strict=True):
        assert [(h.chunk_id, round(h.score, 5)) for h in ra] == [(h.chunk_id, round(h.score, 5)) for h in rb]
    assert a.fingerprint == b.fingerprint and check_index(base).ok


def test_nothing_new_commits_nothing_and_sync_removes_absent(base, encoder, tmp_path):
    report = update_index(base, [DOCS], encoder=encoder)
    assert not report.committed and report.chunks_embedded == 0 and report.unchanged == 6
    assert IndexFolder(base).versions() == ["v000001"]
    keep = write_jsonl(tmp_path / "keep.jsonl", [r for r in rows(DOCS) if r["id"] in ("d1", "d3")])
    report = update_index(base, [keep], sync=True, encoder=encoder)
    assert set(report.removed) == {"d2", "d4", "5", "d7"} and report.chunks_embedded == 0
    assert set(KnowledgeBase.load(base).documents) == {"d1", "d3"}
    with pytest.raises(KbqaError, match="remove all"):
        update_index(base, [], delete_ids=["d1", "d3"])
    with pytest.raises(KbqaError, match="nothing to update"):
        update_index(base, [])


def test_versions_prune_and_rollback(base, encoder, tmp_path):
    for i in range(3):
        extra = write_jsonl(tmp_path / f"x{i}.jsonl", [{"id": f"x{i}", "text": f"Extra note number {i} about dosing."}])
        report = update_index(base, [extra], keep=2, encoder=encoder)
    assert report.version == "v000004" and report.pruned == ("v000002",)
    assert IndexFolder(base).versions() == ["v000003", "v000004"]
    info = list_versions(base)
    assert [(v.name, v.current, v.kind, v.added, v.documents) for v in info] == [
        ("v000003", False, "update", 1, 8), ("v000004", True, "update", 1, 9)]
    assert rollback(base, "3") == ("v000004", "v000003")
    kb = KnowledgeBase.load(base)
    assert kb.version == "v000003" and "x2" not in kb.documents and check_index(base).ok
    with pytest.raises(KbqaError, match="no version v000001"):
        rollback(base, "v1")
    report = update_index(base, [], delete_ids=["d1"], keep=2)  # builds on the rolled-back version
    assert report.base_version == "v000003" and report.version == "v000005"
    assert IndexFolder(base).versions() == ["v000004", "v000005"]  # v3 pruned: oldest non-current
    assert "x2" not in KnowledgeBase.load(base).documents


def test_kb_api_moves_to_new_version_and_readers_survive_pruning(tiny_cfg, tmp_path):
    update_file, _ = delta(tmp_path)
    base = tmp_path / "idx"
    KnowledgeBase.build([DOCS], base, tiny_cfg.replace(index={"backend": "exact"}), progress=False)
    reader = KnowledgeBase.load(base)  # the exact backend memory-maps vectors.npy, BM25 is memory-mapped too
    assert isinstance(reader.index.vectors, np.memmap)
    before = [h.chunk_id for h in reader.search("warfarin amiodarone", k=5)]
    kb = KnowledgeBase.load(base)
    report = kb.update([update_file], delete_ids=["d4"], keep=1)
    assert kb.version == report.version == "v000002" and "n1" in kb.documents and "d4" not in kb.documents
    assert not (base / "v000001").exists()  # pruned while `reader` still holds it
    assert [h.chunk_id for h in reader.search("warfarin amiodarone", k=5)] == before  # still answers from v1
    assert reader.lexical.search_many(["warfarin"], 3)[0]
    fresh = reader.reload()
    assert fresh.version == "v000002" and "n1" in fresh.documents
    report = kb.remove(["n1"])
    assert kb.version == "v000003" and "n1" not in kb.documents and report.removed == ("n1",)


def test_pubmed_update_flags_retracted_and_applies_delete_citations(base, encoder, tmp_path):
    report = update_index(base, [PUBMED], encoder=encoder)
    assert "30000002" in report.retracted and set(report.not_found) == {"29999998", "29999999"}
    kb = KnowledgeBase.load(base)
    assert kb.documents["30000002"]["meta"]["retracted"]
    assert "30000002" not in {h.doc_id for h in kb.search("trial", k=100)}  # excluded by default
    assert "30000002" in {h.doc_id for h in kb.search("trial", k=100, filters={"include_retracted": True})}
    deletion = tmp_path / "upd.xml"
    deletion.write_text('<?xml version="1.0"?>\n<PubmedArticleSet>\n<DeleteCitation><PMID Version="1">30000001'
                        "</PMID></DeleteCitation>\n</PubmedArticleSet>\n")
    report = update_index(base, [deletion])
    assert report.removed == ("30000001",) and "30000001" not in KnowledgeBase.load(base).documents


def test_lock_keeps_writers_apart_with_a_clear_message(base, encoder):
    folder = IndexFolder(base)
    with folder.lock():
        with pytest.raises(KbqaError, match=rf"already being written by this process \(pid {os.getpid()}\)"):
            update_index(base, [], delete_ids=["d1"])
    (base / ".lock").write_text("999999999")  # a dead holder: flock was released by the OS
    assert update_index(base, [], delete_ids=["d1"]).committed
    from kbqa.index.store import _busy_message

    assert f"being written by pid {os.getppid()};" in _busy_message(base, str(os.getppid()))
    assert "inherited the lock from pid 999999999, which has exited" in _busy_message(base, "999999999")


def test_check_reports_damage(base, tmp_path, capsys):
    assert main(["index", "check", "--index", str(base)]) == 0
    damaged = tmp_path / "damaged"
    shutil.copytree(base, damaged)
    v = damaged / "v000001"
    lines = (v / "chunks.jsonl").read_text().splitlines()
    (v / "chunks.jsonl").write_text("\n".join(lines[:-1]) + "\n")
    report = check_index(damaged)
    assert not report.ok
    text = " | ".join(report.problems)
    assert "chunks.jsonl: sha256 differs" in text and "ids.json does not list" in text and "n_chunks" in text
    assert main(["index", "check", "--index", str(damaged)]) == 1
    assert "PROBLEM" in capsys.readouterr().out
    manifest = json.loads((v / "manifest.json").read_text())
    manifest["documents_digest"] = "0" * 64
    (v / "manifest.json").write_text(json.dumps(manifest))
    assert any("do not add up to the manifest's documents_digest" in p for p in check_index(damaged).problems)
    with pytest.raises(KbqaError, match="fails the integrity check"):
        rollback(damaged, "1")


def test_cli_update_versions_rollback(base, tmp_path, capsys):
    update_file, _ = delta(tmp_path)
    ids = tmp_path / "gone.txt"
    ids.write_text("# withdrawn\nd4\n\n")
    assert main(["index", "update", str(update_file), "--index", str(base), "--delete-ids", str(ids), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "v000001 -> v000002: added 2, changed 1, removed 1, unchanged 4" in out
    assert "  added: n1, n2\n  changed: d2\n  removed: d4\n" in out
    assert main(["index", "versions", "--index", str(base)]) == 0
    out = capsys.readouterr().out
    assert "* v000002" in out and "+2 ~1 -1" in out
    assert main(["index", "rollback", "--index", str(base), "--to", "v000001"]) == 0
    assert "v000002 -> v000001" in capsys.readouterr().out
    assert main(["index", "update", "--index", str(base), "--json", "--delete-ids", str(ids)]) == 0
    assert json.loads(capsys.readouterr().out)["removed"] == ["d4"]
    assert main(["index", "update", "--index", str(tmp_path / "none"), "--delete-ids", str(ids)]) == 2
    assert "no kbqa index" in capsys.readouterr().err
