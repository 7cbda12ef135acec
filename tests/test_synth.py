"""The synthetic corpus: exact phone timings, closed bilabials, emotion tables, valid CSV,
determinism and disjoint splits. Small clips only (a few seconds of speech each)."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from cafetalk_core import rig
from cafetalk_core.controls.coarse import EMOTIONS
from cafetalk_core.controls.vocabulary import ACTION_IDS
from cafetalk_core.data import corpus
from cafetalk_core.data.tts import SAMPLE_RATE, synthesize
from cafetalk_core.data.synth import EMOTION_TABLE, ClipSpec, make_clip
from cafetalk_core.visemes import aperture, phones_to_curves
from cafetalk_core.phones import ARPABET, BILABIALS, OPEN_VOWELS, Phone

TEXT = "Bob bought maple bread, and my mom made a pumpkin pie."
ENGINES = [("espeak", "en-us+m3"), ("espeak", "en-gb-x-rp+f2"), ("flite", "slt"), ("festival", "slt_hts")]


def _rms(audio, a, b):
    seg = audio[int(a * SAMPLE_RATE):int(b * SAMPLE_RATE)]
    return float(np.sqrt(np.mean(seg ** 2))) if len(seg) else 0.0


@pytest.mark.parametrize("engine,voice", ENGINES)
def test_phone_timings_match_audio(engine, voice):
    sp = synthesize(TEXT, engine, voice)
    assert all(p.phone in ARPABET for p in sp.phones)
    assert len(sp.raw) == len(sp.phones)
    # phones tile the audio
    assert sp.phones[0].start_s == 0.0
    assert abs(sp.phones[-1].end_s - sp.duration_s) < 0.01
    for a, b in zip(sp.phones, sp.phones[1:]):
        assert abs(a.end_s - b.start_s) < 1e-3
    spoken = [p for p in sp.phones if p.phone != "SIL"]
    assert len(spoken) > 25
    speech = np.median([_rms(sp.audio, p.start_s, p.end_s) for p in spoken])
    # silences: the leading/trailing silence stretches away from their edges
    sil = [p for p in sp.phones if p.phone == "SIL" and p.end_s - p.start_s > 0.1]
    assert sil, "engine reported no silence at all"
    quiet = max(_rms(sp.audio, p.start_s + 0.03, p.end_s - 0.03) for p in sil)
    assert speech > 10 * quiet, (speech, quiet)


def test_espeak_timings_shift_with_rate():
    slow = synthesize("The big brown dog barked.", "espeak", "en-us", rate=0.7)
    fast = synthesize("The big brown dog barked.", "espeak", "en-us", rate=1.4)
    assert slow.duration_s > 1.4 * fast.duration_s
    assert [p.phone for p in slow.phones if p.phone != "SIL"] == [p.phone for p in fast.phones if p.phone != "SIL"]


def _closure_ok(curves, phones, fps):
    ap = aperture(curves)
    open_ap = np.median([ap[min(len(ap) - 1, int(round(0.5 * (p.start_s + p.end_s) * fps)))]
                         for p in phones if p.phone in OPEN_VOWELS])
    bil = [ap[min(len(ap) - 1, int(round(0.5 * (p.start_s + p.end_s) * fps)))] for p in phones if p.phone in BILABIALS]
    return open_ap, bil


@pytest.mark.parametrize("fps", [25.0, 30.0, 60.0])
def test_bilabials_close_the_lips(fps):
    sp = synthesize(TEXT, "espeak", "en-us")
    n = int(round(sp.duration_s * fps))
    curves = phones_to_curves(sp.phones, n, fps, rng=np.random.default_rng(0))
    open_ap, bil = _closure_ok(curves, sp.phones, fps)
    assert open_ap > 0.1
    assert len(bil) >= 8
    assert max(bil) < 0.35 * open_ap
    assert np.all(curves[:, rig.INDEX["mouthClose"]] <= curves[:, rig.INDEX["jawOpen"]] + 1e-6)


def test_silence_is_rest_and_short_bilabial_between_frames_closes():
    phones = [Phone("SIL", 0, 1.0), Phone("AA", 1.0, 1.2), Phone("P", 1.2, 1.24), Phone("AA", 1.24, 1.45),
              Phone("SIL", 1.45, 3.0)]
    curves = phones_to_curves(phones, 90, 30.0)
    mouth = [rig.INDEX[n] for n in rig.LIP_SYNC_NAMES]
    assert np.abs(curves[:20][:, mouth]).max() < 0.01      # first 0.66 s: rest
    assert np.abs(curves[60:][:, mouth]).max() < 0.01      # from 2 s on: rest
    ap = aperture(curves)
    assert ap[37] < 0.35 * ap[33]                          # /p/ at 1.22 s, between frames 36 and 37


def test_every_emotion_changes_curves_as_its_table_says():
    base = make_clip(ClipSpec([TEXT], "espeak", "en-us", "x", emotion="neutral", seed=5), augment=False, fine_events=0)
    for emotion in EMOTIONS[1:]:
        c = make_clip(ClipSpec([TEXT], "espeak", "en-us", "x", emotion=emotion, intensity=1.0, seed=5),
                      augment=False, fine_events=0)
        n = min(len(c.curves), len(base.curves))
        late = slice(n // 3, n)  # after the onset ramp
        table = EMOTION_TABLE[emotion] or {"mouthSmileLeft": 0.5, "mouthSmileRight": 0.5}
        if emotion == "contempt":  # one side only
            left = c.curves[late, rig.INDEX["mouthSmileLeft"]].mean()
            right = c.curves[late, rig.INDEX["mouthSmileRight"]].mean()
            assert abs(left - right) > 0.2, (left, right)
            continue
        for name, w in table.items():
            if w < 0.3 or name.startswith(("jaw", "eyeLook")):
                continue
            gain = c.curves[late, rig.INDEX[name]].mean() - base.curves[late, rig.INDEX[name]].mean()
            assert gain > 0.4 * w, (emotion, name, gain)
        # lip sync survives the overlay
        open_ap, bil = _closure_ok(c.curves, c.phones, c.fps)
        assert max(bil) < 0.35 * open_ap, emotion


def test_emotion_overlay_varies_and_scales_with_intensity():
    def smile(intensity):
        c = make_clip(ClipSpec([TEXT], "espeak", "en-us", "x", emotion="happy", intensity=intensity, seed=2),
                      augment=False, fine_events=0)
        return c.curves[:, rig.INDEX["mouthSmileLeft"]]
    hi, lo = smile(1.0), smile(0.3)
    n = len(hi)
    assert hi[n // 3:].mean() > 2 * lo[n // 3:].mean()
    assert hi[0] < 0.5 * hi[n // 3:].mean()                 # onset, not a constant offset
    assert hi[n // 3:].std() > 0.01                         # slow variation


def test_fine_events_are_performed_with_known_truth():
    seen = set()
    for seed in range(12):
        c = make_clip(ClipSpec(["Hello there, how are you today?"], "flite", "kal16", "kal", seed=seed),
                      augment=False, fine_events=3)
        for e in c.events:
            seen.add(e.action)
            assert 0 <= e.start_s < e.end_s <= c.duration_s + 1e-3
            a, b = int(np.ceil(e.start_s * c.fps)), int(np.floor(e.end_s * c.fps))
            if b - a < 2:
                continue
            from cafetalk_core.controls.vocabulary import get_action
            ch = get_action(e.action).channels[0]
            assert c.curves[a:b, rig.INDEX[ch[0]]].max() > 0.3 * ch[1] * e.intensity, e
    assert "AU45" in seen and len(seen) >= 8, seen
    assert seen <= set(ACTION_IDS)


def test_augmentation_recorded_and_silence_has_room_tone():
    c = make_clip(ClipSpec([TEXT], "espeak", "en-us", "x", seed=11))
    for key in ("snr_db", "peak_dbfs", "lead_s", "trail_s", "articulation"):
        assert key in c.augment
    lead = c.audio[: int(0.08 * SAMPLE_RATE)]
    assert np.abs(lead).max() > 0                             # never digital zero
    assert np.abs(c.audio).max() <= 1.0


def _corpus(tmp_path, seed=0, hours=0.006):
    args = SimpleNamespace(out=str(tmp_path), hours=hours, seed=seed, workers=1, fps=30.0)
    assert corpus.cli_synth_data(args) == 0
    return json.loads((tmp_path / "manifest.json").read_text())


def test_corpus_files_valid_deterministic_and_resumable(tmp_path):
    m = _corpus(tmp_path / "a")
    assert m["clips"] >= 2 and m["duration_s"] >= 0.006 * 3600
    ids = sorted(p.stem for p in (tmp_path / "a").glob("*.json") if p.stem != "manifest")
    assert len(ids) == m["clips"]
    for cid in ids:
        meta = json.loads((tmp_path / "a" / f"{cid}.json").read_text())
        for key in ("id", "text", "sentence_id", "engine", "voice", "speaker", "rate", "pitch", "emotion",
                    "intensity", "fps", "duration_s", "split", "phones", "events", "augment"):
            assert key in meta, key
        take = rig.read_live_link_csv(tmp_path / "a" / f"{cid}.csv", fps=30.0, allow_missing=False)
        text = (tmp_path / "a" / f"{cid}.csv").read_text().splitlines()[0].split(",")
        assert tuple(text) == rig.LIVE_LINK_HEADER
        assert abs(take.weights.shape[0] / 30.0 - meta["duration_s"]) < 0.05
        assert take.weights.min() >= 0 and take.weights.max() <= 1
        import soundfile as sf
        info = sf.info(str(tmp_path / "a" / f"{cid}.wav"))
        assert info.samplerate == 16000 and info.channels == 1 and info.subtype == "PCM_16"
    # same seed -> same bytes
    m2 = _corpus(tmp_path / "b")
    assert m2["clips"] == m["clips"]
    for cid in ids:
        assert (tmp_path / "a" / f"{cid}.csv").read_bytes() == (tmp_path / "b" / f"{cid}.csv").read_bytes()
        assert (tmp_path / "a" / f"{cid}.wav").read_bytes() == (tmp_path / "b" / f"{cid}.wav").read_bytes()
    # resume: a finished clip is not rewritten
    first = tmp_path / "a" / f"{ids[0]}.wav"
    mtime = first.stat().st_mtime_ns
    _corpus(tmp_path / "a")
    assert first.stat().st_mtime_ns == mtime


def test_split_disjoint_by_voice_and_sentence():
    by_split = {s: (set(), set()) for s in corpus.SPLITS}
    for i in range(400):
        spec, split, ids = corpus.clip_spec(i, seed=7)
        by_split[split][0].add(spec.speaker)
        by_split[split][1].update(ids)
        for t in spec.texts:
            assert corpus.sentence_split(t) == split
    for a in corpus.SPLITS:
        for b in corpus.SPLITS:
            if a < b:
                assert not (by_split[a][0] & by_split[b][0]), (a, b)
                assert not (by_split[a][1] & by_split[b][1]), (a, b)
    assert by_split["test"][0] and by_split["val"][0]


def test_sentences_are_thousands_and_distinct():
    from cafetalk_core.data.sentences import load_sentences
    s = load_sentences()
    assert len(s) >= 5000 and len(set(s)) == len(s)
    assert len({x.split()[0] for x in s}) > 30  # not a handful of templates
