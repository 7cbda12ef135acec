"""The ARKit-52 rig: channel names, regions, neutral pose, and Live Link Face CSV I/O.

Curves never travel as a bare array: every consumer addresses channels by these names.
Apple's order (ARFaceAnchor.BlendShapeLocation, camelCase) is our canonical order.

Live Link Face CSV (what the iPhone app exports) differs in three ways we honour:
PascalCase names, ``JawRight``/``JawLeft`` and ``MouthRight``/``MouthLeft`` swapped in the
header, and 9 head/eye rotation columns after the 52 weights. Columns are always matched by
name (case-insensitively), never by position.
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

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
NUM_CHANNELS = len(ARKIT_NAMES)
assert NUM_CHANNELS == 52

INDEX: dict[str, int] = {name: i for i, name in enumerate(ARKIT_NAMES)}
_INDEX_LOWER: dict[str, int] = {name.lower(): i for i, name in enumerate(ARKIT_NAMES)}

REGIONS: dict[str, tuple[str, ...]] = {
    "eyes": tuple(n for n in ARKIT_NAMES if n.startswith("eye")),
    "jaw": tuple(n for n in ARKIT_NAMES if n.startswith("jaw")),
    "mouth": tuple(n for n in ARKIT_NAMES if n.startswith("mouth")),
    "brows": tuple(n for n in ARKIT_NAMES if n.startswith("brow")),
    "cheeks": tuple(n for n in ARKIT_NAMES if n.startswith("cheek")),
    "nose": tuple(n for n in ARKIT_NAMES if n.startswith("nose")),
    "tongue": ("tongueOut",),
}
assert sum(len(v) for v in REGIONS.values()) == NUM_CHANNELS

#: Channels that carry lip sync: used by the mouth-region metrics (LVE-like).
LIP_SYNC_NAMES: tuple[str, ...] = REGIONS["jaw"] + REGIONS["mouth"] + REGIONS["tongue"]

#: The rest pose: every ARKit weight is 0 on a neutral, closed-mouth face.
NEUTRAL = np.zeros(NUM_CHANNELS, dtype=np.float32)


def channel_index(name: str) -> int:
    """Index of an ARKit channel, matched case-insensitively (``EyeBlinkLeft`` == ``eyeBlinkLeft``)."""
    try:
        return _INDEX_LOWER[name.lower()]
    except KeyError:
        raise KeyError(f"unknown ARKit channel {name!r}") from None


def indices(names: Iterable[str]) -> list[int]:
    return [channel_index(n) for n in names]


def pascal_case(name: str) -> str:
    """Live Link Face spelling of an ARKit name: ``eyeBlinkLeft`` -> ``EyeBlinkLeft``."""
    return name[0].upper() + name[1:]


# ---------------------------------------------------------------------------------------------
# Live Link Face CSV
# ---------------------------------------------------------------------------------------------

#: The header order the iPhone app writes: Apple's order with jaw/mouth Right before Left.
LIVE_LINK_BLENDSHAPES: tuple[str, ...] = tuple(
    pascal_case(n)
    for n in (
        ARKIT_NAMES[:15] + ("jawRight", "jawLeft") + ARKIT_NAMES[17:21]
        + ("mouthRight", "mouthLeft") + ARKIT_NAMES[23:]
    )
)
LIVE_LINK_ROTATIONS: tuple[str, ...] = (
    "HeadYaw", "HeadPitch", "HeadRoll",
    "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
    "RightEyeYaw", "RightEyePitch", "RightEyeRoll",
)
LIVE_LINK_HEADER: tuple[str, ...] = ("Timecode", "BlendShapeCount") + LIVE_LINK_BLENDSHAPES + LIVE_LINK_ROTATIONS
LIVE_LINK_BLENDSHAPE_COUNT = 61  # what the app writes: 52 weights + 9 rotations


class LiveLinkFormatError(ValueError):
    """A CSV that cannot be read as Live Link Face; the message names the column or row."""


@dataclass
class LiveLinkTake:
    """The content of one Live Link Face CSV.

    ``weights`` is (frames, 52) in ARKit order; ``rotations`` is (frames, 9) in radians in
    :data:`LIVE_LINK_ROTATIONS` order; ``start_frame`` is the first timecode in frames.
    """

    weights: np.ndarray
    rotations: np.ndarray
    fps: float
    start_frame: float = 0.0
    missing: tuple[str, ...] = ()


def format_timecode(frame: float, fps: float) -> str:
    """``HH:MM:SS:FF.fff`` where ``.fff`` is a fraction of a frame (not milliseconds)."""
    whole = int(math.floor(frame + 1e-9))
    frac = max(0.0, frame - whole)
    ifps = int(round(fps))
    ff = whole % ifps
    secs = whole // ifps
    return f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}:{ff:02d}.{int(round(frac * 1000)) % 1000:03d}"


def parse_timecode(text: str, fps: float) -> float:
    """Frame number of a ``HH:MM:SS:FF.fff`` timecode at ``fps``."""
    try:
        hh, mm, ss, ff = text.strip().split(":")
        return ((int(hh) * 60 + int(mm)) * 60 + int(ss)) * round(fps) + float(ff)
    except ValueError:
        raise LiveLinkFormatError(f"Timecode {text!r} is not HH:MM:SS:FF.fff") from None


def infer_fps(timecodes: list[str]) -> int:
    """Epic's importer rule (the file has no fps field): 60 if any FF > 30, else 30."""
    for tc in timecodes:
        try:
            if float(tc.strip().split(":")[3]) >= 31:
                return 60
        except (IndexError, ValueError):
            raise LiveLinkFormatError(f"Timecode {tc!r} is not HH:MM:SS:FF.fff") from None
    return 30


