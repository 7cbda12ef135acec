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
    from cafetalk_core.evaluation.real_speech import load_real_speech

    clip = load_real_speech()[0]
    wav = clip.audio if hasattr(clip, "audio") else clip.wav
    curves = generator.generate(wav, seed=0)
    assert curves.names == rig.ARKIT_NAMES and curves.fps == generator.info["fps"]
    assert 0.0 <= curves.values.min() and curves.values.max() <= 1.0
    aperture = curves.channel("jawOpen") - curves.channel("mouthClose")
    t = np.arange(curves.num_frames) / curves.fps
    def frames_of(kinds):  # frames inside the aligned phones of these kinds
        on = np.zeros(curves.num_frames, bool)
        for p in clip.phones:
            if p.phone in kinds:
                on |= (t >= p.start_s) & (t < p.end_s)
        return on
    from cafetalk_core.phones import BILABIALS, OPEN_VOWELS
    # the mouth is open on open vowels and nearly shut on p/b/m (phone times from the alignment)
    assert aperture[frames_of(OPEN_VOWELS)].mean() > 1.5 * aperture[frames_of(BILABIALS)].mean()
    assert aperture[frames_of(OPEN_VOWELS)].mean() > 0.15
    # same seed, same curves
    np.testing.assert_array_equal(generator.generate(wav, seed=0).values, curves.values)


def test_default_generator_rests_in_silence(generator):
    wav = np.zeros(16000 * 2, np.float32)
    wav += np.random.default_rng(0).normal(0, 1e-3, wav.shape).astype(np.float32)  # room tone
    curves = generator.generate(wav, seed=0)
    aperture = curves.channel("jawOpen") - curves.channel("mouthClose")
    assert np.abs(aperture).mean() < 0.1


def test_shipped_closure_stage_hears_bilabials_and_matches_the_front_end(generator, tmp_path):
    """The closure stage ships, is fed by the model's own front end, and fires on real /p b m/ more than on vowels."""
    import shutil

    from cafetalk_core.evaluation.real_speech import load_real_speech
    from cafetalk_core.model.closure import CLOSURE_DIR
    from cafetalk_core.phones import BILABIALS, OPEN_VOWELS

    assert generator.closure is not None and generator.info["closure_stage"]
    bilabial, vowel = [], []   # pooled over the real test clips (one clip's 3-6 bilabials are too few to judge by)
    for clip in load_real_speech():
        n = int(round(len(clip.wav) / 16000 * generator.cfg.fps))
        prob = generator.closure.probability(generator.front_end.features(clip.wav, n, generator.cfg.fps))
        t = np.arange(n) / generator.cfg.fps
        on = lambda kinds: np.any([(t >= p.start_s) & (t < p.end_s) for p in clip.phones if p.phone in kinds]  # noqa: E731
                                  or [np.zeros(n, bool)], axis=0)
        bilabial.append(prob[on(BILABIALS)])
        vowel.append(prob[on(OPEN_VOWELS)])
    assert np.concatenate(bilabial).mean() > 3 * np.concatenate(vowel).mean()   # shipped: 0.60 against 0.12
    # a checkpoint whose closure stage was trained on another front end is refused, naming both
    bad = tmp_path / "ck"
    shutil.copytree(DEFAULT_CHECKPOINT, bad)
    cfg = (bad / CLOSURE_DIR / "config.json")
    cfg.write_text(cfg.read_text().replace(generator.front_end.id, "logmel-v1"))
    with pytest.raises(ValueError, match="logmel-v1"):
        Generator(bad, threads=1)


def test_model_id_tells_the_steps_its_weights_hold(generator, tmp_path):
    """The shipped folder is stage 2 with no learned adapter on a stage 1 of 5,500 steps (3,300 on the
    corpus, 1,000 on the corpus and the real takes, 1,200 more with phone columns dropped, as the README
    reports): its id says so (it once said ``default-step1500``, the dropped adapter's run)."""
    assert generator.info["model_id"] == "default-step5500"
    assert generator.info["phones_optional"]
    from cafetalk_core.model.checkpoint import Checkpoint
    ck = Checkpoint(generator.model, generator.model.cfg, step=1500, stage=2, path=tmp_path / "run")
    assert ck.model_id() == "run-stage2-step1500"                  # stage 2 that does not record its stage 1
    ck.stage1_step, ck.adapter = 3300, True
    assert ck.model_id() == "run-step3300-adapter1500"
    assert Checkpoint(generator.model, generator.model.cfg, step=40, stage=1, path=tmp_path / "s1").model_id() == "s1-step40"
