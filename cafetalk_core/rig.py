"""The ARKit-52 rig: channel names, regions, neutral pose, and Live Link Face CSV I/O.

The helpers every take reader shares live here too (:class:`TakeFormatError`, CSV cells to numbers,
the weight range rule :func:`clamp_weights`, rows onto a frame grid); timecodes are in
:mod:`cafetalk_core.timecode`.

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

from .timecode import (TimecodeError, format_timecode, infer_rate,
                       is_drop_frame, split_timecode, timecode_frame)

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

#: The lip aperture is ``jawOpen - mouthClose`` (mouthClose holds the lips together over an open jaw).
APERTURE_PAIR: tuple[str, str] = ("jawOpen", "mouthClose")


def scale_aperture(values: np.ndarray, gain: float) -> np.ndarray:
    """``values`` (frames, 52) with both channels of :data:`APERTURE_PAIR` times ``gain`` (a copy):
    the aperture scales by ``gain`` and a shut mouth (mouthClose = jawOpen) stays shut."""
    out = np.array(values, dtype=np.float32, copy=True)
    if gain != 1.0:
        idx = [INDEX[n] for n in APERTURE_PAIR]
        out[..., idx] *= np.float32(gain)
    return out


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
#: Head and eye rotations (radians) in Live Link Face's column order; ``BlendshapeCurves.rotations``
#: uses the same order. Yaw turns, pitch nods, roll tilts; "Left" is the subject's own left.
ROTATION_NAMES: tuple[str, ...] = (
    "HeadYaw", "HeadPitch", "HeadRoll",
    "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
    "RightEyeYaw", "RightEyePitch", "RightEyeRoll",
)
LIVE_LINK_ROTATIONS = ROTATION_NAMES
LIVE_LINK_HEADER: tuple[str, ...] = ("Timecode", "BlendShapeCount") + LIVE_LINK_BLENDSHAPES + LIVE_LINK_ROTATIONS
LIVE_LINK_BLENDSHAPE_COUNT = 61  # what the app writes: 52 weights + 9 rotations
#: How far a weight may stray outside [0, 1] and still be read. Real Live Link Face exports hold
#: such weights (``EyeLookInRight`` 1.00334 and 1.00985 in two iPhone takes, a few frames each) and
#: Unreal reads them: every reader here clamps a finite weight within this distance into [0, 1] and
#: counts it (:func:`clamp_weights`); further out (or NaN, or text) the file is refused.
WEIGHT_TOLERANCE = 0.1


class TakeFormatError(ValueError):
    """A take file (Live Link CSV, Audio2Face, Rhubarb, cafetalk JSON/npz) that cannot be read.

    The one exception every reader raises for bad content; ``path``, ``line`` (1-based) and
    ``column`` (a column name or a JSON field) say where, and the message repeats them.
    """

    def __init__(self, what: str, *, path: str | Path | None = None, line: int | None = None,
                 column: str | int | None = None) -> None:
        self.what, self.path, self.line, self.column = what, (str(path) if path else None), line, column
        col = "" if column is None else f"column {column}" if isinstance(column, int) else f"column {column!r}"
        where = ", ".join(p for p in (f"line {line}" if line is not None else "", col) if p)
        super().__init__(": ".join(p for p in (self.path or "", where, what) if p))


#: Kept for callers written before the other formats existed: the same class.
LiveLinkFormatError = TakeFormatError


def read_text(source: str | Path | io.TextIOBase) -> tuple[str, str | None]:
    """``(text, path or None)`` of a UTF-8 file (a BOM is dropped) or an open text stream.

    Non-UTF-8 bytes are refused naming the line and the byte's column.
    """
    if not isinstance(source, (str, Path)):
        return source.read(), None
    data = Path(source).read_bytes()
    try:
        return data.decode("utf-8-sig"), str(source)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise TakeFormatError(f"byte 0x{data[exc.start]:02x} at character {col} is not UTF-8 text",
                              path=source, line=line) from None


@dataclass
class LiveLinkTake:
    """The content of one Live Link Face CSV.

    ``weights`` is (frames, 52) in ARKit order, one row per frame at ``fps``; ``rotations`` is
    (frames, 9) radians in :data:`ROTATION_NAMES` order, or None when the file has no rotation
    column; ``start_frame`` is the first timecode in frames (may hold a fraction of a frame).
    """

    weights: np.ndarray
    rotations: np.ndarray | None
    fps: float
    start_frame: float = 0.0
    missing: tuple[str, ...] = ()
    #: Weights the file held a little outside [0, 1] (within :data:`WEIGHT_TOLERANCE`), clamped.
    clamped: int = 0


def write_live_link_csv(
    path: str | Path | None,
    weights: np.ndarray,
    fps: float,
    rotations: np.ndarray | None = None,
    start_frame: float = 0.0,
) -> str:
    """Write (frames, 52) ARKit-order weights as Live Link Face CSV; returns the text.

    Exactly the app's layout: :data:`LIVE_LINK_HEADER`, ``BlendShapeCount`` 61, values with 10
    decimals, rotation columns 0 when ``rotations`` is None. ``path=None`` only returns the text.
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


