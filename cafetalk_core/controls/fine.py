"""Fine-grained controls: time-spanned AU-like actions (the paper's stage-2 condition).

Overlap policy (documented in the README): two spans of the *same* action that overlap or
touch are merged into one span covering both, with the larger intensity. Different actions
may overlap freely (a smile during a brow raise).

End policy: a span that reaches past the end of the clip is clamped to the clip (Blender
rounds a sound strip up to whole frames, so a strip that ends with the clip often ends up to
a frame after it); a span that *starts* at or after the end is refused.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Iterable

import numpy as np

from .errors import ControlError
from .vocabulary import ACTION_IDS, NUM_ACTIONS, action_index, get_action


@dataclass(frozen=True)
class FineControl:
    """Action ``action`` from ``start_s`` to ``end_s`` (seconds) at ``intensity`` in [0, 1]."""

    action: str
    start_s: float
    end_s: float
    intensity: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ControlError(field, f"must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ControlError(field, f"must be finite, got {value!r}")
    return float(value)


def fine_from_dict(data: Any, field: str = "fine") -> FineControl:
    if not isinstance(data, dict):
        raise ControlError(field, f"must be an object with action, start_s, end_s, intensity; got {data!r}")
    unknown = set(data) - {"action", "start_s", "end_s", "intensity", "phrase"}
    if unknown:
        raise ControlError(field, f"unknown keys {sorted(unknown)}")
    for key in ("action", "start_s", "end_s"):
        if key not in data:
            raise ControlError(f"{field}.{key}", "is required")
    if not isinstance(data["action"], str):
        raise ControlError(f"{field}.action", f"must be a string, got {data['action']!r}")
    return FineControl(
        action=data["action"],
        start_s=_number(data["start_s"], f"{field}.start_s"),
        end_s=_number(data["end_s"], f"{field}.end_s"),
        intensity=_number(data.get("intensity", 1.0), f"{field}.intensity"),
    )


def checked_times(start_s: Any, end_s: Any, duration_s: float | None, field: str) -> tuple[float, float]:
    """(start, end) of one time span, checked; the time half of :func:`checked_span`.

    ControlError naming ``{field}.start_s`` / ``.end_s``: not a finite number, a negative start,
    an end not after the start, a start at or past the end of the clip. An end past the clip is
    clamped to it (module docstring).
    """
    start, end = _number(start_s, f"{field}.start_s"), _number(end_s, f"{field}.end_s")
    if start < 0:
        raise ControlError(f"{field}.start_s", f"must be >= 0, got {start}")
    if end <= start:
        raise ControlError(f"{field}.end_s", f"must be after start_s ({start}), got {end}")
    if duration_s is not None:
        if start >= duration_s:
            raise ControlError(f"{field}.start_s", f"{start} s is at or past the end of the clip ({duration_s:.3f} s)")
        end = min(end, duration_s)
    return start, end


def checked_span(start_s: Any, end_s: Any, intensity: Any, duration_s: float | None,
                 field: str) -> tuple[float, float, float]:
    """(start, end, intensity) of one time span (a fine control or an emotion span), checked.

    :func:`checked_times`, and ControlError naming ``{field}.intensity`` for a value that is not
    a finite number in [0, 1].
    """
    start, end = checked_times(start_s, end_s, duration_s, field)
    inten = _number(intensity, f"{field}.intensity")
    if not 0.0 <= inten <= 1.0:
        raise ControlError(f"{field}.intensity", f"must be in [0, 1], got {inten}")
    return start, end, inten


def validate_fine(controls: Iterable[FineControl], duration_s: float | None = None) -> list[FineControl]:
    """Check every control and return them canonical (action ids) and merged per action.

    Raises :class:`ControlError` naming ``fine[i].<field>`` for: unknown action, negative
    start, end not after start, a start at or past the end of the clip (``duration_s``),
    intensity outside [0, 1]. An end past the clip is clamped to it.
    """
    checked: list[FineControl] = []
    for i, c in enumerate(controls):
        f = f"fine[{i}]"
        try:
            action = get_action(c.action).id
        except KeyError as exc:
            raise ControlError(f"{f}.action", str(exc.args[0])) from None
        start, end, inten = checked_span(c.start_s, c.end_s, c.intensity, duration_s, f)
        checked.append(FineControl(action, start, end, inten))
    return merge_overlapping(checked)


def merge_overlapping(controls: Iterable[FineControl]) -> list[FineControl]:
    """Merge overlapping or touching spans of the same action (max intensity); sorted by start."""
    by_action: dict[str, list[FineControl]] = {}
    for c in controls:
        by_action.setdefault(c.action, []).append(c)
    out: list[FineControl] = []
    for action, spans in by_action.items():
        spans.sort(key=lambda c: c.start_s)
        cur = spans[0]
        for nxt in spans[1:]:
            if nxt.start_s <= cur.end_s:
                cur = FineControl(action, cur.start_s, max(cur.end_s, nxt.end_s), max(cur.intensity, nxt.intensity))
            else:
                out.append(cur)
                cur = nxt
        out.append(cur)
    return sorted(out, key=lambda c: (c.start_s, ACTION_IDS.index(c.action)))


def span_frames(start_s: float, end_s: float, fps: float, num_frames: int) -> tuple[int, int]:
    """Frame range [a, b) covered by a span: frames whose time i/fps lies in [start, end)."""
    a = max(0, int(math.ceil(start_s * fps - 1e-6)))
    b = min(num_frames, int(math.ceil(end_s * fps - 1e-6)))
    return a, max(a, b)


def rasterize_fine(controls: Iterable[FineControl], num_frames: int, fps: float) -> np.ndarray:
    """(frames, NUM_ACTIONS) float32: each control's intensity over its frames, 0 elsewhere."""
    grid = np.zeros((num_frames, NUM_ACTIONS), np.float32)
    for c in controls:
        a, b = span_frames(c.start_s, c.end_s, fps, num_frames)
        k = action_index(c.action)
        grid[a:b, k] = np.maximum(grid[a:b, k], c.intensity)
    return grid


def control_mask(grid: np.ndarray) -> np.ndarray:
    """(frames,) bool: frames covered by any fine control (the Z of mask-based CFG)."""
    return (grid > 0).any(axis=1)


def parse_control_spec(spec: str) -> FineControl:
    """CLI form ``ACTION:START-END[:INTENSITY]``, e.g. ``AU12:1.2-2.0:0.8``."""
    parts = spec.split(":")
    if len(parts) not in (2, 3) or "-" not in parts[1]:
        raise ControlError("control", f"{spec!r} is not ACTION:START-END[:INTENSITY] (e.g. AU12:1.2-2.0:0.8)")
    start, _, end = parts[1].partition("-")
    try:
        return FineControl(parts[0], float(start), float(end), float(parts[2]) if len(parts) == 3 else 1.0)
    except ValueError:
        raise ControlError("control", f"{spec!r} has a number that does not parse") from None
