"""The inference server, driven over HTTP against a real uvicorn on a free loopback port."""
from __future__ import annotations

import argparse
import io
import json
import time

import httpx
import numpy as np
import pytest

from cafetalk_core import rig
from cafetalk_core.controls import ControlSet
from cafetalk_core.curves import BlendshapeCurves
from cafetalk_core.server import ServerSettings, create_app
from cafetalk_core.server.auth import check_bind, is_loopback, token_matches
from cafetalk_core.server.jobs import JobManager, JobNotFound
from server_fixtures import FakeGenerator, running_server, wait_for, wav_bytes

TOKEN = "s3cret-token-for-tests"


@pytest.fixture(scope="module")
def fake() -> FakeGenerator:
    return FakeGenerator(step_s=0.01, steps=10)


@pytest.fixture(scope="module")
def server(fake):
    settings = ServerSettings(max_queue=2, max_audio_s=4.0, max_upload_mb=0.5)
    with running_server(create_app(fake, settings)) as url:
        yield url


@pytest.fixture()
def client(server):
    with httpx.Client(base_url=server, timeout=30) as c:
        yield c


def submit(client: httpx.Client, audio: bytes | None = None, controls=None, options=None, filename="a.wav"):
    files = {"audio": (filename, audio if audio is not None else wav_bytes(1.0), "application/octet-stream")}
    data = {}
    if controls is not None:
        data["controls"] = controls if isinstance(controls, str) else json.dumps(controls)
    if options is not None:
        data["options"] = options if isinstance(options, str) else json.dumps(options)
    return client.post("/v1/jobs", files=files, data=data)


# -- the happy path ------------------------------------------------------------------------------
def test_health_info_and_openapi(client):
    h = client.get("/health").json()
    assert h["ok"] and h["model_loaded"] and h["model_id"] == "fake-test" and h["queue_depth"] == 0
    info = client.get("/v1/info").json()
    assert info["names"] == list(rig.ARKIT_NAMES) and info["fps"] == 30.0
    assert "happy" in info["emotions"] and any(a["id"] == "AU12" and a["label"] == "smile" for a in info["actions"])
    assert info["limits"]["max_audio_s"] == 4.0 and info["default_steps"] == 10
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    for path, method in [("/health", "get"), ("/v1/info", "get"), ("/v1/jobs", "post"), ("/v1/jobs/{job_id}", "get"),
                         ("/v1/jobs/{job_id}", "delete"), ("/v1/jobs/{job_id}/result", "get"),
                         ("/v1/controls/from-text", "post")]:
        assert method in paths[path], (path, method)
    assert paths["/v1/jobs"]["post"]["responses"]["202"]["content"]["application/json"]["schema"]["$ref"].endswith("JobStatus")
    assert "securitySchemes" not in schema.get("components", {})  # no token, no auth declared


def test_full_job_json_and_csv(client, fake):
    # 44.1 kHz stereo: must be resampled to 16 kHz mono, not refused
    audio = wav_bytes(1.5, rate=44100, channels=2)
    controls = {"emotion": "happy", "intensity": 0.7, "fine": [{"action": "smile", "start_s": 0.5, "end_s": 1.0}]}
    r = submit(client, audio, controls, {"steps": 6, "seed": 3})
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["state"] in ("queued", "running") and abs(job["duration_s"] - 1.5) < 1e-3
    assert r.headers["location"] == f"/v1/jobs/{job['job_id']}"
    seen: list[float] = []
    status = wait_for(client, job["job_id"], on_poll=lambda s: seen.append(s["progress"]))
    assert status["state"] == "done" and status["progress"] == 1.0 and status["frames"] == 45
    assert seen == sorted(seen)  # progress never goes back
    assert status["started_at"] >= status["created_at"] and status["finished_at"] >= status["started_at"]
    call = fake.calls[-1]
    assert call["sample_rate"] == 16000 and call["samples"] == 24000 and call["steps"] == 6 and call["seed"] == 3
    assert isinstance(call["controls"], ControlSet) and call["controls"].fine[0].action == "AU12"

    body = client.get(f"/v1/jobs/{job['job_id']}/result")
    assert body.status_code == 200
    curves = BlendshapeCurves.from_dict(body.json())
    assert curves.num_frames == 45 and curves.fps == 30.0 and curves.names == rig.ARKIT_NAMES
    csv = client.get(f"/v1/jobs/{job['job_id']}/result", params={"format": "csv"})
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    take = rig.read_live_link_csv(io.StringIO(csv.text), fps=30)
    assert take.weights.shape == (45, 52) and not take.missing
    np.testing.assert_allclose(take.weights, curves.values, atol=1e-5)