def csv_rows(text: str, path: str | None) -> list[tuple[int, list[str]]]:
    """Non-blank rows with the line each starts on."""
    reader = csv.reader(io.StringIO(text))
    rows: list[tuple[int, list[str]]] = []
    line = 1
    try:
        for row in reader:
            if row and any(c.strip() for c in row):
                rows.append((line, row))
            line = reader.line_num + 1
    except csv.Error as exc:
        raise TakeFormatError(f"not CSV ({exc})", path=path, line=reader.line_num) from None
    return rows


def parse_table(body: list[tuple[int, list[str]]], columns: list[int], names: list[str],
                path: str | None) -> np.ndarray:
    """(rows, len(columns)) float64 from CSV cells; a bad cell is refused naming line and column."""
    try:  # fast path: numpy parses the whole table at once
        table = np.array([[row[i] for i in columns] for _, row in body], dtype=np.float64)
        table = table.reshape(len(body), len(columns))
    except ValueError:  # slow path, only to name the offending cell
        for line, row in body:
            for i, name in zip(columns, names):
                try:
                    float(row[i])
                except ValueError:
                    raise TakeFormatError(f"{row[i]!r} is not a number", path=path, line=line, column=name) from None
        raise
    bad = ~np.isfinite(table)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise TakeFormatError(f"{body[r][1][columns[c]]!r} is not finite", path=path, line=body[r][0], column=names[c])
    return table


def clamp_weights(table: np.ndarray) -> tuple[np.ndarray, int]:
    """``(table clamped into [0, 1], how many weights were outside [0, 1])``: the one rule for
    weights slightly out of range, shared by every take reader (and pinned in the add-on's copy).

    The caller has refused non-finite cells and anything further out than
    :data:`WEIGHT_TOLERANCE` first (:func:`first_weight_out_of_range`).
    """
    table = np.asarray(table)
    outside = int(np.count_nonzero((table < 0) | (table > 1)))
    return (np.clip(table, 0, 1) if outside else table), outside


def first_weight_out_of_range(table: np.ndarray) -> tuple[int, int] | None:
    """``(row, column)`` of the first weight that is NaN/infinite or more than
    :data:`WEIGHT_TOLERANCE` outside [0, 1] (a file no tool should read as a face), else None."""
    table = np.asarray(table)
    bad = ~np.isfinite(table) | (table < -WEIGHT_TOLERANCE) | (table > 1 + WEIGHT_TOLERANCE)
    return tuple(int(i) for i in np.argwhere(bad)[0]) if bad.any() else None


def weight_range_message(value: float) -> str:
    """What a refused weight is told: the same words from every reader."""
    if not math.isfinite(value):
        return f"weight {value:g} is not finite"
    return f"weight {value:g} is outside [0, 1] by more than {WEIGHT_TOLERANCE:g}"


def check_weight_range(table: np.ndarray, names: list[str], lines: list[int],
                       path: str | None) -> tuple[np.ndarray, int]:
    """Refuse a weight far outside [0, 1], naming its line and column; clamp and count the rest
    (:func:`clamp_weights`). Returns ``(clamped table, count)``."""
    bad = first_weight_out_of_range(table)
    if bad is not None:
        r, c = bad
        raise TakeFormatError(weight_range_message(table[r, c]), path=path, line=lines[r], column=names[c])
    return clamp_weights(table)


def to_frame_grid(frames: np.ndarray, tables: list[np.ndarray]) -> tuple[float, list[np.ndarray]]:
    """Rows stamped at (possibly fractional, possibly gapped) frame numbers -> one row per frame.

    Returns ``(first frame, tables on frames first, first + 1, ...)``. Rows exactly one frame
    apart are kept bit for bit; otherwise every row's time counts and the grid is linearly
    interpolated (a dropped frame is bridged, two rows in one frame both shape it).
    """
    if len(frames) == 0:
        return 0.0, tables
    start = float(frames[0])
    rel = frames - start
    if len(rel) == 1 or np.allclose(rel, np.arange(len(rel)), rtol=0, atol=1e-6):
        return start, tables
    grid = np.arange(int(round(rel[-1])) + 1, dtype=np.float64)
    return start, [np.stack([np.interp(grid, rel, t[:, c]) for c in range(t.shape[1])], axis=1)
                   if t.shape[1] else np.zeros((len(grid), 0)) for t in tables]


