"""Metrics on hand-made curves whose answers are known, and the emotion classifier on separable data."""
from __future__ import annotations

import math

import numpy as np
import pytest

from cafetalk_core import rig
from cafetalk_core.evaluation import metrics
from cafetalk_core.controls.binarize import binarize
from cafetalk_core.controls.fine import FineControl
from cafetalk_core.curves import BlendshapeCurves
from cafetalk_core.evaluation.emotion_classifier import EmotionClassifier, fit_logistic, stratified_split

FPS = 30.0
JAW, CLOSE = rig.channel_index("jawOpen"), rig.channel_index("mouthClose")


def speechy(n: int = 90, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = np.zeros((n, 52), np.float32)
    v[:, JAW] = 0.3 + 0.2 * np.sin(np.arange(n) / 3.0)
    v[:, metrics.MOUTH_IDX[3]] = rng.uniform(0, 0.5, n)
    return v


# --- lip sync -----------------------------------------------------------------------------------

def test_perfect_prediction_scores_perfectly():
    gt = speechy()
    assert metrics.mouth_mse(gt, gt) == 0.0
    assert metrics.max_error(gt, gt) == 0.0
    assert metrics.jaw_correlation(gt, gt) == pytest.approx(1.0)
    assert metrics.jaw_correlation(BlendshapeCurves(gt), BlendshapeCurves(gt)) == pytest.approx(1.0)


def test_mse_and_max_error_values():
    gt = np.zeros((10, 52))
    pred = gt.copy()
    pred[:, JAW] = 0.5                         # one mouth channel off by 0.5 on every frame
    n_mouth = len(metrics.MOUTH_IDX)
    assert metrics.mouth_mse(pred, gt) == pytest.approx(0.25 / n_mouth)
    assert metrics.max_error(pred, gt) == pytest.approx(0.25)
    pred_upper = gt.copy()
    pred_upper[:, rig.channel_index("browInnerUp")] = 1.0   # upper face does not count
    assert metrics.mouth_mse(pred_upper, gt) == 0.0


def test_jaw_correlation_sign_and_constant():
    gt = speechy()
    inv = gt.copy()
    inv[:, JAW] = 1.0 - gt[:, JAW]
    assert metrics.jaw_correlation(inv, gt) == pytest.approx(-1.0)
    flat = np.zeros_like(gt)
    assert math.isnan(metrics.jaw_correlation(flat, gt))


def test_align_uses_common_prefix():
    gt = speechy(90)
    assert metrics.mouth_mse(gt[:80], gt) == 0.0
    with pytest.raises(ValueError, match="frames"):
        metrics.mouth_mse(np.zeros((5, 51)), gt)


# --- bilabial closure ---------------------------------------------------------------------------

PHONES = [
    {"phone": "SIL", "start_s": 0.0, "end_s": 0.2},
    {"phone": "AA", "start_s": 0.2, "end_s": 0.5},
    {"phone": "M", "start_s": 0.5, "end_s": 0.6},
    {"phone": "AE", "start_s": 0.6, "end_s": 0.9},
    {"phone": "B", "start_s": 0.9, "end_s": 1.0},
    {"phone": "AH", "start_s": 1.0, "end_s": 1.3},
]


def test_mouth_that_never_closes_scores_zero():
    v = np.zeros((45, 52))
    v[:, JAW] = 0.5
    r = metrics.bilabial_closure(metrics.lip_aperture(v), PHONES, FPS)
    assert r["rate"] == 0.0 and r["total"] == 2 and r["threshold"] == pytest.approx(0.175)


def test_closure_on_bilabials_counts():
    v = np.zeros((45, 52))
    v[:, JAW] = 0.5
    v[15:18, JAW] = 0.05                      # M at 0.5-0.6 s -> frames 15..17 closed
    r = metrics.bilabial_closure(metrics.lip_aperture(v), PHONES, FPS)
    assert (r["closed"], r["total"], r["rate"]) == (1, 2, 0.5)
    v[27:30, CLOSE] = 0.5                     # B closed by mouthClose over an open jaw
    assert metrics.bilabial_closure(metrics.lip_aperture(v), PHONES, FPS)["rate"] == 1.0


def test_closure_window_is_20ms():
    v = np.zeros((45, 52))
    v[:, JAW] = 0.5
    v[14, JAW] = 0.0          # 0.467 s: 33 ms before the M -> outside the +-20 ms window
    v[31, JAW] = 0.0          # 1.033 s: 33 ms after the B
    assert metrics.bilabial_closure(metrics.lip_aperture(v), PHONES, FPS)["closed"] == 0
    v[30, JAW] = 0.0          # 1.000 s: at the B's end
    assert metrics.bilabial_closure(metrics.lip_aperture(v), PHONES, FPS)["closed"] == 1


def test_closure_undefined_without_open_vowels():
    r = metrics.bilabial_closure(np.ones(30), [{"phone": "M", "start_s": 0.1, "end_s": 0.2}], FPS)
    assert math.isnan(r["rate"]) and r["total"] == 1


# --- smoothness and diversity -------------------------------------------------------------------

def test_jitter():
    lin = np.tile(np.linspace(0, 1, 20)[:, None], (1, 52))
    assert metrics.jitter(lin) == pytest.approx(0.0, abs=1e-12)
    alt = np.zeros((20, 52))
    alt[::2, JAW] = 1.0                       # 0,1,0,1 on one channel: |2nd diff| = 2
    assert metrics.jitter(alt, [JAW]) == pytest.approx(2.0)
    assert metrics.jitter(alt) == pytest.approx(2.0 / 52)


def test_diversity():
    a = np.zeros((10, 52))
    b = a.copy()
    b[:, JAW] = 0.3
    assert metrics.diversity([a, a, a], metrics.MOUTH_IDX) == 0.0
    assert metrics.diversity([a, b], metrics.MOUTH_IDX) == pytest.approx(0.3)
    assert metrics.diversity([a, b], metrics.UPPER_IDX) == 0.0


# --- fine control -------------------------------------------------------------------------------

def _with_action(n: int, channels: list[str], frames: slice, value: float = 0.8) -> np.ndarray:
    v = np.zeros((n, 52), np.float32)
    for c in channels:
        v[frames, rig.channel_index(c)] = value
    return v


def test_control_rate_full_and_none():
    spans = [FineControl("AU12", 1.0, 2.0, 0.8)]
    active = _with_action(90, ["mouthSmileLeft", "mouthSmileRight"], slice(30, 60))
    r = metrics.control_rate(binarize(active, FPS), spans, FPS)
    assert r["rate"] == 1.0 and r["mean_overlap"] == 1.0
    r0 = metrics.control_rate(binarize(np.zeros((90, 52)), FPS), spans, FPS)
    assert r0["rate"] == 0.0 and r0["mean_overlap"] == 0.0
    assert math.isnan(metrics.control_rate(binarize(active, FPS), [], FPS)["rate"])


def test_control_rate_needs_half_the_span():
    spans = [FineControl("AU2", 1.0, 2.0)]
    brows = ["browOuterUpLeft", "browOuterUpRight"]
    r = metrics.control_rate(binarize(_with_action(90, brows, slice(30, 44)), FPS), spans, FPS)
    assert r["rate"] == 0.0 and r["mean_overlap"] == pytest.approx(14 / 30)
    r = metrics.control_rate(binarize(_with_action(90, brows, slice(30, 46)), FPS), spans, FPS)
    assert r["rate"] == 1.0


def test_false_activation():
    spans = [FineControl("AU45", 1.0, 1.3)]
    blink = ["eyeBlinkLeft", "eyeBlinkRight"]
    inside = binarize(_with_action(90, blink, slice(30, 39), 1.0), FPS)
    assert metrics.false_activation(inside, spans, FPS)["rate"] == 0.0
    everywhere = binarize(_with_action(90, blink, slice(0, 90), 1.0), FPS)
    r = metrics.false_activation(everywhere, spans, FPS)
    # 90 frames minus the span widened by 0.1 s each side (frames 27..41) = 75 outside frames
    assert r["rate"] == 1.0 and r["frames"] == 75
    # an action that was not requested never counts
    smile = binarize(_with_action(90, ["mouthSmileLeft", "mouthSmileRight"], slice(0, 90)), FPS)
    assert metrics.false_activation(smile, spans, FPS)["active"] == 0


def test_mouth_channels_of_requested_actions():
    drop = metrics.mouth_channels_of(["AU12", "AU2", "AU45"])
    assert drop == sorted(rig.indices(["mouthSmileLeft", "mouthSmileRight"]))
    keep = metrics.lip_sync_channels_excluding(["smile"])
    assert rig.channel_index("mouthSmileLeft") not in keep and JAW in keep
    assert len(keep) == len(metrics.MOUTH_IDX) - 2
    # a jaw drop drives mouthClose with the jaw (the lips stay sealed on a /b/): both left out
    jaw_drop = metrics.mouth_channels_of(["AU26"])
    assert jaw_drop == sorted(rig.indices(["jawOpen", "mouthClose"]))


# --- emotion classifier -------------------------------------------------------------------------

def _emotion_clip(label: str, rng: np.random.Generator, n: int = 90) -> np.ndarray:
    v = rng.uniform(0, 0.08, (n, 52)).astype(np.float32)
    offsets = {"happy": ["mouthSmileLeft", "mouthSmileRight", "cheekSquintLeft"],
               "sad": ["mouthFrownLeft", "mouthFrownRight", "browInnerUp"],
               "angry": ["browDownLeft", "browDownRight", "noseSneerLeft"]}
    for c in offsets.get(label, []):
        v[:, rig.channel_index(c)] += rng.uniform(0.25, 0.5)
    return v


def test_classifier_learns_separable_emotions_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    labels = ["neutral", "happy", "sad", "angry"] * 15
    clips = [(_emotion_clip(lab, rng), FPS) for lab in labels]
    split = stratified_split([str(i) for i in range(len(labels))], labels, seed=1)
    assert sum(v == "test" for v in split.values()) == 8 and sum(v == "val" for v in split.values()) == 8
    part = {s: [i for i in range(len(labels)) if split[str(i)] == s] for s in ("train", "val", "test")}
    clf = EmotionClassifier.train([clips[i] for i in part["train"]], [labels[i] for i in part["train"]],
                                  [clips[i] for i in part["val"]], [labels[i] for i in part["val"]])
    test_clips, test_labels = [clips[i] for i in part["test"]], [labels[i] for i in part["test"]]
    assert clf.accuracy(test_clips, test_labels) >= 0.95
    # a classifier must not score well on the wrong labels
    assert clf.accuracy(test_clips, test_labels[1:] + test_labels[:1]) <= 0.5
    clf.save(tmp_path / "clf")
    assert not list((tmp_path / "clf").glob("*.pkl"))
    loaded = EmotionClassifier.load(tmp_path / "clf")
    np.testing.assert_allclose(loaded.predict_proba(*test_clips[0]), clf.predict_proba(*test_clips[0]))
    assert loaded.info["train_clips"] == len(part["train"])


def test_classifier_rejects_unknown_labels():
    with pytest.raises(ValueError, match="outside classes"):
        EmotionClassifier.train([(np.zeros((30, 52)), FPS)], ["elated"])


@pytest.mark.parametrize("present", [(0, 1, 3), (1, 3)])   # multinomial, and sklearn's binary form
def test_fit_logistic_minimises_the_documented_objective(present):
    """scikit-learn's fit, mapped back, is the optimum of mean cross-entropy + l2 |W|^2 / 2 over all
    classes (the gradient vanishes; an absent class has probability 0), so l2 means what it says."""
    rng = np.random.default_rng(0)
    n, d, k, l2 = 300, 6, 4, 0.05
    y = rng.choice(present, n)
    x = rng.normal(size=(n, d)) + 0.8 * np.eye(k, d)[y]
    w, b = fit_logistic(x, y, k, l2)
    z = x @ w + b
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    g = (p - np.eye(k)[y]) / n
    cols = list(present)
    np.testing.assert_allclose((x.T @ g + l2 * w)[:, cols], 0.0, atol=1e-4)
    np.testing.assert_allclose(g.sum(0)[cols], 0.0, atol=1e-4)
    absent = [c for c in range(k) if c not in present]
    assert p[:, absent].max() < 1e-12 and (w[:, absent] == 0).all()


def test_stratified_split_is_seeded():
    ids = [str(i) for i in range(40)]
    labels = ["a", "b"] * 20
    assert stratified_split(ids, labels, seed=3) == stratified_split(ids, labels, seed=3)
    assert stratified_split(ids, labels, seed=3) != stratified_split(ids, labels, seed=4)


def test_span_iou():
    spans = [FineControl("AU2", 1.0, 2.0)]            # frames 30..59
    brows = ["browOuterUpLeft", "browOuterUpRight"]
    exact = binarize(_with_action(90, brows, slice(30, 60)), FPS)
    assert metrics.span_ious(exact, spans, FPS) == [1.0]
    half = binarize(_with_action(90, brows, slice(30, 45)), FPS)
    assert metrics.span_ious(half, spans, FPS) == [pytest.approx(0.5)]
    over = binarize(_with_action(90, brows, slice(15, 75)), FPS)     # twice as long, centred
    assert metrics.span_ious(over, spans, FPS) == [pytest.approx(0.5)]
    apart = binarize(_with_action(90, brows, slice(70, 80)), FPS)    # not touching: IoU 0
    assert metrics.span_ious(apart, spans, FPS) == [0.0]
