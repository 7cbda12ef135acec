"""Rhubarb Lip Sync output (TSV and JSON mouth cues) as a viseme take on ARKit-52.

Rhubarb names 9 mouth shapes: six basic ones A-F and the extended G, H, X. Each shape is
mapped to the phone whose target pose in :mod:`cafetalk_core.visemes` draws that mouth, and
the cues become a phone track rendered by :func:`visemes.phones_to_curves`, so imported
cues get the same coarticulation, bilabial closure and rest pose as the procedural baseline:

===== ============================================== =========
shape Rhubarb's description                          phone
===== ============================================== =========
A     closed mouth: P, B, M                          ``M``
B     slightly open, clenched teeth: K, S, T, EE     ``S``
C     open mouth: EH, AE                             ``EH``
D     wide open mouth: AA                            ``AA``
E     slightly rounded: AO, ER                       ``AO``
F     puckered lips: UW, OW, W                       ``UW``
G     upper teeth on the lower lip: F, V             ``F``
H     tongue behind the upper teeth: long L          ``L``
X     idle, mouth at rest                            ``SIL``
===== ============================================== =========

TSV: one ``<start seconds>\\t<shape>`` per line; a cue lasts until the next one, and the last
cue (Rhubarb always ends on X) marks the end of the recording. JSON: ``mouthCues`` of
``{"start", "end", "value"}`` (and ``metadata.duration`` when present). Rhubarb has no frame
rate: the caller's fps, else 30.
"""
from __future__ import annotations

import math

import numpy as np

from .. import visemes
from ..curves import BlendshapeCurves
from ..phones import Phone
from ..rig import TakeFormatError

#: Rhubarb mouth shape -> the phone of :data:`visemes.TARGETS` that draws it (table above).
SHAPE_TO_PHONE: dict[str, str] = {"A": "M", "B": "S", "C": "EH", "D": "AA", "E": "AO", "F": "UW",
                                  "G": "F", "H": "L", "X": "SIL"}
DEFAULT_FPS = 30.0


def _shape(value: object, path: str | None, line: int | None, column: str) -> str:
    shape = str(value).strip().upper()
    if shape not in SHAPE_TO_PHONE:
        raise TakeFormatError(f"mouth shape {value!r} is not one of A-H or X", path=path, line=line, column=column)
    return shape


def cues_to_curves(cues: list[tuple[float, float, str]], fps: float | None, duration_s: float | None = None) -> BlendshapeCurves:
    """``(start_s, end_s, shape)`` cues -> curves at ``fps`` covering the last cue's end."""
    fps = float(fps or DEFAULT_FPS)
    end = max([duration_s or 0.0] + [b for _, b, _ in cues])
    frames = int(math.floor(end * fps + 1e-9)) + 1
    phones = [Phone(SHAPE_TO_PHONE[s], a, b) for a, b, s in cues if b > a]
    return BlendshapeCurves(visemes.phones_to_curves(phones, frames, fps), fps)


def read_tsv(text: str, path: str | None = None, fps: float | None = None) -> BlendshapeCurves:
    starts: list[tuple[float, str]] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 2:
            raise TakeFormatError(f"{len(fields)} tab-separated fields, expected 2 (start seconds, shape)",
                                  path=path, line=line_no)
        try:
            t = float(fields[0])
        except ValueError:
            raise TakeFormatError(f"{fields[0]!r} is not a time in seconds", path=path, line=line_no, column=1) from None
        if not (math.isfinite(t) and t >= 0):
            raise TakeFormatError(f"time {fields[0]!r} must be >= 0", path=path, line=line_no, column=1)
        if starts and t < starts[-1][0]:
            raise TakeFormatError(f"time {t:g} is earlier than the cue before ({starts[-1][0]:g})",
                                  path=path, line=line_no, column=1)
        starts.append((t, _shape(fields[1], path, line_no, 2)))  # type: ignore[arg-type]
    if not starts:
        raise TakeFormatError("no mouth cues (empty file)", path=path, line=1)
    cues = [(a, b, s) for (a, s), (b, _) in zip(starts, starts[1:])]
    return cues_to_curves(cues, fps, starts[-1][0])


def read_json(data: dict, path: str | None = None, fps: float | None = None) -> BlendshapeCurves:
    cues_in = data.get("mouthCues")
    if not isinstance(cues_in, list) or not cues_in:
        raise TakeFormatError("mouthCues must be a non-empty list of {start, end, value}", path=path, column="mouthCues")
    cues: list[tuple[float, float, str]] = []
    for i, cue in enumerate(cues_in):
        where = f"mouthCues[{i}]"
        if not isinstance(cue, dict):
            raise TakeFormatError(f"expected an object, got {type(cue).__name__}", path=path, column=where)
        try:
            a, b = float(cue["start"]), float(cue["end"])
        except (KeyError, TypeError, ValueError):
            raise TakeFormatError("start and end must be numbers (seconds)", path=path, column=where) from None
        if not (math.isfinite(a) and math.isfinite(b) and 0 <= a <= b):
            raise TakeFormatError(f"start {a:g} and end {b:g} must satisfy 0 <= start <= end", path=path, column=where)
        cues.append((a, b, _shape(cue.get("value"), path, None, f"{where}.value")))
    duration = (data.get("metadata") or {}).get("duration") if isinstance(data.get("metadata"), dict) else None
    return cues_to_curves(cues, fps, float(duration) if isinstance(duration, (int, float)) else None)


def shape_pose(shape: str) -> np.ndarray:
    """The (52,) ARKit pose a held shape settles on (for docs and tests)."""
    return cues_to_curves([(0.0, 2.0, shape)], 30.0).values[30]
