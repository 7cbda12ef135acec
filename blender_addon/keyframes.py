"""Curves -> a take: a new action on the shape-key datablock, pushed as an NLA strip.

Fast path: one ``keyframe_points.add(n)`` and one ``foreach_set`` per F-curve (52 x 9,000
keys in well under a second; a ``keyframe_insert`` per key is ~100x slower, see
``benchmarks/bench_keyframes.py``). Blender 4.4+ writes through action slots (5.0 removed
``action.fcurves``); 4.2/4.3 fall back to ``action.fcurves``.

NLA layout on the shape keys (bottom to top): the artist's own tracks (an artist's active
action is pushed down into "Kept: <name>", never modified), one "CafeTalk Take: <action>"
track per take (only the newest unmuted, so takes can be compared by toggling mute or
blended with influence), the muted "CafeTalk Controls"/"CafeTalk Emotions" tracks, and an
additive "CafeTalk Fixes" strip on top for hand keys.
"""
from __future__ import annotations

import base64
import json
import re
import zlib
from typing import Any, Sequence

import numpy as np

from .errors import CafeTalkError
from .formats import Curves, reduce_keys
from .mapping import Row, targets

TAKE_TRACK_PREFIX = "CafeTalk Take: "
FIXES_TRACK = "CafeTalk Fixes"
KEPT_TRACK_PREFIX = "Kept: "
TAKE_PROP = "cafetalk_take"          # on a take's action: JSON of how it was made
CURVES_PROP = "cafetalk_curves"      # on a take's action: the exact curves (zlib + base64)
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
    """One F-curve with ``len(frames)`` keys, written in bulk."""
    if interpolation not in INTERPOLATION:
        raise CafeTalkError(f"interpolation must be one of {sorted(INTERPOLATION)}, got {interpolation!r}")
    fc = fcurves.new(data_path, index=0)
    n = len(frames)
    points = fc.keyframe_points
    points.add(n)
    co = np.empty(2 * n, dtype=np.float32)
    co[0::2] = frames
    co[1::2] = values
    points.foreach_set("co", co)
    points.foreach_set("interpolation", np.full(n, INTERPOLATION[interpolation], dtype=np.int32))
    fc.update()  # sorts and computes Bezier handles
    return fc


def shape_key_values(curves: Curves, rows: Sequence[Row]) -> dict[str, np.ndarray]:
    """Per shape key, its value per frame: ``max(weight * channel)`` over the rows driving it."""
    out: dict[str, np.ndarray] = {}
    for key_name, sources in targets(rows).items():
        cols = [curves.column(a) * np.float32(w) for a, w in sources if a.lower() in {n.lower() for n in curves.names}]
        if cols:
            out[key_name] = np.max(np.stack(cols), axis=0) if len(cols) > 1 else cols[0]
    return out


def write_take(key: Any, curves: Curves, rows: Sequence[Row], start_frame: float, name: str,
               scene_fps: float, interpolation: str = "LINEAR", tolerance: float = 0.0,
               meta: dict[str, Any] | None = None, store_curves: bool = True) -> tuple[Any, Any]:
    """Write ``curves`` into a new action for the Key datablock ``key``; return ``(action, slot)``.

    Frame ``i`` of the curves lands on scene frame ``start_frame + i * scene_fps / curves.fps``.
    ``tolerance > 0`` keeps only the keys needed to stay within it (linear error).
    ``store_curves`` keeps the exact curves on the action (Regenerate span needs them).
    """
    names = {kb.name for kb in key.key_blocks}
    missing = sorted({r.shape_key for r in rows if r.shape_key and r.shape_key not in names})
    if missing:
        raise CafeTalkError(f"mapping names shape keys that {key.user.name!r} lacks: {', '.join(missing[:5])}")
    per_key = shape_key_values(curves, rows)
    if not per_key:
        raise CafeTalkError(f"no ARKit channel maps to a shape key of {key.user.name!r}: fill the mapping table")
    action, slot, fcurves = new_action_for(key, name)
    frames_all = start_frame + np.arange(curves.num_frames, dtype=np.float64) * (scene_fps / curves.fps)
    for key_name, values in per_key.items():
        idx = reduce_keys(values, tolerance) if tolerance > 0 else np.arange(len(values))
        write_fcurve(fcurves, f'key_blocks["{_escape(key_name)}"].value', frames_all[idx], values[idx], interpolation)
    action[TAKE_PROP] = json.dumps({**(meta or {}), "start_frame": start_frame, "fps": curves.fps})
    if store_curves:
        action[CURVES_PROP] = pack_curves(curves)
    return action, slot


def _escape(name: str) -> str:
    return name.replace("\\", "\\\\").replace('"', '\\"')


def pack_curves(curves: Curves) -> str:
    """The exact curves as a compact string (kept on the action for regenerating a span)."""
    blob = zlib.compress(np.ascontiguousarray(curves.values, dtype="<f4").tobytes(), 1)
    return json.dumps({"fps": curves.fps, "names": list(curves.names), "frames": curves.num_frames,
                       "data": base64.b64encode(blob).decode("ascii")})


