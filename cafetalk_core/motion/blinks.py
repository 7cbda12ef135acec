"""The blink stage: spontaneous blinks with human timing, on top of the model's lids.

Why not the diffusion model: a blink is a 100-300 ms point event at an uncertain time. A
10-step x0-predicting sampler averages over where a blink might be and renders lids that
are half shut or shut far too long (measured on the real-speech validation set: eyes shut in
24% of frames, 79 "blinks" a minute). People blink about 8-25 times a minute while speaking,
more at phrase boundaries and with gaze shifts (Bentivoglio et al. 1997; Evinger et al. 1991).
So the lids are split: the model keeps the slow part (lids lowered by sadness, fatigue: its
eyeBlink low-passed and capped below "half closed"), and this stage places blinks:

1. triggered blinks: at the end of a phrase (speech -> pause) with ``p_boundary`` and at a gaze
   shift (a fast change in the eyeLook channels) with ``p_gaze`` (both 0 since the fit to real
   captures, BlinkConfig says why; before it 45% and 40%);
2. gaps longer than an inter-blink interval drawn from a gamma distribution (mean 60 /
   ``rate_per_min`` s, scaled by the emotion, as the corpus does: fear 1.5x, angry 1.2x, sad 0.8x)
   are filled with spontaneous blinks; no two blinks closer than ``min_gap_s``;
3. each blink is 0.18-0.30 s, fast close (30%) and slower open (fitted to real captures, BlinkConfig);
4. requested blinks (AU45 fine controls) win: inside their spans the model's lids are kept
   and no spontaneous blink comes within ``control_guard_s`` of them.

Seeded: the same seed gives the same blinks.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
from scipy.ndimage import gaussian_filter1d, median_filter

from .. import rig
from .blend import KNOWN_MAX, screen, unscreen

BLINK = [rig.channel_index("eyeBlinkLeft"), rig.channel_index("eyeBlinkRight")]
GAZE = [i for i, n in enumerate(rig.ARKIT_NAMES) if n.startswith("eyeLook")]
EMOTION_RATE = {"fear": 1.5, "angry": 1.2, "sad": 0.8}


@dataclass(frozen=True)
class BlinkConfig:
    # length, closing share, top and rate fitted to the real captures' TRAIN takes (datasets/neurosync:
    # 16.3 blinks a minute, 120 ms wide at half height, closing 78 ms, opening 154 ms; crossings
    # interpolated between frames, capture_stats.blink_events) by
    # ``python -m cafetalk_core.evaluation.fit_motion_rules`` (docs/model.md), simulated on the shipped
    # model's output for the real-speech validation clips with the saccade stage on: 16.5 a minute,
    # 145 ms, closing 68 ms, opening 144 ms (the fit trades the width against the closing phase). Both
    # triggers are off: with saccades at the captures' rate (~56 a minute) any gaze trigger multiplies
    # the blink rate, and the phrase-end trigger made the rate depend on the clip's pauses (16.5 a
    # minute on the validation clips, 24.5 on the test clips). Refitted in issue 24's third round
    # (was 0.18-0.30 s, fitted with whole-frame crossings: closing read 0.69x the held-out captures').
    # Before issue 24: 12 a minute + triggers at phrase ends (45%) and gaze shifts (40%), 0.12-0.28 s,
    # 40% closing, flat top 1.6
    rate_per_min: float = 17.0
    min_gap_s: float = 1.2
    gamma_shape: float = 3.0
    duration_s: tuple[float, float] = (0.22, 0.34)
    close_frac: float = 0.3          # share of a blink spent closing (the rest opens: lids shut faster)
    plateau: float = 1.0             # the shape is scaled by this and clipped at 1 (1: a peak, no flat top)
    p_boundary: float = 0.0
    p_gaze: float = 0.0
    gaze_speed: float = 4.0          # eyeLook weight per second that counts as a saccade
    lid_cap: float = 0.18            # slow lid level kept from the model (below "half closed")
    lid_window_s: float = 1.0
    control_guard_s: float = 0.4
    min_pause_s: float = 0.15


def blink_shape(n: int, fps: float, start_s: float, length_s: float, close_frac: float = 0.4,
                plateau: float = 1.6) -> np.ndarray:
    """(n,) lid closure of one blink: 0 -> 1 over ``close_frac`` of its length, back to 0; the
    triangle is scaled by ``plateau`` and clipped at 1 (a flat, fully shut top)."""
    t = np.arange(n) / fps
    close = close_frac * length_s
    shape = np.interp(t, [start_s, start_s + close, start_s + length_s], [0.0, 1.0, 0.0], left=0.0, right=0.0)
    return np.clip(shape * plateau, 0.0, 1.0)


def _phrase_ends(speech: np.ndarray, fps: float, min_pause_s: float) -> list[float]:
    """Times (s) where speech stops for at least ``min_pause_s``."""
    s = np.asarray(speech, bool)
    out = []
    i = 1
    n = len(s)
    while i < n:
        if s[i - 1] and not s[i]:
            j = i
            while j < n and not s[j]:
                j += 1
            if (j - i) / fps >= min_pause_s:
                out.append(i / fps)
            i = j
        else:
            i += 1
    return out


def _gaze_shifts(values: np.ndarray, fps: float, speed: float) -> list[float]:
    """Onsets (s) of fast eyeLook changes (saccades)."""
    if len(values) < 2:
        return []
    v = np.abs(np.diff(values[:, GAZE], axis=0)).max(axis=1) * fps
    fast = v > speed
    return [(i + 1) / fps for i in range(len(fast)) if fast[i] and (i == 0 or not fast[i - 1])]


def add_spontaneous_blinks(values: np.ndarray, fps: float, speech: np.ndarray, *, seed: int = 0,
                           emotion: str | Sequence[str] = "neutral", requested: Iterable[tuple[float, float]] = (),
                           cfg: BlinkConfig = BlinkConfig(), control_lid: np.ndarray | None = None) -> np.ndarray:
    """(frames, 52) weights -> copy with the lids rebuilt: slow model lid + placed blinks.

    ``speech`` (frames,) is voice activity in [0, 1]; ``requested`` are AU45 spans (s) whose
    lids come from the model as they are; ``emotion`` the clip's label (or per frame labels);
    ``control_lid`` (frames,) the lid level the fine controls set (a look down lowers the lids): taken
    out of the model's lid before its slow level is measured (so it neither leaks around its span
    through the median filter nor is capped), then screen-blended onto the rebuilt lid.
    """
    v = np.array(values, np.float32, copy=True)
    n = len(v)
    if n == 0:
        return v
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 45])
    dur = n / fps
    labels = [emotion] if isinstance(emotion, str) else list(emotion)
    rate = cfg.rate_per_min * float(np.mean([EMOTION_RATE.get(e, 1.0) for e in labels] or [1.0]))
    requested = [(float(a), float(b)) for a, b in requested]

    def guarded(t: float, length: float = 0.0) -> bool:
        return any(a - cfg.control_guard_s < t + length and t < b + cfg.control_guard_s for a, b in requested)

    # candidate triggers, in time order (a trigger whose chance is 0 is not drawn for: its draws would
    # shift every later blink, so a gaze control would move blinks outside its span)
    triggers = [(t + rng.uniform(0.05, 0.25), cfg.p_boundary) for t in _phrase_ends(np.asarray(speech) > 0.5, fps, cfg.min_pause_s)
                ] if cfg.p_boundary > 0 else []
    triggers += [(t, cfg.p_gaze) for t in _gaze_shifts(v, fps, cfg.gaze_speed)] if cfg.p_gaze > 0 else []
    triggers.sort()
    times: list[float] = []
    for t, p in triggers:
        if t < dur - 0.2 and rng.random() < p and all(abs(t - u) >= cfg.min_gap_s for u in times) and not guarded(t):
            times.append(t)
    # fill long gaps with a gamma renewal process: each interval counts from the last blink,
    # spontaneous or triggered (a step that passes a triggered blink restarts from it)
    mean_gap = 60.0 / max(rate, 1e-3)
    scale = mean_gap / cfg.gamma_shape
    filled: list[float] = []
    # the first blink as in a process that was already running when the clip began (the forward
    # recurrence time: a length-biased interval, gamma of shape + 1, times a uniform): a short clip
    # then blinks at the process's rate, not once per clip (measured: a uniform start within the
    # first mean gap made 12 clips of 2-7 s blink 32 times a minute for a rate of 13)
    t = 0.2 + rng.uniform() * rng.gamma(cfg.gamma_shape + 1.0, scale)
    anchors = sorted(times)
    k = 0
    while t < dur - 0.2:
        while k < len(anchors) and anchors[k] <= t:
            k += 1
        near = [u for u in anchors + filled if abs(u - t) < cfg.min_gap_s]
        if not near and not guarded(t):
            filled.append(t)
        t += max(cfg.min_gap_s, rng.gamma(cfg.gamma_shape, scale))
        if k < len(anchors) and t > anchors[k]:
            t = max(t, anchors[k] + max(cfg.min_gap_s, rng.gamma(cfg.gamma_shape, scale)))
    lid_model = v[:, BLINK].mean(axis=1)
    control = None if control_lid is None else np.clip(np.asarray(control_lid, np.float64)[:n], 0.0, KNOWN_MAX)
    if control is not None:   # the model's own lid: the control's screen blend taken back out
        lid_model = unscreen(lid_model, control)
    size = max(3, int(round(cfg.lid_window_s * fps)) | 1)
    slow = np.minimum(median_filter(lid_model, size=size, mode="nearest"), cfg.lid_cap)
    slow = gaussian_filter1d(slow, 0.1 * fps, mode="nearest")
    blinks = np.zeros(n, np.float64)
    for t0 in sorted(times + filled):
        blinks = np.maximum(blinks, blink_shape(n, fps, t0, rng.uniform(*cfg.duration_s),
                                                   cfg.close_frac, cfg.plateau))
    lid = np.clip(slow + (1.0 - slow) * blinks, 0.0, 1.0)
    if control is not None:
        lid = screen(lid, control)
    keep = np.zeros(n, bool)
    for a, b in requested:
        keep[max(0, int(np.floor(a * fps)) - 1):min(n, int(np.ceil(b * fps)) + 1)] = True
    for c in BLINK:
        v[:, c] = np.where(keep, np.maximum(v[:, c], lid), lid)
    return v
