"""The audio front end: loading, features on the motion frame grid, recogniser, VAD, Wav2Vec2, augmentation."""
from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from cafetalk_core.audio import (AudioError, LogMelFrontEnd, PhoneticMelFrontEnd, build_front_end, load_audio,
                                 perturb_phones, phone_features)
from cafetalk_core.audio import augment as aug
from cafetalk_core.audio.phonetic import PHONE_FEATURE_DIM, recognise_phones
from cafetalk_core.audio.vad import voice_activity
from cafetalk_core.phones import BILABIALS, PHONE_INDEX, Phone
from cafetalk_core.evaluation.real_speech import load_real_speech


@pytest.fixture(scope="module")
def real_clips():
    return {c.id: c for c in load_real_speech()}


# -- load_audio ---------------------------------------------------------------------------------

def test_load_audio_stereo_44k_file_becomes_mono_16k(tmp_path):
    t = np.arange(44100) / 44100
    left = 0.5 * np.sin(2 * np.pi * 1000 * t)
    path = tmp_path / "s.wav"
    sf.write(path, np.stack([left, left], axis=1), 44100)
    wav = load_audio(path)
    assert wav.dtype == np.float32 and wav.ndim == 1 and len(wav) == 16000
    spec = np.abs(np.fft.rfft(wav))
    assert abs(np.argmax(spec) * 16000 / len(wav) - 1000) < 2  # the tone survives resampling
    assert abs(np.sqrt(np.mean(wav[1000:-1000] ** 2)) - 0.5 / np.sqrt(2)) < 0.01


def test_load_audio_bytes_and_arrays():
    buf = io.BytesIO()
    sf.write(buf, np.zeros(8000, np.float32), 8000, format="WAV")
    assert len(load_audio(buf.getvalue())) == 16000  # 8 kHz bytes -> 16 kHz
    pcm = np.full(100, 16384, np.int16)
    assert np.allclose(load_audio(pcm), 0.5)
    assert np.all(load_audio(np.zeros(1600)) == 0)  # silence is valid


@pytest.mark.parametrize("bad, fragment", [
    (b"", "empty"), (b"not audio at all" * 10, "the given data is not audio this reader can decode"), (np.zeros(0), "empty"),
    (np.array([0.1, np.nan, 0.2]), "NaN"), (np.zeros((2, 2, 2)), "1-D or 2-D"), ("/no/such/file.wav", "not found"),
])
def test_load_audio_errors_name_the_problem(bad, fragment):
    with pytest.raises(AudioError, match=fragment) as info:
        load_audio(bad)
    assert issubclass(AudioError, ValueError) and "BytesIO" not in str(info.value)


# -- features on the frame grid ------------------------------------------------------------------

