"""The head stage: corpus head truth, training (resumable), sampling, and rotations in every take."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cafetalk_core.controls import check_head_motion
from cafetalk_core.model.head import HeadStage, head_features
from cafetalk_core.data.head_rules import head_truth, speech_mask
from cafetalk_core.phones import Phone

ROOT = Path(__file__).resolve().parents[1]


def sentence() -> list[Phone]:
    out, t = [Phone("SIL", 0.0, 0.4)], 0.4
    for k, ph in enumerate(["HH", "EH", "L", "OW", "W", "ER", "L", "D"] * 3):
        d = 0.16 if ph in ("EH", "OW", "ER") else 0.07
        out.append(Phone(ph, t, t + d))
        t += d
        if k == 7:
            out.append(Phone("SIL", t, t + 0.5))
            t += 0.5
    return out + [Phone("SIL", t, t + 0.5)]


def test_head_truth_moves_while_talking_rests_in_pauses_and_follows_emotion():
    phones = sentence()
    n = int(round(phones[-1].end_s * 30))
    rng = lambda: np.random.default_rng(4)  # noqa: E731
    neutral = np.degrees(head_truth(phones, n, 30.0, "neutral", 0.0, rng()))
    talk = speech_mask(phones, n, 30.0)
    speed = np.r_[0, np.linalg.norm(np.diff(neutral, axis=0), axis=1)] * 30
    assert 0.5 < neutral[talk].std(axis=0).max() < 8.0             # a few degrees, not 0, not a wobble
    assert speed[~talk].mean() < 0.5 * speed[talk].mean()          # stillness in pauses
    sad = np.degrees(head_truth(phones, n, 30.0, "sad", 1.0, rng()))
    surprise = np.degrees(head_truth(phones, n, 30.0, "surprise", 1.0, rng()))
    assert sad[:, 1].mean() > neutral[:, 1].mean() + 4 > surprise[:, 1].mean() + 4   # sad lowers, surprise lifts


@pytest.fixture(scope="module")
def head_run(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("corpus")
    subprocess.run([sys.executable, "-m", "cafetalk_core.cli", "synth-data", "--out", str(data), "--hours", "0.02",
                    "--seed", "3", "--workers", "1"], check=True, capture_output=True, cwd=ROOT)
    out = tmp_path_factory.mktemp("head")
    def train(steps: int, *extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cafetalk_core.cli", "train-head", "--data", str(data), "--out",
                               str(out), "--steps", str(steps), "--eval-every", "10", "--batch-size", "4",
                               "--frames", "60", "--threads", "1", *extra],
                              check=True, capture_output=True, text=True, cwd=ROOT)

    train(20)
    resumed = train(30, "--resume")
    assert "step 30" in resumed.stdout and "step 10 " not in resumed.stdout   # continued, not restarted
    return out


def test_trained_head_samples_reproducibly(head_run):
    stage = HeadStage.load(head_run / "best")
    wav = (0.2 * np.sin(np.arange(32000) / 16000 * 2 * np.pi * 150)).astype(np.float32)
    feats = head_features(wav, 60, 30.0)
    emo, inten = np.zeros(60, np.int64), np.zeros(60, np.float32)
    a = stage.sample(feats, emo, inten, seed=1)
    assert a.shape == (60, 3) and np.all(np.isfinite(a))
    assert np.array_equal(a, stage.sample(feats, emo, inten, seed=1))
    assert not np.array_equal(a, stage.sample(feats, emo, inten, seed=2))


def test_every_take_carries_rotations_and_head_motion_scales_them(head_run):
    from cafetalk_core.pipeline import Generator

    g = Generator.random("tiny", seed=0, threads=None)
    g.head = HeadStage.load(head_run / "best")
    wav = (0.2 * np.sin(np.arange(40000) / 16000 * 2 * np.pi * 150)).astype(np.float32)
    full = g.generate(wav, seed=0)
    assert full.rotations is not None and full.rotations.shape == (full.num_frames, 9)
    still = g.generate(wav, seed=0, head_motion=0.0)
    assert np.all(still.rotations[:, :3] == 0) and np.array_equal(still.rotations[:, 3:], full.rotations[:, 3:])
    double = g.generate(wav, seed=0, head_motion=2.0)
    assert np.allclose(double.rotations[:, :3], 2 * full.rotations[:, :3], atol=1e-6)
    assert "HeadYaw" in full.to_json()
    with pytest.raises(ValueError, match="head_motion"):
        g.generate(wav, head_motion=2.5)
    with pytest.raises(ValueError, match="head_motion"):
        check_head_motion(float("nan"))
