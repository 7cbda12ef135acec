"""Audio and phone-timing augmentation, pure numpy/scipy and seeded.

Why: the training audio is synthesised and clean, the users' audio is recorded in rooms,
through cheap microphones and codecs. Noise at an SNR, synthetic room reverberation, codec
damage, band limits, gain and speed perturbation make the model meet that at training time,
so room tone does not open the mouth. :func:`augment_audio` is the corpus writer's chain;
the single degradations (:func:`add_noise`, :func:`reverb`, :func:`band_limit`, ...) are the
evaluation's ``--degrade`` settings. The two impulse-response generators (:func:`reverb_ir`
for the corpus, :func:`room_impulse` for ``--degrade``) differ in their draws and are each
pinned by what was measured with them (the shipped corpus, the README's robustness rows). :func:`perturb_phones` does the same for the phone
features: true synthesiser timings are jittered and corrupted the way pocketsphinx's
phone-loop decoding errs on real speech (shifted boundaries, P/B and M/N and vowel
confusions, short phones lost or spurious ones inserted).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from scipy.signal import butter, fftconvolve, resample_poly, sosfilt

from ..phones import ARPABET, Phone, VOWELS
from .io import SAMPLE_RATE


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)) + 1e-20))


def _pink(n: int, rng: np.random.Generator) -> np.ndarray:
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spec), dtype=np.float64)
    f[0] = 1.0
    return np.fft.irfft(spec / np.sqrt(f), n=n)


def add_noise(wav: np.ndarray, snr_db: float, rng: np.random.Generator, kind: str = "white") -> np.ndarray:
    """Add ``kind`` noise ("white", "pink", "hum", "babble") at ``snr_db`` re the speech RMS."""
    wav = np.asarray(wav, np.float32)
    n = len(wav)
    if kind == "white":
        noise = rng.standard_normal(n)
    elif kind == "pink":
        noise = _pink(n, rng)
    elif kind == "hum":  # mains hum + harmonics + a little hiss
        t = np.arange(n) / SAMPLE_RATE
        f0 = rng.choice([50.0, 60.0])
        noise = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6.28)) / k for k in (1, 2, 3, 5))
        noise = noise + 0.1 * rng.standard_normal(n)
    elif kind == "babble":  # speech-shaped: pink noise, slowly amplitude-modulated
        env = np.interp(np.arange(n), np.linspace(0, n, max(2, n // 1600)), rng.uniform(0.3, 1.0, max(2, n // 1600)))
        noise = _pink(n, rng) * env
    else:
        raise ValueError(f"noise kind must be white/pink/hum/babble, got {kind!r}")
    noise = noise * (_rms(wav) / _rms(noise)) * 10.0 ** (-snr_db / 20.0)
    return (wav + noise).astype(np.float32)


def room_impulse(rng: np.random.Generator, rt60_s: float, sr: int = SAMPLE_RATE) -> np.ndarray:
    """A synthetic room impulse response: direct path, sparse early reflections, exponential tail."""
    n = max(16, int(rt60_s * sr))
    t = np.arange(n) / sr
    ir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60_s)  # -60 dB at rt60
    ir[: int(0.003 * sr)] = 0.0
    for _ in range(6):
        k = int(rng.uniform(0.003, 0.03) * sr)
        ir[k] += rng.uniform(-0.6, 0.6)
    ir[0] = 1.0
    return (ir / np.sqrt(np.sum(ir ** 2))).astype(np.float32)


def reverb(wav: np.ndarray, rng: np.random.Generator, rt60_s: float = 0.4, wet: float = 0.5) -> np.ndarray:
    """Convolve with :func:`room_impulse`; ``wet`` mixes reverberant and dry, RMS kept."""

    wav = np.asarray(wav, np.float32)
    y = fftconvolve(wav, room_impulse(rng, rt60_s))[: len(wav)]
    y = (1 - wet) * wav + wet * y * (_rms(wav) / _rms(y))
    return y.astype(np.float32)


def mu_law(wav: np.ndarray, bits: int = 8) -> np.ndarray:
    """Telephone-style companding: quantise in the mu-law domain to ``bits`` bits and back."""
    mu = 2 ** bits - 1
    x = np.clip(np.asarray(wav, np.float64), -1, 1)
    y = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    y = np.round((y + 1) / 2 * mu) / mu * 2 - 1
    return (np.sign(y) * ((1 + mu) ** np.abs(y) - 1) / mu).astype(np.float32)


def low_rate(wav: np.ndarray, rate: int = 8000) -> np.ndarray:
    """Down to ``rate`` and back up (loses everything above rate / 2, like narrowband codecs)."""

    g = int(np.gcd(rate, SAMPLE_RATE))
    down = resample_poly(np.asarray(wav, np.float32), rate // g, SAMPLE_RATE // g)
    return resample_poly(down, SAMPLE_RATE // g, rate // g)[: len(wav)].astype(np.float32)


def band_limit(wav: np.ndarray, low_hz: float = 300.0, high_hz: float = 3400.0) -> np.ndarray:
    """4th-order Butterworth band pass (a cheap microphone or a phone line)."""

    sos = butter(4, [low_hz, min(high_hz, SAMPLE_RATE / 2 - 100)], btype="band", fs=SAMPLE_RATE, output="sos")
    return sosfilt(sos, np.asarray(wav, np.float64)).astype(np.float32)


def gain(wav: np.ndarray, db: float) -> np.ndarray:
    """Scale by ``db`` decibels, clipped to [-1, 1] like a real converter."""
    return np.clip(np.asarray(wav, np.float32) * 10.0 ** (db / 20.0), -1.0, 1.0).astype(np.float32)


def speed_perturb(audio: np.ndarray, factor: float) -> tuple[np.ndarray, float]:
    """Play ``factor`` x faster (tempo and pitch, like Kaldi's speed perturbation).

    Returns the audio and the exact time scale (new time = old time x scale).
    """
    up = 200
    down = int(round(up * factor))
    if down == up:
        return audio, 1.0
    return resample_poly(audio, up, down).astype(np.float32), up / down


def room_tone(n: int, rng: np.random.Generator, level_db: float) -> np.ndarray:
    """Coloured noise (white/pink/brown) with an optional mains hum, at ``level_db`` dBFS RMS."""
    white = rng.standard_normal(n)
    colour = str(rng.choice(["white", "pink", "brown"]))
    if colour == "pink":
        spec = np.fft.rfft(white)
        f = np.arange(len(spec)) + 1.0
        x = np.fft.irfft(spec / np.sqrt(f), n)
    elif colour == "brown":
        x = np.cumsum(white)
        x -= np.convolve(x, np.ones(801) / 801, mode="same")  # keep it from drifting
    else:
        x = white
    if rng.random() < 0.2:
        x = x / (np.std(x) + 1e-9) + 0.5 * np.sin(2 * np.pi * rng.choice([50.0, 60.0]) * np.arange(n) / SAMPLE_RATE)
    x = x / (np.sqrt(np.mean(x ** 2)) + 1e-12)
    return (x * 10 ** (level_db / 20)).astype(np.float32)


def reverb_ir(rng: np.random.Generator, rt60: float) -> np.ndarray:
    """A synthetic room impulse response: direct path + sparse early reflections + a diffuse
    exponentially decaying tail (60 dB down after ``rt60`` s)."""
    n = int(rt60 * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    tail[: int(0.005 * SAMPLE_RATE)] = 0.0
    ir = 0.3 * tail / (np.abs(tail).max() + 1e-9)
    ir[0] = 1.0
    for _ in range(6):
        k = int(rng.uniform(0.003, 0.04) * SAMPLE_RATE)
        if k < n:
            ir[k] += rng.uniform(0.2, 0.6) * rng.choice([-1, 1])
    return (ir / np.sqrt(np.sum(ir ** 2))).astype(np.float32)


def augment_audio(audio: np.ndarray, rng: np.random.Generator, speech_rms: float) -> tuple[np.ndarray, dict]:
    """The training corpus's augmentation (``cafetalk synth-data``): reverb, band limit, room tone
    at a random SNR re ``speech_rms`` (the RMS inside the speech), loudness.

    Returns the audio and what was done (recorded in each clip's JSON). The draws from ``rng``
    are in a fixed order, so a corpus seed reproduces its audio bit for bit.
    """
    info: dict[str, Any] = {}
    x = audio.astype(np.float64)
    if rng.random() < 0.35:
        rt60 = float(rng.uniform(0.15, 0.8))
        wet = float(rng.uniform(0.2, 0.7))
        y = fftconvolve(x, reverb_ir(rng, rt60))[: len(x)]
        x = (1 - wet) * x + wet * y * (np.std(x) / (np.std(y) + 1e-12))
        info["reverb"] = {"rt60_s": round(rt60, 3), "wet": round(wet, 3)}
    r = rng.random()
    if r < 0.15:
        x = sosfilt(butter(6, [300, 3400], btype="band", fs=SAMPLE_RATE, output="sos"), x)
        info["band"] = "telephone_300_3400"
    elif r < 0.35:
        cut = float(rng.uniform(3500, 7500))
        x = sosfilt(butter(6, cut, btype="low", fs=SAMPLE_RATE, output="sos"), x)
        info["band"] = f"lowpass_{int(cut)}"
    # noise: always some room tone (so silence is never digital zero), often a lot
    speech_rms = max(speech_rms, 1e-4)
    if rng.random() < 0.75:
        snr = float(rng.uniform(5.0, 40.0))
    else:
        snr = float(rng.uniform(45.0, 70.0))
    level_db = 20 * np.log10(speech_rms) - snr
    x = x + room_tone(len(x), rng, level_db)
    info["snr_db"] = round(snr, 1)
    gain_db = float(rng.uniform(-30.0, -1.0))
    peak = np.abs(x).max() + 1e-9
    x = x / peak * 10 ** (gain_db / 20)
    info["peak_dbfs"] = round(gain_db, 1)
    return x.astype(np.float32), info


# ---------------------------------------------------------------------------------------------
# Phone perturbation: mimic the recogniser's errors on real speech
# ---------------------------------------------------------------------------------------------

#: Substitutions, calibrated on pocketsphinx phone-loop output against the aligned real-speech
#: set (evaluation/sets/real_speech): M heard as N/W/V/L/NG and N/NG heard as M; P put on T, F, S, Z,
#: HH; B lost to V/D/Z; plus voicing pairs and vowel-quality confusions.
CONFUSIONS: dict[str, tuple[str, ...]] = {
    "P": ("B", "T", "F", "S"), "B": ("P", "V", "D", "Z"), "M": ("N", "W", "V", "L", "NG"),
    "N": ("M", "NG"), "NG": ("N", "M"),
    "T": ("D", "K", "P"), "D": ("T", "G"), "K": ("G", "T"), "G": ("K", "D"),
    "F": ("V", "TH", "P"), "V": ("F", "DH", "B", "M"), "TH": ("F", "DH"), "DH": ("D", "TH"),
    "S": ("Z",), "Z": ("S", "P"), "SH": ("ZH", "CH"), "CH": ("JH", "SH"), "JH": ("CH", "ZH"),
    "AA": ("AH", "AO"), "AH": ("AA", "IH", "EH"), "AE": ("EH", "AH"), "EH": ("AE", "IH"),
    "IH": ("IY", "EH", "AH"), "IY": ("IH",), "UH": ("UW", "AH"), "UW": ("UH",), "AO": ("AA", "OW"),
    "OW": ("AO", "UW"), "ER": ("R", "AH"), "R": ("ER",), "L": ("W", "M"), "W": ("L", "UW", "M"),
    "EY": ("EH", "IY"), "AY": ("AA", "AE"), "AW": ("AA",), "OY": ("AO",), "Y": ("IY",), "HH": ("SIL", "P"),
}
_CONSONANTS = tuple(p for p in ARPABET if p != "SIL" and p not in VOWELS)


def perturb_phones(phones: Sequence[Phone], rng: np.random.Generator, jitter_s: tuple[float, float] = (0.015, 0.035),
                   p_substitute: float = 0.2, p_drop_short: float = 0.5, short_s: float = 0.035,
                   p_insert: float = 0.03, min_dur_s: float = 0.01) -> list[Phone]:
    """A plausibly mis-recognised copy of a true phone sequence (deterministic for a given ``rng``).

    Defaults are calibrated on the real-speech set so the perturbed phones err about as often
    as pocketsphinx's phone loop does there (docs/audio.md).

    1. substitute each phone with a confusable one with probability ``p_substitute``;
    2. move every inner boundary by N(0, sigma), sigma drawn once from ``jitter_s``, keeping
       each phone at least ``min_dur_s`` long and the first start / last end fixed;
    3. merge phones shorter than ``short_s`` into their left neighbour with ``p_drop_short``;
    4. insert a spurious short consonant inside a long vowel with ``p_insert``;
    5. join neighbours that became the same phone.
    """
    ps = [Phone(p.phone, float(p.start_s), float(p.end_s)) for p in sorted(phones, key=lambda q: q.start_s)]
    if not ps:
        return []
    # 1. substitutions
    out = []
    for p in ps:
        alts = CONFUSIONS.get(p.phone)
        if alts and rng.random() < p_substitute:
            p = Phone(str(alts[int(rng.integers(len(alts)))]), p.start_s, p.end_s)
        out.append(p)
    # 2. boundary jitter
    sigma = float(rng.uniform(*jitter_s))
    bounds = [out[0].start_s] + [p.end_s for p in out]
    for i in range(1, len(bounds) - 1):
        lo = bounds[i - 1] + min_dur_s
        hi = bounds[i + 1] - min_dur_s
        moved = bounds[i] + rng.normal(0.0, sigma)
        bounds[i] = float(np.clip(moved, lo, hi)) if hi > lo else bounds[i]
    out = [Phone(p.phone, bounds[i], max(bounds[i + 1], bounds[i])) for i, p in enumerate(out)]
    # 3. drop / merge very short phones
    merged: list[Phone] = []
    for p in out:
        if merged and p.end_s - p.start_s < short_s and rng.random() < p_drop_short:
            merged[-1] = Phone(merged[-1].phone, merged[-1].start_s, p.end_s)
        else:
            merged.append(p)
    # 4. spurious insertions
    inserted: list[Phone] = []
    for p in merged:
        dur = p.end_s - p.start_s
        if p.phone in VOWELS and dur > 0.12 and rng.random() < p_insert:
            mid = p.start_s + dur * float(rng.uniform(0.3, 0.7))
            half = float(rng.uniform(0.015, 0.03))
            c = str(_CONSONANTS[int(rng.integers(len(_CONSONANTS)))])
            inserted += [Phone(p.phone, p.start_s, mid - half), Phone(c, mid - half, mid + half),
                         Phone(p.phone, mid + half, p.end_s)]
        else:
            inserted.append(p)
    # 5. join equal neighbours
    final: list[Phone] = []
    for p in inserted:
        if final and final[-1].phone == p.phone:
            final[-1] = Phone(p.phone, final[-1].start_s, p.end_s)
        else:
            final.append(p)
    return final
