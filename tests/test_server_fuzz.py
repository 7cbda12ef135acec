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


# -- the JSON inside the form fields: the schema says "string", so schemathesis cannot reach it --
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from server_fixtures import wav_bytes  # noqa: E402

_scalar = st.none() | st.booleans() | st.integers(-10, 10**12) | st.floats(allow_nan=True) | st.text(max_size=8)
_json = st.recursive(_scalar, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
                     max_leaves=8)
_number = st.integers(-2, 5) | st.floats(-2, 5) | st.just(float("inf")) | st.text(max_size=3)
_fine = st.fixed_dictionaries({"action": st.sampled_from(["AU12", "smile", "AU99", "", "blink"]) | _scalar,
                               "start_s": _number, "end_s": _number}, optional={"intensity": _number, "extra": _scalar})
_controls = st.fixed_dictionaries({}, optional={
    "emotion": st.sampled_from(["happy", "Joy", "ecstatic", ""]) | _scalar, "intensity": _number,
    "fine": st.lists(_fine, max_size=3) | _json,
    "emotion_spans": st.lists(st.fixed_dictionaries({"emotion": st.sampled_from(["sad", "x"]), "start_s": _number,
                                                     "end_s": _number}), max_size=2) | _json,
})
_options = st.fixed_dictionaries({}, optional={
    "steps": _number, "audio_scale": _number, "control_scale": _number, "seed": _number | st.integers(),
    "fps": _number, "inpaint": _json | st.fixed_dictionaries({"curves": _json, "start_s": _number, "end_s": _number}),
})
_AUDIO = wav_bytes(2.0)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
@given(controls=_controls | _json, options=_options | _json, raw=st.booleans())
def test_form_json_never_crashes(fuzz_url, controls, options, raw):
    import json

    import httpx
    dump = (lambda v: json.dumps(v)[:-1]) if raw else json.dumps  # raw: truncated, malformed JSON
    r = httpx.post(f"{fuzz_url}/v1/jobs", files={"audio": ("a.wav", _AUDIO)},
                   data={"controls": dump(controls), "options": dump(options)}, timeout=30)
    assert r.status_code in (202, 422, 429), r.text
    body = r.json()
    if r.status_code == 422:
        assert body["field"] and body["detail"].startswith(body["field"]), body
