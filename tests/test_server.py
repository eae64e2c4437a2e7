"""HTTP API on a tiny index: endpoints, auth, bad input, limits, logging, batching, reload under load."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
from conftest import KeywordClassifier, keyword_reader  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from kbqa.config import Config  # noqa: E402
from kbqa.read.reader import Reader  # noqa: E402
from kbqa.serialize import hit_to_dict  # noqa: E402
from kbqa.server import SearchBatcher, ServedIndex, ServerSettings, create_app, public_message  # noqa: E402
from kbqa.server.security import RateLimiter  # noqa: E402

DOCS = Path(__file__).parent / "data" / "kb" / "docs.jsonl"
KEY = "k3y-for-tests-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
DISCLAIMER_WORDS = "not a diagnosis or medical advice"


def fake_reader(folder: Path) -> Reader:
    """'reduces'/'increases' -> yes, 'not caused' -> no, else maybe: the test decides the verdict."""
    return keyword_reader(folder, 0.4, KeywordClassifier(yes=("reduces", "increases"), no=("not caused",)))


@contextmanager
def running_server(app) -> Iterator[str]:  # noqa: ANN001
    """A real uvicorn server on a free loopback port, in a thread; yields its base URL."""
    import socket

    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="module")
def kb(tiny_cfg, tmp_path_factory):  # noqa: ANN001, ANN201
    from kbqa.pipeline import KnowledgeBase

    return KnowledgeBase.build([DOCS], tmp_path_factory.mktemp("kb") / "idx", tiny_cfg, progress=False)


@pytest.fixture(scope="module")
def client(kb, tmp_path_factory):  # noqa: ANN001, ANN201
    served = ServedIndex(kb, fake_reader(tmp_path_factory.mktemp("readers") / "tiny-reader"), watch_interval=0)
    with TestClient(create_app(served, ServerSettings(api_key=KEY, rate_limit=0))) as c:
        yield c


# ---- auth -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "method,path,body",
    [
        ("get", "/index", None),
        ("post", "/search", {"query": "aspirin"}),
        ("post", "/ask", {"question": "Does aspirin help?"}),
        ("post", "/reload", None),
        ("get", "/openapi.json", None),
        ("get", "/docs", None),
    ],
)
def test_every_endpoint_but_health_needs_the_key(client, method, path, body) -> None:  # noqa: ANN001
    call = getattr(client, method)
    kwargs = {"json": body} if body is not None else {}
    assert call(path, **kwargs).status_code == 401
    assert call(path, headers={"Authorization": "Bearer wrong-key-wrong-key"}, **kwargs).status_code == 401
    assert call(path, headers={"Authorization": KEY}, **kwargs).status_code == 401  # no scheme
    assert call(path, headers=AUTH, **kwargs).status_code == 200
    assert call(path, headers={"X-API-Key": KEY}, **kwargs).status_code == 200


def test_health_and_page_need_no_key(client) -> None:  # noqa: ANN001
    assert client.get("/health").json() == {"status": "ok"}
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert DISCLAIMER_WORDS in page.text and 'id="api-key"' in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert client.get("/static/app.js").status_code == 200


def test_openapi_documents_models_key_and_disclaimer(client) -> None:  # noqa: ANN001
    schema = client.get("/openapi.json", headers=AUTH).json()
    assert {"/search", "/ask", "/health", "/index", "/reload"} <= set(schema["paths"])
    assert DISCLAIMER_WORDS in schema["info"]["description"]
    assert DISCLAIMER_WORDS in str(schema["components"]["schemas"]["AnswerOut"])
    assert schema["paths"]["/search"]["post"]["security"] == [{"bearer": []}, {"apiKey": []}]
    assert "security" not in schema["paths"]["/health"]["get"]


# ---- endpoints --------------------------------------------------------------------------
def test_search_matches_python_api_and_clamps_k(client, kb) -> None:  # noqa: ANN001
    r = client.post("/search", json={"query": "warfarin bleeding", "k": 3}, headers=AUTH)
    assert r.status_code == 200
    body = r.json()
    expected = [hit_to_dict(h) for h in kb.search("warfarin bleeding", k=3)]
    assert [h["chunk_id"] for h in body["hits"]] == [h["chunk_id"] for h in expected]
    assert body["hits"][0].keys() == expected[0].keys() and body["index_version"] == kb.version
    assert r.headers["cache-control"] == "no-store" and r.headers["x-content-type-options"] == "nosniff"
    assert body["hits"][0]["score"] == pytest.approx(expected[0]["score"], abs=1e-5)
    everything = client.post("/search", json={"query": "anything", "k": 100}, headers=AUTH).json()["hits"]
    assert len(everything) == len(kb.search("anything", k=100)) < 100  # clamped, retracted excluded
    trials = client.post("/search", json={"query": "muscle", "k": 5, "filters": {"source": "trials"}}, headers=AUTH)
    assert {h["metadata"]["source"] for h in trials.json()["hits"]} == {"trials"}


def test_ask_answer_shape_evidence_and_disclaimer(client, kb) -> None:  # noqa: ANN001
    r = client.post(
        "/ask", json={"question": "Does low-dose aspirin reduce myocardial infarction?", "k": 4}, headers=AUTH
    )
    assert r.status_code == 200, r.text
    ans = r.json()
    assert ans["verdict"] in ("yes", "no", "maybe") and 0 < ans["confidence"] <= 1
    # the decision is the verdict when answered, null when abstained
    assert "decision" in ans and ans["decision"] == (None if ans["abstained"] else ans["verdict"])
    assert DISCLAIMER_WORDS in ans["disclaimer"] and ans["index_version"] == kb.version
    assert ans["evidence"] and all(e["citation"] and e["stance"] for e in ans["evidence"])
    for e in ans["evidence"]:
        if e["highlight"] is not None:
            a, b = e["highlight"]
            assert 0 <= a < b <= len(e["text"])
    assert ans["provenance"]["reader"] == "tiny-reader"  # the folder name, never its path
    assert ans["provenance"]["index_fingerprint"] == kb.fingerprint


def test_ask_without_reader_is_503_and_search_still_works(kb) -> None:  # noqa: ANN001
    with TestClient(create_app(kb, ServerSettings(watch_interval=0))) as c:
        r = c.post("/ask", json={"question": "Does aspirin help?"})
        assert r.status_code == 503 and "--reader" in r.json()["detail"]
        assert c.post("/search", json={"query": "aspirin"}).status_code == 200
        assert c.get("/index").json()["reader"] is None


def test_index_summary_has_no_paths(client, kb) -> None:  # noqa: ANN001
    info = client.get("/index", headers=AUTH).json()
    assert info["version"] == info["current_version"] == kb.version
    assert info["counts"]["chunks"] == len(kb) and info["limits"]["search_k_max"] == 100
    assert str(kb.index_dir) not in str(info) and "/" not in str(info["sources"])


@pytest.mark.parametrize(
    "path,body,status,words",
    [
        ("/search", {"query": "   "}, 422, "query: is empty"),
        ("/search", {"query": ""}, 422, "query: is empty"),
        ("/ask", {"question": "\n\t "}, 422, "question: is empty"),
        ("/ask", {"question": "x" * 1001}, 422, "too long"),
        ("/ask", {"question": "word " * 300}, 422, "too long"),
        ("/search", {"query": "x", "k": 0}, 422, "k: Input should be greater than or equal to 1"),
        ("/search", {"query": "x", "k": 101}, 422, "less than or equal to 100"),
        ("/ask", {"question": "x?", "k": 51}, 422, "less than or equal to 50"),
        ("/search", {"query": "x", "k": "5"}, 422, "k: Input should be a valid integer"),
        ("/search", {"query": "x", "filters": {"colour": "red"}}, 422, "filters.colour"),
        ("/search", {"query": "x", "filters": {"year_min": "recent"}}, 422, "filters.year_min"),
        ("/search", {"k": 3}, 422, "query: is required"),
        ("/search", {"query": "x", "extra": 1}, 422, "extra"),
    ],
)
def test_bad_input_is_4xx_with_a_clear_message(client, path, body, status, words) -> None:  # noqa: ANN001
    r = client.post(path, json=body, headers=AUTH)
    assert r.status_code == status and words in r.json()["detail"], r.text


def test_bad_bodies(client) -> None:  # noqa: ANN001
    h = {**AUTH, "content-type": "application/json"}
    r = client.post("/search", content=b'{"query": ', headers=h)
    assert r.status_code == 422 and "not valid JSON" in r.json()["detail"]
    r = client.post("/search", content=b'{"query": "' + b"a" * 70_000 + b'"}', headers=h)
    assert r.status_code == 413 and "limit" in r.json()["detail"]

    def chunks():  # no Content-Length: FastAPI's own limit stops the stream
        for _ in range(100):
            yield b"a" * 1024

    r = client.post("/search", content=chunks(), headers=h)
    assert r.status_code == 413 and "limit" in r.json()["detail"]


def test_errors_never_show_paths_or_tracebacks(kb, monkeypatch) -> None:  # noqa: ANN001
    from kbqa.errors import KbqaError

    assert public_message(KbqaError("no index at /srv/secret/idx; see C:/x/y")) == "no index at .../idx; see .../y"
    assert public_message(KbqaError("yes/no and 1/2")) == "yes/no and 1/2"

    def boom(*a, **k):  # noqa: ANN002, ANN003
        raise RuntimeError(f"disk error in {kb.index_dir}/v1/faiss.index")

    monkeypatch.setattr(type(kb), "search_many", boom)
    with TestClient(create_app(kb, ServerSettings(watch_interval=0)), raise_server_exceptions=False) as c:
        r = c.post("/search", json={"query": "aspirin"})
    assert r.status_code == 500 and "Traceback" not in r.text and str(kb.index_dir) not in r.text


# ---- limits, CORS, logging ----------------------------------------------------------------
def test_rate_limit_per_client(kb) -> None:  # noqa: ANN001
    with TestClient(create_app(kb, ServerSettings(rate_limit=0.5, rate_burst=3, watch_interval=0))) as c:
        codes = [c.get("/index").status_code for _ in range(5)]
        assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
        r = c.get("/index")
        assert int(r.headers["retry-after"]) >= 1 and "slow down" in r.json()["detail"]
        assert c.get("/health").status_code == 200  # monitoring is never limited
    limiter = RateLimiter(rate=2.0, burst=2)
    assert [limiter.allow("a", now=0.0) for _ in range(3)] == [0.0, 0.0, pytest.approx(0.5)]
    assert limiter.allow("b", now=0.0) == 0.0  # clients have their own buckets
    assert limiter.allow("a", now=0.6) == 0.0  # refilled at 2/s


def test_cors_is_off_by_default_and_opt_in(kb, client) -> None:  # noqa: ANN001
    origin = {"Origin": "https://evil.example"}
    assert "access-control-allow-origin" not in client.get("/health", headers=origin).headers
    app = create_app(kb, ServerSettings(cors_origins=("https://ok.example",), watch_interval=0))
    with TestClient(app) as c:
        pre = c.options("/search", headers={"Origin": "https://ok.example", "Access-Control-Request-Method": "POST"})
        assert pre.headers["access-control-allow-origin"] == "https://ok.example"
        assert "access-control-allow-origin" not in c.get("/health", headers=origin).headers


def test_questions_are_logged_only_when_switched_on_and_then_de_identified(kb, caplog) -> None:  # noqa: ANN001
    pytest.importorskip("presidio_analyzer")
    secret = "Does patient Jane Roe need warfarin?"
    for log_queries in (False, True):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="kbqa.server"):
            with TestClient(create_app(kb, ServerSettings(log_queries=log_queries, watch_interval=0))) as c:
                assert c.post("/search", json={"query": secret}).status_code == 200
        assert "search k=10" in caplog.text
        assert "Jane Roe" not in caplog.text  # logged text is always de-identified
        assert ("[NAME] need warfarin" in caplog.text) is log_queries


def test_deidentify_queries_reach_retrieval_logs_and_errors_without_phi(kb, monkeypatch, caplog) -> None:  # noqa: ANN001
    pytest.importorskip("presidio_analyzer")
    from kbqa.errors import KbqaError

    secret = "Mrs. Okonkwo, MRN 12345678, seen 03/14/2021: does warfarin interact with aspirin?"
    phi = ("Okonkwo", "12345678", "03/14/2021")
    seen: list[str] = []
    real = ServedIndex.search

    async def spy(self, kb_, query, k, filters):  # noqa: ANN001, ANN202
        seen.append(query)
        return await real(self, kb_, query, k, filters)

    monkeypatch.setattr(ServedIndex, "search", spy)
    settings = ServerSettings(deidentify_queries=True, log_queries=True, watch_interval=0)
    with caplog.at_level(logging.INFO, logger="kbqa.server"):
        with TestClient(create_app(kb, settings), raise_server_exceptions=False) as c:
            r = c.post("/search", json={"query": secret})
            assert r.status_code == 200 and c.get("/index").json()["deidentify_queries"] is True
            assert r.json()["query"] == "Mrs. [NAME], MRN [ID], seen [DATE]: does warfarin interact with aspirin?"
            assert seen == [r.json()["query"]]  # retrieval saw the de-identified query only

            def fail(self, kb_, query, k, filters):  # noqa: ANN001, ANN202
                raise KbqaError(f"cannot search {query!r}")

            monkeypatch.setattr(ServedIndex, "search", fail)
            bad = c.post("/search", json={"query": secret})
            too_long = c.post("/search", json={"query": secret + " x" * 600})
            monkeypatch.setattr(ServedIndex, "search", lambda *a: 1 / 0)
            crash = c.post("/search", json={"query": secret})
    assert bad.status_code == 400 and too_long.status_code == 422 and crash.status_code == 500
    for text in (bad.text, too_long.text, crash.text, caplog.text):
        assert not [p for p in phi if p in text], text
    assert "warfarin" in caplog.text  # the de-identified query was logged


def test_error_responses_never_echo_the_request(kb, monkeypatch) -> None:  # noqa: ANN001
    from kbqa.errors import KbqaError

    secret = "patient Zebulon Quigley-Hartmann asks about statins"

    def fail(self, kb_, query, k, filters):  # noqa: ANN001, ANN202
        raise KbqaError(f"nothing indexed matches {query!r}; rebuild the index")

    monkeypatch.setattr(ServedIndex, "search", fail)
    with TestClient(create_app(kb, ServerSettings(watch_interval=0))) as c:
        r = c.post("/search", json={"query": secret})
    assert r.status_code == 400 and "Quigley" not in r.text and "rebuild the index" in r.json()["detail"]


# ---- concurrency --------------------------------------------------------------------------
class SlowKB:
    """Records the batch sizes search_many sees; each call takes 50 ms like a real forward pass."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def search_many(self, queries, k, filters=None):  # noqa: ANN001, ANN201
        self.batches.append(len(queries))
        time.sleep(0.05)
        return [[f"{q}:{i}" for i in range(k)] for q in queries]


