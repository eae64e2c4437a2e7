"""The one-of-each helpers: kbqa.files, kbqa.jsonlines, kbqa.numeric, kbqa.text, kbqa.strict."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from kbqa.config import from_dict
from kbqa.errors import KbqaError
from kbqa.files import atomic_folder, sha256_file, write_atomic
from kbqa.filters import Filters
from kbqa.jsonlines import iter_jsonl, read_jsonl, write_jsonl
from kbqa.numeric import sigmoid, softmax, top_k
from kbqa.text import sentence_spans


def test_files_sha256_atomic_write_and_folder(tmp_path):
    p = tmp_path / "a.txt"
    write_atomic(p, "héllo\n")
    write_atomic(tmp_path / "b.bin", b"\x00\x01")
    assert p.read_text(encoding="utf-8") == "héllo\n" and (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert sha256_file(p) == hashlib.sha256("héllo\n".encode()).hexdigest()
    assert sorted(x.name for x in tmp_path.iterdir()) == ["a.txt", "b.bin"]  # no temporary left
    final = tmp_path / "model"
    for content in ("one", "two"):
        with atomic_folder(final) as tmp:
            (tmp / "f").write_text(content)
        assert (final / "f").read_text() == content and not tmp.exists()
    with pytest.raises(RuntimeError), atomic_folder(final) as tmp:
        (tmp / "f").write_text("half")
        raise RuntimeError
    assert (final / "f").read_text() == "two"  # a failed write never replaces the folder


def test_jsonl_round_trip(tmp_path):
    rows = [{"id": "a", "t": "é"}, {"id": "b"}]
    assert write_jsonl(tmp_path / "r.jsonl", rows, ensure_ascii=False, atomic=True) == 2
    assert list(read_jsonl(tmp_path / "r.jsonl")) == rows
    assert [n for n, _ in iter_jsonl(tmp_path / "r.jsonl", required=("id",))] == [1, 2]


def test_top_k_softmax_sigmoid():
    s = np.array([0.5, 2.0, 0.5, 3.0, 0.5])
    assert top_k(s, 3).tolist() == [3, 1, 0]  # ties by index
    assert top_k(s, 10).tolist() == [3, 1, 0, 2, 4]
    assert top_k(s, 0).tolist() == []
    p = softmax(np.array([[0.0, np.log(3.0)]]))
    assert p.dtype == np.float32 and np.allclose(p, [[0.25, 0.75]])
    assert np.allclose(sigmoid(np.array([0.0])), [0.5])


def test_one_sentence_splitter_two_rule_sets():
    text = "Symptoms include - a fever - a rash. See a doctor.\nNew line"
    assert [text[a:b] for a, b in sentence_spans(text)] == ["Symptoms include", "a fever", "a rash.",
                                                             "See a doctor.", "New line"]
    assert [text[a:b] for a, b in sentence_spans(text, lists=False)] == [
        "Symptoms include - a fever - a rash.", "See a doctor.", "New line"]
    assert sentence_spans("  ", lists=False) == [(0, 2)] and sentence_spans("") == []


def test_strict_parsing_messages():
    with pytest.raises(KbqaError, match=r"unknown section\(s\) \['x'\]"):
        from_dict({"x": {}})
    with pytest.raises(KbqaError, match=r"\[chunk\] must be a table, got int"):
        from_dict({"chunk": 3})
    with pytest.raises(KbqaError, match=r"\[chunk\] size: Input should be a valid integer"):
        from_dict({"chunk": {"size": "big"}})
    assert from_dict({"chunk": {"size": 128}}).chunk.size == 128
    with pytest.raises(KbqaError, match="filter year_min must be a year, got 'x'"):
        Filters.parse({"year_min": "x"})
    with pytest.raises(KbqaError, match="filter include_retracted must be true or false"):
        Filters.parse({"include_retracted": "yes"})
    with pytest.raises(KbqaError, match="filters must be a dict, got list"):
        Filters.parse([])  # type: ignore[arg-type]
    assert Filters.parse({"year_min": "2015", "source": 5, "mesh": None}) == Filters(year_min=2015, source="5")


def test_eval_sub_actions_are_subparsers(capsys):
    from kbqa.cli import main

    with pytest.raises(SystemExit) as info:
        main(["eval", "compare", "only-one"])
    assert info.value.code == 2 and "kbqa eval compare" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["eval", "export", "--help"])
    assert "--part" in capsys.readouterr().out


def test_no_key_no_word_on_the_body():
    from unittest import mock

    from fastapi.testclient import TestClient

    from kbqa.server import app as server_app
    from kbqa.server.settings import ServerSettings

    app = server_app.create_app(mock.MagicMock(spec=server_app.ServedIndex), ServerSettings(api_key="k" * 20, rate_limit=0))
    client = TestClient(app)
    bad = {"content": b"{not json", "headers": {"content-type": "application/json"}}
    assert client.post("/search", **bad).status_code == 401
    assert client.post("/search", content=bad["content"], headers={**bad["headers"], "X-API-Key": "k" * 20}).status_code == 422
