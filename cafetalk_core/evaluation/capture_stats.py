"""Statistics of real captures and of generated takes, measured the same way (issue 24).

What an animator reads above the mouth: how often and how long the eyes blink and whether
they shut faster than they open; how often the eyes jump (saccades) and how far; how much and
how fast the head turns, nods and tilts. Each function takes ARKit-ordered (frames, 52)
weights and Live Link's 9 rotation columns (radians), so real takes and the product's are
scored by one code path:

* blinks: events are runs of the mean eyeBlink above 0.5 (the threshold of
  ``evaluation.motion.blink_stats``, whose rate and duration these are); for each event its width
  at half its own height (scale-free: the iPhone reads a shut lid as 0.5-0.95, a rig as 1, so the
  time past 0.5 is shorter in captures for the same blink); the
  closing time is 10% -> 90% of the rise from the local open lid (the 10th percentile of the lid
  within 0.5 s of the event) to the peak, the opening time 90% -> 10% on the way back (each walk
  stops 0.5 s from the peak; crossings interpolated between frames, so the 60 fps captures and the
  product's 30 fps are not quantised differently); asymmetry =
  opening / closing (> 1: the lid shuts faster than it opens, as in people: Evinger 1991).
* saccades: the gaze angle (mean of both eyes' yaw and pitch, degrees; from the rotation columns
  when a take has them, else from the eyeLook weights through ``motion/eyes.py``) resampled to
  30 fps, events where the angular speed exceeds SACCADE_SPEED_DEG_S and the jump is at least
  SACCADE_MIN_DEG (velocity-threshold identification, I-VT).
* head: per axis (yaw, pitch, roll) the spread (std, degrees) and the mean |angular speed|
  (deg/s) at 30 fps. A take whose head columns are all zero has *no* head capture (the
  NeuroSync takes: every head column is 0), reported as such, never as a still head. The head's
  reference is a real speaker's head track instead (data/head_pose.py), cut into windows as long
  as the clips it is compared with (:func:`head_reference_stats`): a spread grows with the window.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .. import rig
from ..data.head_pose import HeadTrack, cut_windows
from ..motion.eyes import eye_rotations
from ..motion.finish import runs
from .motion import EYE_BLINK, EYES_SHUT, blink_stats

STATS_FPS = 30.0                 # speeds and saccades are measured at the product's rate
SACCADE_SPEED_DEG_S = 60.0
SACCADE_MIN_DEG = 2.0
AXES = ("yaw", "pitch", "roll")


def _resample(x: np.ndarray, fps: float, to_fps: float = STATS_FPS) -> np.ndarray:
    """(frames, C) linearly resampled to ``to_fps`` (frame i at i / fps)."""
    x = np.asarray(x, np.float64)
    if abs(fps - to_fps) < 1e-9 or len(x) < 2:
        return x
    t = np.arange(len(x)) / fps
    tn = np.arange(int(np.floor(t[-1] * to_fps)) + 1) / to_fps
    return np.stack([np.interp(tn, t, x[:, c]) for c in range(x.shape[1])], axis=1)


def _crossing(lid: np.ndarray, inside: int, outside: int, level: float) -> float:
    """Sub-frame index where ``lid`` crosses ``level`` between adjacent frames ``inside`` (past the
    level) and ``outside`` (not past it), by linear interpolation: times are not rounded to whole
    frames, so a 30 fps take and a 60 fps capture are measured alike."""
    a, b = float(lid[inside]), float(lid[outside])
    if a == b:
        return float(outside)
    return inside + (outside - inside) * (a - level) / (a - b)


def blink_events(values: np.ndarray, fps: float) -> list[dict[str, float]]:
    """Each blink's duration above EYES_SHUT, its width at half its own height (scale-free: an iPhone's
    shut lid reads 0.5-0.95, a rig's 1), closing and opening times (ms). Level crossings are
    interpolated between frames (:func:`_crossing`); a walk that reaches its 0.5 s limit stops there."""
    lid = np.asarray(values, np.float64)[:, EYE_BLINK].mean(axis=1)
    n = len(lid)
    out = []
    half = max(1, int(round(0.5 * fps)))

    def walk(start: int, step: int, level: float, stop: int) -> float:
        """From ``start`` (above ``level``) one frame at a time until the lid is at or below it."""
        i = start
        while i != stop and lid[i + step] > level:
            i += step
        return float(i) if i == stop else _crossing(lid, i, i + step, level)

    for a, b in runs(lid > EYES_SHUT):
        peak_i = a + int(np.argmax(lid[a:b]))
        base = float(np.percentile(lid[max(0, a - half):min(n, b + half)], 10))   # the open lid around it
        amp = lid[peak_i] - base
        lo, hi = max(0, peak_i - half), min(n - 1, peak_i + half)                  # walks stop at 0.5 s
        rise90, rise10 = walk(peak_i, -1, base + 0.9 * amp, lo), walk(peak_i, -1, base + 0.1 * amp, lo)
        fall90, fall10 = walk(peak_i, 1, base + 0.9 * amp, hi), walk(peak_i, 1, base + 0.1 * amp, hi)
        h0, h1 = walk(peak_i, -1, base + 0.5 * amp, lo), walk(peak_i, 1, base + 0.5 * amp, hi)
        ms = 1000.0 / fps
        out.append({"duration_ms": (b - a) * ms, "half_width_ms": (h1 - h0) * ms,
                    "closing_ms": max(rise90 - rise10, 0.5) * ms, "opening_ms": max(fall10 - fall90, 0.5) * ms})
    return out


def gaze_degrees(values: np.ndarray, rotations: np.ndarray | None) -> np.ndarray:
    """(frames, 2) mean eye yaw, pitch (degrees): the captured eye rotations, else from eyeLook weights."""
    r = None if rotations is None else np.asarray(rotations, np.float64)
    if r is None or not np.any(np.abs(r[:, 3:9]) > 1e-6):
        r = np.concatenate([np.zeros((len(values), 3)), eye_rotations(values)], axis=1)
    return np.degrees(np.stack([(r[:, 3] + r[:, 6]) / 2, (r[:, 4] + r[:, 7]) / 2], axis=1))


def saccades(gaze_deg: np.ndarray, fps: float) -> list[float]:
    """Amplitudes (degrees) of the saccades in a (frames, 2) gaze track."""
    g = _resample(gaze_deg, fps)
    if len(g) < 3:
        return []
    speed = np.linalg.norm(np.diff(g, axis=0), axis=1) * STATS_FPS
    out = []
    for a, b in runs(speed > SACCADE_SPEED_DEG_S):
        amp = float(np.linalg.norm(g[b] - g[a]))
        if amp >= SACCADE_MIN_DEG:
            out.append(amp)
    return out


def has_head(rotations: np.ndarray | None) -> bool:
    """Whether a take captured head motion at all (all-zero head columns mean it did not)."""
    return rotations is not None and bool(np.any(np.abs(np.asarray(rotations)[:, :3]) > 1e-6))


def head_axes(rotations: np.ndarray, fps: float) -> dict[str, np.ndarray]:
    """Per axis: spread (std, deg) and mean |angular speed| (deg/s) at 30 fps."""
    h = _resample(np.degrees(np.asarray(rotations, np.float64)[:, :3]), fps)
    speed = np.abs(np.diff(h, axis=0)) * STATS_FPS if len(h) > 1 else np.zeros((1, 3))
    return {"std_deg": h.std(axis=0), "speed_deg_s": speed.mean(axis=0), "frames": len(h)}


def head_track_stats(windows: Sequence[np.ndarray], fps: float) -> dict[str, float]:
    """Per-axis spread and speed of (frames, 3) radian windows of a real head track, pooled over the
    windows as :func:`pooled_stats` pools takes (frame-weighted)."""
    per = [{"seconds": len(w) / fps, "blink_events": [], "saccades": [], "head": head_axes(w, fps)} for w in windows]
    return {k: v for k, v in pooled_stats(per).items() if k.startswith("head_")}


def head_reference_stats(track: HeadTrack, durations_s: Sequence[float]) -> dict[str, float]:
    """:func:`head_track_stats` of a real head track cut into windows as long as ``durations_s`` (the
    clips it is compared with: a spread grows with the window)."""
    return head_track_stats(cut_windows(track, durations_s), track.fps)


def take_stats(values: np.ndarray, rotations: np.ndarray | None, fps: float) -> dict[str, Any]:
    """Everything above for one take (events kept for pooling)."""
    b = blink_stats(values, fps)
    out: dict[str, Any] = {"seconds": len(values) / fps, "blinks": b["blinks"], "blink_events": blink_events(values, fps),
                           "saccades": saccades(gaze_degrees(values, rotations), fps), "head": None}
    if has_head(rotations):
        out["head"] = head_axes(rotations, fps)
    return out


def pooled_stats(per_take: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Pool takes: event rates over total minutes, event-weighted means, frame-weighted head figures."""
    minutes = sum(t["seconds"] for t in per_take) / 60.0
    ev = [e for t in per_take for e in t["blink_events"]]
    sac = [s for t in per_take for s in t["saccades"]]
    nan = float("nan")
    mean = lambda xs: float(np.mean(xs)) if len(xs) else nan  # noqa: E731
    out = {"minutes": minutes, "blinks_per_min": len(ev) / minutes if minutes else nan,
           "blink_ms": mean([e["duration_ms"] for e in ev]), "blink_half_width_ms": mean([e["half_width_ms"] for e in ev]),
           "closing_ms": mean([e["closing_ms"] for e in ev]),
           "opening_ms": mean([e["opening_ms"] for e in ev]),
           "saccades_per_min": len(sac) / minutes if minutes else nan, "saccade_deg": mean(sac)}
    out["blink_asymmetry"] = out["opening_ms"] / out["closing_ms"] if ev else nan
    heads = [t["head"] for t in per_take if t["head"] is not None]
    frames = sum(h["frames"] for h in heads)
    for k, axis in enumerate(AXES):
        out[f"head_{axis}_std_deg"] = sum(h["std_deg"][k] * h["frames"] for h in heads) / frames if frames else nan
        out[f"head_{axis}_speed_deg_s"] = sum(h["speed_deg_s"][k] * h["frames"] for h in heads) / frames if frames else nan
    out["head_captured_takes"] = len(heads)
    return out


