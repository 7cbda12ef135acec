"""The shipped default checkpoint loads with no argument and lip-syncs a real recording."""
from __future__ import annotations

import numpy as np
import pytest

from cafetalk_core import rig
from cafetalk_core.pipeline import DEFAULT_CHECKPOINT, Generator

pytestmark = pytest.mark.skipif(not (DEFAULT_CHECKPOINT / "config.json").is_file(), reason="no shipped checkpoint")


@pytest.fixture(scope="module")
def generator() -> Generator:
    import torch

    torch.set_num_threads(1)
    return Generator()


def test_default_generator_follows_real_speech(generator):
    from cafetalk_core.audio.mel import loudness
    from cafetalk_core.realspeech import load_real_speech

    clip = load_real_speech()[0]
    wav = clip.audio if hasattr(clip, "audio") else clip.wav
    curves = generator.generate(wav, seed=0)
    assert curves.names == rig.ARKIT_NAMES and curves.fps == generator.info["fps"]
    assert 0.0 <= curves.values.min() and curves.values.max() <= 1.0
    aperture = curves.channel("jawOpen") - curves.channel("mouthClose")
    env = loudness(wav, curves.num_frames, curves.fps)
    # the mouth opens while speaking: loud frames are far more open than quiet ones
    loud, quiet = env >= np.quantile(env, 0.7), env <= np.quantile(env, 0.3)
    assert aperture[loud].mean() > 2 * max(aperture[quiet].mean(), 0.01)
    assert np.corrcoef(aperture, env)[0, 1] > 0.2
    assert aperture.max() > 0.2
    # same seed, same curves
    np.testing.assert_array_equal(generator.generate(wav, seed=0).values, curves.values)


def test_default_generator_rests_in_silence(generator):
    wav = np.zeros(16000 * 2, np.float32)
    wav += np.random.default_rng(0).normal(0, 1e-3, wav.shape).astype(np.float32)  # room tone
    curves = generator.generate(wav, seed=0)
    aperture = curves.channel("jawOpen") - curves.channel("mouthClose")
    assert np.abs(aperture).mean() < 0.1
