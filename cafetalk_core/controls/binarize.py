"""The paper's Algorithm 1: blendshape curves -> fine-grained action labels.

Cafe-Talk makes its stage-2 training targets by rule, not by hand: threshold each AU ->
max-pool with a random kernel (so labelled spans are a little wider than the motion, as a
human would mark them) -> randomly merge nearby segments (so one label may cover two
close events). The same function, with randomness off, detects actions in generated curves
for evaluation (the AU control rate).

Thresholds (ours; the paper does not publish its own): an action's *activation* is the mean
over its channels of value / full-intensity weight (vocabulary.py), i.e. an estimate of the
intensity it was performed at; it is "on" above ``Action.threshold`` (0.3 - 0.5 of full
intensity: 0.5 for blinks, which are binary-looking; 0.45 for jaw drop, which speech
already opens to ~0.3; 0.3 - 0.35 for the rest).
"""
from __future__ import annotations

import numpy as np

from .fine import FineControl
from .vocabulary import ACTIONS, NUM_ACTIONS


def activations(values: np.ndarray) -> np.ndarray:
    """(frames, 52) ARKit weights -> (frames, NUM_ACTIONS) intensity estimates."""
    out = np.zeros((values.shape[0], NUM_ACTIONS), np.float32)
    for k, a in enumerate(ACTIONS):
        idx = a.channel_indices()
        w = np.array([wt for _, wt in a.channels], np.float32)
        out[:, k] = (values[:, idx] / w).mean(axis=1)
    return out


def _segments(on: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) runs of True."""
    padded = np.concatenate([[False], on, [False]])
    d = np.diff(padded.astype(np.int8))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


def binarize(values: np.ndarray, fps: float, seed: int | None = None, max_kernel: int = 5,
             max_merge_gap_s: float = 0.3) -> np.ndarray:
    """Algorithm 1. Returns (frames, NUM_ACTIONS) bool.

    ``seed=None`` turns randomness off (kernel 1, merge gaps < 0.1 s): the deterministic
    detector used for evaluation. With a seed, the kernel is an odd size in [1, max_kernel]
    per action and each gap shorter than ``max_merge_gap_s`` is merged with probability 1/2.
    """
    values = np.asarray(values, np.float32)
    act = activations(values)
    rng = np.random.default_rng(seed) if seed is not None else None
    out = np.zeros_like(act, dtype=bool)
    for k, a in enumerate(ACTIONS):
        on = act[:, k] > a.threshold                                      # 1. threshold
        kernel = 1 if rng is None else int(rng.integers(0, max_kernel // 2 + 1)) * 2 + 1
        if kernel > 1 and on.any():                                       # 2. max-pool (dilate)
            r = kernel // 2
            padded = np.pad(on, r)
            on = np.lib.stride_tricks.sliding_window_view(padded, kernel).any(axis=1)
        segs = _segments(on)                                              # 3. merge nearby segments
        gap_max = 0.1 * fps if rng is None else max_merge_gap_s * fps
        for (a0, a1), (b0, _) in zip(segs, segs[1:]):
            if b0 - a1 < gap_max and (rng is None or rng.random() < 0.5):
                on[a1:b0] = True
        out[:, k] = on
    return out


def labels_to_controls(labels: np.ndarray, values: np.ndarray, fps: float,
                       min_frames: int = 2) -> list[FineControl]:
    """Binary labels -> FineControls with intensity = mean activation over the span."""
    act = activations(np.asarray(values, np.float32))
    controls: list[FineControl] = []
    for k, a in enumerate(ACTIONS):
        for s, e in _segments(labels[:, k]):
            if e - s < min_frames:
                continue
            inten = float(np.clip(act[s:e, k].mean(), 0.0, 1.0))
            controls.append(FineControl(a.id, s / fps, e / fps, round(inten, 3)))
    return sorted(controls, key=lambda c: c.start_s)


def detect_controls(values: np.ndarray, fps: float) -> list[FineControl]:
    """Deterministic detection: which actions a take performs, and when."""
    return labels_to_controls(binarize(values, fps, seed=None), values, fps)