def test_head_spans_reach_the_generator_validated(client, fake):
    controls = {"head_spans": [{"start_s": 0.25, "end_s": 9.0, "amount": 0}, {"start_s": 0.5, "end_s": 0.75}]}
    r = submit(client, wav_bytes(1.0), controls, {"head_motion": 1.5})
    assert r.status_code == 202, r.text
    assert wait_for(client, r.json()["job_id"])["state"] == "done"
    call = fake.calls[-1]
    assert call["head_motion"] == 1.5
    # the end clamped to the 1 s clip, the amount 0 when left out
    assert [s.to_dict() for s in call["controls"].head_spans] == [
        {"start_s": 0.25, "end_s": 1.0, "amount": 0.0}, {"start_s": 0.5, "end_s": 0.75, "amount": 0.0}]


def test_progress_rises_while_running(server):
    slow = FakeGenerator(step_s=0.03, steps=30)
    with running_server(create_app(slow, ServerSettings())) as url, httpx.Client(base_url=url, timeout=30) as c:
        job = submit(c).json()
        seen: list[float] = []
        status = wait_for(c, job["job_id"], on_poll=lambda s: seen.append(s["progress"]) if s["state"] == "running" else None)
        assert status["state"] == "done"
        running = sorted(set(p for p in seen if 0 < p < 1))
        assert len(running) >= 3, seen  # several intermediate values were observed
        assert seen == sorted(seen)


def test_options_fps_and_inpaint_reach_the_model(client, fake):
    first = submit(client, options={"fps": 25}).json()
    wait_for(client, first["job_id"])
    take = client.get(f"/v1/jobs/{first['job_id']}/result").json()
    assert take["fps"] == 25 and take["frames"] == 25
    second = submit(client, options={"inpaint": {"curves": take, "start_s": 0.2, "end_s": 0.6}}).json()
    assert wait_for(client, second["job_id"])["state"] == "done"
    curves, a, b = fake.calls[-1]["inpaint"]
    assert isinstance(curves, BlendshapeCurves) and curves.fps == 25 and (a, b) == (0.2, 0.6)


# -- cancel and queue ----------------------------------------------------------------------------
def test_cancel_running_and_queued_jobs_and_queue_full():
    slow = FakeGenerator(step_s=0.05, steps=200)  # 10 s if never cancelled
    with running_server(create_app(slow, ServerSettings(max_queue=1))) as url, httpx.Client(base_url=url, timeout=30) as c:
        running = submit(c).json()["job_id"]
        wait_for(c, running, states=("running",))
        queued = submit(c).json()
        assert queued["state"] == "queued" and queued["queue_position"] == 0
        full = submit(c)
        assert full.status_code == 429 and int(full.headers["retry-after"]) >= 1
        assert "queue is full" in full.json()["detail"]
        assert c.get("/health").json()["queue_depth"] == 1

        r = c.delete(f"/v1/jobs/{queued['job_id']}")
        assert r.status_code == 200 and r.json()["state"] == "cancelled"  # queued: at once

        t0 = time.time()
        r = c.delete(f"/v1/jobs/{running}")
        assert r.status_code == 200 and r.json()["cancel_requested"]
        status = wait_for(c, running, timeout=5)
        assert status["state"] == "cancelled" and status["progress"] < 1.0 and time.time() - t0 < 2.0
        assert len(slow.calls) == 1  # the cancelled queued job never reached the model
        res = c.get(f"/v1/jobs/{running}/result")
        assert res.status_code == 409 and "cancelled" in res.json()["detail"]
        again = c.delete(f"/v1/jobs/{running}")  # idempotent on a finished job
        assert again.status_code == 200 and again.json()["state"] == "cancelled"


