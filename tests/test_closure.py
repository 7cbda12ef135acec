"""The closure stage: its detector's checkpoint, its training command (cached, resumable features)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cafetalk_core.model.closure import ClosureDetector, load_closure, save_closure
from cafetalk_core.phones import Phone
from cafetalk_core.training.closure import average_precision, bilabial_labels

ROOT = Path(__file__).resolve().parents[1]


def test_closure_detector_round_trips_and_refuses_other_features(tmp_path):
    import torch

    torch.manual_seed(0)
    det = ClosureDetector(12, width=8, front_end="test-fe")
    det.set_feature_stats(np.full(12, 0.5), np.full(12, 2.0))
    feats = np.random.default_rng(0).normal(size=(40, 12)).astype(np.float32)
    p = det.probability(feats)
    assert p.shape == (40,) and np.all((p >= 0) & (p <= 1))
    back = load_closure(save_closure(tmp_path / "closure", det, {"note": "test"}))
    assert back.front_end == "test-fe"
    np.testing.assert_array_equal(back.probability(feats), p)
    with pytest.raises(ValueError, match=r"\(frames, 12\)"):
        det.probability(feats[:, :5])


def test_bilabial_labels_cover_each_p_b_m_at_least_one_frame():
    phones = [Phone("AA", 0.0, 0.2), Phone("B", 0.2, 0.21), Phone("AA", 0.21, 0.5), Phone("M", 0.5, 0.6)]
    lab = bilabial_labels(phones, 30, 30.0)
    assert lab[6] == 1 and lab.sum() == 1 + 4         # a 10 ms /b/ still marks its frame; /m/ 0.5-0.6 s: frames 15-18
    assert np.flatnonzero(lab).tolist() == [6, 15, 16, 17, 18]


def test_average_precision_orders_a_perfect_and_a_reversed_detector():
    label = np.array([0, 0, 1, 1, 0], np.float32)
    assert average_precision(np.array([0.1, 0.2, 0.9, 0.8, 0.3]), label) == 1.0
    assert average_precision(np.array([0.9, 0.8, 0.1, 0.2, 0.7]), label) < 0.5


def test_train_closure_command_caches_features_and_writes_a_loadable_detector(tmp_path):
    data, out = tmp_path / "corpus", tmp_path / "run"
    subprocess.run([sys.executable, "-m", "cafetalk_core.cli", "synth-data", "--out", str(data), "--hours", "0.02",
                    "--seed", "3", "--workers", "1"], check=True, capture_output=True, cwd=ROOT)
    cmd = [sys.executable, "-m", "cafetalk_core.cli", "train-closure", "--data", str(data), "--out", str(out),
           "--steps", "20", "--eval-every", "10", "--batch-size", "4", "--frames", "60", "--width", "8", "--threads", "1"]
    run = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    assert "step 20" in run.stdout
    cached = list((data / ".closure").glob("*/*.npz"))
    assert cached and all(np.load(f)["feats"].shape[1] == 194 for f in cached)
    det = load_closure(out / "best")
    assert det.front_end == "phonetic-viseme-mel-v1" and det.width == 8
    assert not det.phones_optional and det.phone_free_threshold is None
    stamp = {f: f.stat().st_mtime_ns for f in cached}
    # a second run reads the cache; with --p-drop-phones the detector is scored both ways and says it can go phone-free
    free = subprocess.run(cmd + ["--out", str(tmp_path / "free"), "--p-drop-phones", "0.5"], check=True,
                          capture_output=True, text=True, cwd=ROOT)
    assert {f: f.stat().st_mtime_ns for f in cached} == stamp
    assert "phone-free" in free.stdout
    det = load_closure(tmp_path / "free" / "best")
    assert det.phones_optional and det.phone_free_threshold is None
    log = [json.loads(line) for line in (tmp_path / "free" / "log.jsonl").read_text().splitlines()]
    assert all(0 <= r["val_ap_phone_free"] <= 1 and r["val_ap"] == pytest.approx(0.5 * (r["val_ap_phones"] + r["val_ap_phone_free"]))
               for r in log)


def test_a_phone_free_threshold_needs_a_detector_trained_without_phones(tmp_path):
    with pytest.raises(ValueError, match="phone_free_threshold"):
        ClosureDetector(12, width=8, front_end="fe", phones_optional=False, phone_free_threshold=0.6)
    det = ClosureDetector(12, width=8, front_end="fe", phones_optional=True, phone_free_threshold=0.6)
    back = load_closure(save_closure(tmp_path / "c", det))
    assert back.phones_optional and back.phone_free_threshold == 0.6


def test_threshold_choice_counts_false_closures_and_respects_the_seal_limit():
    from cafetalk_core.evaluation.closure_threshold import choose, parse_setting, setting_name

    def r(closed: int, false: int, seal: float) -> dict:
        return {"closed": closed, "vowels_closed": false, "vowel_seal_rate": seal}

    results = {"off": r(10, 2, 0.03), "0.5": r(40, 30, 0.12), "0.7": r(30, 6, 0.08), "0.9": r(24, 3, 0.05)}
    assert choose(results) == "0.7"                       # 0.5 closes more but seals too many vowels
    assert choose({"off": r(10, 2, 0.03), "0.9": r(11, 4, 0.05)}) == "off"     # no better than leaving it off
    assert choose({"off": r(10, 2, 0.03), "0.8": r(20, 4, 0.05), "0.9": r(20, 4, 0.05)}) == "0.9"   # tie: fewer closures
    # the loudness gate: a tie goes to the higher threshold, then the larger dip (ungated closes most)
    gated = {"off": r(28, 17, 0.05), "0.8": r(30, 21, 0.08), "0.8@10dB": r(30, 18, 0.06), "0.8@6dB": r(30, 18, 0.07),
             "0.5@15dB": r(29, 17, 0.05)}
    assert choose(gated) == "0.8@10dB"
    assert parse_setting("0.8@10dB") == (0.8, 10.0) and parse_setting("0.9") == (0.9, None) and parse_setting("off") == (None, None)
    assert all(setting_name(*parse_setting(k)) == k for k in gated)


def test_rule_4_settings_round_trip_per_input_and_bad_ones_are_refused(tmp_path):
    det = ClosureDetector(12, width=8, front_end="fe", threshold=0.8, dip_db=10.0)
    back = load_closure(save_closure(tmp_path / "c", det))
    assert back.rule4(phone_free=False) == (0.8, 10.0) and back.rule4(phone_free=True) == (None, None)
    with pytest.raises(ValueError, match="threshold"):
        ClosureDetector(12, threshold=1.5)
    with pytest.raises(ValueError, match="dip_db"):
        ClosureDetector(12, dip_db=-3.0)


def test_the_threshold_sweep_scores_each_setting_and_records_the_choice(tmp_path):
    """evaluation/closure_threshold.py end to end at toy scale: a tiny model that runs phone-free, a
    detector trained for phone-free input (random weights), one Spanish validation sentence."""
    import torch

    from cafetalk_core.evaluation.closure_threshold import choose, record, sweep
    from cafetalk_core.pipeline import Generator

    gen = Generator.random("tiny", seed=0, front_end="phonetic-viseme-mel-v1", threads=1)
    gen.cfg.phones_optional = True
    gen.cfg.finish_motion = True
    torch.manual_seed(0)
    gen.closure = ClosureDetector(gen.front_end.dim, width=8, front_end=gen.front_end.id)
    with pytest.raises(ValueError, match="p-drop-phones"):
        sweep(gen, ["es"], (0.5,), max_clips=1)                 # a detector that reads phones cannot be swept
    gen.closure = ClosureDetector(gen.front_end.dim, width=8, front_end=gen.front_end.id, phones_optional=True)
    report = sweep(gen, ["es"], (0.5, 0.9), max_clips=1)
    assert report["clips"] == 1 and set(report["results"]) == {"off", "0.5", "0.9"}
    for r in report["results"].values():
        assert r["bilabials"] > 0 and 0.0 <= r["vowel_seal_rate"] <= 1.0
    best = choose(report["results"])
    save_closure(tmp_path / "closure", gen.closure)
    chosen = record(tmp_path, report, best)
    meta = json.loads((tmp_path / "closure" / "config.json").read_text())
    assert (meta["phone_free_threshold"], meta["phone_free_dip_db"]) == chosen == (None if best == "off" else float(best), None)
    assert meta["train"]["phone_free_threshold_chosen_on"]["set"] == "multilingual val"
    assert load_closure(tmp_path / "closure").phone_free_threshold == chosen[0]
    # input with phones: the English real-speech validation set, the loudness gate swept too
    report = sweep(gen, None, (0.5,), max_clips=1, phone_free=False, dips=(None, 10.0))
    assert report["set"] == "real speech val" and set(report["results"]) == {"off", "0.5", "0.5@10dB"}
    thr, dip = record(tmp_path, report, "0.5@10dB")
    meta = json.loads((tmp_path / "closure" / "config.json").read_text())
    assert (meta["threshold"], meta["dip_db"]) == (thr, dip) == (0.5, 10.0)
    assert meta["phone_free_threshold"] == chosen[0]                      # the other input's choice is kept
    assert meta["train"]["threshold_chosen_on"]["setting"] == "0.5@10dB"


def test_the_pipeline_hands_rule_4_its_recorded_threshold_dip_and_the_loudness(monkeypatch):
    """English input gets the detector's ``threshold``/``dip_db`` and the front end's loudness column;
    phone-free input its ``phone_free_*`` pair (here none: rule 4 off)."""
    import torch

    import cafetalk_core.pipeline as pipeline
    from cafetalk_core.pipeline import Generator

    gen = Generator.random("tiny", seed=0, front_end="phonetic-viseme-mel-v1", threads=1)
    gen.cfg.phones_optional = True
    gen.cfg.finish_motion = True
    torch.manual_seed(0)
    gen.closure = ClosureDetector(gen.front_end.dim, width=8, front_end=gen.front_end.id, phones_optional=True,
                                  threshold=0.8, dip_db=10.0)
    seen = []
    real = pipeline.after_sampling
    monkeypatch.setattr(pipeline, "after_sampling", lambda *a, **k: seen.append(k) or real(*a, **k))
    wav = 0.1 * np.sin(2 * np.pi * 180 * np.arange(16000) / 16000).astype(np.float32)
    gen.generate(wav, seed=0)
    gen.generate(wav, seed=0, language="es")
    english, spanish = seen
    assert (english["closure_threshold"], english["closure_dip_db"]) == (0.8, 10.0)
    assert english["loudness"].shape == (english["speech"].shape[0],) and 0 <= english["loudness"].min() <= 1
    assert spanish["closure_threshold"] is None and spanish["loudness"] is None
