"""The FastAPI app: /search, /ask, /diagnose, /treat, /health, /index, /reload and the evidence page at /."""

from __future__ import annotations

import logging
import re
import time
import traceback
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from kbqa.disclaimer import DISCLAIMER
from kbqa.errors import KbqaError
from kbqa.filters import Filters
from kbqa.paths import PACKAGE
from kbqa.read.reader import MAX_QUESTION_CHARS
from kbqa.serialize import answer_to_dict, to_jsonable
from kbqa.server.models import (
    ERRORS,
    AnswerOut,
    AskRequest,
    DiagnoseRequest,
    DiagnosisOut,
    ErrorOut,
    HealthOut,
    IndexOut,
    ReloadOut,
    SearchOut,
    SearchRequest,
    TreatmentOut,
    TreatRequest,
)
from kbqa.server.security import KEY_MESSAGE, Guard, RateLimiter, require_key
from kbqa.server.settings import ASK_K_MAX, SEARCH_K_MAX, ServerSettings
from kbqa.server.state import ServedIndex

log = logging.getLogger("kbqa.server")
STATIC = PACKAGE / "static"  # package data
_PATH = re.compile(r"(?<![\w.~])(?:[A-Za-z]:)?/[^\s'\",;)]+")

DESCRIPTION = f"""Retrieval-augmented question answering over a kbqa index.

**{DISCLAIMER}** Every answer carries this disclaimer in its `disclaimer` field.

When the server runs with an API key, every endpoint but `/health` needs it, sent as
`Authorization: Bearer KEY` or `X-API-Key: KEY`. Errors are JSON `{{"detail": "..."}}`.
"""


def public_message(exc: BaseException | str) -> str:
    """The message with each file system path cut to its last part: ``/srv/idx/v2/x.json`` -> ``.../x.json``."""
    text = _PATH.sub(lambda m: ".../" + m.group(0).rstrip("/").rsplit("/", 1)[-1], str(exc))
    return text or type(exc).__name__


