"""Motion an animator accepts: jitter per region, closure duration, blinks, head motion (issue 16).

What an animator sees in a take that the lip-sync metrics miss: single-frame pops
(closures of one frame read as flicker at 24-30 fps), eyes that are shut too often or drift
half closed, blink rates outside the human range (about 8-25 a minute while speaking,
100-300 ms each), a head that never moves or wobbles, and motion in pauses. Every function
takes ARKit-ordered (frames, 52) weights, and head rotations as (frames, 9) radians in Live
Link's order, so it scores the model and the baselines alike.
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np

from .. import phones as phoneset
from .. import rig
from ..motion.finish import runs
from . import metrics

EYE_BLINK = [rig.channel_index("eyeBlinkLeft"), rig.channel_index("eyeBlinkRight")]
#: Eyes count as shut above this mean eyeBlink weight (the lids cover the pupil).
EYES_SHUT = 0.5
#: Between these, sustained for HALF_CLOSED_MIN_S, the lids "drift": neither open nor a blink.
HALF_CLOSED = (0.2, 0.5)
HALF_CLOSED_MIN_S = 0.5


def region_jitter(values: np.ndarray) -> dict[str, float]:
    """Mean |second difference| per rig region (jaw, mouth, eyes, brows, ...) and over all 52."""
    v = np.asarray(values, np.float64)
    out = {name: metrics.jitter(v, rig.indices(chs)) for name, chs in rig.REGIONS.items()}
    out["all"] = metrics.jitter(v)
    return out


def blink_stats(values: np.ndarray, fps: float) -> dict[str, float]:
    """Eyes-shut fraction, blinks per minute, mean blink duration (ms), half-closed drift fraction."""
    v = np.asarray(values, np.float64)
    lid = v[:, EYE_BLINK].mean(axis=1)
    n = len(lid)
    shut = lid > EYES_SHUT
    events = runs(shut)
    drift = np.zeros(n, bool)
    for a, b in runs((lid > HALF_CLOSED[0]) & (lid <= HALF_CLOSED[1])):
        if (b - a) / fps >= HALF_CLOSED_MIN_S:
            drift[a:b] = True
    minutes = n / fps / 60.0
    return {
        "eyes_shut": float(shut.mean()) if n else float("nan"),
        "blinks": len(events),
        "blinks_per_min": len(events) / minutes if minutes > 0 else float("nan"),
        "blink_ms": float(np.mean([(b - a) / fps * 1000 for a, b in events])) if events else float("nan"),
        "half_closed": float(drift.mean()) if n else float("nan"),
        "frames": n,
    }


def closure_durations(values: np.ndarray, phones: Iterable[Any], fps: float) -> list[int]:
    """Frames the lips stay closed around each bilabial (0 when it never closes).

    Closed = aperture below the closure metric's threshold (``metrics.bilabial_closure``);
    the run counted is the longest one that touches the phone's frames (+- one frame).
    """
    v = np.asarray(values, np.float64)
    ap = metrics.lip_aperture(v)
    plist = list(phones)
    bil = metrics.bilabial_closure(ap, plist, fps)
    thr = bil["threshold"]
    if not np.isfinite(thr):
        return []
    closed = ap < thr
    rs = runs(closed)
    out = []
    n = len(ap)
    for p in plist:
        ph, s, e = metrics._phone_fields(p)
        if phoneset.normalize_phone(ph) not in phoneset.BILABIALS or s * fps >= n:
            continue
        lo, hi = int(np.floor(s * fps)) - 1, int(np.ceil(e * fps)) + 1
        best = 0
        for a, b in rs:
            if a <= hi and b >= lo:
                best = max(best, b - a)
        out.append(best)
    return out


def head_stats(rotations: np.ndarray | None, speech: np.ndarray, fps: float,
               accent: np.ndarray | None = None) -> dict[str, float]:
    """Head motion: spread of yaw/pitch/roll (degrees) while talking, angular speed in pauses vs speech,
    and the correlation of head speed with ``accent`` (e.g. loudness rises) when given."""
    if rotations is None:
        return {"head_std_deg": 0.0, "head_yaw_std_deg": 0.0, "head_pitch_std_deg": 0.0, "head_roll_std_deg": 0.0,
                "head_pause_speed": 0.0, "head_speech_speed": 0.0, "head_accent_corr": float("nan")}
    r = np.degrees(np.asarray(rotations, np.float64)[:, :3])
    n = min(len(r), len(speech))
    r, speech = r[:n], np.asarray(speech[:n], bool)
    speed = np.zeros(n)
    if n > 1:
        speed[1:] = np.linalg.norm(np.diff(r, axis=0), axis=1) * fps          # deg/s
    talk = r[speech] if speech.any() else r
    corr = float("nan")
    if accent is not None and n > 2:
        corr = metrics.pearson(speed, np.asarray(accent[:n], np.float64))
    per_axis = talk.std(axis=0) if len(talk) > 1 else np.zeros(3)
    return {
        # the spread of the head's rotation while talking: sqrt of the summed yaw/pitch/roll variances
        "head_std_deg": float(np.sqrt(np.sum(per_axis ** 2))),
        "head_yaw_std_deg": float(per_axis[0]), "head_pitch_std_deg": float(per_axis[1]),
        "head_roll_std_deg": float(per_axis[2]),
        "head_pause_speed": float(speed[~speech].mean()) if (~speech).any() else float("nan"),
        "head_speech_speed": float(speed[speech].mean()) if speech.any() else float("nan"),
        "head_accent_corr": corr,
    }


def pooled_motion(per_clip: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Pool clip-level motion stats: frame-weighted fractions, event-weighted durations."""
    frames = sum(c["frames"] for c in per_clip) or 1
    minutes = frames / max(1e-9, per_clip[0].get("fps", 30.0)) / 60.0 if per_clip else 0
    blinks = sum(c["blinks"] for c in per_clip)
    durs = [d for c in per_clip for d in c.get("closure_frames", [])]
    ms = [c["blink_ms"] * c["blinks"] for c in per_clip if c["blinks"]]
    return {
        "eyes_shut": sum(c["eyes_shut"] * c["frames"] for c in per_clip) / frames,
        "blinks_per_min": blinks / minutes if minutes else float("nan"),
        "blink_ms": sum(ms) / blinks if blinks else float("nan"),
        "half_closed": sum(c["half_closed"] * c["frames"] for c in per_clip) / frames,
        "closure_frames": float(np.mean(durs)) if durs else float("nan"),
        "one_frame_closures": float(np.mean([d == 1 for d in durs])) if durs else float("nan"),
        **{f"jitter_{k}": metrics.nanmean(c["jitter"][k] for c in per_clip) for k in per_clip[0]["jitter"]},
    } if per_clip else {}


def clip_motion(values: np.ndarray, phones: Iterable[Any], fps: float) -> dict[str, Any]:
    """All face-motion stats of one clip (head stats are separate: they need rotations)."""
    plist = list(phones)
    out: dict[str, Any] = blink_stats(values, fps)
    out["fps"] = fps
    out["jitter"] = region_jitter(values)
    out["closure_frames"] = closure_durations(values, plist, fps)
    return out
