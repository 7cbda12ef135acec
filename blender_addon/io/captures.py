"""Captured takes in and finished takes out, without ``bpy``: file conversion, rotations, bone names.

The add-on keeps one reader and one writer per format by handing files to ``cafetalk convert``
(``cafetalk_core.formats``) in the Python the preferences name for the server, the same
interpreter the bundled server runs in: Live Link Face CSV, Audio2Face JSON/CSV and Rhubarb
TSV/JSON become ``cafetalk.curves`` JSON, and a take written as that JSON becomes Live Link
CSV exactly as the iPhone app writes it. The add-on itself only reads and writes the JSON.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import CafeTalkError
from .formats import Curves

IMPORT_EXTENSIONS = (".csv", ".json", ".tsv", ".txt")
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".m4a", ".aiff")
CONVERT_TIMEOUT_S = 120.0


@dataclass
class CapturedTake:
    """A take read from a file: its curves (with rotations, if any) and where its clock starts."""

    curves: Curves
    start_s: float = 0.0

    @property
    def rotations(self) -> np.ndarray | None:
        return self.curves.rotations

    @classmethod
    def from_dict(cls, data: Any) -> "CapturedTake":
        curves = Curves.from_dict(data)
        return cls(curves, float(data.get("start_s", 0.0) or 0.0))

    def to_dict(self) -> dict[str, Any]:
        out = self.curves.to_dict()
        if self.start_s:
            out["start_s"] = self.start_s
        return out


def keep_outside_span(result: Curves, source: Curves, start_s: float, end_s: float) -> Curves:
    """``result`` with every frame outside [start_s, end_s) taken from ``source`` bit for bit.

    The server inpaints only inside the span (its crossfade lies within the span's borders) but
    returns JSON with 6 decimals; a captured take keeps its exact values around the new span.
    """
    if result.fps != source.fps or result.num_frames != source.num_frames:
        return result   # another rate or length: nothing lines up frame for frame
    t = np.arange(result.num_frames) / result.fps
    outside = (t < start_s - 1e-9) | (t >= end_s - 1e-9)
    low = {n.lower(): i for i, n in enumerate(source.names)}
    values = result.values.copy()
    for c, name in enumerate(result.names):
        if name.lower() in low:
            values[outside, c] = source.values[outside, low[name.lower()]]
    rotations = result.rotations
    if rotations is not None and source.rotations is not None:
        rotations = rotations.copy()
        rotations[outside] = source.rotations[outside]
    return Curves(result.fps, result.names, values, rotations)


def run_convert(python: str, src: str, dst: str, fps: float | None = None, to_format: str | None = None) -> None:
    """``python -m cafetalk_core.formats.command src dst`` (= ``cafetalk convert``); its one error line becomes a CafeTalkError."""
    if not python or not Path(python).exists():
        raise CafeTalkError(f"Python interpreter {python!r} does not exist: set the one with cafetalk installed "
                            "in the CafeTalk preferences (it converts capture files)")
    cmd = [python, "-m", "cafetalk_core.formats.command", src, dst]
    if fps:
        cmd += ["--fps", repr(float(fps))]
    if to_format:
        cmd += ["--to", to_format]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=CONVERT_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CafeTalkError(f"could not run cafetalk convert with {python}: {exc}") from None
    if done.returncode != 0:
        lines = [ln for ln in (done.stderr or "").strip().splitlines() if ln.strip()]
        why = lines[-1] if lines else f"exit status {done.returncode}"
        raise CafeTalkError(why.removeprefix("cafetalk convert: error: "))


def read_capture(python: str, path: str, fps: float | None = None) -> CapturedTake:
    """Any file ``cafetalk convert`` reads, as a :class:`CapturedTake`."""
    if not os.path.isfile(path):
        raise CafeTalkError(f"capture file {path!r} does not exist")
    with tempfile.TemporaryDirectory(prefix="cafetalk_") as tmp:
        out = os.path.join(tmp, "take.json")
        run_convert(python, path, out, fps)
        with open(out, encoding="utf-8") as fh:
            return CapturedTake.from_dict(json.load(fh))


def write_capture(python: str, take: CapturedTake, path: str, to_format: str | None = None) -> None:
    """Write a take as Live Link CSV (``.csv``), cafetalk JSON (``.json``) or ``to_format``."""
    suffix = Path(path).suffix.lower()
    if suffix == ".json" and to_format in (None, "cafetalk-json"):
        Path(path).write_text(json.dumps(take.to_dict()), encoding="utf-8")
        return
    with tempfile.TemporaryDirectory(prefix="cafetalk_") as tmp:
        src = os.path.join(tmp, "take.json")
        Path(src).write_text(json.dumps(take.to_dict()), encoding="utf-8")
        run_convert(python, src, path, to_format=to_format)


def audio_beside(path: str) -> str | None:
    """An audio file with the capture's stem in its folder (Live Link Face saves ``take.mov``/``.wav`` beside it)."""
    folder, stem = os.path.dirname(os.path.abspath(path)), Path(path).stem
    for ext in AUDIO_EXTENSIONS:
        for cand in (stem + ext, stem + ext.upper()):
            full = os.path.join(folder, cand)
            if os.path.isfile(full):
                return full
    return None


# -- glTF read-back ----------------------------------------------------------------------------------

def _gltf_parts(path: str) -> tuple[dict[str, Any], bytes]:
    data = Path(path).read_bytes()
    if data[:4] == b"glTF":                       # GLB: header, JSON chunk, BIN chunk
        n = int.from_bytes(data[12:16], "little")
        doc = json.loads(data[20:20 + n])
        rest = data[20 + n:]
        blob = rest[8:8 + int.from_bytes(rest[:4], "little")] if len(rest) >= 8 else b""
        return doc, blob
    doc = json.loads(data)
    uri = doc["buffers"][0]["uri"]
    return doc, (Path(path).parent / uri).read_bytes()


def read_gltf_weights(path: str) -> dict[str, Any]:
    """The morph-target weight animation of a written glTF/GLB: ``{"target_names", "times",
    "weights" (keyframes, targets), "keyframes"}`` of its first ``weights`` channel."""
    doc, blob = _gltf_parts(path)

    def accessor(i: int) -> np.ndarray:
        acc = doc["accessors"][i]
        view = doc["bufferViews"][acc["bufferView"]]
        start = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
        width = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}[acc["type"]]
        return np.frombuffer(blob, dtype="<f4", count=acc["count"] * width, offset=start)

    for anim in doc.get("animations", []):
        for ch in anim["channels"]:
            if ch["target"].get("path") == "weights":
                sampler = anim["samplers"][ch["sampler"]]
                mesh = doc["meshes"][doc["nodes"][ch["target"]["node"]]["mesh"]]
                names = mesh.get("extras", {}).get("targetNames", [])
                times = accessor(sampler["input"])
                weights = accessor(sampler["output"]).reshape(len(times), -1)
                return {"target_names": names, "times": times, "weights": weights, "keyframes": len(times)}
    raise CafeTalkError(f"{path}: no morph-target weights animation in the file")


