"""The saccade stage: the eyes jump between fixations, as real eyes do, on top of the model's gaze.

Why a rule stage: measured on real speech (``cafetalk evaluate --motion-captures``), the product's gaze made
no saccade at all (0 a minute against 46-56 in the real captures): the x0 sampler and the
smoothing average a jump at an uncertain time into a slow drift, the same failure as blinks
(motion/blinks.py). So, like blinks, the eyes' quick part is placed by rule and the model keeps
the slow part:

1. fixations last gamma-distributed intervals (mean 60 / ``rate_per_min`` s, shape
   ``gamma_shape``, at least ``min_interval_s``);
2. each fixation looks at an offset from the model's own gaze drawn from a normal distribution
   (``spread_deg``: yaw, pitch); the eyes move there in ``transition_s`` (a saccade lasts 20-60 ms);
3. the new gaze (model + offset, degrees) is written back into the eight eyeLook channels through
   the eye rule of motion/eyes.py (so the eye rotations, derived from those channels, jump too);
4. requested gaze (GAZE_* fine controls) wins: inside their spans and within ``control_guard_s``
   (0.1 s, the controls' own ramp) the offset fades to 0 and the model's (controlled) gaze is kept.

The rate, interval shape and spread are fitted to the real captures' TRAIN takes (issue 24:
``python -m cafetalk_core.evaluation.fit_motion_rules``). Seeded: the same seed gives the same saccades.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np
from scipy.ndimage import uniform_filter1d

from .. import rig
from .eyes import MAX_PITCH, MAX_YAW

J = rig.INDEX


@dataclass(frozen=True)
class SaccadeConfig:
    # fitted to the NeuroSync TRAIN takes (56 saccades a minute of 9.2 deg measured at 30 fps; gaze
    # spread 5.6 deg yaw, 4.2 deg pitch) by ``python -m cafetalk_core.evaluation.fit_motion_rules``: simulated
    # on the real-speech validation clips these give 55.1 a minute of 8.4 deg (the measured rate is not
    # the parameter: jumps under 2 deg do not count, the model's own gaze moves add some; refitted on
    # the shipped phone-free stage 1, was 44 a minute at the full spread)
    rate_per_min: float = 56.0
    gamma_shape: float = 2.0
    spread_deg: tuple[float, float] = (4.46, 3.35)
    min_interval_s: float = 0.15
    transition_s: float = 0.033
    control_guard_s: float = 0.1      # the offset fades out this close to a requested gaze span


def gaze_from_weights(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(yaw, pitch) in degrees, the mean of both eyes, by the eye rule of motion/eyes.py."""
    v = np.asarray(values, np.float64)
    c = lambda name: v[:, J[name]]  # noqa: E731
    yaw = ((c("eyeLookOutLeft") - c("eyeLookInLeft")) + (c("eyeLookInRight") - c("eyeLookOutRight"))) / 2
    pitch = ((c("eyeLookDownLeft") - c("eyeLookUpLeft")) + (c("eyeLookDownRight") - c("eyeLookUpRight"))) / 2
    return yaw * np.degrees(MAX_YAW), pitch * np.degrees(MAX_PITCH)


def write_gaze(values: np.ndarray, yaw_deg: np.ndarray, pitch_deg: np.ndarray) -> np.ndarray:
    """A copy of ``values`` with the eight eyeLook channels set to look at (yaw, pitch) degrees, both eyes."""
    v = np.array(values, np.float32, copy=True)
    y = np.asarray(yaw_deg) / np.degrees(MAX_YAW)         # > 0: to the subject's left (motion/eyes.py)
    p = np.asarray(pitch_deg) / np.degrees(MAX_PITCH)     # > 0: down
    pos, neg = np.clip(y, 0, 1), np.clip(-y, 0, 1)
    v[:, J["eyeLookOutLeft"]], v[:, J["eyeLookInLeft"]] = pos, neg
    v[:, J["eyeLookInRight"]], v[:, J["eyeLookOutRight"]] = pos, neg
    for side in ("Left", "Right"):
        v[:, J[f"eyeLookDown{side}"]] = np.clip(p, 0, 1)
        v[:, J[f"eyeLookUp{side}"]] = np.clip(-p, 0, 1)
    return v


def saccade_offsets(n: int, fps: float, seed: int, cfg: SaccadeConfig = SaccadeConfig()) -> np.ndarray:
    """(n, 2) piecewise-constant gaze offsets (degrees) with quick transitions between fixations."""
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 17])
    mean_gap = 60.0 / max(cfg.rate_per_min, 1e-3)
    out = np.zeros((n, 2))
    t, cur = 0.0, np.zeros(2)
    dur = n / fps
    step = max(1, int(round(cfg.transition_s * fps)))
    t += max(cfg.min_interval_s, rng.gamma(cfg.gamma_shape, mean_gap / cfg.gamma_shape))
    while t < dur:
        nxt = rng.normal(0.0, 1.0, 2) * np.asarray(cfg.spread_deg)
        i = int(t * fps)
        ramp = np.linspace(0, 1, step + 1)[1:]
        for k, w in enumerate(ramp):
            if i + k < n:
                out[i + k] = cur + w * (nxt - cur)
        out[min(n, i + step):] = nxt
        cur = nxt
        t += max(cfg.min_interval_s, rng.gamma(cfg.gamma_shape, mean_gap / cfg.gamma_shape))
    return out


def add_saccades(values: np.ndarray, fps: float, *, seed: int = 0, requested: Iterable[tuple[float, float]] = (),
                 cfg: SaccadeConfig = SaccadeConfig()) -> np.ndarray:
    """(frames, 52) weights -> copy whose gaze jumps between fixations around the model's gaze."""
    v = np.asarray(values, np.float32)
    n = len(v)
    if n == 0:
        return v.copy()
    off = saccade_offsets(n, fps, seed, cfg)
    free = np.ones(n)
    g = int(round(cfg.control_guard_s * fps))
    for a, b in requested:
        free[max(0, int(np.floor(a * fps)) - g):min(n, int(np.ceil(b * fps)) + g)] = 0.0
    if free.min() < 1.0:
        free = np.minimum(free, uniform_filter1d(free, max(1, g) | 1, mode="nearest"))
    yaw, pitch = gaze_from_weights(v)
    return write_gaze(v, yaw + free * off[:, 0], pitch + free * off[:, 1])
