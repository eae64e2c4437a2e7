"""benchmarks/load_test.py's client against a real uvicorn server on a tiny index: zero errors, sane figures."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("httpx")

from conftest import tiny_config  # noqa: E402
from test_server import DOCS, KEY, fake_reader, running_server  # noqa: E402

from kbqa.server import ServedIndex, ServerSettings, create_app  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("load_test", ROOT / "benchmarks" / "load_test.py")
load_test = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(load_test)  # type: ignore[union-attr]


def test_concurrent_clients_get_no_errors(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    from kbqa.pipeline import KnowledgeBase

    cfg = tiny_config(tiny_encoder_dir)
    kb = KnowledgeBase.build([DOCS], tmp_path / "idx", cfg, progress=False)
    served = ServedIndex(kb, fake_reader(tmp_path / "reader"), watch_interval=0)
    questions = load_test.load_questions(load_test.QUESTIONS)
    auth = {"Authorization": f"Bearer {KEY}"}
    with running_server(create_app(served, ServerSettings(api_key=KEY, rate_limit=0))) as url:
        rows = [asyncio.run(load_test.drive(url, ep, 6, 1.5, 5, questions, auth)) for ep in ("search", "ask")]
    for row in rows:
        assert row["errors"] == 0 and row["requests"] >= 6, row
        assert 0 < row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"] and row["index_versions"] == ["v000001"]
    assert served.batcher.batches < served.batcher.queries  # concurrent queries were encoded together


def test_rate_limited_clients_see_429_not_5xx(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    from kbqa.pipeline import KnowledgeBase

    cfg = tiny_config(tiny_encoder_dir)
    kb = KnowledgeBase.build([DOCS], tmp_path / "idx", cfg, progress=False)
    with running_server(create_app(kb, ServerSettings(rate_limit=2, rate_burst=4, watch_interval=0))) as url:
        row = asyncio.run(load_test.drive(url, "search", 4, 1.0, 3, ["aspirin"], {}))
    assert row["errors"] > 0 and set(row["error_kinds"]) == {"429"}
