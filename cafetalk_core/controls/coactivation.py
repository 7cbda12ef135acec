"""Co-activation of each action: which ARKit channels move with it, and by how much.

Cafe-Talk's stage 2 learns the actions from curves labelled by Algorithm 1 (binarize.py); what
a learned action adds beyond its own channels is what moves *with* it in the data: a real smile
also lifts the cheeks (cheekSquint) and the upper lip (mouthUpperUp). This module measures that,
from labelled frames, the same way for real captures (to learn a signature, and as the held-out
truth) and for generated takes (to score them):

    for each take where Algorithm 1 finds action a on at least MIN_FRAMES frames and off on at least
    MIN_FRAMES frames:
        delta_c = mean(v_c | a on) - mean(v_c | a off)        for every channel c
        d_a     = mean(act_a | a on) - mean(act_a | a off)    (act_a: the action's own activation)
    pattern_a[c] = sum_takes w delta_c / sum_takes w d_a,      w = min(on frames, off frames)

i.e. the change of each channel per unit of the action's own activation (1 = the action at full
intensity), pooled over takes. Comparing within a take cancels the performer's and the rig's
resting offsets (the iPhone reads eyeLookUp ~0.3 and eyeSquint ~0.2 on a resting face).
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from .. import rig
from .binarize import activations, binarize
from .vocabulary import NUM_ACTIONS

MIN_FRAMES = 30   # 0.5 s at 60 fps (1 s at 30): fewer on- or off-frames in a take say nothing about it


def coactivation(takes: Iterable[tuple[np.ndarray, float]], labels: Iterable[np.ndarray] | None = None,
                 min_frames: int = MIN_FRAMES) -> tuple[np.ndarray, np.ndarray]:
    """(patterns (NUM_ACTIONS, 52), frames (NUM_ACTIONS,)) over takes of (values (frames, 52), fps).

    ``labels`` (one (frames, NUM_ACTIONS) bool array per take) default to Algorithm 1's
    deterministic detector. ``frames[a]`` is the summed weight w of the takes that measured
    action a (0: not found, its pattern row is NaN).
    """
    num = np.zeros((NUM_ACTIONS, rig.NUM_CHANNELS))
    den = np.zeros(NUM_ACTIONS)
    weight = np.zeros(NUM_ACTIONS)
    label_iter = iter(labels) if labels is not None else None
    for values, fps in takes:
        v = np.asarray(values, np.float64)
        lab = next(label_iter) if label_iter is not None else binarize(v, fps, seed=None)
        act = activations(v.astype(np.float32)).astype(np.float64)
        for k in range(NUM_ACTIONS):
            on = lab[:, k]
            n_on, n_off = int(on.sum()), int((~on).sum())
            if min(n_on, n_off) < min_frames:
                continue
            w = float(min(n_on, n_off))
            num[k] += w * (v[on].mean(axis=0) - v[~on].mean(axis=0))
            den[k] += w * (act[on, k].mean() - act[~on, k].mean())
            weight[k] += w
    out = np.full((NUM_ACTIONS, rig.NUM_CHANNELS), np.nan)
    ok = (weight > 0) & (den > 1e-6)
    out[ok] = num[ok] / den[ok, None]
    return out, np.where(ok, weight, 0.0)


def pattern_correlation(pattern: np.ndarray, reference: np.ndarray) -> float:
    """Pearson correlation of two (52,) co-activation patterns across channels (NaN if either is flat)."""
    a, b = np.asarray(pattern, np.float64), np.asarray(reference, np.float64)
    if a.std() < 1e-12 or b.std() < 1e-12:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])

