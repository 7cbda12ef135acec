"""Evaluation metrics on ARKit-52 curves: pure numpy, one rule per function.

Every function takes ``(frames, 52)`` arrays in ARKit order (``BlendshapeCurves.values``
after ``in_arkit_order()``) and returns plain floats or small dicts, so the same rules serve
the corpus evaluation (``evaluation/corpus.py``), the real-speech evaluation (``evaluation/real_speech.py``)
and tests.
The exact rules are written out in docs/evaluation.md; change both together.

Prediction and ground truth of different lengths (the model may round the frame count
differently) are compared on their common prefix (:func:`align`).
"""
from __future__ import annotations

import itertools
import math
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .. import phones as phoneset
from .. import rig
from ..controls.fine import FineControl, span_frames
from ..controls.vocabulary import ACTION_IDS, action_index, get_action

#: Channels of the lip-sync metrics: jaw + mouth + tongue (rig.LIP_SYNC_NAMES).
MOUTH_IDX: tuple[int, ...] = tuple(rig.indices(rig.LIP_SYNC_NAMES))
#: Upper face for diversity: eyes, brows, cheeks, nose.
UPPER_FACE_NAMES: tuple[str, ...] = (rig.REGIONS["eyes"] + rig.REGIONS["brows"]
                                     + rig.REGIONS["cheeks"] + rig.REGIONS["nose"])
UPPER_IDX: tuple[int, ...] = tuple(rig.indices(UPPER_FACE_NAMES))
JAW_OPEN = rig.channel_index("jawOpen")
MOUTH_CLOSE = rig.channel_index("mouthClose")

#: Bilabial closure rule (shared with evaluation/real_speech.py): a P/B/M counts as closed when the lip
#: aperture within +-CLOSURE_WINDOW_S of the phone drops below CLOSURE_RATIO x the median
#: aperture during open vowels of the same clip.
CLOSURE_WINDOW_S = 0.020
CLOSURE_RATIO = 0.35


