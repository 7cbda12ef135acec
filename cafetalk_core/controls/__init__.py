"""Control conditions: coarse (emotion + intensity), fine-grained (time-spanned actions), head-motion spans."""
from .coarse import EMOTIONS, NUM_EMOTIONS, CoarseCondition, EmotionSpan, emotion_index
from .control_set import ControlSet
from .errors import ControlError
from .fine import FineControl, control_mask, parse_control_spec, rasterize_fine, span_frames, validate_fine
from .head import MAX_HEAD_MOTION, HeadSpan, check_head_motion, head_amount
from .vocabulary import ACTION_IDS, ACTIONS, NUM_ACTIONS, Action, action_index, get_action

__all__ = [
    "EMOTIONS", "NUM_EMOTIONS", "CoarseCondition", "EmotionSpan", "emotion_index", "ControlSet",
    "ControlError", "FineControl", "control_mask", "parse_control_spec", "rasterize_fine", "span_frames",
    "validate_fine", "MAX_HEAD_MOTION", "HeadSpan", "check_head_motion", "head_amount", "ACTION_IDS", "ACTIONS",
    "NUM_ACTIONS", "Action", "action_index", "get_action",
]
