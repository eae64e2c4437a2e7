"""Every corpus loader on tiny hand-written files (tests/data/corpus) and on real samples."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kbqa.corpus import FORMATS, LoadStats, infer_format, iter_documents
from kbqa.corpus.medquad import normalise
from kbqa.errors import KbqaError

DATA = Path(__file__).parent / "data" / "corpus"


def load(source, fmt=None, **kw):
    stats = LoadStats()
    return list(iter_documents(source, fmt, stats=stats, **kw)), stats


def test_jsonl_ids_titles_meta_and_skips():
    docs, stats = load(DATA / "docs.jsonl")
    assert [d.doc_id for d in docs] == ["doc-1", "42", "doc-4"]
    first, second, third = docs
    assert first.title == "Aspirin and bleeding"
    assert first.meta == {"source": "jsonl", "year": 2019, "tags": ["cardiology"]}
    assert second.meta["source"] == "guidelines" and second.title == ""
    assert third.title == ""  # null title -> ""
    assert (stats.files, stats.documents, stats.skipped_empty) == (1, 3, 1)


def test_jsonl_beir_ids_and_gzip(tmp_path):
    docs, _ = load(DATA / "beir.jsonl")
    assert [d.doc_id for d in docs] == ["4983", "5836"]
    assert docs[0].meta == {"source": "jsonl", "metadata": {}}
    gz = tmp_path / "beir.jsonl.gz"
    gz.write_bytes(gzip.compress((DATA / "beir.jsonl").read_bytes()))
    assert infer_format(gz) == "jsonl"
    assert load(gz)[0] == docs


def test_jsonl_column_mapping(tmp_path):
    path = tmp_path / "claims.jsonl"
    path.write_text('{"id": "c1", "question": "Q?", "context": "Evidence.", "label": "yes"}\n')
    (doc,), _ = load(path, columns={"text": "context"})
    assert doc.text == "Evidence." and doc.meta == {"source": "jsonl", "question": "Q?", "label": "yes"}


def test_csv_with_column_mapping_keeps_ids_verbatim():
    docs, stats = load(DATA / "cases.csv", columns={"id": "case_id", "text": "abstract"})
    assert [d.doc_id for d in docs] == ["007", "008"]
    assert docs[0].text.startswith("A 54-year-old man") and docs[0].title == "Chest pain"
    assert docs[0].meta == {"source": "csv", "year": 2021, "ward": "cardiology"}
    assert docs[1].meta == {"source": "csv", "ward": "neurology"}  # empty year omitted
    assert type(docs[0].meta["year"]) is int  # plain Python, JSON-able
    assert stats.skipped_empty == 1


def test_tsv_defaults_and_source_column():
    docs, _ = load(DATA / "notes.tsv")
    assert [(d.doc_id, d.title, d.meta["source"]) for d in docs] == [("n1", "Fever", "clinic"), ("n2", "", "tsv")]


def test_pubmedqa_documents_do_not_leak_question_or_label():
    docs, stats = load(DATA / "pubmedqa_sample.json")
    assert [d.doc_id for d in docs] == ["111", "222"]
    doc = docs[0]
    assert doc.text == ("BACKGROUND: Drug X is widely used.\n\nMETHODS: We enrolled 100 patients.\n\n"
                        "Drug X reduced mortality.")
    assert doc.title == ""
    assert doc.meta == {"source": "pubmedqa", "pmid": "111", "url": "https://pubmed.ncbi.nlm.nih.gov/111/",
                        "year": 2004, "mesh": ["Humans", "Mortality"]}
    assert "mortality?" not in doc.text and "yes" not in str(doc.meta)
    assert stats.documents == 2


def test_medquad_folder_both_schemas_and_unanswered():
    docs, stats = load(DATA / "medquad")
    assert [d.doc_id for d in docs] == ["CancerGov:0000001_1-1", "NINDS:0000007-1"]
    doc = docs[0]
    assert doc.title == "What is (are) Example Leukemia ?"
    assert doc.text == ("Key Points\n- Example leukemia is a cancer. - It affects the blood.\n\n"
                        "Example leukemia starts in the bone marrow.\nIt can spread.")
    assert doc.meta == {"source": "medquad", "collection": "CancerGov", "url": "https://www.cancer.gov/example",
                        "focus": "Example Leukemia", "qtype": "information", "document_id": "0000001_1",
                        "qid": "0000001_1-1"}
    assert docs[1].meta["collection"] == "NINDS" and docs[1].meta["focus"] == "Holmes-Adie"
    assert (stats.files, stats.skipped_unanswered) == (2, 1)


def test_normalise_keeps_paragraphs():
    assert normalise("  a   b \n\t c\n \n\n  d  ") == "a b\nc\n\nd"


def test_pubmed_xml_and_gzip_copy(tmp_path):
    docs, stats = load(DATA / "pubmed_sample.xml")
    assert [d.doc_id for d in docs] == ["30000001", "30000002"]
    first, retracted = docs
    assert first.title == "Aspirin for primary prevention: a randomised trial."
    assert first.text == ("BACKGROUND: Aspirin may prevent heart attacks.\n\n"
                          "METHODS: We randomised 1000 adults to aspirin or placebo (HbA1c < 7%).\n\n"
                          "CONCLUSIONS: Aspirin did not prevent heart attacks.")
    assert first.meta["year"] == 2018 and first.meta["journal"] == "Journal of Example Medicine"
    assert first.meta["mesh"] == ["Aspirin", "Humans"] and first.meta["doi"] == "10.1000/example.1"
    assert first.meta["retracted"] is False
    assert retracted.meta["retracted"] is True and retracted.meta["year"] == 1998
    assert retracted.meta["publication_types"] == ["Journal Article", "Retracted Publication"]
    assert stats.deleted == ["29999998", "29999999"]
    assert (stats.skipped_empty, stats.retracted) == (1, 1)

    gz = tmp_path / "pubmed25n0001.xml.gz"
    gz.write_bytes(gzip.compress((DATA / "pubmed_sample.xml").read_bytes()))
    assert infer_format(gz) == "pubmed"
    gz_docs, gz_stats = load(gz)
    assert gz_docs == docs and gz_stats.deleted == stats.deleted


def test_pubmed_year_from_article_date():
    import xml.etree.ElementTree as ET

    from kbqa.corpus.pubmed import _year

    article = ET.fromstring("<Article><Journal><JournalIssue><PubDate><Season>Spring</Season></PubDate>"
                            "</JournalIssue></Journal><ArticleDate><Year>2020</Year></ArticleDate></Article>")
    assert _year(article) == 2020


def test_pubmed_folder_keeps_sorted_order_and_allows_revisions(tmp_path):
    folder = tmp_path / "medline"
    folder.mkdir()
    shutil.copy(DATA / "pubmed_sample.xml", folder / "b_update.xml")
    (folder / "a_base.xml.gz").write_bytes(gzip.compress((DATA / "pubmed_sample.xml").read_bytes()))
    docs, stats = load(folder)
    assert [d.doc_id for d in docs] == ["30000001", "30000002"] * 2  # a later file may revise a PMID
    assert stats.files == 2


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("docs.jsonl", "jsonl"), ("cases.csv", "csv"), ("notes.tsv", "tsv"), ("pubmedqa_sample.json", "pubmedqa"),
     ("pubmed_sample.xml", "pubmed"), ("medquad", "medquad"), ("medquad/6_NINDS_QA/0000007.xml", "medquad")],
)
def test_infer_format(name, fmt):
    assert fmt in FORMATS
    assert infer_format(DATA / name) == fmt


def test_infer_format_refuses_unknown_and_mixed(tmp_path):
    odd = tmp_path / "notes.txt"
    odd.write_text("hello")
    with pytest.raises(KbqaError, match=r"notes\.txt.*--format"):
        infer_format(odd)
    with pytest.raises(KbqaError, match="several formats"):
        infer_format(DATA)


def test_explicit_format_wins_and_unknown_format_is_refused():
    with pytest.raises(KbqaError, match="unknown format 'xml'"):
        load(DATA / "pubmed_sample.xml", "xml")
    docs, _ = load(DATA / "medquad", "medquad")
    assert len(docs) == 2


def test_import_kbqa_corpus_is_light():
    code = "import sys, kbqa.corpus; print(any(m in sys.modules for m in ('torch', 'pandas', 'transformers', 'faiss')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- real samples from ../shared/data ---------------------------------------------------------


def test_real_pubmedqa(shared_data):
    docs, stats = load(shared_data / "pubmedqa" / "pqal_traindev.json")
    assert stats.documents == len(docs) == 500
    assert all(d.title == "" and d.meta["source"] == "pubmedqa" for d in docs)
    assert sum(isinstance(d.meta.get("year"), int) for d in docs) == 464  # 36 records have YEAR null
    import json

    raw = json.loads((shared_data / "pubmedqa" / "pqal_traindev.json").read_text())
    assert not any(raw[d.doc_id]["QUESTION"] in d.text for d in docs)


def test_real_medquad_sample(shared_data, tmp_path):
    root = shared_data / "medquad"
    sample = tmp_path / "medquad"
    for rel in ["1_CancerGov_QA/0000013_2.xml", "1_CancerGov_QA/0000013_2_1.xml", "6_NINDS_QA/0000007.xml",
                "9_CDC_QA/0000397.xml", "10_MPlus_ADAM_QA/0000001.xml"]:
        (sample / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(root / rel, sample / rel)
    docs, stats = load(sample)
    ids = [d.doc_id for d in docs]
    assert len(ids) == len(set(ids))  # qid 0000013_2-1 occurs in both CancerGov files
    assert "CancerGov:0000013_2-1" in ids and "CancerGov:0000013_2_1-1" in ids
    assert {d.meta["collection"] for d in docs} == {"CancerGov", "NINDS", "CDC"}
    assert stats.skipped_unanswered > 0  # the ADAM file has its answers removed upstream


def test_real_claims_as_jsonl(shared_data):
    docs, stats = load(shared_data / "claims" / "check_covid" / "dev.jsonl", columns={"text": "context"})
    assert stats.documents == len(docs) == 207
    assert set(docs[0].meta) == {"source", "question", "label"}


@pytest.mark.slow
def test_real_medquad_full_load_is_fast(shared_data):
    started = time.perf_counter()
    docs, stats = load(shared_data / "medquad")
    seconds = time.perf_counter() - started
    assert stats.documents == 16423 and stats.files == 11274
    assert len({d.doc_id for d in docs}) == 16423
    assert seconds < 20, seconds  # ~2.5 s on the shared 2-core machine


def test_jsonl_title_only_record_is_indexed_by_its_title(tmp_path):
    from kbqa.corpus import LoadStats, iter_documents

    path = tmp_path / "beir.jsonl"
    path.write_text('{"_id": "t1", "title": "COVID-19 vaccine efficacy", "text": ""}\n{"_id": "t2", "title": "", "text": " "}\n')
    stats = LoadStats()
    docs = list(iter_documents(path, "jsonl", stats=stats))
    assert [(d.doc_id, d.text, d.title) for d in docs] == [("t1", "COVID-19 vaccine efficacy", "COVID-19 vaccine efficacy")]
    assert stats.skipped_empty == 1