def write_live_link_csv(
    path: str | Path | None,
    weights: np.ndarray,
    fps: float,
    rotations: np.ndarray | None = None,
    start_frame: float = 0.0,
) -> str:
    """Write (frames, 52) ARKit-order weights as Live Link Face CSV; returns the text.

    Values use 10 decimals like the app. ``path=None`` only returns the text.
    """
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 2 or weights.shape[1] != NUM_CHANNELS:
        raise ValueError(f"weights must be (frames, {NUM_CHANNELS}), got {weights.shape}")
    frames = weights.shape[0]
    rot = np.zeros((frames, 9)) if rotations is None else np.asarray(rotations, dtype=np.float64)
    if rot.shape != (frames, 9):
        raise ValueError(f"rotations must be ({frames}, 9), got {rot.shape}")
    order = [channel_index(n) for n in LIVE_LINK_BLENDSHAPES]
    out = io.StringIO()
    out.write(",".join(LIVE_LINK_HEADER) + "\n")
    for f in range(frames):
        row = [format_timecode(start_frame + f, fps), str(LIVE_LINK_BLENDSHAPE_COUNT)]
        row += [f"{v:.10f}" for v in weights[f, order]]
        row += [f"{v:.10f}" for v in rot[f]]
        out.write(",".join(row) + "\n")
    text = out.getvalue()
    if path is not None:
        Path(path).write_text(text, encoding="utf-8", newline="")
    return text


def read_live_link_csv(source: str | Path | io.TextIOBase, fps: float | None = None,
                       allow_missing: bool = True) -> LiveLinkTake:
    """Read a Live Link Face CSV by column name.

    - Extra columns are ignored. Missing blendshape columns default to 0 (neutral) and are
      listed in ``LiveLinkTake.missing``; with ``allow_missing=False`` they are an error.
      Missing rotation columns default to 0 rad. A file with no blendshape column at all is
      an error. ``Timecode`` is required.
    - ``fps=None`` infers the rate like Epic's importer (60 if any FF > 30, else 30).
    """
    if isinstance(source, (str, Path)):
        try:
            text = Path(source).read_text(encoding="utf-8-sig")
        except UnicodeDecodeError:
            raise LiveLinkFormatError(f"{source}: not a UTF-8 text file") from None
    else:
        text = source.read()
    rows = list(csv.reader(io.StringIO(text)))
    rows = [r for r in rows if r and any(c.strip() for c in r)]
    if not rows:
        raise LiveLinkFormatError("empty CSV: expected a Live Link Face header row")
    header = [h.strip() for h in rows[0]]
    lower = {h.lower(): i for i, h in enumerate(header)}
    if "timecode" not in lower:
        raise LiveLinkFormatError(f"missing column 'Timecode' (header starts {header[:3]})")
    body = rows[1:]
    for r_i, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise LiveLinkFormatError(f"row {r_i} has {len(row)} fields, header has {len(header)}")
    present = [n for n in ARKIT_NAMES if n.lower() in lower]
    missing = tuple(n for n in ARKIT_NAMES if n.lower() not in lower)
    if not present:
        raise LiveLinkFormatError("no ARKit blendshape columns found (e.g. 'EyeBlinkLeft')")
    if missing and not allow_missing:
        raise LiveLinkFormatError(f"missing blendshape columns: {', '.join(pascal_case(m) for m in missing)}")
    timecodes = [row[lower["timecode"]] for row in body]
    rate = float(fps) if fps else float(infer_fps(timecodes))
    weights = np.zeros((len(body), NUM_CHANNELS), dtype=np.float32)
    rotations = np.zeros((len(body), 9), dtype=np.float32)

    def column(name: str, r_i: int, row: list[str]) -> float:
        cell = row[lower[name.lower()]]
        try:
            value = float(cell)
        except ValueError:
            raise LiveLinkFormatError(f"row {r_i}, column {name!r}: {cell!r} is not a number") from None
        if not math.isfinite(value):
            raise LiveLinkFormatError(f"row {r_i}, column {name!r}: {cell!r} is not finite")
        return value

    w_cols = [lower[n.lower()] for n in present]
    r_names = [n for n in LIVE_LINK_ROTATIONS if n.lower() in lower]
    r_cols = [lower[n.lower()] for n in r_names]
    try:  # fast path: numpy parses the whole table at once
        w = np.array([[row[i] for i in w_cols] for row in body], dtype=np.float64).reshape(len(body), len(w_cols))
        r = np.array([[row[i] for i in r_cols] for row in body], dtype=np.float64).reshape(len(body), len(r_cols))
        if not (np.isfinite(w).all() and np.isfinite(r).all()):
            raise ValueError("non-finite")
    except ValueError:  # slow path, only to name the offending cell
        for f, row in enumerate(body):
            for n in present + r_names:
                column(n, f + 2, row)
        raise
    weights[:, [INDEX[n] for n in present]] = w
    rotations[:, [LIVE_LINK_ROTATIONS.index(n) for n in r_names]] = r
    start = parse_timecode(timecodes[0], rate) if timecodes else 0.0
    return LiveLinkTake(weights=weights, rotations=rotations, fps=rate, start_frame=start, missing=missing)
