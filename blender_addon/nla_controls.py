"""Fine controls and emotion spans <-> NLA strips the artist drags and resizes.

Layout on the shape-key datablock's NLA: muted tracks "CafeTalk Controls" (a strip per fine
control: name = action id, frame range = span, influence = intensity) and "CafeTalk
Emotions" (a strip per emotion span). NLA strips on one track cannot overlap, but a smile may
overlap a brow raise, so a strip that does not fit goes to "CafeTalk Controls 2", and so on.
Each strip references a tiny placeholder action (``CafeTalkCtl_AU12``) whose custom property
names the action, so renaming a strip does not lose what it is. The tracks stay muted: the
strips are data for the server, never animation.
"""
from __future__ import annotations

from typing import Any

from .errors import CafeTalkError
from .nla_layout import ensure_base, set_animated_influence
from .vocabulary import action_id_of, emotion_of

CONTROLS_TRACK = "CafeTalk Controls"
EMOTIONS_TRACK = "CafeTalk Emotions"
ACTION_PROP = "cafetalk_action"
EMOTION_PROP = "cafetalk_emotion"


def placeholder_action(kind: str, label: str) -> Any:
    """The shared placeholder action for one action id or emotion (created once)."""
    import bpy
    prefix, prop = ("CafeTalkCtl_", ACTION_PROP) if kind == "fine" else ("CafeTalkEmo_", EMOTION_PROP)
    name = prefix + label
    action = bpy.data.actions.get(name)
    if action is None:
        action = bpy.data.actions.new(name)
        action.use_frame_range = True
        action.frame_start, action.frame_end = 0.0, 1.0
        action.use_fake_user = True
        action[prop] = label
    return action


def _tracks(anim: Any, base: str) -> list[Any]:
    return [t for t in anim.nla_tracks if t.name == base or (t.name.startswith(base + " ") and t.name[len(base) + 1:].isdigit())]


def add_strip(key: Any, kind: str, label: str, start_frame: float, end_frame: float, intensity: float) -> Any:
    """One control strip; goes on the first track of its kind with room, or a new one."""
    if end_frame <= start_frame:
        raise CafeTalkError(f"control {label}: end frame {end_frame:g} must be after start frame {start_frame:g}")
    if not 0.0 <= intensity <= 1.0:
        raise CafeTalkError(f"control {label}: intensity must be in [0, 1], got {intensity:g}")
    base = CONTROLS_TRACK if kind == "fine" else EMOTIONS_TRACK
    anim = key.animation_data or key.animation_data_create()
    ensure_base(key)  # on an empty NLA, keep the bottom for the rest strip and kept actions
    action = placeholder_action(kind, label)
    tracks = _tracks(anim, base)
    strip = None
    for track in tracks:
        strip = _try_place(track, label, start_frame, end_frame, action)
        if strip is not None:
            break
    if strip is None:
        track = anim.nla_tracks.new()
        track.name = base if not tracks else f"{base} {len(tracks) + 1}"
        track.mute = True
        strip = _try_place(track, label, start_frame, end_frame, action)
        if strip is None:
            raise CafeTalkError(f"control {label}: cannot place a strip on frames {start_frame:g}-{end_frame:g}")
    set_intensity(strip, intensity)
    return strip


def set_intensity(strip: Any, intensity: float) -> None:
    """Store intensity as the strip's (animated) influence: the one value Blender saves and the
    artist edits in the NLA sidebar."""
    set_animated_influence(strip, intensity)


def _try_place(track: Any, label: str, start: float, end: float, action: Any) -> Any | None:
    for s in track.strips:  # the NLA refuses overlaps; test first to keep the track untouched
        if s.frame_start < end and start < s.frame_end:
            return None
    try:
        strip = track.strips.new(label, int(start // 1), action)
    except RuntimeError:
        return None
    strip.frame_end = float(end)
    strip.frame_start = float(start)
    strip.extrapolation = "NOTHING"
    return strip


def strip_intensity(strip: Any) -> float:
    """Intensity of a strip: its influence (the peak key when the artist animated it)."""
    for fc in strip.fcurves:
        if fc.data_path == "influence" and len(fc.keyframe_points):
            return float(max(k.co[1] for k in fc.keyframe_points))
    return float(strip.influence)


def strip_label(strip: Any, kind: str) -> str | None:
    action = strip.action
    prop = ACTION_PROP if kind == "fine" else EMOTION_PROP
    if action is not None and prop in action:
        return str(action[prop])
    return action_id_of(strip.name) if kind == "fine" else emotion_of(strip.name)


def read_controls(key: Any, take_start_frame: float, fps: float, clip_s: float | None = None) -> dict[str, list]:
    """The strips as ControlSet JSON lists: ``{"fine": [...], "emotion_spans": [...]}``.

    Times are seconds from the take's start frame; spans before it are cut at 0, spans past
    ``clip_s`` are cut there, muted strips are skipped, strips of unknown actions raise.
    """
    anim = key.animation_data
    out: dict[str, list] = {"fine": [], "emotion_spans": []}
    if anim is None:
        return out
    for kind, base, field, label_key in (("fine", CONTROLS_TRACK, "fine", "action"),
                                         ("emotion", EMOTIONS_TRACK, "emotion_spans", "emotion")):
        for track in _tracks(anim, base):
            for strip in track.strips:
                if strip.mute:
                    continue
                label = strip_label(strip, kind)
                if label is None:
                    raise CafeTalkError(f"strip {strip.name!r} on {track.name!r} names no known "
                                        f"{'action' if kind == 'fine' else 'emotion'}")
                a = max(0.0, (strip.frame_start - take_start_frame) / fps)
                b = (strip.frame_end - take_start_frame) / fps
                if clip_s is not None:
                    b = min(b, clip_s)
                if b <= a:
                    continue
                out[field].append({label_key: label, "start_s": round(a, 4), "end_s": round(b, 4),
                                   "intensity": round(strip_intensity(strip), 4)})
        out[field].sort(key=lambda c: (c["start_s"], c[label_key]))
    return out


def write_controls(key: Any, controls: dict[str, Any], take_start_frame: float, fps: float) -> list[Any]:
    """Create strips for ``controls["fine"]`` and ``controls["emotion_spans"]``; return them."""
    strips = []
    for c in controls.get("fine", []) or []:
        strips.append(add_strip(key, "fine", str(c["action"]), take_start_frame + c["start_s"] * fps,
                                take_start_frame + c["end_s"] * fps, float(c.get("intensity", 1.0))))
    for c in controls.get("emotion_spans", []) or []:
        strips.append(add_strip(key, "emotion", str(c["emotion"]), take_start_frame + c["start_s"] * fps,
                                take_start_frame + c["end_s"] * fps, float(c.get("intensity", 1.0))))
    return strips


def clear_controls(key: Any) -> None:
    anim = key.animation_data
    if anim is None:
        return
    for t in _tracks(anim, CONTROLS_TRACK) + _tracks(anim, EMOTIONS_TRACK):
        anim.nla_tracks.remove(t)


def selected_span(key: Any) -> tuple[float, float] | None:
    """Frame range of the selected control strip (for regenerating only that span)."""
    anim = key.animation_data
    if anim is None:
        return None
    for base in (CONTROLS_TRACK, EMOTIONS_TRACK):
        for track in _tracks(anim, base):
            for strip in track.strips:
                if strip.select:
                    return float(strip.frame_start), float(strip.frame_end)
    return None
