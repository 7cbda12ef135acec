"""The real-speech validation set: schema, enough bilabials, and no recording shared with the test set."""
from __future__ import annotations

import hashlib
import itertools
import json

import numpy as np
import pytest
import soundfile as sf

from cafetalk_core.phones import BILABIALS, PHONE_INDEX
from cafetalk_core.evaluation.real_speech import EVALSET_DIR, VALSET_DIR, load_real_speech

KEYS = {"id", "wav", "text", "speaker", "origin", "licence", "alignment", "duration_s", "f0_median_hz", "phones"}


@pytest.fixture(scope="module")
def manifest():
    return json.loads((VALSET_DIR / "clips.json").read_text())


def _pcm_sha1(path) -> str:
    data, rate = sf.read(str(path), dtype="int16")
    assert rate == 16000 and data.ndim == 1, path
    return hashlib.sha1(data.tobytes()).hexdigest()


def test_schema_and_audio_format(manifest):
    assert (VALSET_DIR / "SOURCES.md").is_file()
    assert len({e["id"] for e in manifest}) == len(manifest) >= 6
    for e in manifest:
        assert set(e) == KEYS, e["id"]
        assert all(isinstance(e[k], str) and e[k] for k in KEYS - {"duration_s", "f0_median_hz", "phones"})
        assert e["alignment"] in {"package-textgrid", "pocketsphinx-forced"}
        info = sf.info(str(VALSET_DIR / e["wav"]))
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert abs(info.frames / 16000 - e["duration_s"]) < 1e-3 and 2.0 <= e["duration_s"] <= 10.0
        assert 60 < e["f0_median_hz"] < 400
        phones = e["phones"]
        assert all(isinstance(p, str) and p in PHONE_INDEX and 0 <= s < t for p, s, t in phones), e["id"]
        assert phones[0][1] == 0 and abs(phones[-1][2] - e["duration_s"]) < 0.02  # the alignment covers the clip
        assert all(a[2] <= b[1] + 1e-6 for a, b in itertools.pairwise(phones))
        assert sum(p != "SIL" for p, _, _ in phones) >= 10


def test_loads_with_enough_bilabials_and_voices():
    clips = load_real_speech(VALSET_DIR)
    assert sum(p.phone in BILABIALS for c in clips for p in c.phones) >= 30
    assert len({c.speaker for c in clips}) >= 3
    for c in clips:
        assert c.wav.dtype == np.float32 and np.abs(c.wav).max() > 0.05


def test_disjoint_from_the_test_set(manifest):
    test = json.loads((EVALSET_DIR / "clips.json").read_text())
    test_hashes = {_pcm_sha1(EVALSET_DIR / e["wav"]) for e in test}
    val_hashes = [_pcm_sha1(VALSET_DIR / e["wav"]) for e in manifest]
    assert not test_hashes & set(val_hashes)
    assert len(set(val_hashes)) == len(val_hashes)
    assert not {e["id"] for e in test} & {e["id"] for e in manifest}


def test_small_enough_to_ship():
    assert sum(p.stat().st_size for p in VALSET_DIR.glob("*.wav")) < 5 * 1024 * 1024
