"""Log-mel spectrogram and loudness, pooled to the motion frame rate.

Log-mel carries energy and prosody (how wide, how loud), the part of speech a phone
recogniser throws away. Both features are normalised per clip against the clip's own loud
frames (95th percentile), so absolute gain (a quiet microphone, a hot preamp) does not move
them; an absolute floor keeps digital silence at the bottom instead of normalising it up.
Frame ``i`` of the output is the motion frame at ``i / fps`` seconds, as in BlendshapeCurves.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .io import SAMPLE_RATE

N_MELS = 80
WIN = 400  # 25 ms at 16 kHz
HOP = 160  # 10 ms
N_FFT = 512
HOP_S = HOP / SAMPLE_RATE
POWER_FLOOR = 1e-10  # -100 dB re full scale
DB_RANGE = 60.0  # loudness is mapped from [-60 dB, 0 dB] re the clip's loud frames to [0, 1]
QUIET_REF_DB = -75.0  # a clip whose loud frames are below this is treated as silence


@lru_cache(maxsize=4)
def mel_filterbank(n_mels: int = N_MELS, n_fft: int = N_FFT, sr: int = SAMPLE_RATE,
                   fmin: float = 20.0, fmax: float = 7600.0) -> np.ndarray:
    """(n_mels, n_fft//2+1) triangular HTK-mel filters, area-normalised (Slaney style)."""
    def hz2mel(f):
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    def mel2hz(m):
        return 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)

    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    edges = mel2hz(np.linspace(hz2mel(fmin), hz2mel(fmax), n_mels + 2))
    fb = np.zeros((n_mels, len(freqs)), np.float32)
    for m in range(n_mels):
        lo, c, hi = edges[m], edges[m + 1], edges[m + 2]
        up = (freqs - lo) / (c - lo)
        down = (hi - freqs) / (hi - c)
        fb[m] = np.maximum(0.0, np.minimum(up, down)) * (2.0 / (hi - lo))
    return fb


def _frames(wav: np.ndarray) -> np.ndarray:
    """(T, WIN) centred analysis frames; frame j is centred at j * HOP samples."""
    wav = np.asarray(wav, np.float32)
    pad = WIN // 2
    x = np.pad(wav, (pad, pad), mode="constant")
    n = 1 + len(wav) // HOP
    need = (n - 1) * HOP + WIN
    if len(x) < need:
        x = np.pad(x, (0, need - len(x)))
    return np.lib.stride_tricks.sliding_window_view(x, WIN)[::HOP][:n]


def power_mel(wav: np.ndarray) -> np.ndarray:
    """(T, N_MELS) mel power at 100 frames/s (T = 1 + len // 160)."""
    frames = _frames(wav) * np.hanning(WIN).astype(np.float32)
    spec = np.abs(np.fft.rfft(frames, n=N_FFT, axis=1)) ** 2 / WIN
    return spec.astype(np.float32) @ mel_filterbank().T


def pool_to_frames(feat: np.ndarray, hop_s: float, num_frames: int, fps: float,
                   offset_s: float = 0.0) -> np.ndarray:
    """Average source frames (centred at ``offset_s + j * hop_s``) into motion frames (at ``i / fps``).

    Each motion frame averages the source frames within half a motion frame of its centre
    (a box filter, so no aliasing when the source is faster); where none fall inside (source
    slower than the motion rate), it takes the nearest source frame. Output has exactly
    ``num_frames`` rows, the last source frame repeated past the end of the audio.
    """
    feat = np.asarray(feat, np.float32)
    if feat.ndim == 1:
        feat = feat[:, None]
    if num_frames < 0 or fps <= 0:
        raise ValueError(f"num_frames must be >= 0 and fps > 0, got num_frames={num_frames}, fps={fps}")
    out = np.zeros((num_frames, feat.shape[1]), np.float32)
    if num_frames == 0 or len(feat) == 0:
        return out
    t = np.arange(num_frames) / fps - offset_s
    lo = np.clip(np.ceil((t - 0.5 / fps) / hop_s - 1e-9).astype(int), 0, len(feat))
    hi = np.clip(np.floor((t + 0.5 / fps) / hop_s - 1e-9).astype(int) + 1, 0, len(feat))
    csum = np.concatenate([np.zeros((1, feat.shape[1]), np.float64), np.cumsum(feat, axis=0, dtype=np.float64)])
    count = hi - lo
    ok = count > 0
    out[ok] = ((csum[hi[ok]] - csum[lo[ok]]) / count[ok, None]).astype(np.float32)
    nearest = np.clip(np.round(t / hop_s).astype(int), 0, len(feat) - 1)
    out[~ok] = feat[nearest[~ok]]
    return out


def _reference_db(frame_db: np.ndarray) -> float:
    """The clip's loud-frame level (95th percentile of frame dB), floored for silent clips."""
    if frame_db.size == 0:
        return 0.0
    ref = float(np.percentile(frame_db, 95))
    return ref if ref > QUIET_REF_DB else 0.0  # digital silence stays at the floor


def frame_rms(wav: np.ndarray) -> np.ndarray:
    """(T,) linear RMS of the 25 ms frames at 100 frames/s (frame j centred at j * 10 ms)."""
    return np.sqrt(np.mean(_frames(wav).astype(np.float64) ** 2, axis=1))


def frame_rms_db(wav: np.ndarray) -> np.ndarray:
    """(T,) RMS level in dB re full scale of the 25 ms frames at 100 frames/s."""
    ms = frame_rms(wav) ** 2
    return (10.0 * np.log10(np.maximum(ms, POWER_FLOOR))).astype(np.float32)


def loudness(wav: np.ndarray, num_frames: int, fps: float) -> np.ndarray:
    """(num_frames,) loudness in [0, 1]: 1 = the clip's loud frames, 0 = 60 dB below (or less)."""
    db = frame_rms_db(wav)
    rel = np.clip((db - _reference_db(db) + DB_RANGE) / DB_RANGE, 0.0, 1.0)
    return pool_to_frames(rel, HOP_S, num_frames, fps)[:, 0]


def log_mel(wav: np.ndarray, num_frames: int, fps: float, n_mels: int = N_MELS) -> np.ndarray:
    """(num_frames, n_mels) log-mel, gain-normalised per clip, roughly in [-1.5, 0.5].

    log10 power in dB re the clip's loud-frame level, clipped at -80 dB, divided by 40, so
    a 1 dB change anywhere is the same step and the loud frames sit near 0.
    """
    if n_mels != N_MELS:
        raise ValueError(f"n_mels must be {N_MELS} (the cached filterbank), got {n_mels}")
    mel = power_mel(wav)
    db = 10.0 * np.log10(np.maximum(mel, POWER_FLOOR))
    ref = _reference_db(10.0 * np.log10(np.maximum(mel.sum(axis=1), POWER_FLOOR)))
    db = np.maximum(db - ref, -80.0) / 40.0 + 0.5
    return pool_to_frames(db, HOP_S, num_frames, fps)
