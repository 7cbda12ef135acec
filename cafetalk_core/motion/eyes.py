"""Eye rotations (Live Link's LeftEye/RightEye yaw, pitch, roll) from the gaze blendshapes.

ARKit's eyeLook* weights and the eye transforms describe the same gaze, so the rotations are
derived, not generated: yaw from look-in/out, pitch from look-up/down, roll 0. Signs follow
Live Link Face: positive yaw turns the eye to the subject's left, positive pitch looks down.
``MAX_YAW`` / ``MAX_PITCH`` are the angles a weight of 1 means (about the human range).
"""
from __future__ import annotations

import numpy as np

from .. import rig

MAX_YAW = np.radians(30.0)
MAX_PITCH = np.radians(25.0)


def eye_rotations(values: np.ndarray) -> np.ndarray:
    """(frames, 52) ARKit-ordered weights -> (frames, 6): Left yaw, pitch, roll, Right yaw, pitch, roll."""
    v = np.asarray(values, np.float64)
    c = lambda name: v[:, rig.channel_index(name)]  # noqa: E731
    # the subject's left eye looks to its left when it looks "out"; the right eye when it looks "in"
    left_yaw = (c("eyeLookOutLeft") - c("eyeLookInLeft")) * MAX_YAW
    right_yaw = (c("eyeLookInRight") - c("eyeLookOutRight")) * MAX_YAW
    left_pitch = (c("eyeLookDownLeft") - c("eyeLookUpLeft")) * MAX_PITCH
    right_pitch = (c("eyeLookDownRight") - c("eyeLookUpRight")) * MAX_PITCH
    zero = np.zeros(len(v))
    return np.stack([left_yaw, left_pitch, zero, right_yaw, right_pitch, zero], axis=1).astype(np.float32)
