"""Real captures (issue 24): the NeuroSync set, the capture loader, capture statistics, co-activation."""
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from cafetalk_core import rig
from cafetalk_core.controls.coactivation import coactivation, pattern_correlation
from cafetalk_core.controls.vocabulary import action_index
from cafetalk_core.data.captures import DATASET_DIR, assign_splits, load_capture_folder, load_neurosync, read_capture
from cafetalk_core.evaluation.capture_stats import (blink_events, capture_stats, fit_eye_angles, has_head,
                                                    saccades, take_stats)
from cafetalk_core.motion.blinks import blink_shape
from cafetalk_core.motion.eyes import MAX_PITCH, MAX_YAW, eye_rotations

J = rig.INDEX
CARD = json.loads((DATASET_DIR / "dataset.json").read_text())


def test_the_card_lists_ten_distinct_takes_with_provenance_and_byte_exact_files():
    assert CARD["distinct_takes"] == 10 and CARD["source_files"] == 16
    assert len(CARD["commit"]) == 40 and "NeuroSync_Player" in CARD["repository"] and "$1M" in CARD["license"]
    for t in CARD["takes"]:
        data = (DATASET_DIR / t["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == t["source_sha256"]     # the source, byte for byte
        assert all(p.startswith("livelink/animations/") for p in t["source_paths"])
    shas = [t["source_sha256"] for t in CARD["takes"]]
    assert len(set(shas)) == len(shas)                              # deduplicated by content


def test_ambiguous_labels_are_marked_and_each_group_of_three_holds_one_take_out():
    by_id = {t["id"]: t for t in CARD["takes"]}
    assert by_id["myslate_164"]["labels"] == ["angry", "disgust"] and by_id["myslate_164"]["ambiguous_label"]
    assert by_id["happy"]["labels"] == ["happy", "neutral", "surprise"]
    val = sorted(t["id"] for t in CARD["takes"] if t["split"] == "val")
    assert val == ["myslate_163", "myslate_166", "myslate_169"]
    assert by_id["happy"]["split"] == "train"                        # one take: nothing to hold out


def test_assign_splits_holds_out_the_last_take_of_groups_of_three_or_more():
    s = assign_splits({"a1": ("x",), "a2": ("x",), "a3": ("x",), "b1": ("y",), "b2": ("y",)})
    assert s == {"a1": "train", "a2": "train", "a3": "val", "b1": "train", "b2": "train"}


def test_a_converted_take_reads_at_60_fps_with_52_channels_and_no_head_motion():
    take = load_neurosync("val")[0]
    assert take.fps == 60.0 and take.values.shape[1] == rig.NUM_CHANNELS and take.values.shape[0] > 1800
    assert take.curves.rotations.shape[1] == 9
    assert not has_head(take.curves.rotations)                        # the NeuroSync takes captured no head
    assert np.abs(take.curves.rotations[:, 3:]).max() > 0.05          # but they did capture the eyes
    assert 0.0 <= take.values.min() and take.values.max() <= 1.0


def test_weights_above_one_are_clamped_and_counted(tmp_path: Path):
    header = ",".join(rig.LIVE_LINK_HEADER)
    row = ["00:00:00:00.000", "61"] + ["0.1"] * 52 + ["0.0"] * 9
    row2 = ["00:00:00:01.000", "61"] + ["0.1"] * 52 + ["0.0"] * 9
    row[2] = "1.0312"                                                 # EyeBlinkLeft overshoots, as real exports do
    text = "\n".join([header, ",".join(row), ",".join(row2)]) + "\n"
    (tmp_path / "take.csv").write_text(text)
    (tmp_path / "take.wav").write_bytes(b"")                          # audio beside it is picked up
    take = read_capture(tmp_path / "take.csv", fps=60)
    assert take.clamped == 1 and take.values[0, J["eyeBlinkLeft"]] == 1.0 and take.audio is not None
    assert [t.name for t in load_capture_folder(tmp_path)] == ["take"]
    with pytest.raises(FileNotFoundError):
        load_capture_folder(tmp_path / "missing")


def test_blink_events_measure_closing_and_opening_times():
    fps = 60.0
    v = np.zeros((120, rig.NUM_CHANNELS), np.float32)
    lid = blink_shape(120, fps, 0.5, 0.3, close_frac=0.25, plateau=1.0)
    v[:, J["eyeBlinkLeft"]] = v[:, J["eyeBlinkRight"]] = lid
    (e,) = blink_events(v, fps)
    assert e["opening_ms"] == pytest.approx(3 * e["closing_ms"], rel=0.25)   # 75 ms down, 225 ms up
    assert 130 < e["duration_ms"] < 170                                      # half the length past half shut


def test_saccades_find_jumps_not_drift():
    fps = 30.0
    g = np.zeros((90, 2))
    g[45:, 0] = 8.0                                                    # one 8 deg jump
    g[:, 1] = np.linspace(0, 3, 90)                                    # slow drift: no saccade
    amps = saccades(g, fps)
    assert len(amps) == 1 and amps[0] == pytest.approx(8.0, abs=0.3)


def test_the_eye_rule_matches_the_captured_eye_rotations():
    """The fitted angles (motion/eyes.py) reproduce Live Link's own eye rotations on a held-out take, up to
    the yaw sign: real files write a look to the subject's left as negative yaw, the project positive."""
    fit = fit_eye_angles(load_neurosync("train"))
    assert fit["max_yaw_deg"] < 0 and fit["yaw_corr"] < -0.9               # Live Link: looking out = negative yaw
    assert np.degrees(MAX_YAW) == pytest.approx(-fit["max_yaw_deg"], abs=0.2)
    assert np.degrees(MAX_PITCH) == pytest.approx(fit["max_pitch_deg"], abs=0.2)
    take = load_neurosync("val")[0]
    ours = eye_rotations(take.values)
    real = take.curves.rotations[:, 3:9]
    for k, sign in ((0, -1), (1, 1), (3, -1), (4, 1)):                 # yaw, pitch of both eyes
        assert np.corrcoef(ours[:, k], sign * real[:, k])[0, 1] > 0.9
        assert np.abs(ours[:, k] - sign * real[:, k]).mean() < np.radians(3.0)


def test_capture_statistics_are_those_of_people():
    s = capture_stats(load_neurosync("train"))
    assert 8 < s["blinks_per_min"] < 30 and s["opening_ms"] > s["closing_ms"]
    assert s["head_captured_takes"] == 0 and np.isnan(s["head_yaw_std_deg"])
    assert take_stats(np.zeros((60, 52)), None, 30.0)["head"] is None


def test_coactivation_finds_what_moves_with_an_action():
    rng = np.random.default_rng(0)
    n, fps = 600, 60.0
    v = np.zeros((n, rig.NUM_CHANNELS), np.float32)
    smile = (np.arange(n) % 200 > 120).astype(np.float32) * 0.6            # smiles on and off
    v[:, J["mouthSmileLeft"]] = v[:, J["mouthSmileRight"]] = smile + rng.uniform(0, 0.02, n)
    v[:, J["cheekSquintLeft"]] = 0.5 * smile
    v[:, J["browDownLeft"]] = rng.uniform(0, 0.05, n)                     # does not move with it
    pat, w = coactivation([(v, fps)])
    k = action_index("AU12")
    assert w[k] > 0
    assert pat[k, J["cheekSquintLeft"]] == pytest.approx(0.5 * 0.8, abs=0.03)   # per unit of the smile's activation
    assert abs(pat[k, J["browDownLeft"]]) < 0.02
    assert pattern_correlation(pat[k], pat[k]) == pytest.approx(1.0)


def test_learned_signatures_file_matches_the_captures():
    """weights/control_signatures.json is what training/signatures.py learns from datasets/neurosync."""
    from cafetalk_core.training.signatures import fit
    from cafetalk_core.motion.control_signature import SIGNATURES_FILE

    stored = json.loads(SIGNATURES_FILE.read_text())
    fresh = fit(load_neurosync("train"), load_neurosync("val"))
    assert stored["chosen"] == fresh["chosen"]
    assert np.allclose(np.array(stored["learned"]), np.array(fresh["learned"]), atol=1e-3)
    for a in stored["chosen"]:                                            # chosen: better on the held-out takes
        r = stored["per_action"][a]
        assert r["corr_learned"] > r["corr_hand"]


@pytest.mark.slow
def test_evaluate_captures_prints_the_product_next_to_the_held_out_captures():
    """cafetalk evaluate --motion-captures on a tiny random model with the signature stage: a smile's
    co-activation matches the real captures better with the learned table than with the hand one."""
    from cafetalk_core.evaluation.captures_report import format_captures, run_captures
    from cafetalk_core.evaluation.real_speech import load_real_speech, real_set_dir
    from cafetalk_core.model.control_branch import ControlBranch
    from cafetalk_core.pipeline import Generator

    g = Generator.random("tiny", seed=3, threads=None)
    g.model.cfg = g.cfg = g.cfg.replace(control_prior=True, control_adapter=False, blink_stage=True)
    g.model.control = ControlBranch(g.cfg)
    clips = load_real_speech(real_set_dir("val"))[:1]
    from cafetalk_core.data.head_pose import load_head_track

    from cafetalk_core.data import iphone_speech

    r = run_captures(g, clips, load_neurosync("val"), load_neurosync("train"), max_action_clips=1,
                     head_track=load_head_track("test"), more_head_tracks=[iphone_speech.load_head_track()])
    smile = r["actions"]["AU12"]
    assert smile["found_in_captures"] and smile["captures"]["corr"] > max(0.7, smile["hand"]["corr"])
    assert smile["captures"]["rise_inside"] > 0.2 and smile["captures"]["change_outside"] < 1e-3
    assert r["product"]["saccades_per_min"] > 10 and r["captures"]["saccades_per_min"] > 10
    text = format_captures(r)
    assert "blinks / min" in text and "no head motion" in text and "AU12" in text
    assert "real speaker's head track" in text and r["captures"]["head_roll_std_deg"] > 0.5   # the head's reference
    iphone = r["head_references"]["iphone_speech:neurosync_trainer_test"]
    assert 0.3 < iphone["head_yaw_std_deg"] < 5 and "head vs iphone_speech" in text   # a second real head, measured alike


@pytest.mark.parametrize("fps", [30.0, 60.0])
def test_blink_timing_is_not_quantised_to_frames(fps):
    """The same blink (closing 75 ms 0 -> 1, so 60 ms from 10% to 90%) measures alike at the
    product's 30 fps and the captures' 60 fps, averaged over where the blink falls between frames:
    crossings are interpolated (whole frames gave 33 or 67 ms at 30 fps)."""
    n = int(2 * fps)
    events = []
    for k in range(8):
        v = np.zeros((n, rig.NUM_CHANNELS), np.float32)
        lid = blink_shape(n, fps, 0.5 + k / (8 * fps), 0.3, close_frac=0.25, plateau=1.0)
        v[:, J["eyeBlinkLeft"]] = v[:, J["eyeBlinkRight"]] = lid
        events += blink_events(v, fps)
    mean = {k: np.mean([e[k] for e in events]) for k in ("closing_ms", "opening_ms", "half_width_ms")}
    assert mean["closing_ms"] == pytest.approx(60.0, rel=0.15)
    assert mean["opening_ms"] == pytest.approx(180.0, rel=0.15)
    assert mean["half_width_ms"] == pytest.approx(150.0, rel=0.15)
