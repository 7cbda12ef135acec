"""Curves as the add-on holds them: JSON in and out, key reduction, span merging, action detection. No ``bpy``.

The JSON goes through the core's own ``BlendshapeCurves`` (``core_copy``, generated from the
core). :func:`reduce_keys` is the add-on's copy of the core's key reduction (evaluated a block
at a time so a long take writes fast), pinned to it by ``tests/test_addon_copies.py``;
:func:`detect_actions` is the add-on's own rule ("controls from take") over the action table
that :mod:`.vocabulary` makes from the core's.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .core_copy.curves import BlendshapeCurves
from .core_copy.rig import ROTATION_NAMES  # noqa: F401 (the add-on's name for Live Link's 9 rotation columns)
from .errors import CafeTalkError
from .vocabulary import ACTIONS


@dataclass
class Curves:
    """Weights over time by ARKit name: ``values`` is (frames, len(names)); frame i at i / fps."""

    fps: float
    names: tuple[str, ...]
    values: np.ndarray
    #: (frames, 9) head/eye rotations in radians, Live Link's order (:data:`ROTATION_NAMES`); None = none.
    rotations: np.ndarray | None = None

    @property
    def num_frames(self) -> int:
        return int(self.values.shape[0])

    @property
    def duration_s(self) -> float:
        return self.num_frames / self.fps

    @classmethod
    def from_core(cls, core: BlendshapeCurves) -> "Curves":
        """The core copy's ``BlendshapeCurves`` (what a take file reads as) as add-on curves."""
        return cls(float(core.fps), tuple(core.names), core.values, core.rotations)

    def to_core(self, start_s: float = 0.0) -> BlendshapeCurves:
        """These curves as the core copy's ``BlendshapeCurves`` (its JSON and file writers)."""
        return BlendshapeCurves(self.values, self.fps, self.names, self.rotations, start_s)

    @classmethod
    def from_dict(cls, data: Any) -> "Curves":
        """Parse the server's ``cafetalk.curves`` JSON with the core's own reader (the copy), or raise
        :class:`CafeTalkError` saying what was wrong."""
        try:
            return cls.from_core(BlendshapeCurves.from_dict(data))
        except (KeyError, TypeError, ValueError) as exc:
            raise CafeTalkError(f"result: not cafetalk.curves JSON ({exc})") from None

    def to_dict(self) -> dict[str, Any]:
        """The ``cafetalk.curves`` JSON the server reads (the core's writer, through the copy)."""
        return self.to_core().to_dict()

    def column(self, name: str) -> np.ndarray:
        low = [n.lower() for n in self.names]
        try:
            return self.values[:, low.index(name.lower())]
        except ValueError:
            raise CafeTalkError(f"curves have no channel {name!r}") from None


def keep_outside_span(result: Curves, source: Curves, start_s: float, end_s: float) -> Curves:
    """``result`` with every frame outside [start_s, end_s) taken from ``source`` bit for bit.

    The server inpaints only inside the span (its crossfade lies within the span's borders) but
    returns JSON with 6 decimals; a captured take keeps its exact values around the new span.
    """
    if result.fps != source.fps or result.num_frames != source.num_frames:
        return result   # another rate or length: nothing lines up frame for frame
    t = np.arange(result.num_frames) / result.fps
    outside = (t < start_s - 1e-9) | (t >= end_s - 1e-9)
    low = {n.lower(): i for i, n in enumerate(source.names)}
    values = result.values.copy()
    for c, name in enumerate(result.names):
        if name.lower() in low:
            values[outside, c] = source.values[outside, low[name.lower()]]
    rotations = result.rotations
    if rotations is not None and source.rotations is not None:
        rotations = rotations.copy()
        rotations[outside] = source.rotations[outside]
    return Curves(result.fps, result.names, values, rotations)


