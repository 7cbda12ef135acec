"""Sampling any length with a fixed-length model: overlapping windows, crossfaded where they meet.

Shared by the face sampler (``pipeline.Generator``) and the head stage (``model/head.py``): a
window of ``length`` frames at a time, consecutive windows overlapping by at least ``overlap``
frames (the last window moved back to end at the clip's end, so every window is full length);
each new window is faded in over the overlap with a linear ramp.
"""
from __future__ import annotations

import numpy as np


def windows(n: int, length: int, overlap: int) -> list[tuple[int, int]]:
    """[start, end) windows of ``length`` covering n frames, consecutive ones overlapping >= ``overlap``."""
    if n <= length:
        return [(0, n)]
    overlap = min(overlap, length // 2)
    starts = [0]
    while starts[-1] + length < n:
        starts.append(min(starts[-1] + length - overlap, n - length))
    return [(s, s + length) for s in starts]


def crossfade_into(out: np.ndarray, window: np.ndarray, start: int, done_until: int) -> int:
    """Write ``window`` (frames ``start``.. of ``out``) in place, fading it in linearly over the
    frames before ``done_until`` that an earlier window already wrote; returns the new done_until."""
    end = start + len(window)
    ov = max(0, done_until - start)
    if ov:
        ramp = ((np.arange(ov) + 1) / (ov + 1)).astype(np.float32)[:, None]
        out[start:start + ov] = (1 - ramp) * out[start:start + ov] + ramp * window[:ov]
    out[start + ov:end] = window[ov:]
    return end
