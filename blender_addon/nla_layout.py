"""NLA layout: where takes, the artist's kept action and the hand-fix strip sit on the shape keys.

Bottom to top: a "CafeTalk Base" track holding a rest strip when the add-on made the NLA, the artist's own
tracks (an artist's active action is pushed down into "Kept: <name>", never modified, always
below every take), one "CafeTalk Take: <action>" track per take (only the newest unmuted, so
takes can be compared by toggling mute or blended with the influence each take strip keeps
as a key), the muted "CafeTalk Controls"/"CafeTalk Emotions" tracks (:mod:`.nla_controls`),
and an additive "CafeTalk Fixes" strip on top for hand keys. The actions themselves come
from :mod:`.take_store`.

Why the Base track: Blender's Python API adds a track only *above* another one (or on top),
never at the bottom, and has no call to move one. A take written on an empty NLA would be
the bottom track, and an action the artist keys later could then only be kept above the
takes, where it would override them. The Base track keeps a place below the takes. Its rest
strip (every shape key a take drives, keyed 0, held both ways) is what plays outside a take
and what a take's influence blends toward: with nothing below, the NLA falls back to the
property's default, which for a shape key's value is 0 in Blender 4.x but 1.0 in 5.0 (every
mapped key fully on outside the take).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .fcurves import action_fcurves, has_slots, new_action_for, write_fcurve
from .io.errors import CafeTalkError
from .take_store import is_take

TAKE_TRACK_PREFIX = "CafeTalk Take: "
FIXES_TRACK = "CafeTalk Fixes"
BASE_TRACK = "CafeTalk Base"
KEPT_TRACK_PREFIX = "Kept: "


def is_cafetalk_track(track: Any) -> bool:
    return track.name.startswith("CafeTalk ")


def take_tracks(anim: Any) -> list[Any]:
    return [t for t in anim.nla_tracks if t.name.startswith(TAKE_TRACK_PREFIX)]


def ensure_base(key: Any) -> Any | None:
    """On an empty NLA, the Base track with its (so far empty) rest strip; else the existing Base or ``None``."""
    anim = key.animation_data or key.animation_data_create()
    for t in anim.nla_tracks:
        if t.name == BASE_TRACK:
            return t
    if len(anim.nla_tracks):
        return None  # the artist's tracks are the bottom: their stack, their rest
    action, slot, _ = new_action_for(key, f"CafeTalk_Rest_{key.user.name}")
    action.use_fake_user = True
    base = anim.nla_tracks.new()
    base.name = BASE_TRACK
    strip = base.strips.new("Rest", 0, action)
    if slot is not None and hasattr(strip, "action_slot"):
        strip.action_slot = slot
    strip.extrapolation = "HOLD"
    return base


def rest_on(base: Any, take: Any) -> None:
    """Add to the rest strip a 0 key for every F-curve of ``take`` it lacks (one key, held)."""
    strip = base.strips[0]
    rest = strip.action
    slot = getattr(strip, "action_slot", None)
    have = {fc.data_path for fc in action_fcurves(rest)}
    fcurves = rest.layers[0].strips[0].channelbag(slot, ensure=True).fcurves if has_slots(rest) else rest.fcurves
    for fc in action_fcurves(take):
        if fc.data_path not in have:
            write_fcurve(fcurves, fc.data_path, np.zeros(1), np.zeros(1), "CONSTANT")


def plays(track: Any) -> bool:
    """A CafeTalk track that is animation (a take or the fixes), not muted data."""
    return track.name.startswith(TAKE_TRACK_PREFIX) or track.name == FIXES_TRACK


def keep_active_action(anim: Any) -> Any | None:
    """Move the artist's active action (never a take) into its own NLA track below every take; return it.

    The action itself is not modified; its keys keep playing under the takes.
    """
    action = anim.action
    if action is None or is_take(action):
        return None
    tracks = list(anim.nla_tracks)
    first = next((i for i, t in enumerate(tracks) if plays(t)), None)
    if first == 0:  # a file whose take is the bottom track (no Base track): nothing can go below it
        raise CafeTalkError(f"cannot keep the active action {action.name!r} below the takes: track "
                            f"{tracks[0].name!r} is the bottom of the NLA; push the action down in the NLA "
                            "editor and move it below the takes, then generate again")
    slot = getattr(anim, "action_slot", None)
    track = anim.nla_tracks.new(prev=tracks[first - 1]) if first is not None else anim.nla_tracks.new()
    track.name = KEPT_TRACK_PREFIX + action.name
    strip = track.strips.new(action.name, int(action.frame_range[0]), action)
    if slot is not None and hasattr(strip, "action_slot"):
        strip.action_slot = slot
    anim.action = None
    return track


def push_take(key: Any, action: Any, slot: Any, start_frame: float, end_frame: float) -> Any:
    """Put the take on its own track above earlier takes, mute the others, ensure the fixes track."""
    anim = key.animation_data or key.animation_data_create()
    base = ensure_base(key)
    if base is not None:
        rest_on(base, action)
    keep_active_action(anim)
    takes = take_tracks(anim)
    below = [t for t in anim.nla_tracks if not is_cafetalk_track(t) or t.name == BASE_TRACK]
    track = anim.nla_tracks.new(prev=takes[-1] if takes else (below[-1] if below else None))
    track.name = TAKE_TRACK_PREFIX + action.name
    strip = track.strips.new(action.name, int(round(start_frame)), action)
    if slot is not None and hasattr(strip, "action_slot"):
        strip.action_slot = slot
    strip.blend_type = "REPLACE"
    strip.extrapolation = "NOTHING"
    set_animated_influence(strip, 1.0)
    for t in take_tracks(anim):
        t.mute = t != track
    ensure_fixes_track(key, start_frame, end_frame)
    return strip


def set_animated_influence(strip: Any, value: float) -> None:
    """Give the strip an influence Blender evaluates and saves: one key on its own influence F-curve.

    Without ``use_animated_influence`` a strip's ``influence`` is not used at all; with it the
    F-curve wins over ``strip.influence``, so the key's value is set directly (the panel's
    slider edits that key, see :func:`influence_key`).
    """
    strip.use_animated_influence = True
    strip.influence = value
    for fc in strip.fcurves:
        if fc.data_path == "influence":
            if not len(fc.keyframe_points):
                fc.keyframe_points.insert(strip.frame_start, value)
            for k in fc.keyframe_points:
                k.co[1] = value
                k.handle_left[1] = k.handle_right[1] = value
            fc.update()


def influence_key(strip: Any) -> Any | None:
    """The one key holding a strip's influence (what the Takes panel's slider edits); ``None`` when
    the artist animated it with several keys (then the NLA sidebar is the place to edit it)."""
    if not strip.use_animated_influence:
        return None
    for fc in strip.fcurves:
        if fc.data_path == "influence" and len(fc.keyframe_points) == 1:
            return fc.keyframe_points[0]
    return None


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
