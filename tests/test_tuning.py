"""Choosing sampling defaults on real speech: the rule, the sweep, and writing them to a checkpoint."""
from __future__ import annotations

import json

import numpy as np
import pytest

from cafetalk_core.evaluation import tuning
from cafetalk_core.evaluation.tuning import SettingScore, choose


def _s(a: float, steps: int, closure: float, silence: float = 0.01, jitter: float = 0.01) -> SettingScore:
    return SettingScore(a, steps, closure, int(closure * 40), 40, silence, 0.4, jitter, 0.1)


def test_choose_takes_the_best_closure_that_rests_in_silence():
    scores = [_s(1, 10, 0.70), _s(3, 10, 0.90), _s(4, 10, 0.97, silence=0.2)]
    assert choose(scores) == scores[1]  # 0.97 leaves the mouth open in pauses


def test_choose_breaks_ties_by_jitter_then_steps():
    scores = [_s(3, 10, 0.95, jitter=0.015), _s(4, 10, 0.96, jitter=0.02), _s(2.5, 8, 0.94, jitter=0.012),
              _s(2.5, 10, 0.94, jitter=0.012)]
    assert choose(scores) == scores[2]
    assert choose(scores, tie=0.0) == scores[1]


def test_choose_leaves_out_a_mouth_that_closes_on_vowels():
    """Issue 23: the best closure is worth nothing when the lips also shut on a fifth of the vowels."""
    sealing = SettingScore(4, 10, 0.99, 39, 40, 0.01, 0.3, 0.01, 0.1, 0.05, vowel_seal_rate=0.2)
    honest = SettingScore(3, 10, 0.93, 37, 40, 0.01, 0.4, 0.01, 0.1, 0.05, vowel_seal_rate=0.04)
    assert choose([sealing, honest]) == honest
    with pytest.raises(ValueError, match="vowel centres sealed"):
        choose([sealing])


def test_choose_refuses_when_nothing_qualifies():
    with pytest.raises(ValueError, match="silence"):
        choose([_s(1, 10, 0.9, silence=0.3)])


def test_memo_front_end_computes_features_once_per_audio():
    calls = []

    class Counting:
        id, dim = "x", 3

        def features(self, wav, n, fps, phones=None):
            calls.append(n)
            return np.zeros((n, 3), np.float32)

    memo = tuning.MemoFrontEnd(Counting())
    wav = np.ones(1600, np.float32)
    memo.features(wav, 3, 30.0)
    memo.features(wav.copy(), 3, 30.0)
    memo.features(wav * 2, 3, 30.0)
    assert calls == [3, 3] and memo.dim == 3


def test_sweep_and_write_defaults_round_trip(tmp_path):
    import torch

    from cafetalk_core.model.checkpoint import save_checkpoint
    from cafetalk_core.pipeline import Generator
    from cafetalk_core.evaluation.real_speech import load_real_speech

    torch.set_num_threads(1)
    clip = [c for c in load_real_speech() if c.id == "ps_cards_002"]
    gen = Generator.random("tiny", seed=0, front_end="logmel-v1")
    scores = tuning.score_settings(gen, clip, scales=[1.0, 2.0], steps=[2], seeds=[0])
    assert [(s.audio_scale, s.steps) for s in scores] == [(1.0, 2), (2.0, 2)]
    assert all(s.bilabials == 1 and 0.0 <= s.bilabial_closure <= 1.0 for s in scores)
    assert gen.front_end.__class__.__name__ != "MemoFrontEnd"  # restored after the sweep

    save_checkpoint(tmp_path, gen.model, step=1, stage=2, front_end={"id": "logmel-v1"})
    tuning.write_defaults(tmp_path, scores[1], {"set": "test"})
    loaded = Generator(tmp_path)
    assert loaded.info["default_audio_scale"] == 2.0 and loaded.info["default_steps"] == 2
    assert json.loads((tmp_path / "config.json").read_text())["sampling_tuned"] == {"set": "test"}


def test_evaluate_audio_scale_overrides_every_generation():
    from cafetalk_core.evaluation.corpus import _FixedSampling

    seen = []

    class Gen:
        info = {"default_audio_scale": 1.0, "fps": 30.0}

        def generate(self, wav, controls=None, **kw):
            seen.append(kw)
            return "curves"

    fixed = _FixedSampling(Gen(), audio_scale=2.5)
    assert fixed.generate(None, None, steps=3, audio_scale=None) == "curves"
    assert seen == [{"steps": 3, "audio_scale": 2.5}]
    assert fixed.info["default_audio_scale"] == 2.5 and fixed.info["fps"] == 30.0


def test_real_set_names():
    from cafetalk_core.evaluation import real_speech as realspeech

    assert realspeech.real_set_dir("test") == realspeech.EVALSET_DIR
    assert realspeech.real_set_dir("val") == realspeech.VALSET_DIR
    assert realspeech.real_set_dir("/x/y").as_posix() == "/x/y"
    test_ids = {c.id for c in realspeech.load_real_speech(realspeech.real_set_dir("test"))}
    val_ids = {c.id for c in realspeech.load_real_speech(realspeech.real_set_dir("val"))}
    assert test_ids and val_ids and not test_ids & val_ids