def capture_stats(takes: Sequence[Any]) -> dict[str, float]:
    """Pooled statistics of ``data.captures.CaptureTake`` s (or anything with values, curves.rotations, fps)."""
    return pooled_stats([take_stats(t.values, t.curves.rotations, t.fps) for t in takes])


def fit_eye_angles(takes: Sequence[Any]) -> dict[str, float]:
    """Least-squares radians per unit eyeLook weight (motion/eyes.py's MAX_YAW / MAX_PITCH) from takes
    that captured both the weights and the eye rotations; the fit's correlation says how well the
    linear rule holds."""
    xs_y, ys_y, xs_p, ys_p = [], [], [], []
    for t in takes:
        r = t.curves.rotations
        if r is None or not np.any(np.abs(r[:, 3:9]) > 1e-6):
            continue
        v = np.asarray(t.values, np.float64)
        c = lambda name: v[:, rig.channel_index(name)]  # noqa: E731
        xs_y += [c("eyeLookOutLeft") - c("eyeLookInLeft"), c("eyeLookInRight") - c("eyeLookOutRight")]
        ys_y += [r[:, 3], r[:, 6]]
        xs_p += [c("eyeLookDownLeft") - c("eyeLookUpLeft"), c("eyeLookDownRight") - c("eyeLookUpRight")]
        ys_p += [r[:, 4], r[:, 7]]
    if not xs_y:
        raise ValueError("no take has captured eye rotations")
    out = {}
    for name, xs, ys in (("yaw", xs_y, ys_y), ("pitch", xs_p, ys_p)):
        x, y = np.concatenate(xs), np.concatenate(ys).astype(np.float64)
        out[f"max_{name}_deg"] = float(np.degrees((x @ y) / (x @ x)))
        out[f"{name}_corr"] = float(np.corrcoef(x, y)[0, 1])
    return out