def test_result_before_done_is_409():
    slow = FakeGenerator(step_s=0.05, steps=100)
    with running_server(create_app(slow, ServerSettings())) as url, httpx.Client(base_url=url, timeout=30) as c:
        job = submit(c).json()["job_id"]
        r = c.get(f"/v1/jobs/{job}/result")
        assert r.status_code == 409 and r.json()["field"] == "job_id"
        c.delete(f"/v1/jobs/{job}")


def test_finished_jobs_expire_after_ttl():
    now = [1000.0]
    manager = JobManager(FakeGenerator(step_s=0.0, steps=1), max_queue=2, ttl_s=60, clock=lambda: now[0])
    manager.start()
    try:
        job = manager.submit(np.zeros(16000, np.float32), 1.0, ControlSet(), {})
        for _ in range(500):
            if manager.status(job.id)["state"] == "done":
                break
            time.sleep(0.01)
        assert manager.status(job.id)["state"] == "done"
        now[0] += 59
        assert manager.status(job.id)["state"] == "done"
        now[0] += 2
        with pytest.raises(JobNotFound):
            manager.status(job.id)
    finally:
        manager.stop()


# -- bad input: 4xx naming the problem, never 5xx --------------------------------------------------
@pytest.mark.parametrize("audio, status, words", [
    (b"", 422, "empty"),
    (b"this is not audio at all" * 10, 422, "audio"),
    (b"ID3\x03\x00\x00\x00\x00\x00\x00" + bytes(200), 422, "audio"),  # an mp3 tag and nothing decodable
    (wav_bytes(0.02), 422, "at least"),
    (wav_bytes(5.0), 413, "at most 4 s"),
])
def test_bad_audio(client, audio, status, words):
    r = submit(client, audio)
    assert r.status_code == status, r.text
    body = r.json()
    assert body["field"] == "audio" and words in body["detail"], body


def test_non_audio_upload_is_named_by_its_file_name(client):
    """The message names the upload and libsndfile's reason, never a stream's repr."""
    r = submit(client, b"just some text, renamed .wav" * 10, filename="notes.wav")
    detail = r.json()["detail"]
    assert r.status_code == 422 and "the upload 'notes.wav'" in detail and "Format not recognised" in detail, detail
    assert "BytesIO" not in detail and " at 0x" not in detail


def test_docs_page_works_offline(client):
    """/docs names no other host: Swagger UI's script, style and icon come from this server."""
    import re
    page = client.get("/docs")
    assert page.status_code == 200 and "swagger-ui" in page.text
    urls = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", page.text) + re.findall(r"url: '([^']+)'", page.text)
    assert urls and not [u for u in urls if "://" in u or u.startswith("//")], urls
    js = next(u for u in urls if u.endswith("swagger-ui-bundle.js"))
    r = client.get(js)
    assert r.status_code == 200 and len(r.content) > 100_000 and b"SwaggerUIBundle" in r.content
    assert client.get(next(u for u in urls if u.endswith(".css"))).status_code == 200
    assert client.get("/openapi.json").json()["info"]["title"] == "cafetalk inference server"


def test_upload_too_large_by_content_length(client):
    big = bytes(2_000_000)  # over 0.5 MB + 1 MB multipart allowance
    r = submit(client, big)
    assert r.status_code == 413 and "max-upload-mb" in r.json()["detail"]


