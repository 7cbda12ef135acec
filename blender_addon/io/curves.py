"""Curves and controls as data: parsing, key reduction, action detection. No ``bpy`` here.

This is the add-on's counterpart of glTF-Blender-IO's ``io/`` layer: everything that can be
computed without Blender lives here, so it is tested on plain numpy (Blender ships numpy).
The add-on cannot import ``cafetalk_core``; the key reduction below is a deliberate copy of
the core's, pinned to it by a test.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import CafeTalkError
from .vocabulary import ACTIONS


@dataclass
class Curves:
    """Weights over time by ARKit name: ``values`` is (frames, len(names)); frame i at i / fps."""

    fps: float
    names: tuple[str, ...]
    values: np.ndarray
    #: (frames, 9) head/eye rotations in radians, Live Link's order (``capture_io.ROTATION_NAMES``); None = none.
    rotations: np.ndarray | None = None

    @property
    def num_frames(self) -> int:
        return int(self.values.shape[0])

    @property
    def duration_s(self) -> float:
        return self.num_frames / self.fps

    @classmethod
    def from_dict(cls, data: Any) -> "Curves":
        """Parse the server's ``cafetalk.curves`` JSON, or raise :class:`CafeTalkError` naming the field."""
        if not isinstance(data, dict) or data.get("format") != "cafetalk.curves":
            got = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise CafeTalkError(f"result: format must be 'cafetalk.curves', got {got!r}")
        try:
            fps = float(data["fps"])
            names = tuple(str(n) for n in data["names"])
            values = np.asarray(data["values"], dtype=np.float32)
        except (KeyError, TypeError, ValueError) as exc:
            raise CafeTalkError(f"result: malformed curves ({exc})") from None
        if values.size == 0:
            values = values.reshape(0, len(names))
        if values.ndim != 2 or values.shape[1] != len(names):
            raise CafeTalkError(f"result: values must be (frames, {len(names)}), got shape {values.shape}")
        if not fps > 0:
            raise CafeTalkError(f"result: fps must be positive, got {fps}")
        return cls(fps, names, values, _rotations(data, values.shape[0]))

    def to_dict(self) -> dict[str, Any]:
        out = {"format": "cafetalk.curves", "version": 1, "fps": self.fps, "names": list(self.names),
               "frames": self.num_frames, "values": np.round(self.values, 6).tolist()}
        if self.rotations is not None:
            out["rotation_names"] = list(ROTATION_NAMES)
            out["rotations"] = np.round(self.rotations.astype(np.float64), 7).tolist()
        return out

    def column(self, name: str) -> np.ndarray:
        low = [n.lower() for n in self.names]
        try:
            return self.values[:, low.index(name.lower())]
        except ValueError:
            raise CafeTalkError(f"curves have no channel {name!r}") from None


#: Live Link Face's 9 rotation columns (radians), the order of ``Curves.rotations`` (cafetalk_core.rig.ROTATION_NAMES).
ROTATION_NAMES: tuple[str, ...] = (
    "HeadYaw", "HeadPitch", "HeadRoll",
    "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
    "RightEyeYaw", "RightEyePitch", "RightEyeRoll",
)


def _rotations(data: dict, frames: int) -> np.ndarray | None:
    """The optional ``rotations`` rows, by ``rotation_names``, in :data:`ROTATION_NAMES` order."""
    if data.get("rotations") is None:
        return None
    names = [str(n) for n in data.get("rotation_names", ROTATION_NAMES)]
    try:
        rows = np.asarray(data["rotations"], dtype=np.float32).reshape(frames, len(names))
    except (TypeError, ValueError) as exc:
        raise CafeTalkError(f"result: rotations must be ({frames}, {len(names)}) ({exc})") from None
    out = np.zeros((frames, len(ROTATION_NAMES)), np.float32)
    for c, name in enumerate(names):
        if name not in ROTATION_NAMES:
            raise CafeTalkError(f"result: rotation_names lists {name!r}, not one of {', '.join(ROTATION_NAMES)}")
        out[:, ROTATION_NAMES.index(name)] = rows[:, c]
    if not np.isfinite(out).all():
        raise CafeTalkError("result: rotations hold NaN or infinity")
    return out


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