def reduce_keys(y: np.ndarray, tolerance: float) -> np.ndarray:
    """Indices of the keys whose linear interpolation stays within ``tolerance`` of ``y``.

    The add-on's copy of ``cafetalk_core.curves.reduce_channel_keys`` (the extension cannot
    import the core), pinned to it by ``tests/test_addon_copies.py``: the same keys for the
    same input. The algorithm: from a key, the segment grows one frame at a time while the
    straight line (``np.linspace``) to the candidate end stays within ``tolerance`` of every
    sample between; the first candidate that does not fit ends it. First and last frames are
    keys; ``tolerance <= 0`` keeps every frame. Only the evaluation differs: candidates are
    tested a block at a time (one 2-D numpy expression per block, bit-identical to
    ``linspace``), so long flat stretches do not cost a Python iteration per frame.
    """
    y = np.asarray(y, dtype=np.float64)
    n = len(y)
    if n <= 2 or tolerance <= 0:
        return np.arange(n)
    keys = [0]
    start = 0
    while start < n - 1:
        end = _segment_end(y, start, tolerance)
        keys.append(end)
        start = end
    return np.asarray(keys, dtype=np.int64)


def _segment_end(y: np.ndarray, start: int, tolerance: float) -> int:
    """The last frame ``end`` such that every segment ``start..c`` for ``c <= end`` fits.

    Candidates that surely fit are skipped first: the line's error at any sample is at most
    ``|y[k] - y[start]| + |y[c] - y[start]|``, so while twice the running maximum of
    ``|y - y[start]|`` (plus a rounding margin) is under the tolerance, the segment fits
    (flat stretches, the long ones, cost O(n)). From there candidates are tested exactly.
    """
    n = len(y)
    dev = np.abs(y[start:] - y[start])
    sure = 2.0 * np.maximum.accumulate(dev) * (1 + 1e-9) + 1e-9 * (1.0 + abs(y[start])) < tolerance
    first_unsure = start + (int(np.argmin(sure)) if not sure.all() else n - start)
    c0, block = max(start + 2, first_unsure), 8    # start + 1 always fits (a two-key segment is exact)
    while c0 < n:
        c1 = min(n, c0 + block)
        cands = np.arange(c0, c1)
        ks = np.arange(start, c1)
        steps = (y[cands] - y[start]) / (cands - start)                   # linspace's step
        lines = (ks - start)[None, :] * steps[:, None] + y[start]         # (cands, ks), as linspace
        err = np.abs(y[ks][None, :] - lines)
        err[ks[None, :] >= cands[:, None]] = 0.0                          # beyond each end; its end is exact
        bad = np.flatnonzero(err.max(axis=1) > tolerance)
        if len(bad):
            return int(cands[bad[0]]) - 1
        c0, block = c1, min(block * 2, 512)
    return n - 1


def detect_actions(curves: Curves, min_frames: int = 3,
                   actions: tuple = ACTIONS) -> list[dict[str, Any]]:
    """Fine controls found in a take: spans where an action's channels are on.

    An action is "on" on a frame where the mean of its channels divided by their weight
    exceeds its threshold (the rule of the paper's Algorithm 1 before its random
    augmentations). Intensity is the span's peak of that ratio, clipped to [0, 1].
    """
    out: list[dict[str, Any]] = []
    low = {n.lower(): i for i, n in enumerate(curves.names)}
    for aid, _label, channels, threshold in actions:
        cols = [(low[c.lower()], w) for c, w in channels if c.lower() in low]
        if not cols or curves.num_frames == 0:
            continue
        level = np.mean([curves.values[:, i] / w for i, w in cols], axis=0)
        on = level > threshold
        edges = np.flatnonzero(np.diff(np.concatenate([[0], on.astype(np.int8), [0]])))
        for a, b in zip(edges[::2], edges[1::2]):
            if b - a >= min_frames:
                out.append({"action": aid, "start_s": round(a / curves.fps, 4), "end_s": round(b / curves.fps, 4),
                            "intensity": round(float(np.clip(level[a:b].max(), 0.0, 1.0)), 3)})
    out.sort(key=lambda c: (c["start_s"], c["action"]))
    return out
