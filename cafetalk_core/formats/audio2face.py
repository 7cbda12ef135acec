"""NVIDIA Audio2Face-3D blendshape exports: its JSON and its CSV, read and (JSON) written.

JSON (the Audio2Face app's "export blendshape weights"): ``exportFps``, ``numPoses``,
``numFrames``, ``facsNames`` (one name per pose) and ``weightMat`` (``numFrames`` rows of
``numPoses`` weights); ``trackPath`` is kept empty when we write. CSV (the Audio2Face-3D
service's sample client): a ``timeCode`` column in seconds and one column per blendshape,
named ``blendShapes.<Name>`` or ``<Name>``. Names are ARKit names matched case-insensitively;
a name that is not one is refused (this project speaks ARKit-52 only). Weights follow the
Live Link rule (:func:`cafetalk_core.rig.clamp_weights`): a little outside [0, 1] is clamped and
counted in ``BlendshapeCurves.clamped``, further out is refused.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from .. import rig
from ..curves import BlendshapeCurves
from ..rig import TakeFormatError


def _field(data: dict, name: str, path: str | None):
    if name not in data:
        raise TakeFormatError(f"missing field {name!r} (an Audio2Face export has exportFps, numPoses, "
                              "numFrames, facsNames, weightMat)", path=path, column=name)
    return data[name]


def _arkit_names(names: list, path: str | None, field: str) -> list[int]:
    out = []
    for i, name in enumerate(names):
        try:
            out.append(rig.channel_index(str(name).removeprefix("blendShapes.")))
        except KeyError:
            raise TakeFormatError(f"{name!r} is not an ARKit blendshape name", path=path, column=f"{field}[{i}]") from None
    return out


def _to_curves(weights: np.ndarray, cols: list[int], fps: float, clamped: int) -> BlendshapeCurves:
    values = np.zeros((weights.shape[0], rig.NUM_CHANNELS), np.float32)
    values[:, cols] = weights
    return BlendshapeCurves(values, fps, clamped=clamped)


def read_json(data: dict, path: str | None = None) -> BlendshapeCurves:
    """An Audio2Face JSON export (already parsed) as curves."""
    fps = _field(data, "exportFps", path)
    if not (isinstance(fps, (int, float)) and not isinstance(fps, bool) and math.isfinite(fps) and fps > 0):
        raise TakeFormatError(f"exportFps must be a positive number, got {fps!r}", path=path, column="exportFps")
    names = _field(data, "facsNames", path)
    if not isinstance(names, list) or not names:
        raise TakeFormatError("facsNames must be a non-empty list of names", path=path, column="facsNames")
    cols = _arkit_names(names, path, "facsNames")
    num_poses, num_frames = _field(data, "numPoses", path), _field(data, "numFrames", path)
    if num_poses != len(names):
        raise TakeFormatError(f"numPoses is {num_poses!r} but facsNames lists {len(names)}", path=path, column="numPoses")
    rows = _field(data, "weightMat", path)
    if not isinstance(rows, list) or num_frames != len(rows):
        got = len(rows) if isinstance(rows, list) else type(rows).__name__
        raise TakeFormatError(f"numFrames is {num_frames!r} but weightMat has {got} rows", path=path, column="numFrames")
    for f, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != len(names):
            n = len(row) if isinstance(row, list) else type(row).__name__
            raise TakeFormatError(f"{n} weights, numPoses is {len(names)}", path=path, column=f"weightMat[{f}]")
    try:
        weights = np.asarray(rows, dtype=np.float64).reshape(len(rows), len(names))
    except (TypeError, ValueError):
        bad = next((f, c) for f, row in enumerate(rows) for c, v in enumerate(row)
                   if not isinstance(v, (int, float)) or isinstance(v, bool))
        raise TakeFormatError(f"{rows[bad[0]][bad[1]]!r} is not a number", path=path,
                              column=f"weightMat[{bad[0]}][{bad[1]}] ({names[bad[1]]})") from None
    bad = rig.first_weight_out_of_range(weights)
    if bad is not None:
        f, c = bad
        raise TakeFormatError(rig.weight_range_message(weights[f, c]), path=path,
                              column=f"weightMat[{f}][{c}] ({names[c]})")
    weights, clamped = rig.clamp_weights(weights)
    return _to_curves(weights, cols, float(fps), clamped)


def write_json(curves: BlendshapeCurves) -> str:
    """Curves as an Audio2Face JSON export (ARKit names, Apple's order; rotations are not part of it)."""
    c = curves.in_arkit_order()
    return json.dumps({"exportFps": c.fps, "trackPath": "", "numPoses": rig.NUM_CHANNELS, "numFrames": c.num_frames,
                       "facsNames": list(rig.ARKIT_NAMES), "weightMat": c.values.round(6).tolist()})


def read_csv(text: str, path: str | None = None, fps: float | None = None) -> BlendshapeCurves:
    """An Audio2Face-3D CSV (``timeCode`` in seconds + blendshape columns) as curves.

    The frame rate is ``fps`` or 1 / the median step of ``timeCode``; rows are placed at their
    time (gaps bridged) exactly as Live Link rows are.
    """
    rows = rig.csv_rows(text, path)
    if not rows:
        raise TakeFormatError("empty CSV: expected an Audio2Face header row", path=path, line=1)
    header_line, header = rows[0][0], [h.strip() for h in rows[0][1]]
    lower = [h.lower() for h in header]
    if "timecode" not in lower:
        raise TakeFormatError("missing column 'timeCode'", path=path, line=header_line, column="timeCode")
    body = rows[1:]
    for line, row in body:
        if len(row) != len(header):
            raise TakeFormatError(f"{len(row)} fields, the header has {len(header)}", path=path, line=line)
    t_col = lower.index("timecode")
    w_cols = [i for i in range(len(header)) if i != t_col]
    if not w_cols:
        raise TakeFormatError("no blendshape columns", path=path, line=header_line)
    cols = []
    for i in w_cols:
        try:
            cols.append(rig.channel_index(header[i].split(".")[-1]))
        except KeyError:
            raise TakeFormatError(f"{header[i]!r} is not an ARKit blendshape name", path=path, line=header_line,
                                  column=header[i]) from None
    times = rig.parse_table(body, [t_col], [header[t_col]], path)[:, 0]
    weights = rig.parse_table(body, w_cols, [header[i] for i in w_cols], path)
    weights, clamped = rig.check_weight_range(weights, [header[i] for i in w_cols], [line for line, _ in body], path)
    steps = np.diff(times)
    if (steps <= 0).any():
        r = int(np.flatnonzero(steps <= 0)[0]) + 1
        raise TakeFormatError(f"timeCode {times[r]:g} does not come after {times[r - 1]:g}", path=path,
                              line=body[r][0], column=header[t_col])
    if fps is None:
        if len(times) < 2:
            raise TakeFormatError("one row: the frame rate cannot be told, give it (--fps)", path=path, line=body[0][0])
        fps = 1.0 / float(np.median(steps))
        fps = float(round(fps)) if abs(fps - round(fps)) < 0.01 else round(fps, 3)
    start, (weights,) = rig.to_frame_grid(times * fps, [weights])
    curves = _to_curves(weights, cols, fps, clamped)
    curves.start_s = start / fps
    return curves


def load_json_text(text: str, path: str | None = None) -> dict:
    """Parse JSON text, refusing bad JSON with its line and column."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TakeFormatError(f"not JSON ({exc.msg})", path=path, line=exc.lineno, column=exc.colno) from None
    if not isinstance(data, dict):
        raise TakeFormatError(f"expected a JSON object, got {type(data).__name__}", path=path, line=1)
    return data


def read_path(path: str | Path, fps: float | None = None) -> BlendshapeCurves:
    text, p = rig.read_text(path)
    if Path(path).suffix.lower() == ".csv":
        return read_csv(text, p, fps)
    return read_json(load_json_text(text, p), p)