@pytest.mark.parametrize("fps", [25, 30])
def test_features_have_exact_frames_and_align_in_time(fps):
    sr = 16000
    wav = np.zeros(3 * sr, np.float32)
    rng = np.random.default_rng(0)
    wav[sr:sr + sr // 2] = 0.3 * rng.standard_normal(sr // 2)  # a burst at 1.0-1.5 s
    n = 3 * fps + 1  # one frame past the end must still come back
    phones = [Phone("SIL", 0, 1.0), Phone("M", 1.0, 1.2), Phone("AA", 1.2, 1.5), Phone("SIL", 1.5, 3.0)]
    fe = PhoneticMelFrontEnd()
    f = fe.features(wav, n, fps, phones=phones)
    assert f.shape == (n, fe.dim) and f.dtype == np.float32 and np.all(np.isfinite(f))
    loud = f[:, fe.slices["loudness"]][:, 0]
    inside = [i for i in range(n) if 1.05 <= i / fps <= 1.45]
    outside = [i for i in range(n) if i / fps <= 0.9 or i / fps >= 1.6]
    assert loud[inside].min() > 0.9 and loud[outside].max() < 0.05
    m = f[:, fe.slices["phones"]][:, PHONE_INDEX["M"]]
    assert m[int(round(1.1 * fps))] == pytest.approx(1.0)
    assert m[int(round(0.5 * fps))] == 0.0
    mel = LogMelFrontEnd().features(wav, n, fps)
    assert mel.shape == (n, 80) and mel[inside].mean() > mel[outside].mean() + 0.5


def test_log_mel_ignores_gain():
    rng = np.random.default_rng(1)
    wav = (0.1 * rng.standard_normal(16000)).astype(np.float32)
    a = LogMelFrontEnd().features(wav, 30, 30)
    b = LogMelFrontEnd().features(wav * 0.05, 30, 30)
    assert np.max(np.abs(a - b)) < 1e-3


def test_phone_features_bilabial_ramps():
    phones = [Phone("AA", 0.0, 0.5), Phone("P", 0.5, 0.6), Phone("AA", 0.6, 1.0)]
    f = phone_features(phones, 30, 30)
    assert f.shape == (30, PHONE_FEATURE_DIM)
    to_next, since = f[:, -4], f[:, -3]
    assert to_next[16] == 0.0 and since[16] == 0.0  # inside the P
    assert to_next[12] == pytest.approx((0.5 - 12 / 30) / 0.3, abs=1e-5)  # approaching it
    assert since[21] == pytest.approx((21 / 30 - 0.6) / 0.3, abs=1e-5)
    assert np.all(np.diff(to_next[6:15]) < 0) and np.all(to_next[:6] == 1.0)  # saturates 0.3 s ahead


def test_front_end_factory():
    assert build_front_end("phonetic-mel-v1").id == "phonetic-mel-v1"
    assert build_front_end(**LogMelFrontEnd().config()).id == "logmel-v1"
    fe = build_front_end(**PhoneticMelFrontEnd(recogniser="words").config())
    assert fe.id == "phonetic-mel-v1" and fe.recogniser == "words"
    with pytest.raises(ValueError, match="recogniser"):
        build_front_end("phonetic-mel-v1", recogniser="wfst")
    assert build_front_end("logmel-v1").dim == 80
    with pytest.raises(ValueError, match="front end must be one of"):
        build_front_end("mfcc")
    with pytest.raises(ValueError, match="model_path"):
        build_front_end("wav2vec2-v1")


def test_package_import_stays_light():
    code = "import sys, cafetalk_core.audio; assert 'torch' not in sys.modules and 'transformers' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# -- recogniser and VAD on real speech -----------------------------------------------------------

def test_recogniser_finds_bilabials_near_the_aligned_times(real_clips):
    clip = real_clips["librivox_0920"]  # 11 aligned bilabials
    rec = recognise_phones(clip.wav)
    assert rec[0].phone == "SIL" and all(a.end_s <= b.start_s + 1e-6 for a, b in zip(rec, rec[1:]))
    truth = [p for p in clip.phones if p.phone in BILABIALS]
    found = [p for p in rec if p.phone in BILABIALS]
    hits = sum(any(f.start_s - 0.06 <= (t.start_s + t.end_s) / 2 <= f.end_s + 0.06 for f in found) for t in truth)
    assert len(truth) >= 10 and hits / len(truth) >= 0.6


def test_recognise_cached_reuses_and_invalidates(real_clips, tmp_path, monkeypatch):
    from cafetalk_core.audio import phonetic

    wav = real_clips["ps_cards_002"].wav
    first = phonetic.recognise_cached(wav, tmp_path / "c.json")
    monkeypatch.setattr(phonetic, "recognise_phones", lambda *a, **k: [Phone("SIL", 0.0, 1.0)])
    assert phonetic.recognise_cached(wav, tmp_path / "c.json") == first  # read back, not recomputed
    assert phonetic.recognise_cached(wav[:8000], tmp_path / "c.json") == [Phone("SIL", 0.0, 1.0)]  # new audio


def test_alignment_survives_a_decoder_left_in_a_bad_state(real_clips):
    # measured: after aligning arctic_a0009, the reused align decoder failed on ps_goforward
    from cafetalk_core.audio import phonetic

    first, clip = real_clips["arctic_a0009"], real_clips["ps_goforward"]
    phonetic.align_transcript(first.wav, first.text)
    got = phonetic.align_transcript(clip.wav, clip.text)  # its truth is pocketsphinx's own alignment
    assert [(p.phone, p.start_s) for p in got] == [(p.phone, p.start_s) for p in clip.phones]


@pytest.mark.slow  # loads the 30 MB trigram LM (~5-9 s)
def test_word_mode_recovers_the_transcript_phones(real_clips):
    rec = recognise_phones(real_clips["ps_goforward"].wav, mode="words")  # "go forward ten meters"
    assert [p.phone for p in rec if p.phone != "SIL"] == "G OW F AO R W ER D T EH N M IY T ER Z".split()


def test_vad_high_on_speech_low_on_silence_and_noise(real_clips):
    clip = real_clips["librivox_0870"]
    fps = 30
    n = clip.num_frames(fps)
    v = voice_activity(clip.wav, n, fps)
    t = np.arange(n) / fps
    speech = np.zeros(n, bool)
    for p in clip.phones:
        if p.phone != "SIL":
            speech |= (t >= p.start_s + 0.05) & (t < p.end_s - 0.05)
    assert v[speech].mean() > 0.8
    assert v[t < 0.1].max() < 0.2  # the leading pause
    rng = np.random.default_rng(0)
    assert voice_activity(np.zeros(32000, np.float32), 60, fps).max() == 0.0
    assert voice_activity((0.05 * rng.standard_normal(32000)).astype(np.float32), 60, fps).mean() < 0.15
    hum = aug.add_noise(np.full(32000, 0.01, np.float32), 0.0, rng, "hum")
    assert voice_activity(hum, 60, fps).mean() < 0.15


def test_silero_backend_when_installed(real_clips):
    pytest.importorskip("silero_vad")
    pytest.importorskip("torch").set_num_threads(1)
    clip = real_clips["librivox_0930"]
    n = clip.num_frames(30)
    v = voice_activity(clip.wav, n, 30, backend="silero")
    web = voice_activity(clip.wav, n, 30)
    assert v.shape == (n,) and 0.0 <= v.min() and v.max() <= 1.0
    assert np.corrcoef(v, web)[0, 1] > 0.6  # two detectors, one answer
    assert voice_activity(np.zeros(16000, np.float32), 30, 30, backend="silero").max() < 0.2
    fe = build_front_end("phonetic-mel-v1", vad="silero")
    assert fe.config()["vad"] == "silero"
    with pytest.raises(ValueError, match="backend"):
        voice_activity(clip.wav, n, 30, backend="energy")


# -- Wav2Vec2 from a local folder ----------------------------------------------------------------

def test_wav2vec2_front_end_from_a_tiny_local_model(tmp_path):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cfg = transformers.Wav2Vec2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                                      conv_dim=(32, 32, 32, 32, 32, 32, 32), num_conv_pos_embeddings=16,
                                      num_conv_pos_embedding_groups=2)
    transformers.Wav2Vec2Model(cfg).save_pretrained(tmp_path)
    fe = build_front_end("wav2vec2-v1", model_path=tmp_path)
    assert fe.dim == 32 and not any(p.requires_grad for p in fe.model.parameters())
    wav = (0.1 * np.random.default_rng(0).standard_normal(16000 * 2)).astype(np.float32)
    for fps in (25, 30):
        f = fe.features(wav, 2 * fps, fps)
        assert f.shape == (2 * fps, 32) and np.all(np.isfinite(f)) and f.std() > 0
    assert fe.config()["model_path"] == str(tmp_path)
    with pytest.raises(FileNotFoundError, match="config.json"):
        build_front_end("wav2vec2-v1", model_path=tmp_path / "missing")


