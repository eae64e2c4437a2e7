"""Bad input: every error names the file and (where the format allows) the line, and says how to fix it."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from kbqa.corpus import iter_documents, resolve_source
from kbqa.errors import InputError, KbqaError

DATA = Path(__file__).parent / "data" / "corpus"
GOOD = '{"id": "a", "text": "fine"}\n'


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def fails(path: Path, line: int | None, match: str, fmt: str | None = None, **kw) -> InputError:
    with pytest.raises(InputError, match=match) as info:
        list(iter_documents(path, fmt, **kw))
    err = info.value
    assert err.path == str(path) and str(path) in str(err)
    assert err.line == line
    if line is not None:
        assert f"{path}:{line}: " in str(err)
    return err


@pytest.mark.parametrize(
    ("content", "line", "match"),
    [
        (GOOD + "\n" + '{"id": "b", "text": "x"\n', 3, "malformed JSON"),
        (GOOD + '["a list"]\n', 2, "expected a JSON object"),
        (GOOD + '{"text": "no id"}\n', 2, "missing id.*'_id'"),
        (GOOD + '{"id": "b"}\n', 2, "missing 'text'"),
        (GOOD + '{"id": "b", "text": 5}\n', 2, "'text' must be a string"),
        (GOOD + '{"id": 1.5, "text": "x"}\n', 2, "'id' must be a string or an integer.*quote it"),
        (GOOD + '{"id": true, "text": "x"}\n', 2, "'id' must be a string or an integer"),
        (GOOD + '{"id": null, "text": "x"}\n', 2, "'id' must be a string or an integer"),
        (GOOD + '{"id": " ", "text": "x"}\n', 2, "'id' is empty"),
        (GOOD + '{"id": "b", "text": "x", "title": 3}\n', 2, "'title' must be a string"),
        (GOOD + '{"id": "b", "text": "x"}\n{"id": "a", "text": "y"}\n', 3, r"duplicate id 'a' \(first seen at .*:1\)"),
        (GOOD.encode() + b'{"id": "b", "text": "caf\xe9"}\n', 2, "not valid UTF-8.*0xe9.*iconv"),
    ],
)
def test_jsonl_bad_input(tmp_path, content, line, match):
    fails(write(tmp_path, "docs.jsonl", content), line, match)


def test_jsonl_bad_line_inside_gzip(tmp_path):
    path = write(tmp_path, "docs.jsonl.gz", gzip.compress((GOOD + "{oops\n").encode()))
    fails(path, 2, "malformed JSON")


def test_broken_gzip(tmp_path):
    fails(write(tmp_path, "docs.jsonl.gz", b"not gzip at all"), None, "cannot read")


def test_duplicate_id_across_files_of_a_folder(tmp_path):
    write(tmp_path, "a.jsonl", GOOD)
    second = write(tmp_path, "b.jsonl", GOOD)
    with pytest.raises(InputError, match=r"duplicate id 'a' \(first seen at .*a\.jsonl:1\)") as info:
        list(iter_documents(tmp_path))
    assert info.value.path == str(second) and info.value.line == 1


CSV_HEAD = "case_id,abstract\n"


@pytest.mark.parametrize(
    ("content", "line", "match"),
    [
        (CSV_HEAD + "1,ok\n,no id here\n", 3, "empty id in column 'case_id'"),
        (CSV_HEAD + "1,ok\n2,fine\n1,again\n", 4, r"duplicate id '1' \(first seen at .*:2\)"),
        (CSV_HEAD.encode() + b"1,ok\n2,caf\xe9\n", 3, "not valid UTF-8"),
    ],
)
def test_csv_bad_rows(tmp_path, content, line, match):
    fails(write(tmp_path, "cases.csv", content), line, match, columns={"id": "case_id", "text": "abstract"})


def test_csv_missing_column_lists_present_columns(tmp_path):
    path = write(tmp_path, "cases.csv", CSV_HEAD + "1,ok\n")
    err = fails(path, None, "no text column 'text'", columns={"id": "case_id"})
    assert "['case_id', 'abstract']" in str(err) and "columns={'text': NAME}" in str(err)
    fails(path, None, "no title column 'heading'", columns={"id": "case_id", "text": "abstract", "title": "heading"})
    fails(path, None, "unknown column role", columns={"body": "abstract"})


def test_csv_parser_error_and_empty_file(tmp_path):
    err = fails(write(tmp_path, "bad.csv", 'id,text\n1,"ok"\n2,"unterminated\n'), None, "cannot parse as CSV")
    assert "cannot parse" in str(err)
    fails(write(tmp_path, "empty.csv", ""), None, "empty file")


def test_tsv_missing_id_column(tmp_path):
    fails(write(tmp_path, "notes.tsv", "key\ttext\nn1\thello\n"), None, r"no id column 'id'.*\['key', 'text'\]")


def test_pubmedqa_malformed_json(tmp_path):
    fails(write(tmp_path, "pq.json", '{\n  "1": {"CONTEXTS": ["a"],\n  oops\n}'), 3, "malformed JSON")


@pytest.mark.parametrize(
    ("record", "match"),
    [
        ('{"LONG_ANSWER": "x"}', "PMID 2: missing CONTEXTS"),
        ('{"CONTEXTS": ["a", "b"], "LABELS": ["A"]}', "1 LABELS for 2 CONTEXTS"),
        ('{"CONTEXTS": "a"}', "CONTEXTS must be a list of strings"),
        ('{"CONTEXTS": ["a"], "YEAR": "c. 2001"}', "YEAR must be a 4-digit year"),
        ('[1]', "record must be an object"),
    ],
)
def test_pubmedqa_bad_records_point_at_their_line(tmp_path, record, match):
    content = '{\n  "1": {"CONTEXTS": ["ok"], "YEAR": "2001"},\n  "2": ' + record + "\n}\n"
    fails(write(tmp_path, "pq.json", content), 3, match, "pubmedqa")


def test_pubmedqa_duplicate_pmid(tmp_path):
    content = '{\n  "1": {"CONTEXTS": ["a"]},\n  "1": {"CONTEXTS": ["b"]}\n}\n'
    fails(write(tmp_path, "pq.json", content), 3, "key '1' occurs twice", "pubmedqa")


def test_pubmedqa_not_a_mapping(tmp_path):
    fails(write(tmp_path, "pq.json", "[1, 2]"), 1, "expected a JSON object", "pubmedqa")


def test_medquad_broken_xml(tmp_path):
    folder = tmp_path / "1_CancerGov_QA"
    folder.mkdir()
    text = (DATA / "medquad" / "1_CancerGov_QA" / "0000001_1.xml").read_text().replace("</Focus>", "</Fokus>")
    path = write(folder, "0000001_1.xml", text)
    fails(path, 3, "broken XML.*mismatched tag", "medquad")


def test_medquad_wrong_root(tmp_path):
    fails(write(tmp_path, "x.xml", "<html/>"), None, "expected MedQuAD's <Document>", "medquad")


def test_pubmed_broken_xml_and_gzip(tmp_path):
    text = (DATA / "pubmed_sample.xml").read_text()
    broken = text.replace("<Title>Example Reports</Title>", "<Title>Example Reports</Titel>")
    line = broken.splitlines().index("        <Title>Example Reports</Titel>") + 1
    fails(write(tmp_path, "p.xml", broken), line, "broken XML", "pubmed")
    fails(write(tmp_path, "p2.xml.gz", gzip.compress(broken.encode())), line, "broken XML", "pubmed")
    fails(write(tmp_path, "p3.xml.gz", b"garbage"), None, "cannot read", "pubmed")


def test_pubmed_duplicate_pmid_and_wrong_root(tmp_path):
    text = (DATA / "pubmed_sample.xml").read_text().replace("30000002</PMID>", "30000001</PMID>", 1)
    fails(write(tmp_path, "p.xml", text), None, "PMID 30000001 occurs twice", "pubmed")
    fails(write(tmp_path, "q.xml", "<Other/>"), None, "expected <PubmedArticleSet>", "pubmed")


def test_unknown_source_lists_recipes():
    with pytest.raises(KbqaError, match="not a corpus recipe; known recipes: .*medquad.*pubmedqa"):
        resolve_source("no-such-corpus")


def test_recipe_that_is_not_a_document_corpus(shared_data):
    with pytest.raises(KbqaError, match="reader training data.*kbqa train reader"):
        list(iter_documents("scifact_rte", mirror=shared_data))