def test_batcher_groups_waiting_queries_and_cuts_each_k() -> None:
    slow = SlowKB()
    batcher = SearchBatcher(threading.Lock(), max_batch=8)
    batcher.start()
    try:
        futures = [batcher.submit(slow, f"q{i}", 1 + i % 3) for i in range(20)]
        results = [f.result(timeout=10) for f in futures]
    finally:
        batcher.stop()
    assert results[4] == ["q4:0", "q4:1"] and results[5] == ["q5:0", "q5:1", "q5:2"]
    assert sum(slow.batches) == 20 and len(slow.batches) < 20 and max(slow.batches) <= 8


def test_batched_search_ranks_like_search(kb) -> None:  # noqa: ANN001
    served = ServedIndex(kb, watch_interval=0)
    served.start()
    try:
        queries = ["warfarin bleeding", "statin muscle", "aspirin", "metformin kidney"] * 3
        futures = [served.batcher.submit(kb, q, 3) for q in queries]
        got = [[h.chunk_id for h in f.result(timeout=30)] for f in futures]
    finally:
        served.stop()
    assert got == [[h.chunk_id for h in kb.search(q, k=3)] for q in queries]


NEW_DOCS = [
    json.dumps({"id": "n1", "title": "Vitamin D and falls", "source": "new",
                "text": "Vitamin D supplementation reduces falls in older adults."}),
    json.dumps({"id": "n2", "title": "Zinc and colds", "source": "new",
                "text": "Zinc lozenges shorten the common cold in adults."}),
]


