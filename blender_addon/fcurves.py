"""F-curve writing: actions on a datablock and bulk keys, across Blender's two action APIs.

The one place that knows how Blender stores keys. Blender 4.4+ writes through action slots
(``action.slots``, ``layers``, ``strips``, ``channelbag(slot).fcurves``; 5.0 removed
``action.fcurves``); 4.2/4.3 use the legacy ``action.fcurves``. Keys go in with one
``keyframe_points.add(n)`` and one ``foreach_set`` per F-curve (52 x 9,000 keys in a fraction
of a second, where a ``keyframe_insert`` per key takes tens of seconds: see
``benchmarks/bench_keyframes.py``). Nothing here knows about takes or the NLA.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .io.errors import CafeTalkError

INTERPOLATION = {"CONSTANT": 0, "LINEAR": 1, "BEZIER": 2}  # eBezTriple_Interpolation


def has_slots(action: Any) -> bool:
    """Blender 4.4+ layered actions (slots, layers, channelbags)."""
    return hasattr(action, "slots") and hasattr(action, "layers")


def new_action_for(id_data: Any, name: str) -> tuple[Any, Any, Any]:
    """A new action animating ``id_data``: ``(action, slot or None, fcurves collection)``."""
    import bpy
    action = bpy.data.actions.new(name)
    if has_slots(action):
        slot = action.slots.new(id_type=id_data.id_type, name=id_data.name)
        strip = action.layers.new("Layer").strips.new(type="KEYFRAME")
        return action, slot, strip.channelbag(slot, ensure=True).fcurves
    action.id_root = id_data.id_type
    return action, None, action.fcurves


def action_fcurves(action: Any) -> list[Any]:
    """Every F-curve of an action, slotted or legacy."""
    if has_slots(action):
        out = []
        for layer in action.layers:
            for strip in layer.strips:
                for bag in getattr(strip, "channelbags", ()):
                    out.extend(bag.fcurves)
        return out
    return list(action.fcurves)


def write_fcurve(fcurves: Any, data_path: str, frames: np.ndarray, values: np.ndarray,
                 interpolation: str = "LINEAR") -> Any:
    """One F-curve with ``len(frames)`` keys (strictly increasing frames), written in bulk."""
    return write_fcurves(fcurves, [(data_path, frames, values)], interpolation)[0]


def write_fcurves(fcurves: Any, channels: Sequence[tuple[str, np.ndarray, np.ndarray]],
                  interpolation: str = "LINEAR") -> list[Any]:
    """One F-curve per ``(data_path, frames, values)``, keys written in bulk; frames strictly increasing.

    Per curve: ``keyframe_points.add(n)`` and one ``foreach_set``. BEZIER keys (what ``add``
    makes) get ``co`` and then ``handles_recalc()``: Blender's own auto-clamped handles (the
    keys are already sorted and unique, so ``FCurve.update()``'s sort is not needed). LINEAR
    and CONSTANT keys get ``co_ui``, which costs the same as ``co`` and also moves both
    handles onto the key (from (0, 0), where ``add`` leaves them), plus one ``foreach_set`` of
    the interpolation: their handles are never used to evaluate, so recomputing them (as long
    as the floor itself) would only slow the take writer; Blender's editing tools recompute
    handles when a key is moved or turned Bezier. Buffers are shared between curves.
    """
    if interpolation not in INTERPOLATION:
        raise CafeTalkError(f"interpolation must be one of {sorted(INTERPOLATION)}, got {interpolation!r}")
    out = []
    co = ipo = None
    last_frames = None
    for data_path, frames, values in channels:
        n = len(frames)
        if co is None or len(co) != 2 * n:
            co = np.empty(2 * n, dtype=np.float32)
            ipo = np.full(n, INTERPOLATION[interpolation], dtype=np.int32)
            last_frames = None
        if last_frames is not frames:
            co[0::2] = frames
            last_frames = frames
        co[1::2] = values
        fc = fcurves.new(data_path, index=0)
        points = fc.keyframe_points
        points.add(n)
        if interpolation == "BEZIER":
            points.foreach_set("co", co)
            points.handles_recalc()
        else:
            points.foreach_set("co_ui", co)
            points.foreach_set("interpolation", ipo)
        out.append(fc)
    return out
