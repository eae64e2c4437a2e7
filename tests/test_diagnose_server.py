"""POST /diagnose: the `kbqa diagnose --json` shape plus the disclaimer, behind the key, bad input refused."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("fastapi")
from conftest import tiny_config  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from kbqa.diagnose import diagnose  # noqa: E402
from kbqa.server import ServerSettings, create_app  # noqa: E402

DOCS = Path(__file__).parent / "data" / "diagnose" / "kb.jsonl"
KEY = "k3y-for-tests-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def kb(tiny_encoder_dir, tmp_path_factory):  # noqa: ANN001, ANN201
    from kbqa.pipeline import KnowledgeBase

    cfg = tiny_config(tiny_encoder_dir, small_chunks=False, search={"mode": "lexical"})
    return KnowledgeBase.build([DOCS], tmp_path_factory.mktemp("dxs") / "idx", cfg, progress=False)


@pytest.fixture(scope="module")
def client(kb):  # noqa: ANN001, ANN201
    with TestClient(create_app(kb, ServerSettings(api_key=KEY, rate_limit=0, watch_interval=0))) as c:
        yield c


def test_diagnose_endpoint_matches_the_python_api(client, kb) -> None:  # noqa: ANN001
    text = "itchy scaly silvery patches on my elbows and knees; I fainted this morning"
    r = client.post("/diagnose", json={"description": text, "k": 3}, headers=AUTH)
    assert r.status_code == 200, r.text
    body = r.json()
    expected = diagnose(kb, text, k=3).to_dict()
    assert [c["name"] for c in body["conditions"]] == [c["name"] for c in expected["conditions"]]
    assert body["conditions"][0]["name"] == "Psoriasis" and body["conditions"][0]["evidence"][0]["highlight"]
    assert [f["rule"] for f in body["red_flags"]] == ["fainting"] and "emergency" in body["red_flags"][0]["advice"]
    assert body["abstained"] is False and body["index_version"] == kb.version
    assert "not a diagnosis" in body["disclaimer"]
    assert "/diagnose" in client.get("/openapi.json", headers=AUTH).json()["paths"]


def test_diagnose_endpoint_needs_the_key_and_refuses_bad_input(client) -> None:  # noqa: ANN001
    assert client.post("/diagnose", json={"description": "fever"}).status_code == 401
    for body in ({"description": "  "}, {"description": "fever", "k": 0}, {"text": "fever"}):
        r = client.post("/diagnose", json=body, headers=AUTH)
        assert r.status_code == 422, body


def test_diagnose_endpoint_deidentifies_queries_before_use_and_logs(kb, caplog) -> None:  # noqa: ANN001
    import logging

    pytest.importorskip("presidio_analyzer")
    secret = "Mr. Dunleavy, MRN 55012877, seen 02/09/2023: itchy scaly silvery patches on my elbows and knees"
    settings = ServerSettings(deidentify_queries=True, log_queries=True, watch_interval=0)
    with caplog.at_level(logging.INFO, logger="kbqa.server"):
        with TestClient(create_app(kb, settings)) as c:
            r = c.post("/diagnose", json={"description": secret, "k": 3})
    assert r.status_code == 200 and r.json()["conditions"][0]["name"] == "Psoriasis"
    for text in (r.text, caplog.text):
        assert not [p for p in ("Dunleavy", "55012877", "02/09/2023") if p in text], text
    assert "[NAME]" in caplog.text  # the logged description is the de-identified one
