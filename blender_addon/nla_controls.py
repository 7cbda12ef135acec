"""Fine controls, emotion spans and head-motion spans <-> NLA strips the artist drags and resizes.

Layout on the shape-key datablock's NLA: muted tracks "CafeTalk Controls" (a strip per fine
control: name = action id, frame range = span, influence = intensity), "CafeTalk Emotions" (a
strip per emotion span) and "CafeTalk Head Motion" (a strip per head span). NLA strips on one
track cannot overlap, but a smile may overlap a brow raise, so a strip that does not fit goes
to "CafeTalk Controls 2", and so on. Each strip references a tiny placeholder action
(``CafeTalkCtl_AU12``) whose custom property names the action, so renaming a strip does not
lose what it is. The tracks stay muted: the strips are data for the server, never animation.

A head span's amount runs from 0 (still head) to MAX_HEAD_MOTION (2), and a strip's influence
stops at 1 (an NLA strip holds no custom properties either), so a head strip keeps
amount / MAX_HEAD_MOTION as its influence: 0 = still, 0.5 = as learned, 1 = twice as much.
"""
from __future__ import annotations

from typing import Any

from .io.errors import CafeTalkError
from .io.vocabulary import MAX_HEAD_MOTION, action_id_of, emotion_of
from .nla_layout import ensure_base, set_animated_influence

CONTROLS_TRACK = "CafeTalk Controls"
EMOTIONS_TRACK = "CafeTalk Emotions"
HEAD_TRACK = "CafeTalk Head Motion"
ACTION_PROP = "cafetalk_action"
EMOTION_PROP = "cafetalk_emotion"
HEAD_PROP = "cafetalk_head"
HEAD_LABEL = "HeadMotion"   # the one label of head strips (what they hold is their influence)
#: kind -> (track name, placeholder action prefix, the placeholder's custom property)
KINDS: dict[str, tuple[str, str, str]] = {"fine": (CONTROLS_TRACK, "CafeTalkCtl_", ACTION_PROP),
                                          "emotion": (EMOTIONS_TRACK, "CafeTalkEmo_", EMOTION_PROP),
                                          "head": (HEAD_TRACK, "CafeTalk", HEAD_PROP)}


def placeholder_action(kind: str, label: str) -> Any:
    """The shared placeholder action for one action id, emotion or the head (created once)."""
    import bpy
    _track, prefix, prop = KINDS[kind]
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
    """One control strip, on the lowest track of its kind above every strip it overlaps (or a new one).

    Above, not merely with room: the tracks then stack strips in the order they were added, and
    read back bottom to top that order returns; a later emotion or head span wins its frames.
    """
    if end_frame <= start_frame:
        raise CafeTalkError(f"control {label}: end frame {end_frame:g} must be after start frame {start_frame:g}")
    if not 0.0 <= intensity <= 1.0:
        raise CafeTalkError(f"control {label}: intensity must be in [0, 1], got {intensity:g}")
    base = KINDS[kind][0]
    anim = key.animation_data or key.animation_data_create()
    ensure_base(key)  # on an empty NLA, keep the bottom for the rest strip and kept actions
    action = placeholder_action(kind, label)
    tracks = _tracks(anim, base)
    above = max((i + 1 for i, t in enumerate(tracks) if _overlapping(t, start_frame, end_frame)), default=0)
    strip = None
    for track in tracks[above:]:
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


def add_head_strip(key: Any, start_frame: float, end_frame: float, amount: float) -> Any:
    """One head-motion strip, ``amount`` in [0, MAX_HEAD_MOTION] kept as its influence (module docstring)."""
    if not 0.0 <= amount <= MAX_HEAD_MOTION:
        raise CafeTalkError(f"head motion strip: amount must be in [0, {MAX_HEAD_MOTION:g}], got {amount:g}")
    return add_strip(key, "head", HEAD_LABEL, start_frame, end_frame, amount / MAX_HEAD_MOTION)


def strip_head_amount(strip: Any) -> float:
    """The head-motion amount of a head strip: its intensity (influence) x MAX_HEAD_MOTION."""
    return strip_intensity(strip) * MAX_HEAD_MOTION


def set_intensity(strip: Any, intensity: float) -> None:
    """Store intensity as the strip's (animated) influence: the one value Blender saves and the
    artist edits in the NLA sidebar."""
    set_animated_influence(strip, intensity)


def _overlapping(track: Any, start: float, end: float) -> bool:
    return any(s.frame_start < end and start < s.frame_end for s in track.strips)


