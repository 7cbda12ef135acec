"""Reading speech audio: any file soundfile reads (or bytes / an array) -> 16 kHz mono float32.

Every front end, the recogniser and the VAD assume 16 kHz mono, so resampling happens once,
here, with an exact polyphase ratio (``resample_poly``) so phone times never drift.
Errors are :class:`AudioError` (a ``ValueError``) naming what was wrong; the server turns
them into 4xx answers.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000


class AudioError(ValueError):
    """Audio that cannot be used: unreadable, empty, unsupported format, NaN/inf samples."""


def resample(audio: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """Polyphase resampling by the exact ratio ``target / rate`` (float32 out)."""
    audio = np.asarray(audio, np.float32)
    if int(rate) == int(target):
        return audio
    if rate <= 0:
        raise AudioError(f"sample_rate must be positive, got {rate}")
    from scipy.signal import resample_poly

    g = int(np.gcd(int(rate), int(target)))
    return resample_poly(audio, int(target) // g, int(rate) // g).astype(np.float32)


def _read(source: str | Path | bytes, name: str | None = None) -> tuple[np.ndarray, int]:
    """``(samples, rate)`` of a file or its bytes; ``name`` is what messages call it (default: the
    path, or "the given data"), never the repr of a stream."""
    import soundfile as sf

    is_bytes = isinstance(source, (bytes, bytearray, memoryview))
    name = name or ("the given data" if is_bytes else repr(str(source)))
    try:
        if is_bytes:
            if len(source) == 0:
                raise AudioError(f"{name}: empty (0 bytes)")
            data, rate = sf.read(io.BytesIO(bytes(source)), dtype="float32", always_2d=True)
        else:
            path = Path(source)
            if not path.exists():
                raise AudioError(f"audio file not found: {name}")
            if not path.is_file():
                raise AudioError(f"{name} is not a file")
            data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except AudioError:
        raise
    except Exception as exc:  # soundfile raises LibsndfileError / RuntimeError / TypeError
        why = getattr(exc, "error_string", None) or str(exc)   # libsndfile's reason without the stream's repr
        raise AudioError(f"{name} is not audio this reader can decode (wav, flac, ogg, ...): {why}") from exc
    return data, int(rate)


def load_audio(source: str | Path | bytes | np.ndarray, sample_rate: int | None = None,
               name: str | None = None) -> np.ndarray:
    """Speech as float32 mono at 16 kHz.

    ``source`` is a path, the bytes of a file (wav/flac/ogg/...), or an array. For an array,
    ``sample_rate`` is its rate (default 16000) and shape is (samples,) or (samples, channels);
    int16 arrays are scaled to [-1, 1]. Stereo is averaged to mono. All-zero audio is valid
    (silence); a missing or undecodable file, empty audio or NaN/inf samples raise :class:`AudioError`
    with one line naming ``name`` (default: the path; an upload's file name for bytes).
    """
    if isinstance(source, np.ndarray):
        data = source
        rate = SAMPLE_RATE if sample_rate is None else int(sample_rate)
        if data.dtype == np.int16:
            data = data.astype(np.float32) / 32768.0
        elif not np.issubdtype(data.dtype, np.floating) and not np.issubdtype(data.dtype, np.integer):
            raise AudioError(f"audio array dtype must be numeric, got {data.dtype}")
        data = np.asarray(data, np.float32)
        if data.ndim == 2:
            # (samples, channels) as soundfile returns; a (channels, samples) array with few rows is transposed
            if data.shape[0] <= 8 < data.shape[1]:
                data = data.T
        elif data.ndim != 1:
            raise AudioError(f"audio array must be 1-D or 2-D, got shape {data.shape}")
    else:
        data, rate = _read(source, name)
        if sample_rate is not None and int(sample_rate) != rate:
            raise AudioError(f"sample_rate={sample_rate} given but the file says {rate} Hz")
    if data.ndim == 2:
        data = data.mean(axis=1)
    if data.size == 0:
        raise AudioError("audio is empty (0 samples)")
    if not np.all(np.isfinite(data)):
        raise AudioError("audio contains NaN or infinite samples")
    if rate <= 0:
        raise AudioError(f"sample_rate must be positive, got {rate}")
    return np.ascontiguousarray(resample(data, rate))


def to_pcm16(audio: np.ndarray) -> np.ndarray:
    """float [-1, 1] -> int16 (clipped), what pocketsphinx consumes."""
    return (np.clip(np.asarray(audio, np.float32), -1.0, 1.0) * 32767.0).astype(np.int16)
