"""The evidence page in headless Chromium (skipped when chromium or playwright is absent)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api")
pytest.importorskip("uvicorn")

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("screenshot_page", ROOT / "scripts" / "screenshot_page.py")
screenshot_page = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(screenshot_page)  # type: ignore[union-attr]

if screenshot_page.chromium_path() is None:
    pytest.skip("chromium is not installed (apt-get install -y chromium)", allow_module_level=True)

from conftest import tiny_config  # noqa: E402
from test_server import DOCS, KEY, fake_reader, running_server  # noqa: E402

from kbqa.server import ServedIndex, ServerSettings, create_app  # noqa: E402


@pytest.fixture(scope="module")
def server_url(tiny_encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    from kbqa.pipeline import KnowledgeBase

    cfg = tiny_config(tiny_encoder_dir)
    kb = KnowledgeBase.build([DOCS], tmp_path_factory.mktemp("kb") / "idx", cfg, progress=False)
    served = ServedIndex(kb, fake_reader(tmp_path_factory.mktemp("reader")), watch_interval=0)
    with running_server(create_app(served, ServerSettings(api_key=KEY))) as url:
        yield url


def test_page_asks_for_the_key_then_shows_verdict_evidence_and_highlights(server_url: str, tmp_path: Path) -> None:
    out = tmp_path / "page.png"
    shown = screenshot_page.check_page(
        server_url, "Does low-dose aspirin reduce myocardial infarction?", api_key=KEY, out=out, k=4, timeout_s=60
    )
    assert not shown["page_errors"] and not shown["status_is_error"], shown
    assert shown["verdict"] and "confidence" in shown["confidence"]
    assert shown["evidence"] >= 1 and shown["citations"]
    assert shown["highlights"] and all(h.strip() for h in shown["highlights"])
    assert "not a diagnosis or medical advice" in shown["disclaimer"]
    assert out.stat().st_size > 10_000 and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_page_reports_a_wrong_key(server_url: str) -> None:
    shown = screenshot_page.check_page(server_url, "Does aspirin help?", api_key="wrong-key-wrong-key", timeout_s=60)
    assert shown["status_is_error"] and "API key" in shown["status"] and shown["evidence"] == 0
