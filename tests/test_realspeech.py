"""The real-speech evaluation set and its metrics (no ground-truth curves, only phone times)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from cafetalk_core import rig
from cafetalk_core.evaluation import metrics
from cafetalk_core.curves import BlendshapeCurves
from cafetalk_core.phones import BILABIALS, Phone
from cafetalk_core.evaluation.real_speech import (EVALSET_DIR, clip_metrics, evaluate_real_speech, format_table,
                                      load_real_speech, silence_frames)

FPS = 30
JAW = rig.channel_index("jawOpen")


@pytest.fixture(scope="module")
def clips():
    return load_real_speech()


def test_the_bundled_set_is_real_speech_with_enough_bilabials(clips):
    assert len(clips) >= 6
    assert sum(p.phone in BILABIALS for c in clips for p in c.phones) >= 35
    assert len({c.speaker for c in clips}) >= 4
    manifest = json.loads((EVALSET_DIR / "clips.json").read_text())
    assert all(e["alignment"] in {"package-phone-json", "package-hts-labels", "pocketsphinx-forced"} for e in manifest)
    assert (EVALSET_DIR / "SOURCES.md").is_file()
    for c in clips:
        assert c.wav.dtype == np.float32 and 1.0 < c.duration_s < 10.0
        assert abs(c.phones[-1].end_s - c.duration_s) < 0.3  # alignments cover the clip
        assert all(a.end_s <= b.start_s + 1e-6 for a, b in zip(c.phones, c.phones[1:]))


def _closing_curves(clip, n, close_at_bilabials=True, rest_in_silence=False):
    v = np.zeros((n, rig.NUM_CHANNELS), np.float32)
    v[:, JAW] = 0.5
    t = np.arange(n) / FPS
    if close_at_bilabials:
        for p in clip.phones:
            if p.phone in BILABIALS:
                v[(t >= p.start_s - 0.01) & (t <= p.end_s + 0.01), JAW] = 0.0
    if rest_in_silence:
        v[silence_frames(clip.phones, FPS, n), JAW] = 0.0
    return v


def test_hand_made_curves_score_as_expected(clips):
    clip = next(c for c in clips if c.id == "librivox_0920")
    n = clip.num_frames(FPS)
    good = clip_metrics(_closing_curves(clip, n, rest_in_silence=True), clip, FPS)
    assert good["bilabial_closure"] == 1.0 and good["closed"] == good["bilabials"] >= 10
    assert good["silence_frames"] > 0 and good["silence_sum"] == 0.0
    open_ = clip_metrics(_closing_curves(clip, n, close_at_bilabials=False), clip, FPS)
    assert open_["bilabial_closure"] == 0.0
    assert open_["silence_sum"] / open_["silence_frames"] == pytest.approx(0.5)
    # mouthClose over an open jaw also closes the lips (aperture = jawOpen - mouthClose)
    sealed = _closing_curves(clip, n, close_at_bilabials=False)
    for p in clip.phones:
        if p.phone in BILABIALS:
            sealed[int(round((p.start_s + p.end_s) / 2 * FPS)), rig.channel_index("mouthClose")] = 0.5
    assert clip_metrics(sealed, clip, FPS)["bilabial_closure"] == 1.0
    assert metrics.jitter(_closing_curves(clip, n), metrics.MOUTH_IDX) > open_["jitter"] == 0.0
    # eyes: shut on the first quarter of the frames (both lids past 0.5), one lid alone does not count
    eyes = _closing_curves(clip, n)
    eyes[: n // 4, rig.channel_index("eyeBlinkLeft")] = eyes[: n // 4, rig.channel_index("eyeBlinkRight")] = 0.9
    eyes[n // 2:, rig.channel_index("eyeBlinkLeft")] = 0.9
    shut = clip_metrics(eyes, clip, FPS)
    assert shut["eyes_closed_frames"] == n // 4 and shut["frames"] == n and good["eyes_closed_frames"] == 0


def test_evaluate_runs_the_model_and_both_baselines(clips):
    subset = [c for c in clips if c.id in ("librivox_0930", "ps_something")]
    by_wav = {id(c.wav): c for c in subset}

    def perfect(wav):  # closes at every bilabial, at 60 fps to exercise resampling
        c = by_wav[id(wav)]
        n = c.num_frames(60)
        t = np.arange(n) / 60
        v = np.zeros((n, rig.NUM_CHANNELS), np.float32)
        v[:, JAW] = 0.6
        for p in c.phones:
            if p.phone in BILABIALS or (p.phone == "SIL" and p.end_s - p.start_s > 0.15):
                v[(t >= p.start_s - 0.02) & (t <= p.end_s + 0.02), JAW] = 0.0
        return BlendshapeCurves(v, 60)

    report = evaluate_real_speech(perfect, fps=FPS, clips=subset)
    sys_ = report["systems"]
    assert sys_["model"]["bilabial_closure"] == 1.0 and sys_["model"]["bilabials"] == 8
    assert sys_["model"]["silence_aperture"] == pytest.approx(0.0)
    assert "baseline: loudness -> jawOpen" in sys_
    if "baseline: recogniser -> visemes" in sys_:
        rec = sys_["baseline: recogniser -> visemes"]
        assert 0.0 <= rec["bilabial_closure"] <= 1.0 and rec["seconds_per_audio_second"] > 0
    assert sys_["baseline: loudness -> jawOpen"]["envelope_corr"] > 0.8
    table = format_table(report)
    assert "model" in table and "loudness" in table and "closure" in table
    json.dumps(report)  # the CLI writes it as JSON
    assert all(not (isinstance(v, float) and math.isnan(v)) for v in sys_["model"].values())


def test_indexed_generation_gets_each_clip_its_own_index(clips):
    subset = clips[:3]
    seen: list[int] = []

    def gen(wav, k):
        seen.append(k)
        return np.zeros((int(round(len(wav) / 16000 * FPS)), 52), np.float32)

    evaluate_real_speech(gen, fps=FPS, clips=subset, oracle=False, indexed=True)
    assert seen == [0, 1, 2]


def test_baselines_only_and_wrong_shapes(clips):
    subset = [c for c in clips if c.id == "ps_cards_005"]
    report = evaluate_real_speech(None, fps=25, clips=subset, oracle=False)
    assert "model" not in report["systems"] and report["fps"] == 25
    with pytest.raises(ValueError, match="frames, 52"):
        evaluate_real_speech(lambda wav: np.zeros((10, 3)), clips=subset)
    with pytest.raises(ValueError, match="keep the audio's shape"):
        evaluate_real_speech(None, clips=subset, degrade=lambda wav: wav[:100])
    quiet = evaluate_real_speech(None, clips=subset, oracle=False, degrade=lambda wav: 0.1 * wav)
    loud = evaluate_real_speech(None, clips=subset, oracle=False)
    key = "baseline: loudness -> jawOpen"  # per-clip normalisation: gain does not change the metrics
    assert quiet["systems"][key]["bilabial_closure"] == loud["systems"][key]["bilabial_closure"]


def test_named_degradations_are_seeded_and_keep_length(clips):
    from cafetalk_core.evaluation import corpus as evaluate
    from cafetalk_core.evaluation.real_speech import DEGRADATIONS

    wav = clips[0].wav
    for name, fn in DEGRADATIONS.items():
        out = fn(wav)
        assert out.shape == wav.shape and out.dtype == np.float32, name
        assert np.array_equal(out, fn(wav)) and not np.allclose(out, wav), name
    with pytest.raises(evaluate.EvaluationError, match="degrade"):
        evaluate.evaluate_real(object(), degrade="underwater")
