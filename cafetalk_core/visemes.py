"""Phones -> procedural ARKit-52 lip-sync curves (jaw, lips, funnel/pucker, closure, tongue).

Two jobs: it makes the synthetic corpus's ground-truth mouth, and it is the
"recogniser -> procedural" baseline on real speech. So it is standalone: phones in, curves out.

Coarticulation follows Cohen & Massaro (1993): every phone has a target pose and a
*dominance* function that rises before its centre (anticipation) and decays after it
(carry-over); each channel is the dominance-weighted mean of the targets,
``y_c(t) = sum_s D_sc(t) T_sc / sum_s D_sc(t)``. Dominance is given per channel group (jaw,
lips, tongue): a /k/ barely constrains the lips, so rounding from a neighbouring /uw/ spreads
over it, while /p b m/ dominate the lips strongly.

Two hard rules are enforced after blending, because blending alone can miss them on short
phones: bilabials close the lips (``jawOpen - mouthClose`` falls to <= 10% of jawOpen, with
``mouthClose <= jawOpen`` always, as ARKit's mouthClose only makes sense with an open jaw),
and silence is the rest pose (every mouth weight decays to 0).
"""
from __future__ import annotations

import numpy as np

from . import rig
from .phones import BILABIALS, Phone

J = rig.INDEX
_LR = ("Left", "Right")


def _pose(**weights: float) -> dict[str, float]:
    """Targets by ARKit name; ``smile=0.2`` style stems expand to Left and Right."""
    out: dict[str, float] = {}
    for key, w in weights.items():
        if key in J:
            out[key] = w
        else:
            for side in _LR:
                name = f"{key}{side}"
                if name not in J:
                    raise KeyError(f"viseme target {key!r} is not an ARKit channel or stem")
                out[name] = w
    return out


# Target poses at articulation 1.0 (weights in [0, 1]).
TARGETS: dict[str, dict[str, float]] = {
    "SIL": {},
    "AA": _pose(jawOpen=0.55, mouthLowerDown=0.25, mouthUpperUp=0.08, mouthStretch=0.05),
    "AE": _pose(jawOpen=0.45, mouthLowerDown=0.3, mouthUpperUp=0.15, mouthStretch=0.2),
    "AH": _pose(jawOpen=0.4, mouthLowerDown=0.2, mouthUpperUp=0.05),
    "AO": _pose(jawOpen=0.45, mouthFunnel=0.35, mouthPucker=0.1, mouthLowerDown=0.15),
    "EH": _pose(jawOpen=0.32, mouthLowerDown=0.2, mouthStretch=0.2, mouthSmile=0.08),
    "ER": _pose(jawOpen=0.2, mouthFunnel=0.3, mouthPucker=0.15, mouthUpperUp=0.05),
    "IH": _pose(jawOpen=0.22, mouthStretch=0.25, mouthSmile=0.1, mouthLowerDown=0.1),
    "IY": _pose(jawOpen=0.15, mouthStretch=0.35, mouthSmile=0.2, mouthLowerDown=0.05),
    "UH": _pose(jawOpen=0.2, mouthFunnel=0.3, mouthPucker=0.35),
    "UW": _pose(jawOpen=0.12, mouthPucker=0.7, mouthFunnel=0.3),
    "P": _pose(jawOpen=0.07, mouthClose=0.07, mouthPress=0.35, mouthRollLower=0.08),
    "B": _pose(jawOpen=0.08, mouthClose=0.08, mouthPress=0.25, mouthRollLower=0.06),
    "M": _pose(jawOpen=0.08, mouthClose=0.08, mouthPress=0.15),
    "F": _pose(jawOpen=0.1, mouthRollLower=0.45, mouthUpperUp=0.2, mouthShrugUpper=0.1),
    "V": _pose(jawOpen=0.1, mouthRollLower=0.4, mouthUpperUp=0.18, mouthShrugUpper=0.1),
    "TH": _pose(jawOpen=0.15, tongueOut=0.35, mouthLowerDown=0.1),
    "DH": _pose(jawOpen=0.14, tongueOut=0.25, mouthLowerDown=0.1),
    "L": _pose(jawOpen=0.22, tongueOut=0.06, mouthLowerDown=0.1),
    "S": _pose(jawOpen=0.06, mouthStretch=0.2, mouthSmile=0.05, mouthLowerDown=0.1),
    "Z": _pose(jawOpen=0.06, mouthStretch=0.18, mouthLowerDown=0.1),
    "SH": _pose(jawOpen=0.1, mouthFunnel=0.5, mouthPucker=0.25, mouthUpperUp=0.15, mouthLowerDown=0.15),
    "ZH": _pose(jawOpen=0.1, mouthFunnel=0.45, mouthPucker=0.25, mouthUpperUp=0.12, mouthLowerDown=0.12),
    "CH": _pose(jawOpen=0.1, mouthFunnel=0.45, mouthPucker=0.3, mouthUpperUp=0.12),
    "JH": _pose(jawOpen=0.1, mouthFunnel=0.42, mouthPucker=0.28, mouthUpperUp=0.1),
    "W": _pose(jawOpen=0.06, mouthPucker=0.8, mouthFunnel=0.3),
    "R": _pose(jawOpen=0.1, mouthFunnel=0.3, mouthPucker=0.3),
    "Y": _pose(jawOpen=0.1, mouthStretch=0.2, mouthSmile=0.08),
    "T": _pose(jawOpen=0.12, mouthLowerDown=0.08),
    "D": _pose(jawOpen=0.12, mouthLowerDown=0.08),
    "N": _pose(jawOpen=0.1, mouthLowerDown=0.06),
    "K": _pose(jawOpen=0.16),
    "G": _pose(jawOpen=0.16),
    "NG": _pose(jawOpen=0.14),
    "HH": _pose(jawOpen=0.25, mouthLowerDown=0.1),
}
#: Diphthongs move between two targets: (first, second, fraction of the span for the first).
DIPHTHONGS: dict[str, tuple[str, str, float]] = {
    "AW": ("AA", "UH", 0.55), "AY": ("AA", "IY", 0.55), "EY": ("EH", "IY", 0.55),
    "OW": ("AO", "UW", 0.5), "OY": ("AO", "IY", 0.5),
}