def read_live_link_csv(source: str | Path | io.TextIOBase, fps: float | None = None,
                       allow_missing: bool = True, path: str | None = None) -> LiveLinkTake:
    """Read a Live Link Face CSV by column name (case-insensitively).

    - Extra columns are ignored. Missing blendshape columns default to 0 (neutral) and are
      listed in ``LiveLinkTake.missing``; with ``allow_missing=False`` they are an error.
      Missing rotation columns default to 0 rad. A file with no blendshape column at all is
      an error. ``Timecode`` is required.
    - Every row's timecode counts: rows are placed at their frame (with its ``.fff`` fraction)
      and the take is one row per frame from the first timecode; gaps are interpolated.
    - ``fps=None`` infers the rate from the timecodes (:func:`cafetalk_core.timecode.infer_fps`); drop-frame timecodes
      (``HH:MM:SS;FF``) are 29.97 (or 59.94) fps and are counted without the skipped numbers.
    - A weight a little outside [0, 1] (at most :data:`WEIGHT_TOLERANCE`, as real iPhone exports
      hold) is clamped into it and counted in ``LiveLinkTake.clamped``. Rotations are radians,
      not weights: they are only required to be finite.
    - Bad content (a missing header or Timecode, ragged rows, a non-number, NaN, a weight
      more than :data:`WEIGHT_TOLERANCE` outside [0, 1], timecodes going back) raises :class:`TakeFormatError` naming the line
      and the column (and the file: ``source``'s path, or ``path`` for a stream).
    """
    text, source_path = read_text(source)
    path = source_path or path
    rows = csv_rows(text, path)
    if not rows:
        raise TakeFormatError("empty CSV: expected a Live Link Face header row", path=path, line=1)
    header_line, header = rows[0][0], [h.strip() for h in rows[0][1]]
    lower = {h.lower(): i for i, h in enumerate(header)}
    if "timecode" not in lower:
        first = header[0] if header else ""
        why = "the first row is data, not a header" if first[:1].isdigit() else f"header starts {header[:3]}"
        raise TakeFormatError(f"missing column 'Timecode' ({why})", path=path, line=header_line, column="Timecode")
    body = rows[1:]
    for line, row in body:
        if len(row) != len(header):
            raise TakeFormatError(f"{len(row)} fields, the header has {len(header)}", path=path, line=line)
    present = [n for n in ARKIT_NAMES if n.lower() in lower]
    missing = tuple(n for n in ARKIT_NAMES if n.lower() not in lower)
    if not present:
        raise TakeFormatError("no ARKit blendshape columns found (e.g. 'EyeBlinkLeft')", path=path, line=header_line)
    if missing and not allow_missing:
        raise TakeFormatError(f"missing blendshape columns: {', '.join(pascal_case(m) for m in missing)}",
                              path=path, line=header_line)
    tc_col = lower["timecode"]
    parsed = []
    drop_frame = bool(body) and is_drop_frame(body[0][1][tc_col])
    for line, row in body:
        try:
            parsed.append(split_timecode(row[tc_col]))
        except TimecodeError as exc:
            raise TakeFormatError(str(exc), path=path, line=line, column=header[tc_col]) from None
        if is_drop_frame(row[tc_col]) != drop_frame:
            raise TakeFormatError(f"timecode {row[tc_col].strip()!r} mixes drop-frame (;) and non-drop-frame (:) "
                                  "with the first row", path=path, line=line, column=header[tc_col])
    rate = float(fps) if fps else float(infer_rate(parsed, drop_frame))
    if not (rate > 0 and math.isfinite(rate)):
        raise ValueError(f"fps must be positive, got {fps}")
    nominal = round(rate)
    frames = np.empty(len(body))
    for i, ((line, row), (secs, ff)) in enumerate(zip(body, parsed)):
        if ff >= nominal:
            raise TakeFormatError(f"frame field {ff:g} of {row[tc_col].strip()!r} is not below {nominal} (fps {rate:g})",
                                  path=path, line=line, column=header[tc_col])
        try:
            frames[i] = timecode_frame(secs, ff, nominal, drop_frame)
        except TimecodeError as exc:
            raise TakeFormatError(str(exc), path=path, line=line, column=header[tc_col]) from None
        if i and frames[i] < frames[i - 1]:
            raise TakeFormatError(f"timecode {row[tc_col].strip()!r} is earlier than the row before",
                                  path=path, line=line, column=header[tc_col])
    keep = np.ones(len(body), bool)  # two rows with one timecode: the later one wins
    keep[:-1] = frames[1:] != frames[:-1]
    body = [b for b, k in zip(body, keep) if k]
    frames = frames[keep]

    w_names = [header[lower[n.lower()]] for n in present]
    w = parse_table(body, [lower[n.lower()] for n in present], w_names, path)
    w, clamped = check_weight_range(w, w_names, [line for line, _ in body], path)
    r_names = [n for n in ROTATION_NAMES if n.lower() in lower]
    r = parse_table(body, [lower[n.lower()] for n in r_names], [header[lower[n.lower()]] for n in r_names], path)
    start, (w, r) = to_frame_grid(frames, [w, r])
    weights = np.zeros((len(w), NUM_CHANNELS), dtype=np.float32)
    weights[:, [INDEX[n] for n in present]] = w
    rotations = None
    if r_names:
        rotations = np.zeros((len(w), len(ROTATION_NAMES)), dtype=np.float32)
        rotations[:, [ROTATION_NAMES.index(n) for n in r_names]] = r
    return LiveLinkTake(weights=weights, rotations=rotations, fps=rate, start_frame=start, missing=missing,
                        clamped=clamped)