def create_app(served: ServedIndex | Any, settings: ServerSettings | None = None) -> FastAPI:
    """The app over ``served`` (a ServedIndex, or a KnowledgeBase to serve without a reader)."""
    settings = settings or ServerSettings()
    if not isinstance(served, ServedIndex):
        served = ServedIndex(served, batch_max=settings.batch_max, watch_interval=settings.watch_interval)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        served.start()
        try:
            yield
        finally:
            served.stop()

    app = FastAPI(
        title="kbqa",
        description=DESCRIPTION,
        version=_version(),
        lifespan=lifespan,
        openapi_url=None,  # served below, behind the key unless settings.public_docs
        docs_url=None,
        redoc_url=None,
    )
    # every route but /health and the page needs the key when there is one
    key_check = require_key(settings.api_key) if settings.api_key is not None else None
    keyed = [Depends(key_check)] if key_check is not None else []
    docs_keyed = [] if settings.public_docs else keyed
    app.state.served = served
    app.state.settings = settings

    # PHI in queries: replaced before use with --deidentify-queries, and always before a query is logged
    scrub = _deidentifier() if settings.deidentify_queries or settings.log_queries else None
    app.state.scrub = scrub

    def incoming(text: str) -> str:
        return scrub(text) if settings.deidentify_queries and scrub is not None else text

    def query_note(text: str) -> str:
        if not settings.log_queries or scrub is None:
            return f" chars={len(text)}"
        return f" text={(text if settings.deidentify_queries else scrub(text))!r}"

    @app.exception_handler(KbqaError)
    async def _kbqa_error(request: Request, exc: KbqaError) -> JSONResponse:
        return JSONResponse({"detail": public_message(exc)}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI parses the JSON body before it runs the key dependency: no key, no word on the body
        if key_check is not None and not await key_check.request_has_key(request):  # type: ignore[attr-defined]
            return JSONResponse({"detail": KEY_MESSAGE}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        return JSONResponse({"detail": validation_message(exc.errors())}, status_code=422)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        # the exception's message may quote the request: only its type and where it was raised are logged
        log.error("internal error on %s %s: %s\n%s", request.method, request.url.path, type(exc).__name__,
                  "".join(traceback.format_tb(exc.__traceback__)).rstrip())
        return JSONResponse({"detail": "internal server error; the server log has the details"}, status_code=500)

    @app.get("/health", response_model=HealthOut, tags=["service"], summary="liveness (no key needed)")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/index",
        dependencies=keyed,
        response_model=IndexOut,
        tags=["service"],
        responses=_errors(401, 429),
        summary="the served index version and its manifest summary",
    )
    async def index() -> dict[str, Any]:
        return index_summary(served, settings)

    @app.post(
        "/search",
        dependencies=keyed,
        response_model=SearchOut,
        tags=["query"],
        responses=_errors(400, 401, 413, 422, 429),
        summary="cited passages for a query",
    )
    async def search(body: SearchRequest) -> dict[str, Any]:
        kb = served.kb  # this request's version, even if a reload swaps in another meanwhile
        query = incoming(body.query)
        t0 = time.perf_counter()
        with _no_echo(body.query):
            filters = _filters(body.filters)
            hits = await served.search(kb, query, body.k, filters)
        log.info("search k=%d hits=%d %.0f ms%s", body.k, len(hits), 1e3 * (time.perf_counter() - t0), query_note(query))
        return {"query": query, "k": body.k, "index_version": kb.version, "hits": to_jsonable(hits)}

    @app.post(
        "/ask",
        dependencies=keyed,
        response_model=AnswerOut,
        tags=["query"],
        responses={**_errors(400, 401, 413, 422, 429), 503: {"model": ErrorOut, "description": "no reader loaded"}},
        summary="a yes/no verdict with confidence and cited evidence (decision support, not medical advice)",
    )
    async def ask(body: AskRequest) -> Any:
        if served.reader is None:
            return JSONResponse(
                {
                    "detail": "no reader model is loaded, so /ask is unavailable (/search works); "
                    "start the server with --reader DIR"
                },
                status_code=503,
            )
        kb = served.kb
        question = incoming(body.question)
        t0 = time.perf_counter()
        with _no_echo(body.question):
            filters = _filters(body.filters)
            answer = await run_in_threadpool(served.ask, kb, question, body.k, filters)
        out = answer_to_dict(answer)
        out["provenance"] = _public_provenance(out["provenance"])
        log.info(
            "ask k=%d verdict=%s %.0f ms%s",
            body.k,
            answer.verdict,
            1e3 * (time.perf_counter() - t0),
            query_note(question),
        )
        return {**out, "index_version": kb.version, "disclaimer": DISCLAIMER}

    @app.post(
        "/diagnose",
        dependencies=keyed,
        response_model=DiagnosisOut,
        tags=["query"],
        responses=_errors(400, 401, 413, 422, 429),
        summary="candidate conditions for a description of symptoms, with evidence and red flags "
        "(decision support, not a diagnosis)",
    )
    async def diagnose(body: DiagnoseRequest) -> Any:
        from kbqa.diagnose import diagnose as run_diagnosis

        kb = served.kb
        description = incoming(body.description)
        t0 = time.perf_counter()
        result = await run_in_threadpool(run_diagnosis, kb, description, body.k)
        log.info("diagnose k=%d conditions=%d red_flags=%d %.0f ms%s", body.k, len(result.conditions),
                 len(result.red_flags), 1e3 * (time.perf_counter() - t0), query_note(description))
        return {**to_jsonable(result.to_dict()), "index_version": kb.version, "disclaimer": DISCLAIMER}

    @app.post(
        "/treat",
        dependencies=keyed,
        response_model=TreatmentOut,
        tags=["query"],
        responses=_errors(400, 401, 413, 422, 429),
        summary="treatment options for a condition found in the knowledge base, with evidence, warnings for the "
        "patient and interactions with current medications (options to weigh, not a prescription)",
    )
    async def treat(body: TreatRequest) -> Any:
        from kbqa.treat import treat as find_options

        kb = served.kb
        patient = incoming(body.patient) if body.patient else body.patient
        t0 = time.perf_counter()
        result = await run_in_threadpool(find_options, kb, body.condition, patient, body.medications, body.k)
        log.info("treat k=%d options=%d medications=%d %.0f ms%s%s", body.k, len(result.options),
                 len(body.medications), 1e3 * (time.perf_counter() - t0), query_note(body.condition),
                 (" patient" + query_note(patient)) if patient else "")
        return {**to_jsonable(result.to_dict()), "index_version": kb.version, "disclaimer": DISCLAIMER}

    @app.post(
        "/reload",
        dependencies=keyed,
        response_model=ReloadOut,
        tags=["service"],
        responses={**_errors(401, 429), 409: {"model": ErrorOut, "description": "the new version failed to load"}},
        summary="serve the newest committed index version now (it is also picked up automatically)",
    )
    async def reload() -> Any:
        try:
            previous, current = await run_in_threadpool(served.reload)
        except Exception as exc:
            log.warning("reload failed, still serving %s: %s", served.kb.version, exc)
            return JSONResponse(
                {
                    "detail": f"the committed index version could not be loaded ({public_message(exc)}); "
                    f"still serving {served.kb.version}"
                },
                status_code=409,
            )
        return {"changed": previous != current, "previous_version": previous, "version": current}

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers=_PAGE_HEADERS)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _add_docs(app, docs_keyed)
    limiter = RateLimiter(settings.rate_limit, settings.rate_burst)
    app.add_middleware(Guard, max_body_bytes=settings.max_body_bytes, limiter=limiter)
    if settings.cors_origins:  # outermost, so preflight requests are answered before the key check
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type"],
        )
    return app