def _try_place(track: Any, label: str, start: float, end: float, action: Any) -> Any | None:
    if _overlapping(track, start, end):  # the NLA refuses overlaps; test first to keep the track untouched
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
    prop = KINDS[kind][2]
    if action is not None and prop in action:
        return str(action[prop])
    if kind == "head":
        return None
    return action_id_of(strip.name) if kind == "fine" else emotion_of(strip.name)


def _read_strips(anim: Any, kind: str, take_start_frame: float, fps: float,
                 clip_s: float | None) -> list[tuple[Any, str, float, float]]:
    """(strip, label, start_s, end_s) of the unmuted strips of one kind, cut to the take and the clip."""
    out = []
    for track in _tracks(anim, KINDS[kind][0]):
        for strip in track.strips:
            if strip.mute:
                continue
            label = strip_label(strip, kind)
            if label is None:
                what = {"fine": "action", "emotion": "emotion", "head": "head motion"}[kind]
                raise CafeTalkError(f"strip {strip.name!r} on {track.name!r} names no known {what}")
            a = max(0.0, (strip.frame_start - take_start_frame) / fps)
            b = (strip.frame_end - take_start_frame) / fps
            if clip_s is not None:
                b = min(b, clip_s)
            if b > a:
                out.append((strip, label, round(a, 4), round(b, 4)))
    return out


def read_controls(key: Any, take_start_frame: float, fps: float, clip_s: float | None = None) -> dict[str, list]:
    """The strips as ControlSet JSON lists: ``{"fine": [...], "emotion_spans": [...]}``, and
    ``"head_spans"`` when there is a head strip (so a server from before head spans still answers).

    Times are seconds from the take's start frame; spans before it are cut at 0, spans past
    ``clip_s`` are cut there, muted strips are skipped, strips of unknown actions raise.
    """
    anim = key.animation_data
    out: dict[str, list] = {"fine": [], "emotion_spans": []}
    if anim is None:
        return out
    # fine controls sorted (overlaps of one action merge, order is moot); emotion and head spans in
    # track order, bottom to top (a later span wins its frames, and add_strip stacks later ones higher)
    fine = [{"action": label, "start_s": a, "end_s": b, "intensity": round(strip_intensity(strip), 4)}
            for strip, label, a, b in _read_strips(anim, "fine", take_start_frame, fps, clip_s)]
    out["fine"] = sorted(fine, key=lambda c: (c["start_s"], c["action"]))
    out["emotion_spans"] = [{"emotion": label, "start_s": a, "end_s": b, "intensity": round(strip_intensity(strip), 4)}
                            for strip, label, a, b in _read_strips(anim, "emotion", take_start_frame, fps, clip_s)]
    head = [{"start_s": a, "end_s": b, "amount": round(strip_head_amount(strip), 4)}
            for strip, _label, a, b in _read_strips(anim, "head", take_start_frame, fps, clip_s)]
    if head:
        out["head_spans"] = head
    return out


def write_controls(key: Any, controls: dict[str, Any], take_start_frame: float, fps: float) -> list[Any]:
    """Create strips for ``controls["fine"]``, ``["emotion_spans"]`` and ``["head_spans"]``; return them."""
    frame = lambda t: take_start_frame + t * fps  # noqa: E731
    strips = []
    for c in controls.get("fine", []) or []:
        strips.append(add_strip(key, "fine", str(c["action"]), frame(c["start_s"]), frame(c["end_s"]),
                                float(c.get("intensity", 1.0))))
    for c in controls.get("emotion_spans", []) or []:
        strips.append(add_strip(key, "emotion", str(c["emotion"]), frame(c["start_s"]), frame(c["end_s"]),
                                float(c.get("intensity", 1.0))))
    for c in controls.get("head_spans", []) or []:
        strips.append(add_head_strip(key, frame(c["start_s"]), frame(c["end_s"]), float(c.get("amount", 0.0))))
    return strips


def clear_controls(key: Any) -> None:
    anim = key.animation_data
    if anim is None:
        return
    for t in [t for base, _prefix, _prop in KINDS.values() for t in _tracks(anim, base)]:
        anim.nla_tracks.remove(t)


def selected_span(key: Any) -> tuple[float, float] | None:
    """Frame range of the selected control strip (for regenerating only that span)."""
    anim = key.animation_data
    if anim is None:
        return None
    for base, _prefix, _prop in KINDS.values():
        for track in _tracks(anim, base):
            for strip in track.strips:
                if strip.select:
                    return float(strip.frame_start), float(strip.frame_end)
    return None
