"""Eye rotations (Live Link's LeftEye/RightEye yaw, pitch, roll) from the gaze blendshapes.

ARKit's eyeLook* weights and the eye transforms describe the same gaze, so the rotations are
derived, not generated: yaw from look-in/out, pitch from look-up/down, roll 0.

Signs and scales are fitted to real Live Link Face captures (issue 24: the NeuroSync TRAIN
takes, which hold both the eyeLook weights and the eye rotations; ``python -m
cafetalk_core.evaluation.fit_motion_rules``): eye yaw = -35.1 deg x (lookOut - lookIn) of the left eye
(correlation -0.99), i.e. looking to the subject's left is *negative* yaw (the rule before issue 24
had the opposite sign); pitch = +24.6 deg x (lookDown - lookUp) (correlation 0.99): looking down
is positive pitch. ``MAX_YAW`` / ``MAX_PITCH`` are the angles a weight of 1 means.
"""
from __future__ import annotations

import numpy as np

from .. import rig

MAX_YAW = np.radians(35.1)
MAX_PITCH = np.radians(24.6)


def eye_rotations(values: np.ndarray) -> np.ndarray:
    """(frames, 52) ARKit-ordered weights -> (frames, 6): Left yaw, pitch, roll, Right yaw, pitch, roll."""
    v = np.asarray(values, np.float64)
    c = lambda name: v[:, rig.channel_index(name)]  # noqa: E731
    # the subject's left eye looks to its left when it looks "out"; the right eye when it looks "in";
    # Live Link writes that as negative yaw (fitted on real captures, module docstring)
    left_yaw = (c("eyeLookInLeft") - c("eyeLookOutLeft")) * MAX_YAW
    right_yaw = (c("eyeLookOutRight") - c("eyeLookInRight")) * MAX_YAW
    left_pitch = (c("eyeLookDownLeft") - c("eyeLookUpLeft")) * MAX_PITCH
    right_pitch = (c("eyeLookDownRight") - c("eyeLookUpRight")) * MAX_PITCH
    zero = np.zeros(len(v))
    return np.stack([left_yaw, left_pitch, zero, right_yaw, right_pitch, zero], axis=1).astype(np.float32)