_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}


def _deidentifier() -> Any:
    """kbqa.deid's de-identifier, its engines loaded now (at start-up, not on the first query)."""
    from kbqa.deid import default_deidentifier

    deid = default_deidentifier()
    deid("warm-up 01/02/2020")
    return deid


class _no_echo:
    """Re-raise a KbqaError whose message quotes the request text with that text cut out."""

    def __init__(self, *texts: str) -> None:
        self.texts = [t for t in texts if t and t.strip()]

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> bool:
        if isinstance(exc, KbqaError):
            message = without_request_text(str(exc), self.texts)
            if message != str(exc):
                raise KbqaError(message) from None
        return False


def without_request_text(message: str, texts: list[str]) -> str:
    """``message`` with every request text (and its whitespace-collapsed form) replaced by <request text>."""
    for text in texts:
        for form in {text, " ".join(text.split()), repr(text), repr(" ".join(text.split()))}:
            if len(form.strip()) >= 4:  # a 2-letter query must not blank every "in" of a message
                message = message.replace(form, "<request text>")
    return message


def _filters(body: Any) -> Filters | None:
    return None if body is None or body.to_dict() is None else Filters.parse(body.to_dict())


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {c: ERRORS[c] for c in codes}


def _public_provenance(prov: dict[str, Any]) -> dict[str, Any]:
    prov = dict(prov)
    if prov.get("reader"):
        prov["reader"] = Path(str(prov["reader"])).name  # the folder name, not where it lives
    return prov


def validation_message(errors: Any) -> str:
    """Pydantic's errors as one line: 'k: Input should be less than or equal to 100; ...'."""
    parts = []
    for err in errors:
        loc = [str(x) for x in err.get("loc", ()) if x != "body"]
        kind = err.get("type")
        msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        if isinstance(err.get("input"), str):  # a validator's message never quotes what was sent
            msg = without_request_text(msg, [err["input"]])
        if kind == "json_invalid":
            msg, loc = "the body is not valid JSON", []
        elif kind in ("string_pattern_mismatch", "string_too_short"):
            msg = "is empty; write a question or keywords"
        elif kind == "string_too_long":
            msg = f"is too long: keep it under {err.get('ctx', {}).get('max_length')} characters"
        elif kind == "missing":
            msg = "is required"
        parts.append(f"{'.'.join(loc)}: {msg}" if loc else msg)
    return "; ".join(parts) or "invalid request"


def index_summary(served: ServedIndex, settings: ServerSettings) -> dict[str, Any]:
    from kbqa.index.manifest import summary
    from kbqa.index.store import IndexFolder

    kb = served.kb
    info = summary(kb.manifest)
    info["sources"] = [
        {"source": Path(str(s.get("source", ""))).name, "format": s.get("format")} for s in info.get("sources") or []
    ]
    try:
        current = served.current_on_disk()
    except KbqaError:
        current = None
    return {
        **info,
        "version": kb.version,
        "current_version": current,
        "versions": IndexFolder(kb.index_dir).versions(),
        "reader": served.reader_name,
        "deidentify_queries": settings.deidentify_queries,
        "reloads": served.reloads,
        "reload_error": public_message(served.last_reload_error) if served.last_reload_error else None,
        "limits": {
            "search_k_max": SEARCH_K_MAX,
            "ask_k_max": ASK_K_MAX,
            "question_chars_max": MAX_QUESTION_CHARS,
            "body_bytes_max": settings.max_body_bytes,
            "chunks": len(kb),
        },
        "disclaimer": DISCLAIMER,
    }


def _add_docs(app: FastAPI, dependencies: list[Any]) -> None:
    """/openapi.json (FastAPI's own schema), /docs, /docs/oauth2-redirect and /redoc."""
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html

    @app.get("/openapi.json", include_in_schema=False, dependencies=dependencies)
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=dependencies)
    async def docs() -> Any:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} - Swagger UI",
                                   oauth2_redirect_url="/docs/oauth2-redirect")

    @app.get("/docs/oauth2-redirect", include_in_schema=False, dependencies=dependencies)
    async def oauth2_redirect() -> Any:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False, dependencies=dependencies)
    async def redoc() -> Any:
        return get_redoc_html(openapi_url="/openapi.json", title=f"{app.title} - ReDoc")


def _version() -> str:
    from kbqa.version import __version__

    return __version__
