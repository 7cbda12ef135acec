"""Head and eye bones by name, and which Euler axis of a bone carries yaw, pitch and roll. No ``bpy``."""
from __future__ import annotations

import re

_HEAD = re.compile(r"^(def[-_.])?head$", re.I)
_LEFT_EYE = re.compile(r"^(def[-_.])?(eye[-_. ]?(l|left)|(l|left)[-_. ]?eye)(ball)?$", re.I)
_RIGHT_EYE = re.compile(r"^(def[-_.])?(eye[-_. ]?(r|right)|(r|right)[-_. ]?eye)(ball)?$", re.I)


def _strip_prefix(name: str) -> str:
    """``mixamorig:Head`` -> ``Head``; ``CC_Base_L_Eye`` keeps its tail ``L_Eye``."""
    name = name.split(":")[-1]
    return re.sub(r"^(cc_base_|rig_|bip0?1[ _]?)", "", name, flags=re.I)


def detect_bones(names: list[str]) -> tuple[str, str, str]:
    """``(head, left eye, right eye)`` bone names found by name (``""`` where none matches).

    Matches ``head``/``Head``/``DEF-head``/``mixamorig:Head`` and ``eye.L``/``eye_L``/``LeftEye``/
    ``L_Eye``/``eyeball.L`` and their right-hand twins, case-insensitively.
    """
    def first(pattern: re.Pattern) -> str:
        return next((n for n in names if pattern.match(_strip_prefix(n))), "")
    return first(_HEAD), first(_LEFT_EYE), first(_RIGHT_EYE)


#: Which Euler axis of a bone carries yaw, pitch and roll, by the way the bone points at rest.
#: A head bone points up its Y axis: yaw turns about Y, pitch nods about X, roll tilts about Z.
#: An eye bone points forward along Y (its Z up): yaw about Z, pitch about X, roll about Y.
#: An object (no bone) is Z-up, -Y forward: yaw about Z, pitch about X, roll about Y.
AXES_UPRIGHT = {"yaw": 1, "pitch": 0, "roll": 2}
AXES_FORWARD = {"yaw": 2, "pitch": 0, "roll": 1}


def axes_for(bone_vector: tuple[float, float, float] | None) -> dict[str, int]:
    """Axis table for a bone whose rest direction (armature space) is ``bone_vector``; None: an object."""
    if bone_vector is None:
        return AXES_FORWARD
    x, y, z = (abs(v) for v in bone_vector)
    return AXES_UPRIGHT if z >= max(x, y) else AXES_FORWARD
