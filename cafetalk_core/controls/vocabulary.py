"""The AU-like action vocabulary, defined on ARKit channels: one table for the whole project.

Each action names the ARKit channels it drives and the weight each reaches at full
intensity. The synthetic corpus uses the table to sculpt events, Algorithm 1 (binarize.py)
uses it to detect them, the model rasterises controls over it, and ``controls/text/`` maps words to it.
Row order is the tensor order of the fine condition: append, never reorder (checkpoints
depend on it).
"""
from __future__ import annotations

from dataclasses import dataclass

from .. import rig


@dataclass(frozen=True)
class Action:
    id: str                              # stable id used in JSON, NLA strip names, CLI
    label: str                           # what an artist reads
    channels: tuple[tuple[str, float], ...]  # ARKit channel -> weight at intensity 1
    threshold: float                     # Algorithm 1: mean activation over channels counted "on"
    aliases: tuple[str, ...] = ()
    region: str = "upper"                # "upper" face or "mouth" (mouth actions compete with lip sync)

    def channel_indices(self) -> list[int]:
        return [rig.channel_index(c) for c, _ in self.channels]


def _lr(stem: str, w: float) -> tuple[tuple[str, float], ...]:
    return ((f"{stem}Left", w), (f"{stem}Right", w))


ACTIONS: tuple[Action, ...] = (
    Action("AU1", "inner brow raise", (("browInnerUp", 0.8),), 0.35, ("inner_brow_raiser",)),
    Action("AU2", "outer brow raise", _lr("browOuterUp", 0.8), 0.35, ("outer_brow_raiser", "brow_raise")),
    Action("AU4", "brow lower", _lr("browDown", 0.8), 0.35, ("brow_lowerer", "frown_brows")),
    Action("AU5", "upper lid raise", _lr("eyeWide", 0.8), 0.35, ("eyes_wide",)),
    Action("AU6", "cheek raise", _lr("cheekSquint", 0.7), 0.3, ("cheek_raiser",)),
    Action("AU7", "lid tighten", _lr("eyeSquint", 0.7), 0.3, ("squint",)),
    Action("AU9", "nose wrinkle", _lr("noseSneer", 0.7), 0.3, ("sneer",)),
    Action("AU10", "upper lip raise", _lr("mouthUpperUp", 0.6), 0.3, ("upper_lip_raiser",), "mouth"),
    Action("AU12", "smile", _lr("mouthSmile", 0.8), 0.35, ("lip_corner_puller", "smile"), "mouth"),
    Action("AU14", "dimple", _lr("mouthDimple", 0.6), 0.3, ("dimpler",), "mouth"),
    Action("AU15", "lip corner depress", _lr("mouthFrown", 0.7), 0.3, ("frown",), "mouth"),
    Action("AU17", "chin raise", (("mouthShrugLower", 0.7),), 0.3, ("chin_raiser",), "mouth"),
    Action("AU18", "lip pucker", (("mouthPucker", 0.8),), 0.35, ("pucker",), "mouth"),
    Action("AU20", "lip stretch", _lr("mouthStretch", 0.6), 0.3, ("lip_stretcher",), "mouth"),
    Action("AU24", "lip press", _lr("mouthPress", 0.7), 0.3, ("lip_pressor", "AU23"), "mouth"),
    Action("AU26", "jaw drop", (("jawOpen", 0.7),), 0.45, ("jaw_open",), "mouth"),
    Action("AU45", "blink", _lr("eyeBlink", 1.0), 0.5, ("blink",)),
    Action("GAZE_L", "look left", (("eyeLookOutLeft", 0.7), ("eyeLookInRight", 0.7)), 0.35, ("look_left",)),
    Action("GAZE_R", "look right", (("eyeLookInLeft", 0.7), ("eyeLookOutRight", 0.7)), 0.35, ("look_right",)),
    Action("GAZE_U", "look up", _lr("eyeLookUp", 0.7), 0.35, ("look_up",)),
    Action("GAZE_D", "look down", _lr("eyeLookDown", 0.7), 0.35, ("look_down",)),
)
ACTION_IDS: tuple[str, ...] = tuple(a.id for a in ACTIONS)
NUM_ACTIONS = len(ACTIONS)
_BY_KEY: dict[str, Action] = {}
for _a in ACTIONS:
    for _k in (_a.id, *_a.aliases):
        _BY_KEY[_k.lower()] = _a


def get_action(key: str) -> Action:
    """Action by id or alias, case-insensitive (``au12``, ``smile``)."""
    try:
        return _BY_KEY[str(key).strip().lower()]
    except KeyError:
        raise KeyError(f"unknown action {key!r}; known: {', '.join(ACTION_IDS)}") from None


def action_index(key: str) -> int:
    return ACTION_IDS.index(get_action(key).id)
