"""schemathesis over the published /openapi.json: no 5xx, and responses match the schema.

Bounded (a few dozen examples per operation) so it runs in well under a minute. Data that
is valid by the schema but not by meaning (random bytes as audio) must get a documented 4xx.
Run twice: against the fake generator (the queue alone) and against a REAL tiny random-weight
model, so every accepted request also goes through the model path; after the fuzzing the
server must be healthy and every accepted job must have finished ``done`` (nothing lost).
"""
from __future__ import annotations

import pytest

import schemathesis
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance, response_schema_conformance, status_code_conformance,
)

from cafetalk_core.curves import BlendshapeCurves  # noqa: E402
from cafetalk_core.server import ServerSettings, create_app  # noqa: E402
from server_fixtures import FakeGenerator, fake_text_to_controls, running_server  # noqa: E402

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


ACCEPTED: dict[str, list[str]] = {}   # base URL -> ids of the jobs the fuzzing got queued


def _generator(kind: str):
    if kind == "fake":
        return FakeGenerator(step_s=0.0, steps=2)
    from cafetalk_core.pipeline import Generator
    return Generator.random("tiny", seed=0, threads=None)


@pytest.fixture(scope="module", params=["fake", "real-tiny-model"])
def fuzz_url(request):
    app = create_app(_generator(request.param), ServerSettings(max_queue=16, max_audio_s=5, max_upload_mb=1),
                     text_to_controls=fake_text_to_controls)
    with running_server(app) as url:
        ACCEPTED[url] = []
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
    "head_spans": st.lists(st.fixed_dictionaries({"start_s": _number, "end_s": _number},
                                                 optional={"amount": _number, "extra": _scalar}), max_size=2) | _json,
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
    if r.status_code == 202:
        ACCEPTED[fuzz_url].append(body["job_id"])


_take = st.builds(lambda fps, seconds: BlendshapeCurves.neutral(max(1, int(round(seconds * fps))), fps).to_dict(),
                  st.sampled_from([24.0, 25.0, 30000 / 1001, 30.0, 50.0, 60.0]), st.floats(0.1, 3.0))
_valid_options = st.fixed_dictionaries({}, optional={
    "steps": st.integers(1, 4), "audio_scale": st.floats(0, 20), "face_scale": st.floats(0, 20),
    "control_scale": st.floats(0, 20), "seed": st.integers(0, 2**32 - 1), "fps": st.floats(1, 240),
    "inpaint": st.builds(lambda take, a, length: {"curves": take, "start_s": a, "end_s": a + length},
                         _take, st.floats(0, 1.99), st.floats(0.001, 5.0)),
})
_valid_controls = st.fixed_dictionaries({}, optional={
    "emotion": st.sampled_from(["happy", "sad", "neutral"]), "intensity": st.floats(0, 1),
    "fine": st.lists(st.builds(lambda a, s, d, k: {"action": a, "start_s": s, "end_s": s + d, "intensity": k},
                               st.sampled_from(["AU12", "AU45", "AU1"]), st.floats(0, 1.99), st.floats(0.01, 3),
                               st.floats(0, 1)), max_size=2),
    "head_spans": st.lists(st.builds(lambda s, d, k: {"start_s": s, "end_s": s + d, "amount": k},
                                     st.floats(0, 1.99), st.floats(0.01, 3), st.floats(0, 2)), max_size=2),
})


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
@given(controls=_valid_controls, options=_valid_options)
def test_valid_requests_are_accepted(fuzz_url, controls, options):
    """Valid by meaning (spans may reach past the 2 s clip: clamped): 202, and done later (checked below)."""
    import json

    import httpx
    r = httpx.post(f"{fuzz_url}/v1/jobs", files={"audio": ("a.wav", _AUDIO)},
                   data={"controls": json.dumps(controls), "options": json.dumps(options)}, timeout=30)
    assert r.status_code in (202, 429), r.text
    if r.status_code == 202:
        ACCEPTED[fuzz_url].append(r.json()["job_id"])


_NESTED = ["[" * 5000 + "]" * 5000, '{"fine": ' + "[" * 200 + "]" * 200 + "}"]


@pytest.mark.parametrize("name, value, field", [
    ("controls", _NESTED[0], "controls"), ("options", _NESTED[0], "options"), ("controls", _NESTED[1], "controls"),
    ("controls", '{"fine": [{"action": "AU12", "start_s": 2.0, "end_s": 2.01}]}', "fine[0].start_s"),
    ("controls", '{"emotion_spans": [{"emotion": "sad", "start_s": 7, "end_s": 8}]}', "emotion_spans[0].start_s"),
    ("options", '{"fps": 1e308}', "options.fps"), ("options", '{"steps": 1.5}', "options.steps"),
    ("options", '{"inpaint": {"curves": {}, "start_s": 0, "end_s": 1}}', "options.inpaint.curves"),
])
def test_bad_inputs_name_the_field(fuzz_url, name, value, field):
    import httpx
    r = httpx.post(f"{fuzz_url}/v1/jobs", files={"audio": ("a.wav", _AUDIO)}, data={name: value}, timeout=30)
    assert r.status_code == 422 and r.json()["field"] == field, r.text


@pytest.mark.parametrize("audio", [b"", b"RIFF" + bytes(40), bytes(range(256)) * 8, wav_bytes(0.05), wav_bytes(6.0)])
def test_bad_audio_is_a_4xx_naming_audio(fuzz_url, audio):
    import httpx
    r = httpx.post(f"{fuzz_url}/v1/jobs", files={"audio": ("a.wav", audio)}, timeout=30)
    assert r.status_code in (413, 422) and r.json()["field"] == "audio", r.text


def test_healthy_after_fuzzing_and_nothing_lost(fuzz_url):
    """Runs after the fuzzing above (same server): every accepted job finished 'done', none failed."""
    import httpx
    from server_fixtures import wait_for
    with httpx.Client(base_url=fuzz_url, timeout=30) as c:
        assert c.get("/health").json()["ok"]
        ok = c.post("/v1/jobs", files={"audio": ("a.wav", _AUDIO)}, data={"options": '{"steps": 2}'})
        assert ok.status_code in (202, 429), ok.text
        ids = ACCEPTED[fuzz_url] + ([ok.json()["job_id"]] if ok.status_code == 202 else [])
        states = {job: wait_for(c, job, timeout=300)["state"] for job in ids}
        failed = {job: c.get(f"/v1/jobs/{job}").json()["error"] for job, st in states.items() if st != "done"}
        assert not failed, failed
        assert c.get("/health").json()["ok"]
