"""schemathesis over the published /openapi.json: no 5xx, and responses match the schema.

Bounded (a few dozen examples per operation) so it runs in well under a minute. Data that
is valid by the schema but not by meaning (random bytes as audio) must get a documented 4xx.
"""
from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance, response_schema_conformance, status_code_conformance,
)

from cafetalk_core.server import ServerSettings, create_app  # noqa: E402
from server_fixtures import FakeGenerator, fake_text_to_controls, running_server  # noqa: E402

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def fuzz_url():
    app = create_app(FakeGenerator(step_s=0.0, steps=2), ServerSettings(max_queue=64, max_audio_s=5, max_upload_mb=1),
                     text_to_controls=fake_text_to_controls)
    with running_server(app) as url:
        yield url


@pytest.fixture()
def api_schema(fuzz_url):
    return schemathesis.openapi.from_url(f"{fuzz_url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
          database=None)
def test_no_server_errors(case, fuzz_url):
    case.call_and_validate(base_url=fuzz_url, checks=CHECKS)