def test_upload_too_large_while_streaming(client):
    """A chunked body announces no length: the limit is enforced while reading."""

    def chunks():
        yield b"--xyz\r\nContent-Disposition: form-data; name=\"audio\"; filename=\"a.wav\"\r\n\r\n"
        for _ in range(40):
            yield bytes(64_000)

    r = client.post("/v1/jobs", content=chunks(), headers={"content-type": "multipart/form-data; boundary=xyz"})
    assert r.status_code == 413, r.text


def test_audio_file_over_limit_but_body_allowed(client):
    # 0.5 MB limit on the file itself: 0.8 MB of WAV passes the body allowance, not the file check
    r = submit(client, wav_bytes(3.0, rate=48000, channels=2, subtype="PCM_16")[:800_000] + bytes(0))
    assert r.status_code == 413 and r.json()["field"] == "audio"


def test_deeply_nested_json_is_a_422_naming_the_field(client):
    """Issue 17.5: 100 000 nested brackets used to be a 500 (RecursionError)."""
    for depth in (40, 2000, 100_000):
        for name in ("controls", "options"):
            r = submit(client, **{name: "[" * depth + "]" * depth})
            assert r.status_code == 422, (name, depth, r.status_code)
            assert r.json()["field"] == name and "nested" in r.json()["detail"]
        r = submit(client, controls='{"emotion": ' + "[" * 900 + "]" * 900 + "}")
        assert r.status_code == 422 and r.json()["field"] == "controls"
    assert client.get("/health").json()["ok"]


@pytest.mark.parametrize("controls, field", [
    ({"emotion": "ecstatic"}, "emotion"),
    ({"intensity": 3}, "intensity"),
    ({"fine": [{"action": "AU99", "start_s": 0.1, "end_s": 0.5}]}, "fine[0].action"),
    ({"fine": [{"action": "AU12", "start_s": 9.0, "end_s": 10.0}]}, "fine[0].start_s"),
    ({"fine": [{"action": "AU12", "start_s": 0.5, "end_s": 0.2}]}, "fine[0].end_s"),
    ({"emotion_spans": [{"emotion": "sad", "start_s": 5.0, "end_s": 6.0}]}, "emotion_spans[0].start_s"),
    ({"head_spans": [{"start_s": 0.2, "end_s": 0.5, "amount": 2.5}]}, "head_spans[0].amount"),
    ({"head_spans": [{"start_s": 0.2, "end_s": 0.5, "amount": "still"}]}, "head_spans[0].amount"),
    ({"head_spans": [{"start_s": 0.5, "end_s": 0.2}]}, "head_spans[0].end_s"),
    ({"head_spans": [{"start_s": 0.2, "end_s": 0.5, "intensity": 0}]}, "head_spans[0]"),
    ({"head_spans": {"start_s": 0.2}}, "head_spans"),
    ({"emotoin": "happy"}, "controls"),
    ([1, 2], "controls"),
    ('{"emotion": "happy"', "controls"),
])
def test_bad_controls(client, controls, field):
    r = submit(client, controls=controls)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field and r.json()["detail"].startswith(field)


@pytest.mark.parametrize("options, field", [
    ("{steps: 3}", "options"),
    ("[]", "options"),
    ({"steps": 0}, "options.steps"),
    ({"steps": 100000}, "options.steps"),
    ({"audio_scale": -1}, "options.audio_scale"),
    ({"fps": 0}, "options.fps"),
    ({"seed": -5}, "options.seed"),
    ({"sampler": "euler"}, "options.sampler"),
    ({"inpaint": {"curves": {"format": "nope"}, "start_s": 0, "end_s": 0.5}}, "options.inpaint.curves"),
    ({"inpaint": {"curves": BlendshapeCurves.neutral(30).to_dict(), "start_s": 3.0, "end_s": 4.0}}, "options.inpaint.start_s"),
])
def test_bad_options(client, options, field):
    r = submit(client, options=options)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field


def test_missing_audio_field_and_bad_format_query(client):
    r = client.post("/v1/jobs", data={"controls": "{}"})
    assert r.status_code == 422 and r.json()["field"] == "audio"
    job = submit(client).json()["job_id"]
    r = client.get(f"/v1/jobs/{job}/result", params={"format": "xml"})
    assert r.status_code == 422 and r.json()["field"] == "format"


