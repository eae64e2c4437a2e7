"""Daily PubMed update files: file order, applied-file bookkeeping, skip, refusal, rollback, CLI report."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from kbqa.cli import main
from kbqa.errors import KbqaError
from kbqa.index.compact import compact_index
from kbqa.index.store import IndexFolder
from kbqa.index.update import update_index
from kbqa.index.versions import rollback
from kbqa.pipeline import KnowledgeBase

DOCS = Path(__file__).parent / "data" / "kb" / "docs.jsonl"


def article(pmid: str, text: str) -> str:
    return (f"<PubmedArticle><MedlineCitation><PMID Version=\"1\">{pmid}</PMID><Article>"
            f"<Journal><JournalIssue><PubDate><Year>2024</Year></PubDate></JournalIssue><Title>J Test</Title></Journal>"
            f"<ArticleTitle>Citation {pmid}</ArticleTitle><Abstract><AbstractText>{text}</AbstractText></Abstract>"
            "</Article></MedlineCitation></PubmedArticle>\n")


def deletion(*pmids: str) -> str:
    return "<DeleteCitation>" + "".join(f"<PMID Version=\"1\">{p}</PMID>" for p in pmids) + "</DeleteCitation>\n"


def write(folder: Path, name: str, *parts: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    body = '<?xml version="1.0"?>\n<PubmedArticleSet>\n' + "".join(parts) + "</PubmedArticleSet>\n"
    path.write_bytes(gzip.compress(body.encode(), mtime=0))
    return path


A1 = "Warfarin raises the bleeding risk in older adults."
A2 = "A revised abstract: the 2024 trial found no extra bleeding with apixaban."
B1 = "Metformin is first-line therapy in type 2 diabetes."
B2 = "Restored citation: lactic acidosis on metformin is rare."
C1 = "Statins can cause muscle pain."
D1 = "Influenza vaccination lowers hospital admissions."


def daily(folder: Path) -> list[Path]:
    """Three update files: 1 adds 1001-1003; 2 revises 1001, deletes 1002, adds 1004;
    3 deletes 1003 and brings 1002 back with a new abstract."""
    return [
        write(folder, "pubmed25n0001.xml.gz", article("1001", A1), article("1002", B1), article("1003", C1)),
        write(folder, "pubmed25n0002.xml.gz", article("1001", A2), deletion("1002"), article("1004", D1)),
        write(folder, "pubmed25n0003.xml.gz", deletion("1003"), article("1002", B2)),
    ]


@pytest.fixture()
def base(tiny_cfg, tmp_path) -> Path:
    idx = tmp_path / "idx"
    KnowledgeBase.build([DOCS], idx, tiny_cfg, progress=False)
    return idx


def applied(index: Path) -> list[str]:
    return [f["name"] for f in IndexFolder(index).manifest().get("applied_files", [])]


def texts(index: Path) -> dict[str, str]:
    """The abstract (one chunk each here) of the test citations the current version holds."""
    kb = KnowledgeBase.load(index)
    out = {}
    for d in ("1001", "1002", "1003", "1004"):
        if d in kb.documents:
            joined = " ".join(c.text for c in kb.document_chunks(d))
            out[d] = next((t for t in (A1, A2, B1, B2, C1, D1) if t in joined), joined)
    return out


def test_files_apply_in_name_order_revise_delete_and_readd(base, encoder, tmp_path):
    f1, f2, f3 = daily(tmp_path / "upd")
    report = update_index(base, [f3, f1, f2], encoder=encoder)  # given out of order: applied by name
    assert texts(base) == {"1001": A2, "1002": B2, "1004": D1}  # revision wins, 1003 deleted, 1002 back
    assert set(report.added) == {"1001", "1002", "1004"} and report.removed == ()
    by_name = {f["name"]: f for f in report.applied_files}
    assert [f["name"] for f in report.applied_files] == applied(base) == [f1.name, f2.name, f3.name]
    assert {k: by_name[f1.name][k] for k in ("added", "changed", "deleted")} == {"added": 3, "changed": 0, "deleted": 0}
    assert {k: by_name[f2.name][k] for k in ("added", "changed", "deleted")} == {"added": 1, "changed": 1, "deleted": 1}
    assert {k: by_name[f3.name][k] for k in ("added", "changed", "deleted")} == {"added": 1, "changed": 0, "deleted": 1}
    entry = by_name[f2.name]
    assert entry["version"] == report.version == "v000002" and entry["applied_at"]
    assert entry["sha256"] == __import__("hashlib").sha256(f2.read_bytes()).hexdigest()
    assert entry["bytes"] == f2.stat().st_size
    # the same ids from a non-PubMed source beside a PubMed file are still an error
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"id": "2001", "text": "x y z"}) + "\n")
    f4 = write(tmp_path / "upd", "pubmed25n0004.xml.gz", article("2001", A1))
    with pytest.raises(KbqaError, match="duplicate document id '2001'"):
        update_index(base, [other, f4], encoder=encoder)


def test_applied_file_is_skipped_and_changed_bytes_refused(base, encoder, tmp_path):
    f1, f2, f3 = daily(tmp_path / "upd")
    update_index(base, [f1, f2], encoder=encoder)
    report = update_index(base, [f1, f2], encoder=encoder)
    assert not report.committed and [f["name"] for f in report.skipped_files] == [f1.name, f2.name]
    assert {f["version"] for f in report.skipped_files} == {"v000002"} and "2 already applied file(s)" in report.summary()
    report = update_index(base, [f1, f2, f3], encoder=encoder)  # only the new one is read
    assert report.version == "v000003" and [f["name"] for f in report.applied_files] == [f3.name]
    assert texts(base) == {"1001": A2, "1002": B2, "1004": D1}
    changed = write(tmp_path / "redownload", f2.name, article("1001", A1))
    with pytest.raises(KbqaError, match=rf"{f2.name}: a file named {f2.name} was applied in version v000002"):
        update_index(base, [changed], encoder=encoder)
    assert IndexFolder(base).current() == "v000003" and applied(base) == [f1.name, f2.name, f3.name]
    # a file that changes nothing is still recorded (a new version with the same documents)
    same = write(tmp_path / "upd", "pubmed25n0004.xml.gz", article("1004", D1))
    report = update_index(base, [same], encoder=encoder)
    assert report.committed and not (report.added or report.changed or report.removed)
    assert report.applied_files[0]["unchanged"] == 1 and applied(base)[-1] == same.name
    # a new file that sorts before an applied one would bring older revisions back: refused unless allowed
    older = write(tmp_path / "upd", "pubmed25n0000.xml.gz", article("1001", A1))
    with pytest.raises(KbqaError, match=f"{older.name} sorts before {same.name}, already applied in version v000004"):
        update_index(base, [older], encoder=encoder)
    report = update_index(base, [older], encoder=encoder, allow_older=True)
    assert report.changed == ("1001",) and texts(base)["1001"] == A1


def test_rollback_makes_later_files_applicable_and_compaction_keeps_the_list(base, encoder, tmp_path):
    f1, f2, _ = daily(tmp_path / "upd")
    update_index(base, [f1], encoder=encoder)  # v2
    update_index(base, [f2], encoder=encoder)  # v3
    rollback(base, "v000002")
    assert applied(base) == [f1.name] and texts(base)["1001"] == A1
    report = update_index(base, [f1, f2], encoder=encoder)
    assert [f["name"] for f in report.skipped_files] == [f1.name]
    assert [f["name"] for f in report.applied_files] == [f2.name] and report.version == "v000004"
    assert texts(base) == {"1001": A2, "1003": C1, "1004": D1}
    compacted = compact_index(base)
    assert compacted.committed and applied(base) == [f1.name, f2.name]
    assert IndexFolder(base).manifest()["applied_files"][1]["version"] == "v000004"
    assert not update_index(base, [f1, f2], encoder=encoder).committed


def test_interrupted_update_keeps_the_previous_list(base, encoder, tmp_path, monkeypatch):
    f1, f2, _ = daily(tmp_path / "upd")
    update_index(base, [f1], encoder=encoder)
    from kbqa.index import segment_write

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(segment_write, "commit_version", crash)
    with pytest.raises(KeyboardInterrupt):
        update_index(base, [f2], encoder=encoder)
    monkeypatch.undo()
    assert IndexFolder(base).current() == "v000002" and applied(base) == [f1.name]
    assert [f["name"] for f in update_index(base, [f1, f2], encoder=encoder).applied_files] == [f2.name]


def test_cli_json_report_lists_applied_and_skipped_files(base, tmp_path, capsys):
    f1, f2, f3 = daily(tmp_path / "upd")
    assert main(["index", "update", str(f1), str(f2), "--index", str(base), "--json", "--quiet"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["committed"] and [f["name"] for f in out["applied_files"]] == [f1.name, f2.name]
    assert out["applied_files"][1]["changed"] == 1 and out["skipped_files"] == []
    assert main(["index", "update", str(tmp_path / "upd"), "--index", str(base), "--json", "--quiet"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [f["name"] for f in out["skipped_files"]] == [f1.name, f2.name]
    assert [f["name"] for f in out["applied_files"]] == [f3.name] and out["version"] == "v000003"
    assert main(["index", "update", str(f3), "--index", str(base), "--quiet"]) == 0
    assert f"skipped {f3.name}: already applied in v000003" in capsys.readouterr().out
    write(tmp_path / "bad", f3.name, article("1001", A1))
    assert main(["index", "update", str(tmp_path / "bad" / f3.name), "--index", str(base), "--quiet"]) == 2
    assert f"a file named {f3.name} was applied in version v000003" in capsys.readouterr().err
