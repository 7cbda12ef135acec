"""Every generation path on every device: the CPU always, CUDA where torch sees a GPU.

Why (issue 25): any fine control crashed on CUDA (the signature prior built its signature on the
CPU) and nothing in the suite ran a GPU path. Each test runs the shipped model (signature prior,
closure and head stages) on the device: plain sampling, fine controls, emotion and head spans,
inpainting a span, a batch of clips of different lengths, and the server. On a GPU machine the
same file also checks CUDA against the CPU for the same seed; benchmarks/check_gpu_paths.py is
the end-to-end script for such a machine.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from cafetalk_core import rig
from cafetalk_core.controls import ControlSet
from cafetalk_core.curves import BlendshapeCurves
from cafetalk_core.pipeline import DEFAULT_CHECKPOINT, Generator

pytestmark = pytest.mark.skipif(not (DEFAULT_CHECKPOINT / "config.json").is_file(), reason="no shipped checkpoint")

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
SPEECH = "cafetalk_core/evaluation/sets/real_speech/arctic_a0009.wav"
SHORT = "cafetalk_core/evaluation/sets/real_speech/ps_cards_002.wav"
CONTROLS = ControlSet.from_dict({
    "emotion": "happy", "intensity": 0.6, "emotion_spans": [{"emotion": "angry", "start_s": 2.0, "end_s": 3.0}],
    "fine": [{"action": "AU12", "start_s": 0.5, "end_s": 1.5, "intensity": 0.7},
             {"action": "AU45", "start_s": 1.0, "end_s": 1.2}, {"action": "AU26", "start_s": 2.0, "end_s": 2.5}],
    "head_spans": [{"start_s": 0.0, "end_s": 1.0, "amount": 1.5}]})


@pytest.fixture(scope="module", params=DEVICES)
def gen(request) -> Generator:
    return Generator(device=request.param, threads=1)


@pytest.fixture(scope="module")
def cpu_gen() -> Generator:
    return Generator(device="cpu", threads=1)


def _check(curves: BlendshapeCurves, frames: int) -> None:
    assert curves.names == rig.ARKIT_NAMES and curves.num_frames == frames
    assert np.isfinite(curves.values).all() and 0 <= curves.values.min() and curves.values.max() <= 1
    assert curves.rotations is not None and np.isfinite(curves.rotations).all()   # the head stage ran


def test_model_and_stages_live_on_the_device(gen):
    dev = gen.device.type
    assert next(gen.model.parameters()).device.type == dev
    assert gen.model.control is not None and gen._uses_signature   # the signature stage: numpy, after sampling
    assert gen.head is not None and next(gen.head.model.parameters()).device.type == dev
    assert gen.closure is not None and gen.closure.feat_mean.device.type == dev
    assert gen.info["device"].startswith(dev)


def test_fine_controls_emotion_and_head_spans(gen):
    plain = gen.generate(SPEECH, seed=1, steps=4)
    curves = gen.generate(SPEECH, CONTROLS, seed=1, steps=4)
    _check(curves, plain.num_frames)
    smile = curves.channel("mouthSmileLeft")[15:45].mean()
    assert smile > plain.channel("mouthSmileLeft")[15:45].mean() + 0.2   # the signature stage ran after this device's sampling


def test_inpainting_a_span(gen):
    take = gen.generate(SPEECH, seed=2, steps=4)
    new = gen.generate(SPEECH, CONTROLS, seed=3, steps=4, inpaint=(take, 1.0, 2.0))
    _check(new, take.num_frames)
    np.testing.assert_array_equal(new.values[:25], take.values[:25])        # outside the span: the take's
    assert not np.allclose(new.values[33:57], take.values[33:57])


def test_a_batch_of_clips_equals_the_clips_one_by_one(gen):
    jobs = [gen.prepare(SPEECH, CONTROLS, seed=4, steps=4), gen.prepare(SHORT, seed=5, steps=4)]
    batched = [gen.finish(j, o) for j, o in zip(jobs, gen.sample_batch(jobs))]
    for job, curves in zip(jobs, batched):
        alone = gen.finish(job, gen.sample_batch([job])[0])
        np.testing.assert_allclose(curves.values, alone.values, atol=1e-5)


def test_server_on_the_device(gen):
    import httpx

    from cafetalk_core.server import ServerSettings, create_app
    from server_fixtures import running_server, wait_for

    with open(SHORT, "rb") as f:
        audio = f.read()
    with running_server(create_app(gen, ServerSettings(device=str(gen.device)))) as url, \
            httpx.Client(base_url=url, timeout=60) as c:
        assert c.get("/health").json()["device"] == str(gen.device)
        job = c.post("/v1/jobs", files={"audio": ("a.wav", audio)},
                     data={"controls": '{"emotion": "happy", "fine": [{"action": "AU12", "start_s": 0.2, "end_s": 1.0}]}',
                           "options": '{"steps": 3, "seed": 1}'}).json()
        assert wait_for(c, job["job_id"])["state"] == "done"
        curves = BlendshapeCurves.from_dict(c.get(f"/v1/jobs/{job['job_id']}/result").json())
    _check(curves, 59)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_agrees_with_the_cpu(cpu_gen):
    cuda = Generator(device="cuda", threads=1)
    for controls in (None, CONTROLS):
        a = cpu_gen.generate(SPEECH, controls, seed=6, steps=4)
        b = cuda.generate(SPEECH, controls, seed=6, steps=4)
        assert np.abs(a.values - b.values).max() < 1e-3
