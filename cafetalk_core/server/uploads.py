"""Uploaded audio -> float32 16 kHz mono, checked at submit time so bad audio is a 4xx at once.

Decoding is ``cafetalk_core.audio.load_audio`` (the project's one loader). A duration check
from the file header comes first where soundfile can read it, so a too-long upload is refused
without decoding it.
"""
from __future__ import annotations

import io

import numpy as np

from ..audio.io import SAMPLE_RATE, AudioError, load_audio

MIN_AUDIO_S = 0.1


class UploadError(ValueError):
    """Audio that cannot be used: ``status`` (413/422) and the message for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"audio: {message}")
        self.status = status


def _header_duration(data: bytes) -> float | None:
    """Duration from the container header (soundfile), or None if soundfile cannot tell."""
    try:
        import soundfile as sf
        info = sf.info(io.BytesIO(data))
    except Exception:  # noqa: BLE001 - any failure just means 'decode to find out'
        return None
    if info.samplerate <= 0 or info.frames < 0:
        return None
    return info.frames / info.samplerate


def _load(data: bytes, name: str) -> np.ndarray:
    """``audio.load_audio`` (the project's one loader); its AudioError becomes a 422."""
    try:
        return np.asarray(load_audio(data, name=name), dtype=np.float32)
    except AudioError as exc:
        raise UploadError(422, str(exc)) from None


def decode_upload(data: bytes, max_audio_s: float, filename: str | None = None) -> tuple[np.ndarray, float]:
    """(samples, duration_s) of an uploaded file, or :class:`UploadError` naming the problem
    and the upload (its file name when the client sent one)."""
    name = f"the upload {filename!r}" if filename else "the upload"
    if not data:
        raise UploadError(422, f"{name} is empty")
    declared = _header_duration(data)
    if declared is not None and declared > max_audio_s:
        raise UploadError(413, f"{declared:.1f} s long; this server accepts at most {max_audio_s:g} s (--max-audio-s)")
    try:
        samples = _load(data, name)
    except UploadError:
        raise
    except (ValueError, RuntimeError, OSError) as exc:
        raise UploadError(422, f"{name}: cannot decode: {exc}") from None
    if samples.ndim != 1:
        samples = samples.reshape(-1)
    duration = samples.size / SAMPLE_RATE
    if duration > max_audio_s:
        raise UploadError(413, f"{duration:.1f} s long; this server accepts at most {max_audio_s:g} s (--max-audio-s)")
    if duration < MIN_AUDIO_S:
        raise UploadError(422, f"{duration:.3f} s long; at least {MIN_AUDIO_S} s of audio is needed")
    if not np.all(np.isfinite(samples)):
        raise UploadError(422, "contains NaN or infinite samples")
    return samples, duration
