"""Captured takes in and finished takes out, without ``bpy``: every take file the core reads or writes.

The extension alone reads Live Link Face CSV, Audio2Face-3D JSON/CSV and Rhubarb TSV/JSON, and
writes Live Link CSV exactly as the iPhone app does, cafetalk JSON and Audio2Face JSON, with the
core's own readers and writers: ``core_copy`` is a generated copy of ``cafetalk_core.formats`` and
what it needs (``python build.py --copy-core``, pinned byte for byte by
``tests/test_addon_copies.py``), so an import needs no server environment and follows the core's
rules to the letter: the frame rate from Live Link timecodes (29.97 with drop-frame ``;``), weights
a little outside [0, 1] (real iPhone exports hold ``EyeLookInRight`` 1.00985) clamped and counted,
NaN, text and weights far outside refused naming line and column.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .core_copy import formats as core_formats
from .core_copy.rig import WEIGHT_TOLERANCE, TakeFormatError
from .curves import Curves
from .errors import CafeTalkError

IMPORT_EXTENSIONS = (".csv", ".json", ".tsv", ".txt")
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".m4a", ".aiff")
#: What Export Take writes (``core_formats.WRITE_FORMATS`` but npz, which Blender users never asked for).
EXPORT_FORMATS = ("live-link-csv", "cafetalk-json", "audio2face-json")


@dataclass
class CapturedTake:
    """A take read from a file: its curves (with rotations, if any), where its clock starts, and how
    many weights the reader clamped into [0, 1] (the core's rule for values a little outside)."""

    curves: Curves
    start_s: float = 0.0
    clamped: int = 0

    @property
    def rotations(self) -> np.ndarray | None:
        return self.curves.rotations


def clamp_note(path: str, count: int) -> str:
    """The one line that tells an artist what the reader clamped (an INFO report): the words of
    ``cafetalk convert``'s note, with the file's name."""
    return (f"{os.path.basename(path)}: {count} weight{'s' if count != 1 else ''} slightly outside [0, 1] "
            f"(within {WEIGHT_TOLERANCE:g}) clamped into [0, 1]")


def read_capture(path: str, fps: float | None = None) -> CapturedTake:
    """Any take file the core reads, as a :class:`CapturedTake`; a bad file raises :class:`CafeTalkError`
    naming the line and column (the core's :class:`TakeFormatError` message), nothing else happens."""
    if not os.path.isfile(path):
        raise CafeTalkError(f"capture file {path!r} does not exist")
    if fps is not None and not fps > 0:
        raise CafeTalkError(f"frame rate must be positive, got {fps}")
    try:
        core = core_formats.read_take(path, fps)
    except (TakeFormatError, ValueError, OSError) as exc:
        raise CafeTalkError(str(exc)) from None
    return CapturedTake(Curves.from_core(core), core.start_s, core.clamped)


def write_capture(take: CapturedTake, path: str, to_format: str | None = None) -> str:
    """Write a take as ``to_format`` (default from the extension: ``.csv`` Live Link, ``.json``
    cafetalk JSON); return the format written."""
    if to_format is not None and to_format not in EXPORT_FORMATS:
        raise CafeTalkError(f"export format must be one of {', '.join(EXPORT_FORMATS)}, got {to_format!r}")
    try:
        return core_formats.write_take(take.curves.to_core(take.start_s), path, to_format)
    except (KeyError, ValueError, OSError) as exc:
        raise CafeTalkError(f"{path}: {exc}") from None


def audio_beside(path: str) -> str | None:
    """An audio file with the capture's stem in its folder (Live Link Face saves ``take.mov``/``.wav`` beside it)."""
    folder, stem = os.path.dirname(os.path.abspath(path)), Path(path).stem
    for ext in AUDIO_EXTENSIONS:
        for cand in (stem + ext, stem + ext.upper()):
            full = os.path.join(folder, cand)
            if os.path.isfile(full):
                return full
    return None
