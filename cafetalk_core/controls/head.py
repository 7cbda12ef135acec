"""Head motion as a control: the clip's amount, and time spans with another amount.

``head_motion`` scales the head stage's sampled yaw/pitch/roll (0 = still head, 1 = as learned,
up to MAX_HEAD_MOTION). A :class:`HeadSpan` sets another amount on its frames ("keep the head
still from 2 to 3 s"). It is a control rather than a sampling option because it is timed like
the others and travels in the same ControlSet JSON, but it never conditions the face model:
only the head stage's output is scaled (``pipeline.Generator._rotations``).

:func:`head_amount` is the per-frame curve. Outside every span it is the clip's amount exactly,
so a take with a span has the same head as one without, frame for frame, outside it. Inside, a
span's amount holds, later spans winning where spans overlap, and each change of amount ramps
linearly over HEAD_RAMP_S on the side of the span that wins the border, so the head never
pops (a span shorter than two ramps ramps over half its length at each end, so its middle
frame still reaches its amount); a span starting with the clip starts at its amount. Touching
or overlapping spans with the same amount make one stretch without a ramp between them (two
adjacent "still" strips keep the head still across their border).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Iterable

import numpy as np

from .errors import ControlError
from .fine import _number, checked_times, span_frames

MAX_HEAD_MOTION = 2.0
HEAD_RAMP_S = 0.25   # each change of amount at a span's border ramps over this long


@dataclass(frozen=True)
class HeadSpan:
    """Head-motion amount ``amount`` in [0, MAX_HEAD_MOTION] from ``start_s`` to ``end_s`` (seconds)."""

    start_s: float
    end_s: float
    amount: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_head_motion(amount: Any, field: str = "head_motion") -> float:
    """A head-motion amount validated: a finite number in [0, MAX_HEAD_MOTION], or ControlError naming ``field``."""
    try:
        value = float(amount)
    except (TypeError, ValueError):
        value = math.nan
    if isinstance(amount, bool) or not (math.isfinite(value) and 0.0 <= value <= MAX_HEAD_MOTION):
        raise ControlError(field, f"must be a number in [0, {MAX_HEAD_MOTION:g}] (0 = still head), got {amount!r}")
    return value


def head_span_from_dict(data: Any, field: str) -> HeadSpan:
    """``{"start_s", "end_s"[, "amount"]}`` -> HeadSpan (amount 0, a still head, when left out)."""
    if not isinstance(data, dict):
        raise ControlError(field, f"must be an object with start_s, end_s, amount; got {data!r}")
    unknown = set(data) - {"start_s", "end_s", "amount"}
    if unknown:
        raise ControlError(field, f"unknown keys {sorted(unknown)}; allowed: ['amount', 'end_s', 'start_s']")
    for key in ("start_s", "end_s"):
        if key not in data:
            raise ControlError(f"{field}.{key}", "is required")
    return HeadSpan(_number(data["start_s"], f"{field}.start_s"), _number(data["end_s"], f"{field}.end_s"),
                    _number(data.get("amount", 0.0), f"{field}.amount"))


def validate_head_spans(spans: Iterable[HeadSpan], duration_s: float | None = None) -> list[HeadSpan]:
    """Every span checked (ControlError naming ``head_spans[i].<field>``), ends clamped to the clip; order kept."""
    out = []
    for i, s in enumerate(spans):
        f = f"head_spans[{i}]"
        start, end = checked_times(s.start_s, s.end_s, duration_s, f)
        out.append(HeadSpan(start, end, check_head_motion(s.amount, f"{f}.amount")))
    return out


def head_amount(spans: Iterable[HeadSpan], num_frames: int, fps: float, base_amount: float) -> np.ndarray:
    """(frames,) float32 head-motion amount per frame (module docstring: base, spans, ramps)."""
    n = int(num_frames)
    step = np.full(n, base_amount, np.float32)   # the amounts with hard edges
    rank = np.full(n, -1, np.int64)              # which span sets each frame; -1: none (the clip's amount)
    for k, s in enumerate(spans):
        a, b = span_frames(s.start_s, s.end_s, fps, n)
        step[a:b], rank[a:b] = s.amount, k
    out = step.copy()
    ramp = int(round(HEAD_RAMP_S * fps))
    # runs of one amount, covered by spans or not (a ramp never leaves the spans); a change of
    # amount ramps inside the run whose frame at the border belongs to the later span (rank -1,
    # the clip's amount, is below every span)
    covered = rank >= 0
    cuts = np.flatnonzero((step[1:] != step[:-1]) | (covered[1:] != covered[:-1])) + 1
    starts, ends = np.r_[0, cuts], np.r_[cuts, n]
    for a, b in zip(starts, ends):
        left = a > 0 and step[a - 1] != step[a] and rank[a] > rank[a - 1]
        right = b < n and step[b] != step[a] and rank[b - 1] > rank[b]
        length = int(b - a)
        r = min(ramp, (length - 1) // 2 if left and right else length - 1)
        if r <= 0 or not (left or right):
            continue
        i = np.arange(a, b)
        d_left = i - a if left else np.full(length, n)
        d_right = b - 1 - i if right else np.full(length, n)
        other = np.where(d_left <= d_right, step[a - 1] if left else 0.0, step[b] if right else 0.0)
        w = np.minimum(1.0, (np.minimum(d_left, d_right) + 1) / (r + 1))
        out[a:b] = other + (step[a] - other) * w
    return out.astype(np.float32)
