"""CLI smoke tests through kbqa.cli.main (same process, tiny encoder via --config)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kbqa.cli import main

DOCS = Path(__file__).parent / "data" / "kb" / "docs.jsonl"


@pytest.fixture(scope="module")
def config_file(tiny_encoder_dir, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "tiny.toml"
    path.write_text(f'[embed]\nmodel = "{tiny_encoder_dir}"\n\n[chunk]\nsize = 48\noverlap = 8\n')
    return path


@pytest.fixture(scope="module")
def index_dir(config_file, tmp_path_factory) -> Path:
    idx = tmp_path_factory.mktemp("cli") / "idx"
    assert main(["index", "build", str(DOCS), "--index", str(idx), "--config", str(config_file), "--quiet"]) == 0
    return idx


def test_build_info_and_refuse_existing(index_dir, config_file, capsys):
    assert main(["index", "info", "--index", str(index_dir), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["counts"]["documents"] == 6 and info["versions"] == ["v000001"]
    code = main(["index", "build", str(DOCS), "--index", str(index_dir), "--config", str(config_file), "--quiet"])
    assert code == 2 and "--overwrite" in capsys.readouterr().err


def test_search_json(index_dir, capsys):
    assert main(["search", "--index", str(index_dir), "warfarin amiodarone", "-k", "3", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert len(hits) == 3
    for key in ("chunk_id", "doc_id", "score", "text", "title", "metadata"):
        assert key in hits[0]


def test_search_text_and_filters(index_dir, capsys):
    assert main(["search", "--index", str(index_dir), "aspirin", "--filter", "year=2018-2020"]) == 0
    out = capsys.readouterr().out
    assert "[1]" in out and "Aspirin for primary prevention" in out and "Statins" not in out


def test_search_batch(index_dir, tmp_path, capsys):
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"id": 1, "query": "statin muscle pain"}\n\n{"id": "q2", "query": "influenza vaccine"}\n')
    out = tmp_path / "out.jsonl"
    assert main(["search", "--index", str(index_dir), "--input", str(queries), "-k", "2", "--out", str(out)]) == 0
    rows = [json.loads(l) for l in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["1", "q2"] and all(len(r["hits"]) == 2 for r in rows)
    queries.write_text('{"id": 1, "query": "ok"}\n{"id": 2}\n')
    assert main(["search", "--index", str(index_dir), "--input", str(queries)]) == 2
    assert "q.jsonl:2" in capsys.readouterr().err


def test_errors_are_clean(tmp_path, capsys):
    assert main(["search", "--index", str(tmp_path / "nowhere"), "x"]) == 2
    err = capsys.readouterr().err
    assert "no kbqa index" in err and "Traceback" not in err
    bad_cfg = tmp_path / "bad.toml"
    bad_cfg.write_text("[embed]\nmodle = 'x'\n")
    assert main(["index", "build", str(DOCS), "--index", str(tmp_path / "i"), "--config", str(bad_cfg)]) == 2
    assert "unknown key(s) ['modle']" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["index", "build", str(DOCS), "--index", str(tmp_path / "i"), "--bogus"])


def test_index_info_shows_sources_relative_and_no_none(index_dir, capsys, monkeypatch):
    from kbqa.cli.index import describe_source

    monkeypatch.chdir(DOCS.parents[1])
    assert main(["index", "info", "--index", str(index_dir)]) == 0
    line = next(l for l in capsys.readouterr().out.splitlines() if l.startswith("sources"))
    assert line.split(None, 1)[1] == "kb/docs.jsonl" and "None" not in line  # format inferred: not shown
    assert describe_source({"source": "pubmedqa", "format": "pubmedqa"}) == "pubmedqa (pubmedqa)"
    assert describe_source({"source": "/elsewhere/x.xml", "format": None}) == "/elsewhere/x.xml"