# -- augmentation --------------------------------------------------------------------------------

def _phones():
    seq = ["SIL", "HH", "AH", "L", "OW", "M", "AY", "B", "EY", "B", "IY", "SIL"]
    return [Phone(p, 0.08 * i, 0.08 * (i + 1)) for i, p in enumerate(seq)]


def test_perturb_phones_is_deterministic_and_well_formed():
    a = perturb_phones(_phones(), np.random.default_rng(7))
    b = perturb_phones(_phones(), np.random.default_rng(7))
    assert a == b
    runs = [perturb_phones(_phones(), np.random.default_rng(s), p_substitute=0.3) for s in range(20)]
    assert any(r != a for r in runs)
    for r in runs:
        assert r[0].start_s == 0.0 and r[-1].end_s == pytest.approx(0.96)
        assert all(p.end_s > p.start_s for p in r)
        assert all(x.end_s == pytest.approx(y.start_s) for x, y in zip(r, r[1:]))
    # boundaries really move (20-40 ms sigma), and substitutions stay among confusable phones
    moved = [abs(x.end_s - 0.08 * (i + 1)) for x, i in zip(runs[0], range(len(runs[0]) - 1))]
    assert max(moved) > 0.005
    subs = {p.phone for r in runs for p in r} - {p.phone for p in _phones()}
    assert subs and subs <= {q for alts in aug.CONFUSIONS.values() for q in alts} | set(aug._CONSONANTS)


def test_audio_augmentations_keep_length_and_snr():
    rng = np.random.default_rng(3)
    wav = (0.2 * np.sin(2 * np.pi * 220 * np.arange(16000) / 16000)).astype(np.float32)
    noisy = aug.add_noise(wav, 10.0, rng, "pink")
    snr = 10 * np.log10(np.mean(wav ** 2) / np.mean((noisy - wav) ** 2))
    assert abs(snr - 10.0) < 0.1
    for y in (aug.reverb(wav, rng), aug.mu_law(wav), aug.low_rate(wav), aug.band_limit(wav), aug.gain(wav, -20)):
        assert y.shape == wav.shape and y.dtype == np.float32 and np.all(np.isfinite(y))
    y, scale = aug.speed_perturb(wav, 1.1)
    assert abs(len(y) - len(wav) / 1.1) < 2 and scale == pytest.approx(1 / 1.1, rel=1e-2)
    y1, info1 = aug.augment_audio(wav, np.random.default_rng(5), speech_rms=0.14)
    y2, info2 = aug.augment_audio(wav, np.random.default_rng(5), speech_rms=0.14)
    assert np.array_equal(y1, y2) and info1 == info2 and np.max(np.abs(y1)) <= 1.0 and "snr_db" in info1
