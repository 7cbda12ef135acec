"""Head and eye rotations of a take, and the rig that follows them.

The 9 rotations (Live Link's columns, radians) are keyed as custom properties of the
shape-key datablock (``key["cafetalk_HeadYaw"]`` ...) inside the take's own action, in the same
slot as the shape keys, so muting, soloing or blending takes in the NLA moves the head and the
eyes with the face. The chosen head bone (or an object) and eye bones follow those properties
through drivers, set up once by :func:`drive_head`: one action per take on every Blender
version from 4.2, and no second slot or NLA track on the armature to keep in step with the
face's. Why not key the bones directly: a bone lives on another datablock (the armature
object), so its keys would need a second slot of the action and a second NLA stack that the
Takes panel would have to mute in step, which an artist's clicks in the NLA editor would break.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import take_store
from .fcurves import has_slots, write_fcurve
from .io import bones
from .io.curves import ROTATION_NAMES, Curves
from .io.errors import CafeTalkError

ROTATION_PROP_PREFIX = "cafetalk_"
ROTATIONS_PROP = "cafetalk_rotations"   # on a take's action: the exact rotations, packed like the curves
BLENDER_MAX_FRAME = 1048574


def rotation_prop(name: str) -> str:
    return ROTATION_PROP_PREFIX + name


def _take_fcurves(action: Any, slot: Any) -> Any:
    """The F-curve collection the take's shape keys live in (its slot's channelbag, or legacy)."""
    if has_slots(action):
        return action.layers[0].strips[0].channelbag(slot, ensure=True).fcurves
    return action.fcurves


def key_rotations(key: Any, action: Any, slot: Any, rotations: np.ndarray, start_frame: float,
                  scene_fps: float, fps: float, interpolation: str = "LINEAR") -> None:
    """Key the (frames, 9) rotations as the shape-key datablock's custom properties in ``action``."""
    rotations = np.asarray(rotations, dtype=np.float32)
    frames = start_frame + np.arange(rotations.shape[0], dtype=np.float64) * (scene_fps / fps)
    fcurves = _take_fcurves(action, slot)
    ensure_rotation_props(key)
    for c, name in enumerate(ROTATION_NAMES):
        write_fcurve(fcurves, f'["{rotation_prop(name)}"]', frames, rotations[:, c], interpolation)
    action[ROTATIONS_PROP] = take_store.pack_curves(Curves(fps, ROTATION_NAMES, rotations))


def take_rotations(action: Any) -> np.ndarray | None:
    """The exact rotations stored on a take, or None when it has none."""
    if ROTATIONS_PROP not in action:
        return None
    return take_store.unpack_curves(action[ROTATIONS_PROP]).values


# -- drivers: bones (or an object) follow the keyed properties ---------------------------------------

def _driven_targets(props: Any) -> list[tuple[Any, str, dict[str, tuple[int, float]]]]:
    """``(pose bone or object, Live Link prefix, axis table)`` for the head and each eye chosen."""
    rig = props.head_rig
    if rig is None:
        raise CafeTalkError("choose the head rig (an armature, or an object to turn) in the CafeTalk Head panel")
    if rig.type != "ARMATURE":
        return [(rig, "Head", bones.axes_for(None))]
    out = []
    for bone_name, prefix in ((props.head_bone, "Head"), (props.left_eye_bone, "LeftEye"),
                              (props.right_eye_bone, "RightEye")):
        if not bone_name:
            continue
        pb = rig.pose.bones.get(bone_name)
        if pb is None:
            raise CafeTalkError(f"armature {rig.name!r} has no bone {bone_name!r}")
        out.append((pb, prefix, bones.axes_for([list(row) for row in pb.bone.matrix_local.to_3x3()])))
    if not out:
        raise CafeTalkError(f"no head or eye bone chosen on {rig.name!r}: use Detect Bones or pick them")
    return out


def ensure_rotation_props(key: Any) -> None:
    """The 9 float properties on the shape-key datablock, and the key re-evaluated so drivers see them
    (a property added after the evaluated copy was made is missing from it: the driver would fail)."""
    missing = [n for n in ROTATION_NAMES if rotation_prop(n) not in key]
    for name in missing:
        key[rotation_prop(name)] = 0.0
    if missing:
        key.update_tag()


def drive_head(key: Any, props: Any) -> list[str]:
    """Drivers from ``key["cafetalk_<rotation>"]`` onto the chosen head/eye bones (or object)."""
    ensure_rotation_props(key)
    driven = []
    for target, prefix, axes in _driven_targets(props):
        target.rotation_mode = "XYZ"
        for part in ("Yaw", "Pitch", "Roll"):
            axis, sign = axes[part.lower()]
            target.driver_remove("rotation_euler", axis)
            drv = target.driver_add("rotation_euler", axis).driver
            # a negated axis: a simple expression, which Blender evaluates without running Python
            drv.type = "AVERAGE" if sign > 0 else "SCRIPTED"
            if sign < 0:
                drv.expression = f"-{part.lower()}"
            var = drv.variables.new()
            var.name = part.lower()
            var.type = "SINGLE_PROP"
            var.targets[0].id_type = "KEY"
            var.targets[0].id = key
            var.targets[0].data_path = f'["{rotation_prop(prefix + part)}"]'
        driven.append(getattr(target, "name", str(target)))
    return driven


def detect_head(props: Any) -> tuple[str, str, str]:
    """Fill the head/eye bone names from the rig's bones (see :func:`bones.detect_bones`)."""
    rig = props.head_rig
    if rig is None or rig.type != "ARMATURE":
        raise CafeTalkError("choose an armature as the head rig to detect its bones")
    found = bones.detect_bones([b.name for b in rig.data.bones])
    props.head_bone, props.left_eye_bone, props.right_eye_bone = found
    if not any(found):
        raise CafeTalkError(f"no bone of {rig.name!r} is named like head / eye.L / LeftEye: pick them by hand")
    return found