# -- head and eye bones ---------------------------------------------------------------------------

_HEAD = re.compile(r"^(def[-_.])?head$", re.I)
_LEFT_EYE = re.compile(r"^(def[-_.])?(eye[-_. ]?(l|left)|(l|left)[-_. ]?eye)(ball)?$", re.I)
_RIGHT_EYE = re.compile(r"^(def[-_.])?(eye[-_. ]?(r|right)|(r|right)[-_. ]?eye)(ball)?$", re.I)


def _strip_prefix(name: str) -> str:
    """``mixamorig:Head`` -> ``Head``; ``CC_Base_L_Eye`` keeps its tail ``L_Eye``."""
    name = name.split(":")[-1]
    return re.sub(r"^(cc_base_|rig_|bip0?1[ _]?)", "", name, flags=re.I)


def detect_bones(names: list[str]) -> tuple[str, str, str]:
    """``(head, left eye, right eye)`` bone names found by name (``""`` where none matches).

    Matches ``head``/``Head``/``DEF-head``/``mixamorig:Head`` and ``eye.L``/``eye_L``/``LeftEye``/
    ``L_Eye``/``eyeball.L`` and their right-hand twins, case-insensitively.
    """
    def first(pattern: re.Pattern) -> str:
        return next((n for n in names if pattern.match(_strip_prefix(n))), "")
    return first(_HEAD), first(_LEFT_EYE), first(_RIGHT_EYE)


#: Which Euler axis of a bone carries yaw, pitch and roll, by the way the bone points at rest.
#: A head bone points up its Y axis: yaw turns about Y, pitch nods about X, roll tilts about Z.
#: An eye bone points forward along Y (its Z up): yaw about Z, pitch about X, roll about Y.
#: An object (no bone) is Z-up, -Y forward: yaw about Z, pitch about X, roll about Y.
AXES_UPRIGHT = {"yaw": 1, "pitch": 0, "roll": 2}
AXES_FORWARD = {"yaw": 2, "pitch": 0, "roll": 1}


def axes_for(bone_vector: tuple[float, float, float] | None) -> dict[str, int]:
    """Axis table for a bone whose rest direction (armature space) is ``bone_vector``; None: an object."""
    if bone_vector is None:
        return AXES_FORWARD
    x, y, z = (abs(v) for v in bone_vector)
    return AXES_UPRIGHT if z >= max(x, y) else AXES_FORWARD
