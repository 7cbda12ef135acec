"""``cafetalk serve`` as a Ray Serve application on a real local Ray cluster (a head node and a
worker node, separate raylet processes on 127.0.0.1, 1 CPU each): one URL, two model replicas,
the server's API unchanged, curves equal to the one-at-a-time generation's.
"""
from __future__ import annotations

import json
import socket
import time

import httpx
import numpy as np
import ray

from cafetalk_core.controls import ControlSet
from cafetalk_core.curves import BlendshapeCurves
from cafetalk_core.pipeline import Generator

from ray_fixtures import CLIPS, REAL, cluster  # noqa: F401  (the fixture)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ray_serve_behind_one_url(cluster):
    from ray import serve

    from cafetalk_core.server import ServerSettings, create_app
    from cafetalk_core.server.ray_serve import serve_on_ray

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    try:
        serve_on_ray(ServerSettings(port=port), create_app, None, address=cluster.address, device="cpu", replicas=2,
                     random_model=True, blocking=False)
        with httpx.Client(base_url=url, timeout=60) as c:
            assert c.get("/health").json()["ok"] is True
            assert c.get("/v1/info").json()["model_id"].startswith("random-tiny")
            audio = [(REAL / n).read_bytes() for n in CLIPS]
            ids = [c.post("/v1/jobs", files={"audio": ("a.wav", audio[i])},
                          data={"controls": '{"emotion": "happy"}', "options": json.dumps({"steps": 3, "seed": 30 + i})}
                          ).json()["job_id"] for i in range(3)]
            bad = c.post("/v1/jobs", files={"audio": ("a.wav", audio[0])}, data={"controls": '{"emotion": "furious"}'})
            assert bad.status_code == 422 and bad.json()["field"] == "emotion"
            got = []
            for job_id in ids:
                deadline = time.time() + 60
                while (state := c.get(f"/v1/jobs/{job_id}").json())["state"] not in ("done", "failed", "cancelled"):
                    assert time.time() < deadline
                    time.sleep(0.1)
                assert state["state"] == "done", state
                got.append(BlendshapeCurves.from_dict(c.get(f"/v1/jobs/{job_id}/result").json()))
    finally:
        if ray.is_initialized():
            serve.shutdown()
            ray.shutdown()
    gen = Generator.random("tiny", seed=0, threads=1)
    for i, curves in enumerate(got):
        alone = gen.generate(REAL / CLIPS[i], ControlSet.from_dict({"emotion": "happy"}), steps=3, seed=30 + i)
        np.testing.assert_allclose(curves.values, alone.values, atol=2e-5)   # the JSON keeps 6 decimals
