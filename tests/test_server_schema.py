"""Property-based API test: schemathesis generates requests from the OpenAPI schema; no 5xx, responses match it."""

from __future__ import annotations

from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis")
pytest.importorskip("fastapi")
from conftest import tiny_config  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402
from test_server import fake_reader  # noqa: E402

from kbqa.server import ServedIndex, ServerSettings, create_app  # noqa: E402

DOCS = Path(__file__).parent / "data" / "kb" / "docs.jsonl"
KEY = "schema-test-key-0123456789"


@pytest.fixture(scope="module")
def api_schema(tiny_encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    from kbqa.pipeline import KnowledgeBase

    cfg = tiny_config(tiny_encoder_dir)
    kb = KnowledgeBase.build([DOCS], tmp_path_factory.mktemp("kb") / "idx", cfg, progress=False)
    reader = fake_reader(tmp_path_factory.mktemp("reader"))
    app = create_app(ServedIndex(kb, reader, watch_interval=0), ServerSettings(api_key=KEY, rate_limit=0))
    return schemathesis.openapi.from_asgi("/openapi.json", app, headers={"Authorization": f"Bearer {KEY}"})


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_api_never_5xx_and_matches_its_schema(api_schema, mode: str) -> None:  # noqa: ANN001
    """Each operation gets a few generated requests (valid ones, then invalid ones), bounded to stay fast."""
    from hypothesis import given
    from schemathesis.generation.modes import GenerationMode
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance

    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/search", "/ask", "/index", "/reload", "/health"}
    for op in operations:
        if mode == "negative" and op.path not in ("/search", "/ask"):
            continue  # nothing to get wrong in a request without parameters or body

        @given(case=op.as_strategy(GenerationMode(mode)))
        @settings(
            max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None
        )
        def run(case) -> None:  # noqa: ANN001
            case.call_and_validate(
                headers={"Authorization": f"Bearer {KEY}"}, checks=[not_a_server_error, response_schema_conformance]
            )

        run()
