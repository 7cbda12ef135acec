"""Helpers for the server tests: a real uvicorn server on a free loopback port, test audio,
and a fake generator with pipeline.Generator's interface (steps take time, progress, cancel).
"""
from __future__ import annotations

import contextlib
import io
import socket
import threading
import time
from typing import Any, Callable, Iterator

import httpx
import numpy as np
import soundfile as sf

from cafetalk_core import rig
from cafetalk_core.curves import BlendshapeCurves
from cafetalk_core.generation import GenerationCancelled


class FakeGenerator:
    """A :class:`cafetalk_core.generation.CurveGenerator` that sleeps ``step_s`` per denoising step,
    reports progress and honours cancel between steps (the server's queue without a model)."""

    def __init__(self, step_s: float = 0.02, steps: int = 10, fps: float = 30.0, phones_optional: bool = False) -> None:
        self.step_s = step_s
        self.default_steps = steps
        self.fps = fps
        self.phones_optional = phones_optional   # info: takes speech in languages other than English
        self.max_audio_s = 600.0
        self.calls: list[dict[str, Any]] = []

    @property
    def info(self) -> dict[str, Any]:
        return {"model_id": "fake-test", "fps": self.fps, "arkit_names": list(rig.ARKIT_NAMES),
                "default_steps": self.default_steps, "default_audio_scale": 1.5, "default_control_scale": 2.0,
                "default_face_scale": None, "front_end": "none", "max_audio_s": self.max_audio_s,
                "phones_optional": self.phones_optional}

    def generate(self, audio: np.ndarray, controls=None, *, sample_rate=None, steps=None, audio_scale=None,
                 control_scale=None, face_scale=None, seed=0, fps=None, inpaint=None, head_motion=1.0, language=None,
                 style=None, progress: Callable[[float], None] | None = None,
                 cancel: Callable[[], bool] | None = None) -> BlendshapeCurves:
        self.calls.append({"samples": len(audio), "sample_rate": sample_rate, "steps": steps, "seed": seed,
                           "fps": fps, "controls": controls, "inpaint": inpaint, "face_scale": face_scale,
                           "head_motion": head_motion, "language": language, "style": style})
        n_steps = steps or self.default_steps
        for i in range(n_steps):
            if cancel is not None and cancel():
                raise GenerationCancelled()
            time.sleep(self.step_s)
            if progress is not None:
                progress((i + 1) / n_steps)
        out_fps = fps or self.fps
        frames = max(1, int(round(len(audio) / 16000 * out_fps)))
        rng = np.random.default_rng(seed)
        return BlendshapeCurves(rng.uniform(0, 1, (frames, rig.NUM_CHANNELS)).astype(np.float32), out_fps)


def wav_bytes(seconds: float = 1.0, rate: int = 16000, channels: int = 1, fmt: str = "WAV",
              subtype: str | None = None) -> bytes:
    """A speech-like test signal (a pitch-modulated buzz with syllable-rate loudness)."""
    t = np.arange(int(seconds * rate)) / rate
    sig = 0.3 * np.sign(np.sin(2 * np.pi * (120 + 20 * np.sin(2 * np.pi * 3 * t)) * t))
    sig *= 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t) ** 2
    data = np.repeat(sig[:, None], channels, axis=1).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, data, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextlib.contextmanager
def running_server(app) -> Iterator[str]:
    """Serve ``app`` with a real uvicorn in a background thread; yields the base URL."""
    import uvicorn
    sock = free_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started:
        if time.time() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def wait_for(client: httpx.Client, job_id: str, states=("done", "failed", "cancelled"), timeout: float = 60.0,
             on_poll: Callable[[dict], None] | None = None) -> dict:
    deadline = time.time() + timeout
    while True:
        status = client.get(f"/v1/jobs/{job_id}").json()
        if on_poll:
            on_poll(status)
        if status["state"] in states:
            return status
        if time.time() > deadline:
            raise TimeoutError(f"job {job_id} still {status['state']} after {timeout} s")
        time.sleep(0.01)


def submit_together(client: httpx.Client, uploads: list[dict[str, Any]]) -> list[BlendshapeCurves]:
    """POST every ``/v1/jobs`` upload (``files`` and ``data`` keyword arguments of ``client.post``) from its
    own thread at once, so a batching server can put them in one batch; each job's curves, in order,
    after asserting that each ended ``done``."""
    ids = [""] * len(uploads)

    def submit(i: int) -> None:
        ids[i] = client.post("/v1/jobs", **uploads[i]).json()["job_id"]

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(len(uploads))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = []
    for job_id in ids:
        assert wait_for(client, job_id)["state"] == "done"
        got.append(BlendshapeCurves.from_dict(client.get(f"/v1/jobs/{job_id}/result").json()))
    return got


def fake_text_to_controls(text: str, duration_s: float, transcript=None):
    """Stand-in for controls.text.text_to_controls (same result type): 'smile' -> AU12 over the last third."""
    from cafetalk_core.controls import EmotionSpan, FineControl
    from cafetalk_core.controls.text import TextControls
    if "smile" in text.lower():
        return TextControls([FineControl("AU12", duration_s * 2 / 3, duration_s, 0.8)], None, None,
                            [EmotionSpan("happy", 0.0, duration_s, 0.5)],
                            [{"phrase": "smile", "kind": "action", "action": "AU12", "score": 0.9}], [])
    return TextControls(messages=[f"no control found in {text[:40]!r}"])