GROUPS = ("jaw", "lips", "tongue")
_GROUP_OF = np.array([
    0 if n.startswith("jaw") else 2 if n == "tongueOut" else 1 for n in rig.ARKIT_NAMES
])
#: Channels the lip sync writes (everything else stays 0 here; overlays add upper-face motion).
MOUTH_CHANNELS = np.array(sorted({J[c] for t in TARGETS.values() for c in t}), dtype=int)

# Dominance magnitude per group (jaw, lips, tongue) by phone class.
_VOWEL_DOM = (1.6, 1.0, 0.3)
DOMINANCE: dict[str, tuple[float, float, float]] = {
    "SIL": (0.8, 0.8, 0.8),
    **{v: _VOWEL_DOM for v in ("AA", "AE", "AH", "AO", "EH", "ER", "IH", "IY", "UH", "UW")},
    "P": (1.5, 6.0, 0.5), "B": (1.5, 6.0, 0.5), "M": (1.5, 6.0, 0.5),
    "F": (1.2, 4.0, 0.5), "V": (1.2, 4.0, 0.5),
    "TH": (0.8, 0.6, 4.0), "DH": (0.6, 0.5, 3.0), "L": (0.5, 0.3, 2.0),
    "S": (0.9, 0.6, 1.0), "Z": (0.8, 0.6, 1.0),
    "SH": (0.8, 2.5, 1.0), "ZH": (0.8, 2.5, 1.0), "CH": (0.9, 2.5, 1.0), "JH": (0.9, 2.5, 1.0),
    "W": (1.0, 3.0, 0.5), "R": (0.8, 1.5, 0.5), "Y": (0.7, 0.7, 0.5),
    "T": (0.4, 0.25, 1.0), "D": (0.35, 0.25, 1.0), "N": (0.35, 0.25, 1.0),
    "K": (0.3, 0.2, 0.5), "G": (0.3, 0.2, 0.5), "NG": (0.3, 0.2, 0.5), "HH": (0.2, 0.1, 0.3),
}
ANTICIPATION_S = 0.08   # how far before its span a phone starts to pull the mouth
CARRYOVER_S = 0.05      # how far after its span it still holds


def _segments(phones: list[Phone]) -> list[tuple[str, float, float]]:
    """Phones -> viseme segments (diphthongs split in two)."""
    out: list[tuple[str, float, float]] = []
    for p in phones:
        if p.end_s <= p.start_s:
            continue
        if p.phone in DIPHTHONGS:
            a, b, frac = DIPHTHONGS[p.phone]
            cut = p.start_s + frac * (p.end_s - p.start_s)
            out += [(a, p.start_s, cut), (b, cut, p.end_s)]
        else:
            out.append((p.phone if p.phone in TARGETS else "SIL", p.start_s, p.end_s))
    return out


