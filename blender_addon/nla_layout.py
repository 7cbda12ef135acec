"""NLA layout: where takes, the artist's kept action and the hand-fix strip sit on the shape keys.

Bottom to top: the artist's own tracks (an artist's active action is pushed down into
"Kept: <name>", never modified), one "CafeTalk Take: <action>" track per take (only the
newest unmuted, so takes can be compared by toggling mute or blended with influence), the
muted "CafeTalk Controls"/"CafeTalk Emotions" tracks (:mod:`.nla_controls`), and an additive
"CafeTalk Fixes" strip on top for hand keys. The actions themselves come from
:mod:`.take_store`.
"""
from __future__ import annotations

from typing import Any

from .fcurves import new_action_for
from .take_store import is_take

TAKE_TRACK_PREFIX = "CafeTalk Take: "
FIXES_TRACK = "CafeTalk Fixes"
KEPT_TRACK_PREFIX = "Kept: "


def is_cafetalk_track(track: Any) -> bool:
    return track.name.startswith("CafeTalk ")


def take_tracks(anim: Any) -> list[Any]:
    return [t for t in anim.nla_tracks if t.name.startswith(TAKE_TRACK_PREFIX)]


def keep_active_action(anim: Any) -> Any | None:
    """Move the artist's active action (never a take) into its own NLA track; return that track.

    The action itself is not modified; its keys keep playing under the takes.
    """
    action = anim.action
    if action is None or is_take(action):
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
