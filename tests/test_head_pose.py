"""A real speaker's head track (issue 24): the converted AD-NeRF Obama track, its splits, the
per-axis fit of the head stage to it, and the report's head reference."""
import json
from pathlib import Path

import numpy as np
import pytest

from cafetalk_core.data.head_pose import (DATASET_DIR, SNAPSHOT, build_head_pose, canonical_euler, cut_windows,
                                          load_head_track)
from cafetalk_core.evaluation.capture_stats import head_track_stats
from cafetalk_core.model.head import HeadFit, HeadStage, read_head_fit
from cafetalk_core.pipeline import DEFAULT_CHECKPOINT

CARD = json.loads((DATASET_DIR / "dataset.json").read_text())


def rotation(e: np.ndarray) -> np.ndarray:
    """AD-NeRF's R = Rx Ry Rz of (x, y, z) radians."""
    cx, sx, cy, sy, cz, sz = np.cos(e[0]), np.sin(e[0]), np.cos(e[1]), np.sin(e[1]), np.cos(e[2]), np.sin(e[2])
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rx @ ry @ rz


def test_the_card_records_provenance_licence_and_time_splits():
    assert len(CARD["commit"]) == 40 and "Improved-ADNeRF" in CARD["repository"]
    assert "MIT" in CARD["license"] and "public domain" in CARD["license"] and "not motion-captured" in CARD["what"]
    assert CARD["frames"] == 8000 and CARD["fps"] == 25.0
    s = CARD["splits"]
    assert s["train"][0] == 0 and s["train"][1] == s["val"][0] and s["val"][1] == s["test"][0] and s["test"][1] == 8000


def test_the_track_is_continuous_and_moves_on_every_axis():
    track = load_head_track()
    deg = np.degrees(track.rotations)
    assert track.fps == 25.0 and deg.shape == (8000, 3)
    assert np.abs(np.diff(deg, axis=0)).max() < 5.0            # no 360-degree or alternate-form jumps
    assert np.all(deg.std(axis=0) > 1.0)                        # yaw, pitch and roll all move
    parts = [load_head_track(k).rotations for k in ("train", "val", "test")]
    assert sum(len(p) for p in parts) == 8000 and np.array_equal(np.concatenate(parts), track.rotations)


def test_canonical_euler_picks_the_form_with_yaw_under_90_degrees_of_the_same_rotation():
    e = np.array([0.1, 0.2, -0.3])
    alt = np.array([e[0] + np.pi, np.pi - e[1], e[2] + np.pi])
    assert np.allclose(rotation(e), rotation(alt))             # the two forms are one rotation
    got = canonical_euler(np.stack([e, alt]))
    assert np.allclose(got, np.stack([e, e]), atol=1e-9)


@pytest.mark.skipif(not SNAPSHOT.exists(), reason="the starc52/Improved-ADNeRF snapshot is fetched with the fetch tool")
def test_the_converter_rebuilds_the_bundled_files(tmp_path: Path):
    card = build_head_pose(SNAPSHOT, tmp_path)
    assert card["source_sha256"] == CARD["source_sha256"]
    assert (tmp_path / "head_pose.csv").read_bytes() == (DATASET_DIR / "head_pose.csv").read_bytes()


def test_windows_are_cut_as_long_as_the_clips_and_spread_grows_with_them():
    track = load_head_track("train")
    wins = cut_windows(track, [2.0, 4.0])
    assert [len(w) for w in wins[:3]] == [50, 100, 50]
    short = head_track_stats(cut_windows(track, [2.0]), track.fps)
    long = head_track_stats(cut_windows(track, [20.0]), track.fps)
    assert long["head_yaw_std_deg"] > short["head_yaw_std_deg"]
    with pytest.raises(ValueError):
        cut_windows(track, [])


def test_head_track_stats_measure_a_known_sway():
    fps, t = 30.0, np.arange(300) / 30.0
    yaw = np.radians(2.0) * np.sin(2 * np.pi * 0.5 * t)          # 2 deg amplitude at 0.5 Hz
    s = head_track_stats([np.stack([yaw, 0 * t, 0 * t], axis=1)], fps)
    assert s["head_yaw_std_deg"] == pytest.approx(2.0 / np.sqrt(2), rel=0.02)
    assert s["head_yaw_speed_deg_s"] == pytest.approx(2.0 * 2 * np.pi * 0.5 * 2 / np.pi, rel=0.03)   # mean |d/dt|
    assert s["head_pitch_std_deg"] == 0.0


def test_a_head_fit_scales_about_the_mean_pose_and_its_smoothing_slows_the_head():
    rng = np.random.default_rng(0)
    head = (np.radians(7.0) + 0.02 * rng.standard_normal((150, 3))).astype(np.float32)   # a lowered head that jitters
    out = HeadFit(gain=(2.0, 1.0, 1.0), smooth_s=(0.0, 0.2, 0.0)).apply(head, 30.0)
    assert np.allclose(out.mean(axis=0), head.mean(axis=0), atol=1e-5)                   # the posture keeps its size
    assert out[:, 0].std() == pytest.approx(2.0 * head[:, 0].std(), rel=1e-4)
    assert np.abs(np.diff(out[:, 1])).mean() < 0.3 * np.abs(np.diff(head[:, 1])).mean()
    assert np.array_equal(out[:, 2], head[:, 2])
    with pytest.raises(ValueError):
        HeadFit(gain=(1.0, -1.0, 1.0))


def test_the_shipped_head_is_fitted_to_the_track_and_loads_with_its_fit():
    meta = json.loads((DEFAULT_CHECKPOINT / "head" / "config.json").read_text())
    fit = read_head_fit(DEFAULT_CHECKPOINT / "head")
    assert fit is not None and fit.to_dict() == {k: meta["real_fit"][k] for k in ("gain", "smooth_s")}
    got, target = meta["real_fit"]["fitted_on"]["product_stats"], meta["real_fit"]["fitted_on"]["target_stats"]
    for key in ("head_pitch_std_deg", "head_roll_std_deg", "head_roll_speed_deg_s"):
        assert 0.67 <= got[key] / target[key] <= 1.5, key
    assert HeadStage.load(DEFAULT_CHECKPOINT / "head").fit == fit


def test_a_head_fit_scales_while_talking_and_leaves_pauses_as_learned():
    rng = np.random.default_rng(1)
    head = (0.02 * rng.standard_normal((300, 3))).astype(np.float32)
    speech = np.zeros(300, np.float32)
    speech[150:] = 1.0                                              # a pause, then speech
    fit = HeadFit(gain=(3.0, 3.0, 3.0))
    out = fit.apply(head, 30.0, speech)
    centre = head.mean(axis=0)
    assert np.allclose(out[:100], head[:100], atol=1e-4)            # far from speech: as learned
    assert np.allclose(out[200:] - centre, 3.0 * (head[200:] - centre), atol=1e-4)
    assert np.allclose(fit.apply(head, 30.0), centre + 3.0 * (head - centre), atol=1e-5)   # no voice given: everywhere
