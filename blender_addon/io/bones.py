"""Head and eye bones by name, and which Euler axis of a bone carries yaw, pitch and roll. No ``bpy``."""
from __future__ import annotations

import re
from typing import Sequence

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


#: The rotations' axes in armature (or world) space, Z up, the subject facing -Y: yaw turns about
#: +Z (positive: to the subject's left), pitch about +X (positive: down), roll about the facing
#: direction -Y (positive: the top of the head to the subject's right).
ROTATION_AXES = {"yaw": (0.0, 0.0, 1.0), "pitch": (1.0, 0.0, 0.0), "roll": (0.0, -1.0, 0.0)}


def axes_for(rest: Sequence[Sequence[float]] | None) -> dict[str, tuple[int, float]]:
    """``{"yaw"|"pitch"|"roll": (Euler index, sign)}`` for a bone whose rest orientation in armature
    space is the 3x3 ``rest`` (its columns are the bone's local X, Y, Z; Blender's
    ``bone.matrix_local``); None: an object at rest (its axes are the world's).

    Why the orientation, not the bone's direction: a bone turns about its own local axes, which its
    direction and roll set. A head bone points up its Y (yaw about Y); an eye bone points forward
    along Y (yaw about its Z, and with Blender's default roll its X points to the subject's right,
    so a positive pitch turns about -X: the sign comes out -1). The direction alone was read in the
    parent's space (``bone.vector``), so an eye bone parented to the head looked upright and was
    spun about its own axis instead of turned.
    """
    m = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]] if rest is None else [list(map(float, r)) for r in rest]
    out = {}
    for name, axis in ROTATION_AXES.items():
        dots = [sum(m[r][c] * axis[r] for r in range(3)) for c in range(3)]
        best = max(range(3), key=lambda c: abs(dots[c]))
        out[name] = (best, 1.0 if dots[best] >= 0 else -1.0)
    return out