def _values(x: Any) -> np.ndarray:
    """Accept a BlendshapeCurves or an array; return (frames, 52) float64."""
    if hasattr(x, "in_arkit_order"):
        x = x.in_arkit_order().values
    v = np.asarray(x, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != rig.NUM_CHANNELS:
        raise ValueError(f"curves must be (frames, {rig.NUM_CHANNELS}), got {v.shape}")
    return v


def align(pred: Any, gt: Any) -> tuple[np.ndarray, np.ndarray]:
    """Both on their common prefix of frames (frame i is at i / fps in both)."""
    p, g = _values(pred), _values(gt)
    n = min(len(p), len(g))
    if n == 0:
        raise ValueError(f"cannot compare empty curves (pred {len(p)} frames, gt {len(g)} frames)")
    return p[:n], g[:n]


def _channels(idx: Sequence[int] | None) -> list[int]:
    return list(MOUTH_IDX if idx is None else idx)


# ---------------------------------------------------------------------------------------------
# Lip sync against ground truth
# ---------------------------------------------------------------------------------------------

def mouth_mse(pred: Any, gt: Any, channels: Sequence[int] | None = None) -> float:
    """Mean squared error over frames and the mouth channels (jaw + mouth + tongue)."""
    p, g = align(pred, gt)
    c = _channels(channels)
    return float(np.mean((p[:, c] - g[:, c]) ** 2))


def max_error(pred: Any, gt: Any, channels: Sequence[int] | None = None) -> float:
    """LVE-like: per frame, the max over mouth channels of the squared error; mean over frames.

    The paper's LVE takes the max over lip *vertices* of the L2 error; with no mesh, the
    channels play the vertices' part (weights in [0, 1], so the scale differs from LVE's mm).
    """
    p, g = align(pred, gt)
    c = _channels(channels)
    return float(np.mean(np.max((p[:, c] - g[:, c]) ** 2, axis=1)))


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation; NaN when either side is constant (correlation undefined)."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    a, b = a - a.mean(), b - b.mean()
    den = math.sqrt(float(np.sum(a * a)) * float(np.sum(b * b)))
    return float(np.sum(a * b) / den) if den > 1e-12 else float("nan")


def jaw_correlation(pred: Any, gt: Any) -> float:
    """Pearson correlation of ``jawOpen`` between prediction and ground truth."""
    p, g = align(pred, gt)
    return pearson(p[:, JAW_OPEN], g[:, JAW_OPEN])


def lip_aperture(values: Any) -> np.ndarray:
    """Lip aperture per frame: ``jawOpen - mouthClose`` (mouthClose closes the lips over an open jaw)."""
    v = _values(values)
    return v[:, JAW_OPEN] - v[:, MOUTH_CLOSE]


def _phone_fields(p: Any) -> tuple[str, float, float]:
    if isinstance(p, Mapping):
        return str(p["phone"]), float(p["start_s"]), float(p["end_s"])
    if isinstance(p, (tuple, list)):
        return str(p[0]), float(p[1]), float(p[2])
    return str(p.phone), float(p.start_s), float(p.end_s)


def _frames_in(start_s: float, end_s: float, fps: float, n: int) -> np.ndarray:
    """Indices of frames whose time i / fps lies in [start_s, end_s]; the nearest frame if none."""
    a = max(0, int(math.ceil(start_s * fps - 1e-9)))
    b = min(n - 1, int(math.floor(end_s * fps + 1e-9)))
    if b >= a:
        return np.arange(a, b + 1)
    mid = int(round(0.5 * (start_s + end_s) * fps))
    return np.array([min(max(mid, 0), n - 1)])


def centre_frame(start_s: float, end_s: float, fps: float, n: int) -> int | None:
    """The frame nearest the middle of [start_s, end_s]; None when it lies past the clip."""
    f = int(round(0.5 * (start_s + end_s) * fps))
    return f if 0 <= f < n else None


def bilabial_closure(aperture: np.ndarray, phone_list: Iterable[Any], fps: float,
                     window_s: float = CLOSURE_WINDOW_S, ratio: float = CLOSURE_RATIO) -> dict[str, Any]:
    """Share of bilabials (P/B/M) during which the lips close, and how many vowels close too.

    Rule: reference = median aperture over the frames inside open vowels (phones.OPEN_VOWELS)
    of the clip; a bilabial is *closed* when min aperture over frames in
    [start_s - window_s, end_s + window_s] is < ratio x reference (recall). A vowel is a *false
    closure* when the aperture at its centre frame is below the same threshold: closing the lips
    everywhere would score a perfect recall, so ``precision`` = closed bilabials / (closed
    bilabials + closed vowels) says how many of the closures fall where the lips must meet.
    Phones are dicts ``{"phone", "start_s", "end_s"}``, :class:`phones.Phone` or (phone, start,
    end) tuples. Returns ``{"rate", "closed", "total", "threshold", "vowels", "vowels_closed",
    "precision"}``; rate is NaN when the clip has no bilabial or no open vowel (reference
    undefined), precision NaN when nothing closed.
    """
    ap = np.asarray(aperture, np.float64)
    n = len(ap)
    plist = [(phoneset.normalize_phone(ph), s, e) for ph, s, e in (_phone_fields(p) for p in phone_list)]
    vowel_frames = [_frames_in(s, e, fps, n) for ph, s, e in plist
                    if ph in phoneset.OPEN_VOWELS and e > s and s * fps < n]
    bilabials = [(s, e) for ph, s, e in plist if ph in phoneset.BILABIALS and s * fps < n]
    vowel_centres = [f for f in (centre_frame(s, e, fps, n) for ph, s, e in plist if ph in phoneset.VOWELS)
                     if f is not None]
    if n == 0 or not vowel_frames or not bilabials:
        return {"rate": float("nan"), "closed": 0, "total": len(bilabials), "threshold": float("nan"),
                "vowels": 0, "vowels_closed": 0, "precision": float("nan")}
    threshold = ratio * float(np.median(ap[np.concatenate(vowel_frames)]))
    closed = sum(1 for s, e in bilabials
                 if float(ap[_frames_in(s - window_s, e + window_s, fps, n)].min()) < threshold)
    vowels_closed = int(sum(ap[f] < threshold for f in vowel_centres))
    return {"rate": closed / len(bilabials), "closed": closed, "total": len(bilabials), "threshold": threshold,
            "vowels": len(vowel_centres), "vowels_closed": vowels_closed,
            "precision": closed / (closed + vowels_closed) if closed + vowels_closed else float("nan")}


#: Lips sealed: ``jawOpen - mouthClose`` below this (issue 23's rule for a vowel talked through shut lips).
SEAL_APERTURE = 0.05
ROUNDED_VOWELS = frozenset({"OW", "OY", "UH", "UW"})
#: Phone classes of the false-seal table, in report order (ARPAbet; SIL is left out: rest is sealed).
PHONE_CLASSES: dict[str, frozenset[str]] = {
    "open vowels": phoneset.OPEN_VOWELS,
    "rounded vowels": ROUNDED_VOWELS,
    "other vowels": phoneset.VOWELS - phoneset.OPEN_VOWELS - ROUNDED_VOWELS,
    "bilabials": phoneset.BILABIALS,
    "labiodentals": phoneset.LABIODENTALS,
    "other consonants": frozenset(phoneset.ARPABET) - phoneset.VOWELS - phoneset.BILABIALS
    - phoneset.LABIODENTALS - {"SIL"},
}
VOWEL_CLASSES: tuple[str, ...] = ("open vowels", "rounded vowels", "other vowels")


def phone_class(phone: str) -> str | None:
    """The :data:`PHONE_CLASSES` name of an ARPAbet phone; None for silence."""
    ph = phoneset.normalize_phone(phone)
    return next((name for name, members in PHONE_CLASSES.items() if ph in members), None)


def seals_by_class(aperture: np.ndarray, phone_list: Iterable[Any], fps: float,
                   seal: float = SEAL_APERTURE) -> dict[str, dict[str, int]]:
    """Per phone class: how many phone centres have the lips sealed (aperture < ``seal``).

    The centre is the frame nearest the phone's middle. On vowels a seal is a false seal (the
    mouth talks through shut lips); on bilabials it is the closure they need, the same absolute
    rule, so the two read side by side. Returns ``{class: {"phones": n, "sealed": k}}`` for
    every class of :data:`PHONE_CLASSES` plus ``"vowels"`` (all vowel classes together).
    """
    ap = np.asarray(aperture, np.float64)
    out = {name: {"phones": 0, "sealed": 0} for name in (*PHONE_CLASSES, "vowels")}
    for ph, s, e in (_phone_fields(p) for p in phone_list):
        cls = phone_class(ph)
        f = centre_frame(s, e, fps, len(ap))
        if cls is None or f is None:
            continue
        sealed = int(ap[f] < seal)
        for key in (cls, "vowels") if cls in VOWEL_CLASSES else (cls,):
            out[key]["phones"] += 1
            out[key]["sealed"] += sealed
    return out


def pool_seals(results: Iterable[Mapping[str, Mapping[str, int]]]) -> dict[str, dict[str, float]]:
    """Sum :func:`seals_by_class` results over clips; adds ``rate`` (NaN for an empty class)."""
    out: dict[str, dict[str, float]] = {}
    for r in results:
        for cls, d in r.items():
            o = out.setdefault(cls, {"phones": 0, "sealed": 0})
            o["phones"] += d["phones"]
            o["sealed"] += d["sealed"]
    for d in out.values():
        d["rate"] = d["sealed"] / d["phones"] if d["phones"] else float("nan")
    return out


# ---------------------------------------------------------------------------------------------
# Smoothness and diversity
# ---------------------------------------------------------------------------------------------

def jitter(values: Any, channels: Sequence[int] | None = None) -> float:
    """Mean |second difference| over frames and channels (all 52 when ``channels`` is None).

    Per frame^2, so it depends on the frame rate: compare curves at the same fps.
    """
    v = _values(values)
    if channels is not None:
        v = v[:, list(channels)]
    if len(v) < 3:
        return 0.0
    return float(np.mean(np.abs(np.diff(v, n=2, axis=0))))


def diversity(samples: Sequence[Any], channels: Sequence[int]) -> float:
    """Mean over sample pairs of the mean per-frame L2 distance over ``channels``.

    Samples are generations of the same input with different seeds; 0 means deterministic.
    """
    vals = [_values(s)[:, list(channels)] for s in samples]
    if len(vals) < 2:
        raise ValueError(f"diversity needs at least 2 samples, got {len(vals)}")
    n = min(len(v) for v in vals)
    dists = [float(np.mean(np.linalg.norm(a[:n] - b[:n], axis=1))) for a, b in itertools.combinations(vals, 2)]
    return float(np.mean(dists))


# ---------------------------------------------------------------------------------------------
# Fine control (on binarized output: controls/binarize.py, seed=None)
# ---------------------------------------------------------------------------------------------

def span_overlaps(labels: np.ndarray, spans: Iterable[FineControl], fps: float) -> list[float]:
    """Per requested span: share of its frames where the binarized output shows its action."""
    labels = np.asarray(labels, bool)
    out = []
    for c in spans:
        a, b = span_frames(c.start_s, c.end_s, fps, len(labels))
        out.append(float(labels[a:b, action_index(c.action)].mean()) if b > a else 0.0)
    return out


def span_ious(labels: np.ndarray, spans: Iterable[FineControl], fps: float) -> list[float]:
    """Per requested span: IoU of its frames with the detected runs of its action that touch it.

    A run that starts inside the span but lasts past it counts whole, so overshoot lowers the
    IoU as much as undershoot; runs that do not touch the span are false activations instead.
    """
    labels = np.asarray(labels, bool)
    out = []
    for c in spans:
        a, b = span_frames(c.start_s, c.end_s, fps, len(labels))
        col = labels[:, action_index(c.action)]
        if b <= a or not col[a:b].any():
            out.append(0.0)
            continue
        lo, hi = a, b
        while lo > 0 and col[lo - 1] and col[lo]:     # extend over runs that cross the span's edges
            lo -= 1
        while hi < len(col) and col[hi] and col[hi - 1]:
            hi += 1
        detected = np.zeros(len(col), bool)
        detected[lo:hi] = col[lo:hi]
        inside = np.zeros(len(col), bool)
        inside[a:b] = True
        out.append(float((detected & inside).sum() / (detected | inside).sum()))
    return out


def control_rate(labels: np.ndarray, spans: Sequence[FineControl], fps: float,
                 min_overlap: float = 0.5) -> dict[str, Any]:
    """AU control rate: share of spans whose action is detected on >= ``min_overlap`` of its frames.

    Returns ``{"rate", "mean_overlap", "spans", "controlled"}``; NaN rates with no spans.
    """
    ov = span_overlaps(labels, spans, fps)
    if not ov:
        return {"rate": float("nan"), "mean_overlap": float("nan"), "spans": 0, "controlled": 0}
    hit = sum(o >= min_overlap for o in ov)
    return {"rate": hit / len(ov), "mean_overlap": float(np.mean(ov)), "spans": len(ov), "controlled": hit}


def outside_mask(spans: Sequence[FineControl], num_frames: int, fps: float,
                 margin_s: float = 0.1) -> np.ndarray:
    """(frames, NUM_ACTIONS) bool: frames outside every requested span of each requested action.

    Frames within ``margin_s`` of a span are neither inside nor outside (an action ramps in
    and out over a few frames; Algorithm 1 labels are wider than the motion too). Only actions
    that were requested get True anywhere.
    """
    out = np.zeros((num_frames, len(ACTION_IDS)), bool)
    by_action: dict[int, list[FineControl]] = {}
    for c in spans:
        by_action.setdefault(action_index(c.action), []).append(c)
    for k, cs in by_action.items():
        col = np.ones(num_frames, bool)
        for c in cs:
            a, b = span_frames(max(0.0, c.start_s - margin_s), c.end_s + margin_s, fps, num_frames)
            col[a:b] = False
        out[:, k] = col
    return out


def false_activation(labels: np.ndarray, spans: Sequence[FineControl], fps: float,
                     margin_s: float = 0.1) -> dict[str, Any]:
    """Share of frames outside the requested spans (per requested action) where the action shows.

    Pooled over the requested actions: detected-outside frames / outside frames. Compute it
    with the same spans on the un-controlled generation for the base rate.
    """
    labels = np.asarray(labels, bool)
    mask = outside_mask(spans, len(labels), fps, margin_s)
    total = int(mask.sum())
    hits = int((labels & mask).sum())
    return {"rate": hits / total if total else float("nan"), "frames": total, "active": hits}


def mouth_channels_of(actions: Iterable[str]) -> list[int]:
    """ARKit channel indices driven by the mouth-region actions among ``actions``.

    The lip-sync error under control leaves these out: a requested smile moves mouthSmile*
    away from the ground truth by design, which is obedience, not a lip-sync failure. An action
    that drives jawOpen drives mouthClose with it: ARKit's mouthClose is the jaw's corrective
    (lips together *while the jaw is open*), so keeping a /b/ sealed under a jaw drop must raise
    it; whether the lips still meet is measured by the bilabial closure with and without the
    control instead.
    """
    idx: set[int] = set()
    for key in actions:
        a = get_action(key)
        if a.region == "mouth":
            idx.update(a.channel_indices())
    if JAW_OPEN in idx:
        idx.add(MOUTH_CLOSE)
    return sorted(idx)


def lip_sync_channels_excluding(actions: Iterable[str]) -> list[int]:
    """Mouth channels minus those driven by the requested mouth actions."""
    drop = set(mouth_channels_of(actions))
    return [i for i in MOUTH_IDX if i not in drop]


def nanmean(xs: Iterable[float]) -> float:
    """Mean ignoring NaN; NaN when nothing is left (so a report never invents a value)."""
    arr = np.asarray([x for x in xs if x is not None], np.float64)
    arr = arr[np.isfinite(arr)]
    return float(arr.mean()) if arr.size else float("nan")
