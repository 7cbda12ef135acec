"""Take storage: a take is one action on the shape keys, carrying its keys, how it was made, and its curves.

:func:`write_take` turns curves + the mapping table into a new action (one F-curve per driven
shape key, see :mod:`.fcurves`). The action also carries two custom properties, so a saved
.blend holds everything a later Regenerate needs: ``cafetalk_take`` (JSON: audio, controls,
options, start frame, fps) and ``cafetalk_curves`` (the exact ARKit curves, which the keys
cannot give back once mapped, weighted or reduced). Where the take goes in the NLA is
:mod:`.nla_layout`'s job.
"""
from __future__ import annotations

import base64
import json
import re
import zlib
from typing import Any, Sequence

import numpy as np

from .fcurves import new_action_for, write_fcurves
from .io.curves import Curves, reduce_keys
from .io.errors import CafeTalkError
from .io.mapping import Row, targets

TAKE_PROP = "cafetalk_take"          # on a take's action: JSON of how it was made
CURVES_PROP = "cafetalk_curves"      # on a take's action: the exact curves (JSON text, float32 in base64)


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
    channels = []
    for key_name, values in per_key.items():
        path = f'key_blocks["{_escape(key_name)}"].value'
        if tolerance > 0:
            idx = reduce_keys(values, tolerance)
            channels.append((path, frames_all[idx], values[idx]))
        else:
            channels.append((path, frames_all, values))  # one frames array: written once for every curve
    write_fcurves(fcurves, channels, interpolation)
    action[TAKE_PROP] = json.dumps({**(meta or {}), "start_frame": start_frame, "fps": curves.fps})
    if store_curves:
        action[CURVES_PROP] = pack_curves(curves)
    return action, slot


def _escape(name: str) -> str:
    return name.replace("\\", "\\\\").replace('"', '\\"')


def pack_curves(curves: Curves) -> str:
    """The exact curves as JSON text (kept on the action for regenerating a span).

    The values are the float32 bytes (little-endian, frame-major) in base64: exact, and
    ~1 ms for 52 x 9,000 values where decimal text would take ~0.3 s and compression ~0.15 s
    (the take writer's budget is a small multiple of the bare key writing).
    """
    data = base64.b64encode(np.ascontiguousarray(curves.values, dtype="<f4").tobytes()).decode("ascii")
    head = json.dumps({"format": "cafetalk.packed_curves", "version": 2, "fps": curves.fps,
                       "names": list(curves.names), "frames": curves.num_frames})
    return f'{head[:-1]}, "float32_le_base64": "{data}"}}'  # base64 needs no JSON escaping: no scan of 2.5 MB


def unpack_curves(text: str) -> Curves:
    """Inverse of :func:`pack_curves` (also reads version 1: zlib-compressed ``data``)."""
    d = json.loads(text)
    raw = (base64.b64decode(d["float32_le_base64"]) if "float32_le_base64" in d
           else zlib.decompress(base64.b64decode(d["data"])))
    values = np.frombuffer(raw, dtype="<f4")
    return Curves(float(d["fps"]), tuple(d["names"]), values.reshape(int(d["frames"]), len(d["names"])).copy())


def is_take(action: Any) -> bool:
    """Whether ``action`` was written by :func:`write_take` (an artist's action never is)."""
    return TAKE_PROP in action


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
