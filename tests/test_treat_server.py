"""POST /treat: the `kbqa treat --json` shape plus the disclaimer, behind the key, bad input refused."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("fastapi")
from conftest import tiny_config  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from kbqa.server import ServerSettings, create_app  # noqa: E402
from kbqa.treat import treat  # noqa: E402

DOCS = Path(__file__).parent / "data" / "treat" / "kb.jsonl"
KEY = "k3y-for-tests-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def kb(tiny_encoder_dir, tmp_path_factory):  # noqa: ANN001, ANN201
    from kbqa.pipeline import KnowledgeBase

    cfg = tiny_config(tiny_encoder_dir, small_chunks=False, search={"mode": "lexical"})
    return KnowledgeBase.build([DOCS], tmp_path_factory.mktemp("txs") / "idx", cfg, progress=False)


@pytest.fixture(scope="module")
def client(kb):  # noqa: ANN001, ANN201
    with TestClient(create_app(kb, ServerSettings(api_key=KEY, rate_limit=0, watch_interval=0))) as c:
        yield c


def test_treat_endpoint_matches_the_python_api(client, kb) -> None:  # noqa: ANN001
    body = {"condition": "rheumatoid arthritis", "patient": "pregnant", "medications": ["zorblax"], "k": 4}
    r = client.post("/treat", json=body, headers=AUTH)
    assert r.status_code == 200, r.text
    out = r.json()
    expected = treat(kb, "rheumatoid arthritis", patient="pregnant", medications=["zorblax"], k=4).to_dict()
    assert [o["name"] for o in out["options"]] == [o["name"] for o in expected["options"]]
    assert out["options"][0]["name"] == "methotrexate" and out["options"][0]["evidence"][0]["citation"]
    assert out["options"][0]["warnings"][0]["situation"] == "pregnancy"
    assert out["unknown_medications"] == ["zorblax"] and out["abstained"] is False
    assert out["index_version"] == kb.version and "not a diagnosis" in out["disclaimer"]
    assert "not a prescription" in out["provenance"]["note"]
    assert "/treat" in client.get("/openapi.json", headers=AUTH).json()["paths"]


def test_treat_endpoint_needs_the_key_and_refuses_bad_input(client) -> None:  # noqa: ANN001
    assert client.post("/treat", json={"condition": "asthma"}).status_code == 401
    for body in ({"condition": "  "}, {"condition": "asthma", "k": 0}, {"disease": "asthma"},
                 {"condition": "asthma", "medications": "warfarin"}):
        assert client.post("/treat", json=body, headers=AUTH).status_code == 422, body
    r = client.post("/treat", json={"condition": "asthma", "medications": [" "]}, headers=AUTH)
    assert r.status_code == 400 and "medication names" in r.json()["detail"]


def test_treat_endpoint_deidentifies_the_patient_text(kb, caplog) -> None:  # noqa: ANN001
    import logging

    pytest.importorskip("presidio_analyzer")
    secret = "Mrs. Halvorsen, MRN 55012877, seen 02/09/2023, pregnant"
    settings = ServerSettings(deidentify_queries=True, log_queries=True, watch_interval=0)
    with caplog.at_level(logging.INFO, logger="kbqa.server"):
        with TestClient(create_app(kb, settings)) as c:
            r = c.post("/treat", json={"condition": "rheumatoid arthritis", "patient": secret})
    assert r.status_code == 200
    assert r.json()["options"][0]["warnings"][0]["situation"] == "pregnancy"  # the clinical words survive
    for text in (r.text, caplog.text):
        assert not [p for p in ("Halvorsen", "55012877", "02/09/2023") if p in text], text