def test_reload_while_requests_are_in_flight(tiny_cfg, tmp_path) -> None:  # noqa: ANN001
    from kbqa.pipeline import KnowledgeBase

    index = tmp_path / "idx"
    kb = KnowledgeBase.build([DOCS], index, tiny_cfg, progress=False)
    served = ServedIndex(kb, fake_reader(tmp_path / "reader"), watch_interval=0.1)
    statuses: list[int] = []
    versions: set[str] = set()
    stop = threading.Event()

    with TestClient(create_app(served, ServerSettings(rate_limit=0))) as c:

        def hammer(i: int) -> None:
            while not stop.is_set():
                if i % 2:
                    r = c.post("/search", json={"query": "vitamin falls", "k": 3})
                else:
                    r = c.post("/ask", json={"question": "Does vitamin D reduce falls?", "k": 3})
                statuses.append(r.status_code)
                if r.status_code == 200:
                    versions.add(r.json()["index_version"])

        threads = [threading.Thread(target=hammer, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        new_source = tmp_path / "new.jsonl"
        new_source.write_text("\n".join(NEW_DOCS) + "\n")
        KnowledgeBase.build([new_source], index, tiny_cfg, overwrite=True, progress=False)  # commits v2, deletes v1
        deadline = time.time() + 30
        while c.get("/index").json()["version"] != "v000002" and time.time() < deadline:
            time.sleep(0.05)  # picked up by the watcher, no /reload call
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join(timeout=30)
        hits = c.post("/search", json={"query": "vitamin", "k": 10}).json()
        assert c.post("/reload").json() == {"changed": False, "previous_version": "v000002", "version": "v000002"}

    assert statuses and set(statuses) == {200}, f"non-200 during reload: {sorted(set(statuses))}"
    assert versions == {"v000001", "v000002"}
    assert hits["index_version"] == "v000002" and {h["doc_id"] for h in hits["hits"]} == {"n1", "n2"}


def test_failed_reload_keeps_serving_and_hides_paths(tiny_cfg, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    from kbqa.pipeline import KnowledgeBase

    index = tmp_path / "idx"
    kb = KnowledgeBase.build([DOCS], index, tiny_cfg, progress=False)
    loads = []
    real_reload = KnowledgeBase.reload
    monkeypatch.setattr(KnowledgeBase, "reload", lambda self: loads.append(1) or real_reload(self))
    with TestClient(create_app(kb, ServerSettings(watch_interval=0.05))) as c:
        (index / "v000009").mkdir()  # a version without a manifest
        (index / "CURRENT").write_text("v000009\n")
        r = c.post("/reload")
        assert r.status_code == 409 and "still serving v000001" in r.json()["detail"]
        assert str(tmp_path) not in r.text
        assert c.post("/search", json={"query": "aspirin"}).json()["index_version"] == "v000001"
        info = c.get("/index").json()
        assert info["version"] == "v000001" and info["current_version"] == "v000009"
        assert "manifest.json" in info["reload_error"] and str(tmp_path) not in info["reload_error"]
        time.sleep(0.5)
        assert len(loads) <= 2  # the watcher tried the broken version once, not every 50 ms


# ---- the command ------------------------------------------------------------------------
def test_serve_command_refuses_bad_keys_and_missing_index(tmp_path, capsys) -> None:  # noqa: ANN001
    from kbqa.cli import main

    short = tmp_path / "key"
    short.write_text("tooshort\n")
    assert main(["serve", "--index", str(tmp_path), "--api-key-file", str(short)]) == 2
    assert "shorter than 16 characters" in capsys.readouterr().err
    assert main(["serve", "--index", str(tmp_path / "none"), "--api-key-file", str(tmp_path / "missing")]) == 2
    assert "API key file not found" in capsys.readouterr().err
    assert main(["serve", "--index", str(tmp_path / "none"), "--torch-threads", "0"]) == 2
    assert "no kbqa index" in capsys.readouterr().err


@pytest.mark.slow
def test_real_minilm_search_over_http(tmp_path) -> None:  # noqa: ANN001
    """The bundled all-MiniLM-L6-v2 behind the server: a paraphrased query finds its document."""
    from kbqa.pipeline import KnowledgeBase

    # the model itself, searched dense (the default hybrid search is swayed by BM25 on 8 documents)
    cfg = Config().replace(embed={"model": "all-MiniLM-L6-v2"}, search={"mode": "dense"})
    kb = KnowledgeBase.build([DOCS], tmp_path / "idx", cfg, progress=False)
    with TestClient(create_app(kb, ServerSettings(watch_interval=0))) as c:
        hits = c.post("/search", json={"query": "blood thinner interactions with heart rhythm drugs", "k": 2}).json()
        assert hits["hits"][0]["doc_id"] == "d4"
        flu = c.post("/search", json={"query": "should nurses get the flu shot", "k": 1}).json()
        assert flu["hits"][0]["doc_id"] == "d7"
