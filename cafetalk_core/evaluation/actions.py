"""Per-action fine-control report: every action of the vocabulary, on synthetic and real speech.

Why per action (issue 15): averages hid that 15 of 21 actions did nothing on real voices. Each
action is tried as a user would: the same clip and seed generated without and with one span.

* Synthetic (the corpus's held-out split, ground truth known): one span per (action, clip),
  1.2 s (0.3 s for a blink), mouth actions inside the speech; Algorithm 1's deterministic
  detector (controls/binarize.py) gives the **control rate** (span covered >= 50%), the
  **span IoU** and **false activations** (detected frames outside the span, over the frames
  outside it; then the share of those the control *added*, active with it and not without:
  the leak; next to the same rate in the un-controlled take and in the ground truth: what the
  clip does anyway, a happy face smiles and a speaking jaw opens); the
  **peak** (max over the span of the mean of the action's channels) at intensities 0.3 / 0.6 /
  0.9 with whether it rises; the **lip-sync error rise** (mouth MSE
  against the ground truth on the lip channels the action does not drive, with vs without;
  a jaw drop drives mouthClose with the jaw, metrics.mouth_channels_of says why) and the
  **bilabial closure** with and without the control (the corpus's true phones).
* Real speech (the bundled recordings, no curves): a 1.2 s span at 0.9 in the middle of each
  clip; **rise inside** = mean increase of the action's channels inside the span; **outside** =
  mean |change| of those channels outside it; **bilabial closure** with and without the control.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from ..controls.binarize import binarize
from ..controls.coarse import CoarseCondition
from ..controls.control_set import ControlSet
from ..controls.fine import FineControl, span_frames
from ..controls.vocabulary import ACTIONS, get_action
from . import metrics

INTENSITIES = (0.3, 0.6, 0.9)
SPAN_S = 1.2
BLINK_SPAN_S = 0.3
EDGE_S = 0.1          # frames this close to a span's edges count neither inside nor outside (ramps)

Generate = Callable[[np.ndarray, ControlSet], np.ndarray]


def _span_for(action: str, duration_s: float, speech: tuple[float, float] | None) -> FineControl | None:
    length = BLINK_SPAN_S if action == "AU45" else SPAN_S
    lo, hi = 0.1, duration_s - 0.1
    if get_action(action).region == "mouth" and speech is not None:
        lo, hi = max(lo, speech[0]), min(hi, speech[1])
    if hi - lo < length * 0.6:
        return None
    length = min(length, hi - lo)
    start = lo + (hi - lo - length) / 2
    return FineControl(action, round(start, 3), round(start + length, 3), 0.9)


def _peak(values: np.ndarray, span: FineControl, fps: float) -> float:
    a, b = span_frames(span.start_s, span.end_s, fps, len(values))
    return float(values[a:b, get_action(span.action).channel_indices()].mean(axis=1).max()) if b > a else float("nan")


def _inside_outside(n: int, span: FineControl, fps: float) -> tuple[np.ndarray, np.ndarray]:
    a, b = span_frames(span.start_s, span.end_s, fps, n)
    inside = np.zeros(n, bool)
    inside[a:b] = True
    lo, hi = span_frames(max(0.0, span.start_s - EDGE_S), span.end_s + EDGE_S, fps, n)
    outside = np.ones(n, bool)
    outside[lo:hi] = False
    return inside, outside


def synthetic_actions(generate: Generate, clips: Sequence[Any], *, clips_per_action: int = 4,
                      actions: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    """Per action on corpus clips (``evaluation.corpus.Clip``): rate, IoU, false activations, peaks, lip rise."""
    out: dict[str, dict[str, Any]] = {}
    plain_cache: dict[str, np.ndarray] = {}
    for k, action in enumerate(actions or [a.id for a in ACTIONS]):
        rows = []
        for j in range(len(clips)):
            if len(rows) >= clips_per_action:
                break
            clip = clips[(k + j) % len(clips)]
            gt, fps = clip.curves(), clip.fps
            spoken = [p for p in clip.phones if p["phone"] != "SIL"]
            speech = (float(spoken[0]["start_s"]), float(spoken[-1]["end_s"])) if spoken else None
            span = _span_for(action, len(gt) / fps, speech)
            if span is None:
                continue
            coarse = CoarseCondition(clip.emotion, clip.intensity)
            if clip.id not in plain_cache:
                plain_cache[clip.id] = metrics.align(generate(clip.audio(), ControlSet(coarse, [])), gt)[0]
            plain = plain_cache[clip.id]
            peaks, ctrl = [], None
            for inten in INTENSITIES:
                s = FineControl(action, span.start_s, span.end_s, inten)
                v = metrics.align(generate(clip.audio(), ControlSet(coarse, [s])), gt)[0]
                peaks.append(_peak(v, s, fps))
                if inten == 0.9:
                    ctrl = v
            lab, lab_plain = binarize(ctrl, fps, seed=None), binarize(plain, fps, seed=None)
            keep = metrics.lip_sync_channels_excluding([action])
            g = metrics.align(plain, gt)[1]
            lab_truth = binarize(g, fps, seed=None)
            rows.append({
                "overlap": metrics.span_overlaps(lab, [span], fps)[0],
                "iou": metrics.span_ious(lab, [span], fps)[0],
                "false": metrics.false_activation(lab, [span], fps),
                "false_plain": metrics.false_activation(lab_plain, [span], fps),
                "false_truth": metrics.false_activation(lab_truth, [span], fps),
                "false_added": metrics.false_activation(lab & ~lab_plain, [span], fps),
                "peaks": peaks, "peak_plain": _peak(plain, span, fps),
                "mse_plain": metrics.mouth_mse(plain, g, keep), "mse_ctrl": metrics.mouth_mse(ctrl, g, keep),
                "closure_ctrl": metrics.bilabial_closure(metrics.lip_aperture(ctrl), clip.phones, fps),
                "closure_plain": metrics.bilabial_closure(metrics.lip_aperture(plain), clip.phones, fps),
            })
        if not rows:
            continue
        frames = sum(r["false"]["frames"] for r in rows)
        mse_p = metrics.nanmean(r["mse_plain"] for r in rows)
        peaks = [metrics.nanmean(r["peaks"][i] for r in rows) for i in range(len(INTENSITIES))]
        out[action] = {
            "spans": len(rows),
            "control_rate": float(np.mean([r["overlap"] >= 0.5 for r in rows])),
            "iou": metrics.nanmean(r["iou"] for r in rows),
            "false_activation": sum(r["false"]["active"] for r in rows) / frames if frames else float("nan"),
            # the same frames in the un-controlled take: what the clip does anyway (a happy face smiles)
            "false_activation_uncontrolled": (sum(r["false_plain"]["active"] for r in rows) / frames
                                              if frames else float("nan")),
            # the ground truth's own rate there (speech and emotion move these channels too), and
            # the frames the control switched on outside its span: the leak the control causes
            "false_activation_truth": sum(r["false_truth"]["active"] for r in rows) / frames if frames else float("nan"),
            "false_activation_added": sum(r["false_added"]["active"] for r in rows) / frames if frames else float("nan"),
            "peaks": peaks, "peak_plain": metrics.nanmean(r["peak_plain"] for r in rows),
            "monotonic": bool(all(b > a for a, b in zip(peaks, peaks[1:]))),
            "lip_sync_rise": metrics.nanmean(r["mse_ctrl"] for r in rows) / mse_p - 1.0 if mse_p > 0 else float("nan"),
            "closure_with": _pooled_closure(r["closure_ctrl"] for r in rows),
            "closure_without": _pooled_closure(r["closure_plain"] for r in rows),
        }
    return out


def real_actions(generate: Generate, clips: Sequence[Any], fps: float,
                 actions: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    """Per action on real recordings (``real_speech.RealClip``): rise inside/outside, closure with/without."""
    plain = {c.id: generate(c.wav, ControlSet()) for c in clips}

    def closure(values: dict[str, np.ndarray]) -> float:
        return _pooled_closure(metrics.bilabial_closure(metrics.lip_aperture(values[c.id]), c.phones, fps) for c in clips)

    base_closure = closure(plain)
    out: dict[str, dict[str, Any]] = {}
    for action in actions or [a.id for a in ACTIONS]:
        idx = get_action(action).channel_indices()
        rises, outs, ctrl_vals = [], [], {}
        for c in clips:
            spoken = [p for p in c.phones if p.phone != "SIL"]
            speech = (spoken[0].start_s, spoken[-1].end_s) if spoken else None
            span = _span_for(action, c.duration_s, speech)
            p = plain[c.id]
            if span is None:
                ctrl_vals[c.id] = p
                continue
            v = generate(c.wav, ControlSet(fine=[span]))
            n = min(len(v), len(p))
            v, p = v[:n], p[:n]
            inside, outside = _inside_outside(n, span, fps)
            rises.append(float((v[inside][:, idx] - p[inside][:, idx]).mean()))
            outs.append(float(np.abs(v[outside][:, idx] - p[outside][:, idx]).mean()) if outside.any() else 0.0)
            ctrl_vals[c.id] = v
        out[action] = {"clips": len(rises), "rise_inside": metrics.nanmean(rises),
                       "change_outside": metrics.nanmean(outs),
                       "closure_with": closure(ctrl_vals), "closure_without": base_closure}
    return out


def _pooled_closure(results: Any) -> float:
    """Closed over total bilabials of several ``metrics.bilabial_closure`` results (NaN when none)."""
    closed = total = 0
    for r in results:
        if not math.isnan(r["rate"]):
            closed, total = closed + r["closed"], total + r["total"]
    return closed / total if total else float("nan")


def format_synthetic(table: dict[str, dict[str, Any]]) -> str:
    head = (f"{'action':7s} {'spans':>5s} {'rate':>5s} {'IoU':>5s} {'false added (no ctrl / truth)':>29s}  "
            f"peak@0.3/0.6/0.9 (plain)   {'mono':4s} {'lip rise':>8s}  closure with / without")
    lines = [head, "-" * len(head)]
    for a, d in table.items():
        p = d["peaks"]
        false = (f"{d['false_activation']:.3f} {d['false_activation_added']:.3f} "
                 f"({d['false_activation_uncontrolled']:.3f} / {d['false_activation_truth']:.3f})")
        lines.append(f"{a:7s} {d['spans']:5d} {d['control_rate']:5.2f} {d['iou']:5.2f} {false:>29s}  "
                     f"{p[0]:.2f} / {p[1]:.2f} / {p[2]:.2f} ({d['peak_plain']:.2f})   {'yes' if d['monotonic'] else 'NO':4s} "
                     f"{d['lip_sync_rise']:+8.1%}  {d['closure_with']:>12.2f} / {d['closure_without']:.2f}")
    return "\n".join(lines)


def format_real(table: dict[str, dict[str, Any]], name: str = "real speech") -> str:
    head = f"{'action':7s} {'clips':>5s} {'rise in':>8s} {'outside':>8s} {'closure with / without':>24s}"
    lines = [f"per action on {name}: 1.2 s span at 0.9 (blink 0.3 s)", head, "-" * len(head)]
    for a, d in table.items():
        lines.append(f"{a:7s} {d['clips']:5d} {d['rise_inside']:8.3f} {d['change_outside']:8.4f} "
                     f"{d['closure_with']:>11.2f} / {d['closure_without']:.2f}")
    return "\n".join(lines)
