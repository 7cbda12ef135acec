"""The "screen" blend the after-sampling stages layer curves with, and its inverse.

Why one place: the signature stage screens a control's level onto the sample, and the blink stage
must take that level back out of the lids (so its slow-lid filter neither caps nor spreads it) and
screen it on again; the pipeline's stages recover the level from the curves before and after.
``screen(a, b) = 1 - (1 - a)(1 - b)`` is symmetric, never below either input and equals ``b`` on a
neutral ``a = 0``; ``unscreen`` recovers either input from the result and the other.
"""
from __future__ import annotations

import numpy as np

#: ``unscreen`` divides by ``1 - known``: a known input at 1 would say nothing about the other.
KNOWN_MAX = 0.999


def screen(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``1 - (1 - a)(1 - b)`` elementwise (inputs in [0, 1])."""
    return 1.0 - (1.0 - a) * (1.0 - b)


def unscreen(out: np.ndarray, known: np.ndarray) -> np.ndarray:
    """The other input of ``screen(known, ?) = out``, in [0, 1] (``known`` capped at KNOWN_MAX)."""
    k = np.clip(known, 0.0, KNOWN_MAX)
    return np.clip((out - k) / (1.0 - k), 0.0, 1.0)
