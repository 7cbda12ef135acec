"""ARKit channel -> the rig's shape-key names: presets, exact, case-insensitive and fuzzy.

A mapping is a list of rows ``(arkit, shape_key, weight)``. Several ARKit channels may drive
the same shape key (viseme rigs): the key then gets ``max(weight * value)`` over its rows,
which is how ARKit combinations become visemes (``mouthClose`` + ``mouthPress*`` -> ``PP``).
The pure functions here take name lists; only :func:`store` / :func:`load` touch Blender
properties (the table the panel shows and the artist edits).
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from .vocabulary import ARKIT_NAMES


@dataclass(frozen=True)
class Row:
    arkit: str
    shape_key: str
    weight: float = 1.0


# viseme target -> (candidate shape-key names (Oculus/VRM style, Preston Blair/Papagayo style), ARKit rows)
VISEME_TABLE: tuple[tuple[tuple[str, ...], tuple[tuple[str, float], ...]], ...] = (
    (("viseme_aa", "aa", "AI", "A"), (("jawOpen", 1.0),)),
    (("viseme_PP", "PP", "MBP", "M"), (("mouthClose", 1.0), ("mouthPressLeft", 1.0), ("mouthPressRight", 1.0))),
    (("viseme_FF", "FF", "FV", "F"), (("mouthRollLower", 1.0), ("mouthUpperUpLeft", 0.6), ("mouthUpperUpRight", 0.6))),
    (("viseme_O", "O", "oh"), (("mouthFunnel", 1.0),)),
    (("viseme_U", "U", "WQ", "ou"), (("mouthPucker", 1.0),)),
    (("viseme_E", "E", "ee"), (("mouthStretchLeft", 1.0), ("mouthStretchRight", 1.0))),
    (("viseme_I", "I", "ih"), (("mouthSmileLeft", 0.6), ("mouthSmileRight", 0.6))),
    (("viseme_TH", "TH"), (("tongueOut", 1.0),)),
    (("viseme_DD", "DD"), (("mouthShrugUpper", 0.8),)),
)

PRESETS: tuple[tuple[str, str, str], ...] = (
    ("AUTO", "Auto", "Exact, case-insensitive, then fuzzy match of the 52 ARKit names"),
    ("ARKIT", "ARKit / Faceit", "Shape keys named exactly like Apple's ARKit (camelCase), as Faceit makes them"),
    ("LIVELINK", "Live Link (PascalCase)", "Shape keys named like Live Link Face's CSV columns (EyeBlinkLeft)"),
    ("VISEME", "Viseme-only rig", "Approximate ARKit -> viseme keys (viseme_aa/PP/FF/O/U/E/I/TH/DD, AI/MBP/FV/WQ)"),
)

_PREFIX = re.compile(r"^(?:[a-z]\d{2,3}_|blendshape\d*\.|shapes?\.|arkit[_.]?|face[_.])", re.I)
_SIDE_SUFFIX = re.compile(r"[._\- ](l|left|r|right)$", re.I)
_SIDE_PREFIX = re.compile(r"^(l|left|r|right)[._\- ]", re.I)


def normalise(name: str) -> str:
    """A comparison key: no namespace/prefix, sides as ``left``/``right``, no separators, lower case.

    ``Face.eyeBlinkLeft``, ``A01_Eye_Blink_L``, ``eye_blink.L``, ``L_EyeBlink`` -> ``eyeblinkleft``.
    """
    s = name.strip()
    if "." in s and not re.search(r"\.(l|r|left|right|\d+)$", s, re.I):
        s = s.rsplit(".", 1)[1]
    s = _PREFIX.sub("", s)
    side = ""
    m = _SIDE_SUFFIX.search(s) or _SIDE_PREFIX.search(s)
    if m:
        side = "left" if m.group(1).lower().startswith("l") else "right"
        s = s[:m.start()] + s[m.end():]
    s = re.sub(r"[._\- ]", "", s).lower()
    return s + side


def auto_map(shape_keys: Sequence[str], preset: str = "AUTO", arkit: Sequence[str] = ARKIT_NAMES) -> list[Row]:
    """Best mapping for a rig; channels with no match are left out (see :func:`unmapped`)."""
    keys = [k for k in shape_keys if k.lower() != "basis"]
    if preset == "VISEME":
        return _viseme_rows(keys)
    rows: dict[str, str] = {}
    used: set[str] = set()
    exact = set(keys)
    by_lower = {k.lower(): k for k in keys}
    for a in arkit:  # 1. exact (ARKit/Faceit), PascalCase (Live Link), case-insensitive
        want = a[0].upper() + a[1:] if preset == "LIVELINK" else a
        hit = want if want in exact else by_lower.get(a.lower())
        if hit and hit not in used:
            rows[a] = hit
            used.add(hit)
    by_norm: dict[str, str] = {}
    for k in keys:
        if k not in used:
            by_norm.setdefault(normalise(k), k)
    for a in arkit:  # 2. normalised names (prefixes, separators, _L/_R)
        if a not in rows and normalise(a) in by_norm and by_norm[normalise(a)] not in used:
            rows[a] = by_norm[normalise(a)]
            used.add(rows[a])
    left = {normalise(k): k for k in keys if k not in used}
    for a in arkit:  # 3. close spellings (typos, "Smile" vs "Smil"), one key per channel
        if a in rows or not left:
            continue
        close = difflib.get_close_matches(normalise(a), list(left), n=1, cutoff=0.88)
        if close:
            rows[a] = left.pop(close[0])
    return [Row(a, rows[a]) for a in arkit if a in rows]


def _viseme_rows(keys: Sequence[str]) -> list[Row]:
    by_norm = {normalise(re.sub(r"^(viseme|vis|v)[_.]", "", k, flags=re.I)): k for k in keys}
    by_norm.update({normalise(k): k for k in keys})
    rows: list[Row] = []
    for candidates, sources in VISEME_TABLE:
        hit = next((by_norm[normalise(c)] for c in candidates if normalise(c) in by_norm), None)
        if hit:
            rows.extend(Row(a, hit, w) for a, w in sources)
    return rows


def unmapped(rows: Iterable[Row], arkit: Sequence[str] = ARKIT_NAMES) -> list[str]:
    have = {r.arkit for r in rows if r.shape_key}
    return [a for a in arkit if a not in have]


def targets(rows: Iterable[Row]) -> dict[str, list[tuple[str, float]]]:
    """Shape key -> the ARKit channels (and weights) that drive it."""
    out: dict[str, list[tuple[str, float]]] = {}
    for r in rows:
        if r.shape_key:
            out.setdefault(r.shape_key, []).append((r.arkit, r.weight))
    return out


# -- Blender property glue (the editable table) -----------------------------------------------
def store(collection: Any, rows: Iterable[Row], all_channels: Sequence[str] = ARKIT_NAMES) -> None:
    """Fill a CollectionProperty of CAFETALK_MappingItem; unmapped channels get an empty row."""
    collection.clear()
    rows = list(rows)
    seen = set()
    for r in rows:
        item = collection.add()
        item.arkit, item.shape_key, item.weight = r.arkit, r.shape_key, r.weight
        seen.add(r.arkit)
    for a in all_channels:
        if a not in seen:
            item = collection.add()
            item.arkit, item.shape_key, item.weight = a, "", 1.0


def load(collection: Any) -> list[Row]:
    return [Row(i.arkit, i.shape_key, i.weight) for i in collection if i.shape_key]
