"""Take files in and out: one entry point per direction for every format a take travels in.

=================== ========================== ==== =====
format              what writes it             read write
=================== ========================== ==== =====
``live-link-csv``   Live Link Face (iPhone)    yes  yes (exactly as the app; :mod:`cafetalk_core.rig`)
``cafetalk-json``   this project (the server)  yes  yes (``cafetalk.curves``, rotations by name)
``npz``             this project               yes  yes
``audio2face-json`` NVIDIA Audio2Face          yes  yes (:mod:`.audio2face`)
``audio2face-csv``  Audio2Face-3D sample client yes  no
``rhubarb-tsv``     Rhubarb Lip Sync           yes  no  (cues through a viseme table, :mod:`.rhubarb`)
``rhubarb-json``    Rhubarb Lip Sync           yes  no
=================== ========================== ==== =====

:func:`read_take` tells the format from the extension and, for ``.csv`` and ``.json``, from
the content; every bad file raises :class:`~cafetalk_core.rig.TakeFormatError` naming the
line and column (or JSON field). ``cafetalk convert`` (:mod:`.command`) is the
command line for pipelines and render farms. The Blender add-on reads and writes with a generated
byte-for-byte copy of this package (``blender_addon/io/core_copy``, ``python build.py --copy-core``), so
there is one reader per format.
"""
from __future__ import annotations

import io
from pathlib import Path

from .. import rig
from ..curves import BlendshapeCurves
from ..rig import TakeFormatError
from . import audio2face, rhubarb

READ_FORMATS = ("live-link-csv", "cafetalk-json", "npz", "audio2face-json", "audio2face-csv", "rhubarb-tsv", "rhubarb-json")
WRITE_FORMATS = ("live-link-csv", "cafetalk-json", "npz", "audio2face-json")


def detect_format(path: str | Path, text: str | None = None) -> str:
    """The format of a file, from its extension and (``.csv``/``.json``) its first bytes."""
    suffix = Path(path).suffix.lower()
    if suffix == ".npz":
        return "npz"
    if suffix in (".tsv", ".txt"):
        return "rhubarb-tsv"
    if suffix == ".csv":
        if text is None:
            return "live-link-csv"
        first = next((line for line in text.splitlines() if line.strip()), "")
        return "audio2face-csv" if "blendshapes." in first.lower() or _a2f_time(text) else "live-link-csv"
    if suffix == ".json":
        if text is None:
            return "cafetalk-json"
        return _json_kind(audio2face.load_json_text(text, str(path)))
    raise TakeFormatError(f"unknown take file extension {suffix!r} (use .csv, .json, .npz, .tsv or .txt)", path=path)


A2F_KEYS = ("exportFps", "numPoses", "numFrames", "facsNames", "weightMat")


def _json_kind(data: dict) -> str:
    if data.get("format") == "cafetalk.curves":
        return "cafetalk-json"
    if any(k in data for k in A2F_KEYS):
        return "audio2face-json"
    if "mouthCues" in data:
        return "rhubarb-json"
    return "cafetalk-json"  # its reader names what is missing


def _a2f_time(text: str) -> bool:
    """A ``timeCode`` column holding seconds (Audio2Face) rather than ``HH:MM:SS:FF`` (Live Link)."""
    lines = [line for line in text.splitlines()[:3] if line.strip()]
    if len(lines) < 2:
        return False
    header = [h.strip().lower() for h in lines[0].split(",")]
    if "timecode" not in header:
        return False
    cells = lines[1].split(",")
    idx = header.index("timecode")
    return idx < len(cells) and ":" not in cells[idx]


def read_take(path: str | Path, fps: float | None = None, format: str | None = None) -> BlendshapeCurves:  # noqa: A002
    """Any supported take file as curves. ``fps`` is the rate for files that cannot state it
    (Live Link timecodes inside one second, Rhubarb cues); files that state one keep theirs."""
    path = Path(path)
    if format is not None and format not in READ_FORMATS:
        raise ValueError(f"format must be one of {', '.join(READ_FORMATS)}, got {format!r}")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if (format or detect_format(path)) == "npz":
        return _read_npz(path)
    text, p = rig.read_text(path)
    if not text.strip():
        raise TakeFormatError("empty file", path=p, line=1)
    if path.suffix.lower() == ".json" or (format or "").endswith("json"):
        data = audio2face.load_json_text(text, p)
        kind = format or _json_kind(data)
        if kind == "audio2face-json":
            return audio2face.read_json(data, p)
        if kind == "rhubarb-json":
            return rhubarb.read_json(data, p, fps)
        try:
            return BlendshapeCurves.from_dict(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise TakeFormatError(f"not a cafetalk.curves take ({exc})", path=p) from None
    kind = format or detect_format(path, text)
    if kind == "live-link-csv":
        return BlendshapeCurves.from_live_link(rig.read_live_link_csv(io.StringIO(text), fps=fps, path=p))
    if kind == "audio2face-csv":
        return audio2face.read_csv(text, p, fps)
    return rhubarb.read_tsv(text, p, fps)


def _read_npz(path: Path) -> BlendshapeCurves:
    try:
        return BlendshapeCurves.load(path)
    except (KeyError, ValueError, OSError) as exc:
        raise TakeFormatError(f"not a cafetalk npz take ({exc})", path=path) from None


def write_take(curves: BlendshapeCurves, path: str | Path, format: str | None = None) -> str:  # noqa: A002
    """Write ``curves`` in ``format`` (default: from the extension); returns the format used."""
    path = Path(path)
    if format is None:
        suffix = path.suffix.lower()
        format = {".csv": "live-link-csv", ".json": "cafetalk-json", ".npz": "npz"}.get(suffix)
        if format is None:
            raise ValueError(f"cannot tell the output format from {suffix!r}: use .csv, .json, .npz or --to")
    if format not in WRITE_FORMATS:
        raise ValueError(f"output format must be one of {', '.join(WRITE_FORMATS)}, got {format!r}")
    if format == "live-link-csv":
        curves.to_live_link_csv(path)
    elif format == "cafetalk-json":
        path.write_text(curves.to_json(), encoding="utf-8")
    elif format == "npz":
        if path.suffix.lower() != ".npz":
            raise ValueError(f"npz output needs a .npz file name, got {path.name!r}")
        curves.save(path)
    else:
        path.write_text(audio2face.write_json(curves), encoding="utf-8")
    return format


