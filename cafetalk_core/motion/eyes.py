"""Eye rotations (Live Link's LeftEye/RightEye yaw, pitch, roll) from the gaze blendshapes.

ARKit's eyeLook* weights and the eye transforms describe the same gaze, so the rotations are
derived, not generated: yaw from look-in/out, pitch from look-up/down, roll 0.

Signs and scales are fitted to real Live Link Face captures (issue 24: the NeuroSync TRAIN
takes, which hold both the eyeLook weights and the eye rotations; ``python -m
cafetalk_core.evaluation.fit_motion_rules``): eye yaw = -35.1 deg x (lookOut - lookIn) of the left eye
(correlation -0.99); pitch = +24.6 deg x (lookDown - lookUp) (correlation 0.99): looking down is
positive pitch. ``MAX_YAW`` / ``MAX_PITCH`` are the angles a weight of 1 means.

The yaw SIGN is the project's, not the captures': real Live Link files write a look to the
subject's left as *negative* eye yaw, while this project writes it positive (as its head stage,
docs/model.md, and the add-on's bone drivers, which put the value straight on a Blender Euler
angle, where positive Z turns a forward-looking bone to the subject's left). Changing it here
alone would turn our eyes against our own head and make "look left" look right in Blender; the
sign needs one change across the core, the add-on drivers and the demo (reported, issue 24).
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
    # the subject's left eye looks to its left when it looks "out"; the right eye when it looks "in"
    # (positive yaw here; real Live Link files write it negative: see the module docstring)
    left_yaw = (c("eyeLookOutLeft") - c("eyeLookInLeft")) * MAX_YAW
    right_yaw = (c("eyeLookInRight") - c("eyeLookOutRight")) * MAX_YAW
    left_pitch = (c("eyeLookDownLeft") - c("eyeLookUpLeft")) * MAX_PITCH
    right_pitch = (c("eyeLookDownRight") - c("eyeLookUpRight")) * MAX_PITCH
    zero = np.zeros(len(v))
    return np.stack([left_yaw, left_pitch, zero, right_yaw, right_pitch, zero], axis=1).astype(np.float32)
