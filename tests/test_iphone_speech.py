"""The English iPhone test take (datasets/iphone_speech): provenance, conversion, test-only use."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from cafetalk_core import rig
from cafetalk_core.audio.io import load_audio
from cafetalk_core.data import iphone_speech
from cafetalk_core.evaluation import captures

SHIPPED = iphone_speech.DATASET_DIR
TAKE = iphone_speech.TAKE


def card() -> dict:
    return json.loads((SHIPPED / "dataset.json").read_text())


def test_shipped_files_are_the_sources_byte_for_byte():
    files = card()["source"]["files"]
    assert hashlib.sha256((SHIPPED / f"{TAKE}.wav").read_bytes()).hexdigest() == files["wav"]["sha256"]
    assert hashlib.sha256((SHIPPED / f"{TAKE}.csv").read_bytes()).hexdigest() == files["csv"]["sha256"]
    assert len(card()["source"]["commit"]) == 40 and "MIT" in card()["licence"]


def test_it_is_a_real_english_speech_capture_and_a_test_take_only():
    (take,) = captures.load_captures(SHIPPED, "test")
    assert take.language == "en" and take.fps == 60.0 and abs(take.duration_s - 20.38) < 0.05
    jaw, close = take.values[:, rig.INDEX["jawOpen"]], take.values[:, rig.INDEX["mouthClose"]]
    assert jaw.std() > 0.05 and np.percentile(close, 95) < 0.08   # ARKit's corrective stays small while talking
    lag, r = iphone_speech.capture_delay_frames(take.wav, jaw, take.fps)
    assert 0 <= lag <= 3 and r > 0.3                                # the face follows the sound, a little late
    for split in ("train", "val"):
        with pytest.raises(ValueError, match="no split"):
            captures.load_captures(SHIPPED, split)
    from cafetalk_core.data.records import scan

    assert [(r.id, r.split, r.language) for r in scan(SHIPPED)] == [(TAKE, "test", "en")]   # training skips it
    assert SHIPPED.resolve() in [f.resolve() for f in captures.default_capture_dirs("test")]
    assert SHIPPED.resolve() not in [f.resolve() for f in captures.default_capture_dirs("val")]


def snapshot_from_shipped(tmp_path: Path, seconds_cut: float = 0.0) -> Path:
    """A plain checkout holding the pair at the source paths (optionally with the speech cut short)."""
    snap = tmp_path / "snap"
    wav_rel, csv_rel = iphone_speech.FILES["wav"], iphone_speech.FILES["csv"]
    (snap / wav_rel).parent.mkdir(parents=True)
    shutil.copy(SHIPPED / f"{TAKE}.csv", snap / csv_rel)
    if seconds_cut:
        import soundfile as sf

        wav = load_audio(SHIPPED / f"{TAKE}.wav")
        sf.write(snap / wav_rel, wav[: len(wav) - int(seconds_cut * 16000)], 16000)
    else:
        shutil.copy(SHIPPED / f"{TAKE}.wav", snap / wav_rel)
    return snap


def test_convert_rebuilds_the_card_and_refuses_a_pair_of_different_lengths(tmp_path):
    out = tmp_path / "out"
    built = iphone_speech.convert(snapshot_from_shipped(tmp_path), out)
    shipped = card()
    assert built["source"]["files"] == shipped["source"]["files"] and built["takes"] == shipped["takes"]
    assert built["source"]["commit"] is None          # a plain checkout has no commit to record
    assert (out / f"{TAKE}.wav").read_bytes() == (SHIPPED / f"{TAKE}.wav").read_bytes()
    with pytest.raises(iphone_speech.IphoneSpeechError, match="curves last"):
        iphone_speech.convert(snapshot_from_shipped(tmp_path / "short", seconds_cut=1.0), tmp_path / "bad")
    assert not (tmp_path / "bad" / f"{TAKE}.csv").exists()


def test_capture_delay_finds_a_known_shift():
    rng = np.random.default_rng(0)
    wav = np.concatenate([rng.normal(0, 0.3, 8000) * (k % 2) for k in range(12)]).astype(np.float32)
    from cafetalk_core.audio.mel import loudness

    env = loudness(wav, 180, 30.0)
    jaw = np.concatenate([np.zeros(2), env[:-2]])     # the face 2 frames behind the sound
    assert iphone_speech.capture_delay_frames(wav, jaw, 30.0)[0] == 2


def test_the_take_holds_a_real_head_while_speaking():
    track = iphone_speech.load_head_track()
    deg = np.degrees(track.rotations)
    assert track.fps == 60.0 and deg.shape == (1220, 3)
    assert 0.3 < deg.std(axis=0).min() and deg.std(axis=0).max() < 10   # a head that moves a little, as a talker's
