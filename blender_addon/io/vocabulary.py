"""What the server understands: ARKit names, emotions, actions (static fallback + /v1/info).

The add-on cannot import ``cafetalk_core``, so this is the one place holding a copy of its
vocabulary (``rig.ARKIT_NAMES``, ``controls/coarse.py`` EMOTIONS, ``controls/vocabulary.py``
ACTIONS, ``controls/head.py`` MAX_HEAD_MOTION). At run time :func:`update_from_server` replaces
the emotions and actions with what ``GET /v1/info`` reports, so a newer server with more actions
shows them in the panel without an add-on update.
"""
from __future__ import annotations

import zlib
from typing import Any

ARKIT_NAMES: tuple[str, ...] = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft",
    "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
    "eyeSquintRight", "eyeWideRight",
    "jawForward", "jawLeft", "jawRight", "jawOpen",
    "mouthClose", "mouthFunnel", "mouthPucker", "mouthLeft", "mouthRight",
    "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthUpperUpLeft", "mouthUpperUpRight",
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight",
    "noseSneerLeft", "noseSneerRight",
    "tongueOut",
)

EMOTIONS: tuple[str, ...] = ("neutral", "happy", "sad", "angry", "fear", "disgust", "surprise", "contempt")
#: the largest head-motion amount (``controls/head.py`` MAX_HEAD_MOTION): 0 = still head, 1 = as learned
MAX_HEAD_MOTION = 2.0


def _lr(stem: str, w: float) -> tuple[tuple[str, float], ...]:
    return ((f"{stem}Left", w), (f"{stem}Right", w))


#: (id, label, ARKit channel weights at intensity 1, threshold): a copy of the core's table,
#: used to label strips and to detect actions in a take ("controls from take").
ACTIONS: tuple[tuple[str, str, tuple[tuple[str, float], ...], float], ...] = (
    ("AU1", "inner brow raise", (("browInnerUp", 0.8),), 0.35),
    ("AU2", "outer brow raise", _lr("browOuterUp", 0.8), 0.35),
    ("AU4", "brow lower", _lr("browDown", 0.8), 0.35),
    ("AU5", "upper lid raise", _lr("eyeWide", 0.8), 0.35),
    ("AU6", "cheek raise", _lr("cheekSquint", 0.7), 0.3),
    ("AU7", "lid tighten", _lr("eyeSquint", 0.7), 0.3),
    ("AU9", "nose wrinkle", _lr("noseSneer", 0.7), 0.3),
    ("AU10", "upper lip raise", _lr("mouthUpperUp", 0.6), 0.3),
    ("AU12", "smile", _lr("mouthSmile", 0.8), 0.35),
    ("AU14", "dimple", _lr("mouthDimple", 0.6), 0.3),
    ("AU15", "lip corner depress", _lr("mouthFrown", 0.7), 0.3),
    ("AU17", "chin raise", (("mouthShrugLower", 0.7),), 0.3),
    ("AU18", "lip pucker", (("mouthPucker", 0.8),), 0.35),
    ("AU20", "lip stretch", _lr("mouthStretch", 0.6), 0.3),
    ("AU24", "lip press", _lr("mouthPress", 0.7), 0.3),
    ("AU26", "jaw drop", (("jawOpen", 0.7),), 0.45),
    ("AU45", "blink", _lr("eyeBlink", 1.0), 0.5),
    ("GAZE_L", "look left", (("eyeLookOutLeft", 0.7), ("eyeLookInRight", 0.7)), 0.35),
    ("GAZE_R", "look right", (("eyeLookInLeft", 0.7), ("eyeLookOutRight", 0.7)), 0.35),
    ("GAZE_U", "look up", _lr("eyeLookUp", 0.7), 0.35),
    ("GAZE_D", "look down", _lr("eyeLookDown", 0.7), 0.35),
)

# What the running server reported (GET /v1/info); empty until a server answered.
_server: dict[str, Any] = {}


def update_from_server(info: dict[str, Any]) -> None:
    """Remember the server's vocabulary; unknown or malformed fields keep the static copy."""
    _server.clear()
    if isinstance(info.get("emotions"), list) and all(isinstance(e, str) for e in info["emotions"]):
        _server["emotions"] = tuple(info["emotions"])
    acts = info.get("actions")
    if isinstance(acts, list) and acts:
        parsed = []
        for a in acts:
            if isinstance(a, str):
                parsed.append((a, a))
            elif isinstance(a, dict) and isinstance(a.get("id"), str):
                parsed.append((a["id"], str(a.get("label", a["id"]))))
        if parsed:
            _server["actions"] = tuple(parsed)
    if isinstance(info.get("fps"), (int, float)):
        _server["fps"] = float(info["fps"])


def emotions() -> tuple[str, ...]:
    return _server.get("emotions", EMOTIONS)


def action_ids_labels() -> tuple[tuple[str, str], ...]:
    """(id, label) of every action the server (or the static table) knows."""
    return _server.get("actions", tuple((a[0], a[1]) for a in ACTIONS))


def action_id_of(name: str) -> str | None:
    """Action id from a strip name (``au12``, ``AU12.001``, ``smile``), or ``None``."""
    stem = name.strip()
    if len(stem) > 4 and stem[-4] == "." and stem[-3:].isdigit():
        stem = stem[:-4]  # Blender's duplicate suffix
    low = stem.lower()
    for aid, label in action_ids_labels():
        if low in (aid.lower(), label.lower()):
            return aid
    return None


def emotion_of(name: str) -> str | None:
    stem = name.strip()
    if len(stem) > 4 and stem[-4] == "." and stem[-3:].isdigit():
        stem = stem[:-4]
    return stem.lower() if stem.lower() in emotions() else None


# Blender keeps only pointers to enum item strings: hold the tuples here so they live.
_enum_cache: dict[str, list[tuple[str, str, str, int]]] = {}


def enum_number(identifier: str) -> int:
    """A number fixed by the identifier alone (Blender wants one per dynamic enum item).

    Never stored: the scene keeps the identifier (see ``properties.py``), so a server that
    lists its emotions or actions in another order cannot change what a saved choice means.
    """
    return zlib.crc32(identifier.encode("utf-8")) & 0x7FFFFFFF


def numbered(items: tuple[tuple[str, str, str], ...]) -> tuple[tuple[str, str, str, int], ...]:
    """Static enum items with the number of their identifier: what a .blend stores for an enum is
    that number, so a later add-on that reorders or extends the items reads old files the same."""
    return tuple((ident, name, desc, enum_number(ident)) for ident, name, desc in items)


def _with_kept(items: list[tuple[str, str, str, int]], kept: str, what: str) -> list[tuple[str, str, str, int]]:
    if kept and all(i[0] != kept for i in items):  # a saved choice this server does not list: keep it, say so
        items.append((kept, f"{kept} (unknown here)", f"{what} {kept!r}, saved with the scene; this server does not list it",
                      enum_number(kept)))
    return items


def emotion_enum_items(kept: str = "") -> list[tuple[str, str, str, int]]:
    items = _with_kept([(e, e.capitalize(), f"Emotion '{e}'", enum_number(e)) for e in emotions()], kept, "emotion")
    _enum_cache["emotions"] = items
    return items


def action_enum_items(kept: str = "") -> list[tuple[str, str, str, int]]:
    items = _with_kept([(aid, f"{aid} {label}", f"Action {aid}: {label}", enum_number(aid))
                        for aid, label in action_ids_labels()], kept, "action")
    _enum_cache["actions"] = items
    return items