def phones_to_curves(phones: list[Phone], num_frames: int, fps: float,
                     rng: np.random.Generator | None = None, articulation: float = 1.0) -> np.ndarray:
    """(num_frames, 52) float32 ARKit weights for a phone sequence; frame i is at i / fps s.

    ``rng`` varies the speaker's style (jaw/lip scale, per-phone jitter); ``None`` is the
    deterministic canonical mouth. ``articulation`` scales the openings (0.5 mumbled, 1.5
    hyper-articulated); closures stay closed at any articulation.
    """
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    out = np.zeros((num_frames, rig.NUM_CHANNELS), np.float32)
    segs = _segments(phones)
    if num_frames == 0 or not segs:
        return out
    t = np.arange(num_frames) / fps
    if rng is not None:
        jaw_scale = rng.uniform(0.75, 1.25)
        lip_scale = rng.uniform(0.75, 1.25)
        ant, car = ANTICIPATION_S * rng.uniform(0.7, 1.4), CARRYOVER_S * rng.uniform(0.7, 1.4)
    else:
        jaw_scale = lip_scale = 1.0
        ant, car = ANTICIPATION_S, CARRYOVER_S
    # silence beyond the phone list is rest
    if segs[0][1] > 0:
        segs.insert(0, ("SIL", min(segs[0][1] - 0.5, -0.5), segs[0][1]))
    end = segs[-1][2]
    segs.append(("SIL", end, max(end + 0.5, t[-1] + 0.5)))

    num = np.zeros((num_frames, rig.NUM_CHANNELS), np.float64)
    den = np.full((num_frames, len(GROUPS)), 1e-6, np.float64)
    for ph, a, b in segs:
        centre, half = 0.5 * (a + b), 0.5 * (b - a)
        # dominance: flat inside the span, exponential-ish tails outside (Cohen-Massaro, c = 1.5)
        before = np.clip(a - t, 0, None) / ant
        after = np.clip(t - b, 0, None) / car
        shape = np.exp(-(before + after) ** 1.5)
        # inside the span, peak at the centre, so long phones still let neighbours in at edges
        inside = (t >= a) & (t <= b)
        if half > 0:
            shape = np.where(inside, 1.0 - 0.15 * np.abs(t - centre) / half, shape * 0.85)
        dom = np.asarray(DOMINANCE.get(ph, (0.5, 0.5, 0.5)))
        if ph == "SIL":
            dom = dom * min(3.0, 0.5 + (b - a) / 0.15)  # long pauses pull harder to rest
        target = np.zeros(rig.NUM_CHANNELS)
        for name, w in TARGETS[ph].items():
            scale = jaw_scale if name.startswith("jaw") else lip_scale
            if name in ("mouthClose",):
                scale = jaw_scale
            if rng is not None and name != "mouthClose":
                scale *= rng.uniform(0.85, 1.15)
            target[J[name]] = w * scale * (articulation if name != "mouthClose" else 1.0)
        d = shape[:, None] * dom[None, :]                 # (T, 3)
        den += d
        num += d[:, _GROUP_OF] * target[None, :]
    out[:] = num / den[:, _GROUP_OF]
    out = np.clip(out, 0.0, 1.0)
    enforce_bilabial_closure(out, phones, fps)
    return out


def enforce_bilabial_closure(values: np.ndarray, phones: list[Phone], fps: float,
                             closure: float = 0.92) -> np.ndarray:
    """In place: lips meet on every P/B/M (and mouthClose never exceeds jawOpen).

    Inside a bilabial span (and at the frame nearest its centre, so a 40 ms /p/ between two
    frames still closes), mouthClose is raised to ``closure`` x jawOpen, so the aperture
    ``jawOpen - mouthClose`` is <= 8% of jawOpen. Call again after overlays that move the jaw.
    """
    jo, mc = J["jawOpen"], J["mouthClose"]
    n = values.shape[0]
    for p in phones:
        if p.phone not in BILABIALS or n == 0:
            continue
        a = int(np.ceil(p.start_s * fps - 1e-6))
        b = int(np.floor(p.end_s * fps + 1e-6))
        frames = set(range(max(0, a), min(n, b + 1)))
        frames.add(min(n - 1, max(0, int(round(0.5 * (p.start_s + p.end_s) * fps)))))
        for f in frames:
            values[f, mc] = max(values[f, mc], closure * values[f, jo])
    values[:, mc] = np.minimum(values[:, mc], values[:, jo])
    return values


def aperture(values: np.ndarray) -> np.ndarray:
    """Lip aperture per frame, the metric's definition: jawOpen - mouthClose."""
    return values[:, J["jawOpen"]] - values[:, J["mouthClose"]]
