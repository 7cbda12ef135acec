"""What the server understands: ARKit names, emotions, actions (static fallback + /v1/info).

The add-on cannot import ``cafetalk_core``: the ARKit names and the action table come from its
generated copy (``core_copy``: ``rig.ARKIT_NAMES``, ``controls/vocabulary.py`` ACTIONS), and
the facts whose core modules carry more than the add-on should (``controls/coarse.py``
EMOTIONS, ``controls/head.py`` MAX_HEAD_MOTION, ``audio/frontend.py``'s language tag pattern and
the recogniser's language) are written here and pinned to the core by
``tests/test_addon_copies.py``. At run time :func:`update_from_server` replaces
the emotions and actions with what ``GET /v1/info`` reports, so a newer server with more actions
shows them in the panel without an add-on update.
"""
from __future__ import annotations

import re
import zlib
from typing import Any

from .core_copy import rig
from .core_copy.controls import vocabulary as core_actions
from .errors import CafeTalkError

ARKIT_NAMES: tuple[str, ...] = rig.ARKIT_NAMES

EMOTIONS: tuple[str, ...] = ("neutral", "happy", "sad", "angry", "fear", "disgust", "surprise", "contempt")
#: the largest head-motion amount (``controls/head.py`` MAX_HEAD_MOTION): 0 = still head, 1 = as learned
MAX_HEAD_MOTION = 2.0
#: a speech language tag (``audio/frontend.py`` LANGUAGE_TAG_PATTERN): 2-3 letters, then subtags
LANGUAGE_TAG_PATTERN = r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})*$"
#: the phone recogniser's language (``audio/frontend.py`` RECOGNISER_LANGUAGE): the server's default
RECOGNISER_LANGUAGE = "en"


#: (id, label, ARKit channel weights at intensity 1, threshold) of every action, in the core's order:
#: made from the generated copy of the core's table (``core_copy/controls/vocabulary.py``); used to
#: label strips and to detect actions in a take ("controls from take").
ACTIONS: tuple[tuple[str, str, tuple[tuple[str, float], ...], float], ...] = tuple(
    (a.id, a.label, a.channels, a.threshold) for a in core_actions.ACTIONS)

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
    if isinstance(info.get("phones_optional"), bool):
        _server["phones_optional"] = info["phones_optional"]


def server_takes_other_languages() -> bool | None:
    """Whether the server's model reads speech in languages other than English (``/v1/info``
    ``phones_optional``); ``None`` until a server that reports it answered."""
    return _server.get("phones_optional")


def is_english(language: str) -> bool:
    """True for the panel's English choices: empty, ``en``, ``en-us``, ``EN_gb`` (no tag check)."""
    tag = language.strip().lower().replace("_", "-")
    return not tag or tag.split("-")[0] == RECOGNISER_LANGUAGE


def language_option(language: str) -> str | None:
    """The ``language`` request option for the panel's *Language*: ``None`` for English (the
    server's default, so a server older than the option still answers), else the tag, lower case.
    CafeTalkError naming the value when it is not a tag (checked here so nothing is uploaded)."""
    if is_english(language):
        return None
    if not re.match(LANGUAGE_TAG_PATTERN, language.strip()):
        raise CafeTalkError(f"language {language!r} is not a tag such as 'en', 'zh' or 'pt-br' "
                            "(2-3 letters, then -subtags)")
    return language.strip().lower().replace("_", "-")


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