def unpack_curves(text: str) -> Curves:
    d = json.loads(text)
    values = np.frombuffer(zlib.decompress(base64.b64decode(d["data"])), dtype="<f4")
    return Curves(float(d["fps"]), tuple(d["names"]), values.reshape(int(d["frames"]), len(d["names"])).copy())


def take_curves(action: Any) -> Curves:
    if CURVES_PROP not in action:
        raise CafeTalkError(f"action {action.name!r} is not a CafeTalk take (no stored curves)")
    return unpack_curves(action[CURVES_PROP])


def take_meta(action: Any) -> dict[str, Any]:
    return json.loads(action[TAKE_PROP]) if TAKE_PROP in action else {}


def next_take_name(stem: str) -> str:
    """``CafeTalk_<stem>_<n>`` with n one past the highest existing take of that stem."""
    import bpy
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_") or "audio"
    pat = re.compile(rf"^CafeTalk_{re.escape(stem)}_(\d+)$")
    taken = [int(m.group(1)) for a in bpy.data.actions if (m := pat.match(a.name))]
    return f"CafeTalk_{stem}_{max(taken, default=0) + 1}"


# -- NLA layout --------------------------------------------------------------------------------
def is_cafetalk_track(track: Any) -> bool:
    return track.name.startswith("CafeTalk ")


def take_tracks(anim: Any) -> list[Any]:
    return [t for t in anim.nla_tracks if t.name.startswith(TAKE_TRACK_PREFIX)]


def keep_active_action(anim: Any) -> Any | None:
    """Move the artist's active action (never a take) into its own NLA track; return that track.

    The action itself is not modified; its keys keep playing under the takes.
    """
    action = anim.action
    if action is None or TAKE_PROP in action:
        return None
    slot = getattr(anim, "action_slot", None)
    tracks = list(anim.nla_tracks)
    first_ct = next((i for i, t in enumerate(tracks) if is_cafetalk_track(t)), None)
    track = anim.nla_tracks.new(prev=tracks[first_ct - 1]) if first_ct else anim.nla_tracks.new()
    track.name = KEPT_TRACK_PREFIX + action.name
    strip = track.strips.new(action.name, int(action.frame_range[0]), action)
    if slot is not None and hasattr(strip, "action_slot"):
        strip.action_slot = slot
    anim.action = None
    return track


def push_take(key: Any, action: Any, slot: Any, start_frame: float, end_frame: float) -> Any:
    """Put the take on its own track above earlier takes, mute the others, ensure the fixes track."""
    anim = key.animation_data or key.animation_data_create()
    keep_active_action(anim)
    takes = take_tracks(anim)
    tracks = list(anim.nla_tracks)
    if takes:
        track = anim.nla_tracks.new(prev=takes[-1])
    else:
        non_ct = [t for t in tracks if not is_cafetalk_track(t)]
        first_ct = next((i for i, t in enumerate(tracks) if is_cafetalk_track(t)), None)
        if first_ct is None:
            track = anim.nla_tracks.new()
        elif first_ct > 0:
            track = anim.nla_tracks.new(prev=tracks[first_ct - 1])
        else:  # only CafeTalk tracks, none a take: go on top, below nothing we can reorder
            track = anim.nla_tracks.new(prev=non_ct[-1]) if non_ct else anim.nla_tracks.new()
    track.name = TAKE_TRACK_PREFIX + action.name
    strip = track.strips.new(action.name, int(round(start_frame)), action)
    if slot is not None and hasattr(strip, "action_slot"):
        strip.action_slot = slot
    strip.blend_type = "REPLACE"
    strip.extrapolation = "NOTHING"
    for t in take_tracks(anim):
        t.mute = t != track
    ensure_fixes_track(key, start_frame, end_frame)
    return strip


def ensure_fixes_track(key: Any, start_frame: float, end_frame: float) -> Any:
    """The additive hand-fix strip on top (an empty action the artist keys in tweak mode)."""
    anim = key.animation_data or key.animation_data_create()
    for t in anim.nla_tracks:
        if t.name == FIXES_TRACK:
            return t
    action, slot, _ = new_action_for(key, f"CafeTalk_Fixes_{key.user.name}")
    action.use_frame_range = True
    action.frame_start, action.frame_end = float(start_frame), float(max(end_frame, start_frame + 1))
    action.use_fake_user = True
    track = anim.nla_tracks.new()
    track.name = FIXES_TRACK
    strip = track.strips.new("Fixes", int(round(start_frame)), action)
    if slot is not None and hasattr(strip, "action_slot"):
        strip.action_slot = slot
    strip.blend_type = "ADD"
    strip.extrapolation = "NOTHING"
    return track


def active_take(key: Any) -> Any | None:
    """The unmuted take (the one playing), else the newest."""
    anim = key.animation_data
    if anim is None:
        return None
    takes = take_tracks(anim)
    for t in reversed(takes):
        if not t.mute and t.strips:
            return t.strips[0].action
    return takes[-1].strips[0].action if takes and takes[-1].strips else None
