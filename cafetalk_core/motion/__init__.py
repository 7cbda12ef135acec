"""Motion stages after sampling: closure-aware smoothing, the blink stage, eye rotations, head motion rules.

The diffusion model draws each frame's weights; what an animator judges is the motion between
frames (issue 16). These stages run in ``pipeline.Generator`` after sampling, on numpy, each
with one job and a documented reason; ``docs/model.md`` ("Motion finishing") has the measured
effect of each on the real-speech validation set.
"""
from .blinks import BlinkConfig, add_spontaneous_blinks
from .eyes import eye_rotations
from .finish import FinishConfig, finish_lips_and_face

__all__ = ["BlinkConfig", "add_spontaneous_blinks", "FinishConfig", "finish_lips_and_face", "eye_rotations"]