def test_unknown_job_is_404(client):
    for method, path in [("GET", "/v1/jobs/nope"), ("GET", "/v1/jobs/nope/result"), ("DELETE", "/v1/jobs/nope")]:
        r = client.request(method, path)
        assert r.status_code == 404 and r.json()["field"] == "job_id", (method, path)


def test_from_text_validation_and_answer(client):
    r = client.post("/v1/controls/from-text", json={"text": "smile", "duration_s": -1})
    assert r.status_code == 422 and r.json()["field"] == "duration_s"
    r = client.post("/v1/controls/from-text", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422
    r = client.post("/v1/controls/from-text", json={"text": "x" * 5000, "duration_s": 2})
    assert r.status_code == 422 and r.json()["field"] == "text"


@pytest.mark.slow
def test_from_text_with_the_real_text_model(client):
    """Loads the sentence-embedding model (slow on a busy CPU): 200 with usable controls, or 503."""
    r = client.post("/v1/controls/from-text", json={"text": "smile at the end", "duration_s": 3.0}, timeout=300)
    assert r.status_code in (200, 503), r.text
    if r.status_code == 503:
        assert "not available" in r.json()["detail"] or "could not be loaded" in r.json()["detail"]
    else:
        body = r.json()
        assert {"fine", "emotion", "emotion_spans", "matches", "messages"} <= set(body)
        assert any(c["action"] == "AU12" for c in body["fine"]), body
        for c in body["fine"]:
            assert 0 <= c["start_s"] < c["end_s"] <= 3.0 + 1e-6


# -- security ------------------------------------------------------------------------------------
def test_token_required_on_every_request_but_health():
    app = create_app(FakeGenerator(step_s=0.0, steps=1), ServerSettings(token=TOKEN))
    with running_server(app) as url, httpx.Client(base_url=url, timeout=30) as c:
        assert c.get("/health").status_code == 200
        for path in ("/v1/info", "/openapi.json", "/v1/jobs/x"):
            r = c.get(path)
            assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer"), path
        assert c.get("/v1/info", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/v1/info", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
        # an unauthenticated upload is refused before its body matters
        assert submit(c).status_code == 401
        auth = {"Authorization": f"Bearer {TOKEN}"}
        assert c.get("/v1/info", headers=auth).status_code == 200
        schema = c.get("/openapi.json", headers=auth).json()
        assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
        assert schema["paths"]["/v1/jobs"]["post"]["security"] == [{"bearer": []}]
        r = c.post("/v1/jobs", headers=auth, files={"audio": ("a.wav", wav_bytes(0.5))})
        assert r.status_code == 202
        assert wait_for(httpx.Client(base_url=url, headers=auth), r.json()["job_id"])["state"] == "done"


def test_no_cors_headers(client):
    r = client.options("/v1/info", headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in r.headers
    assert r.status_code < 500


def test_bind_rules():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and is_loopback("127.1.2.3")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and not is_loopback("example.com")
    check_bind("127.0.0.1", None)
    check_bind("0.0.0.0", "tok")
    with pytest.raises(ValueError, match="--token"):
        check_bind("0.0.0.0", None)
    assert token_matches("Bearer abc", "abc") and token_matches("bearer abc", "abc")
    assert not token_matches("Bearer abd", "abc") and not token_matches(None, "abc") and not token_matches("abc", "abc")


def test_cli_refuses_non_loopback_without_token(capsys, monkeypatch):
    from cafetalk_core.cli import build_parser
    from cafetalk_core.server.app import cli_serve
    monkeypatch.delenv("CAFETALK_TOKEN", raising=False)
    args = build_parser().parse_args(["serve", "--host", "0.0.0.0", "--port", "1"])
    assert isinstance(args, argparse.Namespace) and args.random_model is False
    assert cli_serve(args) == 2  # refused before any model is loaded or port bound
    err = capsys.readouterr().err
    assert "not a loopback address" in err and "CAFETALK_TOKEN" in err


def test_from_text_shapes_the_answer():
    from server_fixtures import fake_text_to_controls
    app = create_app(FakeGenerator(step_s=0.0, steps=1), ServerSettings(), text_to_controls=fake_text_to_controls)
    with running_server(app) as url, httpx.Client(base_url=url, timeout=30) as c:
        r = c.post("/v1/controls/from-text", json={"text": "Smile please", "duration_s": 3.0,
                                                   "transcript": [["smile", 0.1, 0.4]]})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["fine"] == [{"action": "AU12", "start_s": 2.0, "end_s": 3.0, "intensity": 0.8}]
        assert body["emotion_spans"][0]["emotion"] == "happy" and body["matches"][0]["phrase"] == "smile"
        # the answer is directly usable as the 'controls' of a job
        job = submit(c, wav_bytes(3.0), controls={"fine": body["fine"], "emotion_spans": body["emotion_spans"]})
        assert job.status_code == 202, job.text
        r = c.post("/v1/controls/from-text", json={"text": "x", "duration_s": 3.0, "transcript": [["a", 2.0, 1.0]]})
        assert r.status_code == 422 and r.json()["field"] == "transcript[0]"


# -- the real model ------------------------------------------------------------------------------
def test_end_to_end_with_random_tiny_model():
    import torch
    from cafetalk_core.pipeline import Generator
    torch.set_num_threads(1)
    gen = Generator.random(preset="tiny", seed=0)
    with running_server(create_app(gen, ServerSettings())) as url, httpx.Client(base_url=url, timeout=60) as c:
        info = c.get("/v1/info").json()
        assert info["model_id"].startswith("random-tiny") and info["names"] == list(rig.ARKIT_NAMES)
        controls = {"emotion": "sad", "fine": [{"action": "AU45", "start_s": 0.3, "end_s": 0.6}]}
        job = submit(c, wav_bytes(2.0, rate=22050), controls, {"steps": 3, "seed": 7}).json()
        assert wait_for(c, job["job_id"])["state"] == "done"
        first = BlendshapeCurves.from_dict(c.get(f"/v1/jobs/{job['job_id']}/result").json())
        assert first.num_frames == 60 and first.fps == info["fps"]
        assert 0 <= first.values.min() and first.values.max() <= 1 and first.values.std() > 0
        again = submit(c, wav_bytes(2.0, rate=22050), controls, {"steps": 3, "seed": 7}).json()
        wait_for(c, again["job_id"])
        second = BlendshapeCurves.from_dict(c.get(f"/v1/jobs/{again['job_id']}/result").json())
        np.testing.assert_allclose(first.values, second.values, atol=1e-5)  # seeded: reproducible
        csv = c.get(f"/v1/jobs/{job['job_id']}/result", params={"format": "csv"}).text
        assert rig.read_live_link_csv(io.StringIO(csv), fps=30).weights.shape == (60, 52)


def test_cafetalk_serve_subprocess_random_model(tmp_path):
    """`cafetalk serve --random-model` on a free port, then an upload like the curl example."""
    import os

    from cafetalk_core.server_process import ServerProcess
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CAFETALK_TOKEN": TOKEN}
    with ServerProcess(["--random-model", "--device", "cpu"], tmp_path / "server.log", env=env) as server:
        url = server.url
        with httpx.Client(base_url=url, timeout=30, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
            job = c.post("/v1/jobs", files={"audio": ("a.wav", wav_bytes(1.0))},
                         data={"controls": '{"emotion": "happy"}', "options": '{"steps": 2}'}).json()
            assert wait_for(c, job["job_id"])["state"] == "done"
            assert c.get(f"/v1/jobs/{job['job_id']}/result").json()["frames"] == 30
            assert httpx.get(f"{url}/v1/info").status_code == 401  # CAFETALK_TOKEN was honoured


def test_model_errors_fail_the_job_not_the_server():
    class Broken(FakeGenerator):
        def generate(self, audio, controls=None, **kw):
            raise RuntimeError("CUDA out of memory (simulated)")

    with running_server(create_app(Broken(), ServerSettings())) as url, httpx.Client(base_url=url, timeout=30) as c:
        job = submit(c).json()["job_id"]
        status = wait_for(c, job)
        assert status["state"] == "failed" and "out of memory" in status["error"]
        r = c.get(f"/v1/jobs/{job}/result")
        assert r.status_code == 409 and "failed" in r.json()["detail"]
        again = submit(c)  # the worker survived
        assert again.status_code == 202 and wait_for(c, again.json()["job_id"])["state"] == "failed"


def test_pipeline_cancellation_is_recognised():
    from cafetalk_core.pipeline import GenerationCancelled
    from cafetalk_core.server.jobs import _is_cancellation

    class GenerationCancelledLookalike(Exception):
        pass

    GenerationCancelledLookalike.__name__ = "GenerationCancelled"
    assert _is_cancellation(GenerationCancelled()) and not _is_cancellation(RuntimeError())
    assert not _is_cancellation(GenerationCancelledLookalike()), "cancellation is matched by type, not by name"


def test_warmup_runs_once_before_jobs():
    gen = FakeGenerator(step_s=0.0, steps=2)
    with running_server(create_app(gen, ServerSettings(warmup=True))) as url, httpx.Client(base_url=url, timeout=30) as c:
        job = submit(c).json()["job_id"]
        assert wait_for(c, job)["state"] == "done"
    assert len(gen.calls) == 2 and gen.calls[0]["steps"] == 1 and gen.calls[0]["samples"] == 16000


def test_cli_reports_a_missing_checkpoint(capsys, tmp_path):
    from cafetalk_core.cli import build_parser
    from cafetalk_core.server.app import cli_serve
    args = build_parser().parse_args(["serve", "--checkpoint", str(tmp_path / "none"), "--device", "cpu"])
    assert cli_serve(args) == 2
    assert "cannot load the model" in capsys.readouterr().err


def test_generators_satisfy_the_server_protocol():
    """Issue 18: the server's generator is a CurveGenerator; the fake has the real signature (face_scale)."""
    import inspect

    from cafetalk_core.generation import CurveGenerator
    from cafetalk_core.pipeline import Generator

    real = Generator.random("tiny", threads=None)
    for gen in (FakeGenerator(), real):
        assert isinstance(gen, CurveGenerator)
        params = list(inspect.signature(type(gen).generate).parameters)
        assert params == list(inspect.signature(CurveGenerator.generate).parameters), (
            f"{type(gen).__name__}.generate: a new generate() argument goes into generation.CurveGenerator, "
            "pipeline.Generator and tests/server_fixtures.FakeGenerator together")
    assert {"model_id", "fps", "arkit_names", "default_face_scale"} <= set(FakeGenerator().info)
    with pytest.raises(TypeError, match="CurveGenerator"):
        create_app(object(), ServerSettings())


def test_spans_reaching_half_a_frame_past_the_clip_are_accepted(client):
    """Issue 17.2: Blender rounds a 3.545 s strip to 85 frames at 24 fps (3.5417 s) or up; a span
    that ends with the strip ends up to a frame past the audio and used to be a 422."""
    end = 3.545 + 0.5 / 24
    take = BlendshapeCurves.neutral(85, 24.0).to_dict()
    r = submit(client, wav_bytes(3.545), controls={"fine": [{"action": "AU12", "start_s": 3.0, "end_s": end}],
                                                   "emotion_spans": [{"emotion": "sad", "start_s": 1.0, "end_s": end}]},
               options={"inpaint": {"curves": take, "start_s": 2.0, "end_s": end}})
    assert r.status_code == 202, r.text
    assert wait_for(client, r.json()["job_id"])["state"] == "done"
