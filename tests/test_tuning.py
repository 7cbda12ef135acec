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

    memo = tuning._MemoFrontEnd(Counting())
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
    assert gen.front_end.__class__.__name__ != "_MemoFrontEnd"  # restored after the sweep

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