def test_phone_free_defaults_apply_only_to_phone_free_speech():
    """``phone_free_steps`` / ``phone_free_audio_scale`` are what a job gets for speech in another
    language when the caller gives none; English and explicit arguments keep their own."""
    from cafetalk_core.model.config import ModelConfig
    from cafetalk_core.pipeline import Generator

    gen = Generator.random("tiny", seed=0, front_end="phonetic-viseme-mel-v1", threads=1)
    gen.cfg.phones_optional = True
    assert (gen.default_steps(True), gen.default_audio_scale(True)) == (gen.cfg.default_steps, gen.cfg.default_audio_scale)
    gen.cfg.phone_free_steps, gen.cfg.phone_free_audio_scale = 3, 2.5
    wav = np.zeros(16000, np.float32)
    job = gen.prepare(wav, language="de")
    assert job.phone_free and job.steps == 3 and float(np.max(job.audio_scale)) == 2.5
    assert gen.prepare(wav, language="de", steps=5, audio_scale=1.0).steps == 5
    assert (gen.default_steps(False), gen.default_audio_scale(False)) == (gen.cfg.default_steps, gen.cfg.default_audio_scale)
    assert gen.info["phone_free_steps"] == 3
    with pytest.raises(ValueError, match="phone_free_steps"):
        ModelConfig(phone_free_steps=0)
    with pytest.raises(ValueError, match="phone_free_audio_scale"):
        ModelConfig(phone_free_audio_scale=-1.0)


def _pf_score(scale, steps, mouth, jaw=0.5, seals=0.0, silence=0.0, closure=0.3, open_ap=float("nan")):
    from cafetalk_core.evaluation.tuning_phone_free import PhoneFreeScore

    return PhoneFreeScore(scale, steps, mouth, jaw, seals, silence, closure, 0.8, 0.1, None, open_ap)


def test_phone_free_rule_takes_the_best_mouth_within_the_limits_then_fewer_steps():
    from cafetalk_core.evaluation.tuning_phone_free import choose

    reference = _pf_score(2.0, 10, 0.20, seals=0.16, closure=0.30)
    best_but_sealing = _pf_score(2.0, 3, 0.40, seals=0.2)
    loud_silence = _pf_score(2.0, 2, 0.40, silence=0.2)
    lips_never_meet = _pf_score(1.0, 1, 0.45, closure=0.05)        # below half the reference's closure
    slow = _pf_score(2.0, 10, 0.30)
    tied_fast = _pf_score(3.0, 4, 0.295, closure=0.15)
    worse = _pf_score(1.5, 2, 0.25)
    scores = [reference, best_but_sealing, loud_silence, lips_never_meet, slow, tied_fast, worse]
    assert choose(scores, reference) == tied_fast
    assert choose([slow, _pf_score(1.5, 10, 0.30, jaw=0.7)], reference).audio_scale == 1.5   # same steps: the better jaw
    with pytest.raises(ValueError, match="widen the sweep"):
        choose([best_but_sealing, loud_silence, lips_never_meet], reference)


def test_phone_free_rule_never_takes_a_setting_that_opens_vowels_less_than_the_reference():
    from cafetalk_core.evaluation.tuning_phone_free import choose

    reference = _pf_score(2.0, 10, 0.20, closure=0.30, open_ap=0.14)
    small_vowels = _pf_score(1.0, 1, 0.40, open_ap=0.10)            # best mouth r, but the vowels shrink
    open_vowels = _pf_score(1.5, 2, 0.30, open_ap=0.15)
    unmeasured = _pf_score(1.0, 1, 0.45)                           # no figure cannot pass a finite floor
    assert choose([reference, small_vowels, open_vowels, unmeasured], reference) == open_vowels
    assert choose([small_vowels, open_vowels], _pf_score(2.0, 10, 0.2)) == small_vowels   # no reference figure
    with pytest.raises(ValueError, match="open-vowel aperture >= 0.140"):
        choose([small_vowels, unmeasured], reference)


def test_phone_free_sweep_writes_its_defaults_and_a_generator_uses_them(tmp_path):
    """End to end at toy scale: one capture val take (cut to 4 s) and one Spanish val sentence."""
    import torch

    from cafetalk_core.evaluation import captures, tuning_phone_free
    from cafetalk_core.evaluation.multilingual import language_of
    from cafetalk_core.model.checkpoint import save_checkpoint
    from cafetalk_core.pipeline import Generator

    torch.set_num_threads(1)
    gen = Generator.random("tiny", seed=0, front_end="phonetic-viseme-mel-v1", threads=1)
    gen.cfg.phones_optional = True
    takes, clips = tuning_phone_free.validation_data(languages=["es"], max_takes=1, max_clips=1)
    take = takes[0]
    n = int(4 * take.fps)
    short = captures.CaptureTake(take.id, take.wav[: 4 * 16000], take.values[:n], take.fps, take.channels,
                                 take.source, take.language)
    assert take.language == "zh" and language_of(clips[0].id) == "es"
    scores = tuning_phone_free.score_settings(gen, [short], clips, scales=[2.0], steps=[2, 3], seeds=[0])
    assert [(s.audio_scale, s.steps) for s in scores] == [(2.0, 2), (2.0, 3)]
    assert all(-1.0 <= s.jaw_open_corr <= 1.0 and 0.0 <= s.vowel_seal_rate <= 1.0 for s in scores)
    assert gen.front_end.__class__.__name__ != "MemoFrontEnd"
    chosen = scores[1]
    save_checkpoint(tmp_path, gen.model, step=1, stage=2, front_end={"id": gen.front_end.id})
    tuning_phone_free.write_defaults(tmp_path, chosen, {"rule": "test"})
    loaded = Generator(tmp_path)
    assert loaded.info["phone_free_steps"] == 3 and loaded.info["phone_free_audio_scale"] == 2.0
    assert loaded.info["default_steps"] == gen.cfg.default_steps          # English untouched
    assert json.loads((tmp_path / "config.json").read_text())["phone_free_sampling_tuned"] == {"rule": "test"}

