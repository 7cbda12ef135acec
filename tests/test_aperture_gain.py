"""The lip aperture gain for phone-free input: the rig helper, where the pipeline applies it, the fit."""
from __future__ import annotations

import numpy as np
import pytest

from cafetalk_core import rig
from cafetalk_core.curves import BlendshapeCurves
from cafetalk_core.evaluation import aperture_gain, captures

J, C = rig.INDEX["jawOpen"], rig.INDEX["mouthClose"]


def test_scale_aperture_widens_the_vowels_and_keeps_a_shut_mouth_shut():
    values = np.zeros((3, rig.NUM_CHANNELS), np.float32)
    values[0, J] = 0.3                                       # a vowel: open jaw, lips apart
    values[1, J] = values[1, C] = 0.2                        # a bilabial: lips held together over the jaw
    values[:, rig.INDEX["mouthFunnel"]] = 0.4
    out = rig.scale_aperture(values, 1.5)
    aperture = out[:, J] - out[:, C]
    assert aperture[0] == pytest.approx(0.45) and aperture[1] == 0.0
    assert np.array_equal(np.delete(out, [J, C], axis=1), np.delete(values, [J, C], axis=1))
    assert values[0, J] == np.float32(0.3)                   # a copy: the input is untouched
    assert rig.scale_aperture(values, 1.0) is not values


def test_the_gain_applies_to_phone_free_speech_only_and_to_the_pair_only():
    """A random tiny model has no stages after sampling, so the gained take is the plain one with the
    pair times the gain (clamped); English speech (phones) never reads the gain."""
    from cafetalk_core.model.config import ModelConfig
    from cafetalk_core.pipeline import Generator

    gen = Generator.random("tiny", seed=0, front_end="phonetic-viseme-mel-v1", threads=1)
    gen.cfg.phones_optional = True
    rng = np.random.default_rng(0)
    wav = (0.1 * rng.standard_normal(32000)).astype(np.float32)
    plain_es = gen.generate(wav, seed=3, language="es").values
    plain_en = gen.generate(wav, seed=3).values
    gen.cfg.phone_free_aperture_gain = 1.5
    gained_es = gen.generate(wav, seed=3, language="es").values
    assert gen.aperture_gain(True) == 1.5 and gen.aperture_gain(False) == 1.0
    assert gen.info["phone_free_aperture_gain"] == 1.5
    np.testing.assert_allclose(gained_es[:, [J, C]], np.clip(plain_es[:, [J, C]] * 1.5, 0, 1), atol=1e-6)
    assert not np.allclose(gained_es[:, J], plain_es[:, J])
    np.testing.assert_array_equal(np.delete(gained_es, [J, C], axis=1), np.delete(plain_es, [J, C], axis=1))
    np.testing.assert_array_equal(gen.generate(wav, seed=3).values, plain_en)
    with pytest.raises(ValueError, match="phone_free_aperture_gain"):
        ModelConfig(phone_free_aperture_gain=0.0)


class _HalfSizeModel:
    """Answers every take with its own curves at half the size: the spread ratio is 0.5."""

    def __init__(self, takes: list[captures.CaptureTake]) -> None:
        self.by_audio = {id(t.wav): t for t in takes}

    def generate(self, wav: np.ndarray, seed: int, fps: float, language: str | None) -> BlendshapeCurves:
        take = self.by_audio[id(wav)]
        return BlendshapeCurves(take.values * 0.5, fps)


def _take(name: str, seed: int) -> captures.CaptureTake:
    rng = np.random.default_rng(seed)
    values = np.zeros((90, rig.NUM_CHANNELS), np.float32)
    values[:, J] = np.clip(0.3 + 0.2 * np.sin(np.arange(90) / 4.0) + 0.02 * rng.standard_normal(90), 0, 1)
    return captures.CaptureTake(name, np.zeros(48000, np.float32), values, 30.0, ("jawOpen", "mouthFunnel"),
                                "test", "zh")


def test_the_spread_ratio_pools_takes_and_seeds():
    takes = [_take("a", 0), _take("b", 1)]
    assert aperture_gain.aperture_spread_ratio(_HalfSizeModel(takes), takes, [0, 1]) == pytest.approx(0.5)


def test_the_fit_refuses_a_model_that_never_ran_without_phones():
    from cafetalk_core.pipeline import Generator

    gen = Generator.random("tiny", seed=0, front_end="phonetic-viseme-mel-v1", threads=1)
    with pytest.raises(ValueError, match="phones_optional"):
        aperture_gain.fit(gen)


def test_the_shipped_gain_was_fitted_on_validation_and_kept_the_limits():
    import json

    from cafetalk_core.evaluation.tuning import SILENCE_LIMIT, VOWEL_SEAL_LIMIT
    from cafetalk_core.pipeline import DEFAULT_CHECKPOINT

    cfg = json.loads((DEFAULT_CHECKPOINT / "config.json").read_text())
    fitted = cfg["phone_free_aperture_gain_fitted"]
    assert cfg["model_config"]["phone_free_aperture_gain"] == fitted["gain"] > 1.0
    assert fitted["gain"] == pytest.approx(1.0 / fitted["aperture_spread_ratio"], abs=aperture_gain.ROUND / 2)
    val = [t.id for t in captures.load_captures(captures.default_capture_dir(), "val")]
    assert fitted["captures"] == val                                          # the validation take, never the test take
    assert fitted["with"]["vowel_seal_rate"] <= min(VOWEL_SEAL_LIMIT, fitted["without"]["vowel_seal_rate"])
    assert fitted["with"]["silence_aperture"] <= SILENCE_LIMIT
    assert fitted["with"]["open_vowel_aperture"] > fitted["without"]["open_vowel_aperture"]


def test_a_regenerated_span_is_conditioned_on_the_take_at_the_sample_s_scale(monkeypatch):
    """finish() multiplies the pair by the gain after sampling, so the take's own frames must reach the
    inpainting divided by it; the frames outside the span come back exactly as they were."""
    import torch

    from cafetalk_core import pipeline
    from cafetalk_core.pipeline import Generator

    gen = Generator.random("tiny", seed=0, front_end="phonetic-viseme-mel-v1", threads=1)
    gen.cfg.phones_optional = True
    gen.cfg.phone_free_aperture_gain = 2.0
    wav = (0.1 * np.random.default_rng(1).standard_normal(32000)).astype(np.float32)
    n = int(2 * gen.cfg.fps)
    values = np.zeros((n, rig.NUM_CHANNELS), np.float32)
    values[:, J], values[:, C] = 0.6, 0.2
    take = BlendshapeCurves(values, gen.cfg.fps)
    seen = []
    real_inpaint = pipeline.InpaintDenoiser

    def spy(denoiser, sched, known, mask, **kw):
        seen.append(known.cpu().numpy())
        return real_inpaint(denoiser, sched, known, mask, **kw)

    monkeypatch.setattr(pipeline, "InpaintDenoiser", spy)
    out = gen.generate(wav, seed=0, language="es", inpaint=(take, 0.8, 1.2)).values
    expected = values[:1].copy()
    expected[:, [J, C]] /= 2.0
    want = gen.model.normalize(torch.as_tensor(expected)).numpy()[0]
    assert seen and np.allclose(seen[0][0, 0], want, atol=1e-5)
    assert np.allclose(out[:5], values[:5]) and np.allclose(out[-5:], values[-5:])
