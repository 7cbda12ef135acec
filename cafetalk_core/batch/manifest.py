"""The batch manifest: one line per clip to generate, as CSV (with a header) or JSON lines.

Columns / keys (only ``audio`` and ``out`` are required)::

    audio        the speech file (relative paths are taken from the manifest's folder)
    out          the take to write (.csv Live Link Face, .json cafetalk, .npz; relative as audio)
    format       a write format of formats.write_take (default: from out's extension)
    emotion      default neutral;  intensity  default 0.5 (as `cafetalk generate`)
    controls     fine controls: "AU12:1.0-2.0:0.8 AU45:0.5-0.7" (CSV: spaces or ';' between them;
                 JSON: a list of such strings, or a controls object as the server takes it)
    text         free text read into controls ("smile at the end")
    seed         default 0;  steps, fps, head_motion  default: the model's
    language     the speech's language tag (default English); others need a model trained for them

A line that cannot be read becomes a :class:`LineError` with its line number; the others still run.
"""
from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

COLUMNS = ("audio", "out", "format", "emotion", "intensity", "controls", "text", "seed", "steps", "fps", "head_motion",
           "language")


@dataclass(frozen=True)
class BatchLine:
    """One clip of a manifest, its fields checked for type (the controls are checked against the
    clip once its audio is loaded)."""

    line: int                          # line number in the manifest file (1-based; CSV counts the header)
    audio: Path
    out: Path
    format: str | None = None
    emotion: str = "neutral"
    intensity: float = 0.5              # as `cafetalk generate` and the server
    controls: tuple[str, ...] = ()     # ACTION:START-END[:INTENSITY] specs
    controls_json: dict[str, Any] | None = None   # or a whole controls object (server form)
    text: str | None = None
    seed: int = 0
    steps: int | None = None
    fps: float | None = None
    head_motion: float = 1.0
    language: str | None = None         # a checked tag (audio.check_language); None = English

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "audio": str(self.audio), "out": str(self.out)}


@dataclass(frozen=True)
class LineError:
    """A line that failed (reading the manifest, its audio, its controls, the model, writing)."""

    line: int
    message: str
    audio: str | None = None
    out: str | None = None
    stage: str = "manifest"           # manifest | prepare | sample | finish | write

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "stage": self.stage, "audio": self.audio, "out": self.out, "error": self.message}


@dataclass
class Manifest:
    path: Path
    lines: list[BatchLine] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)


def read_manifest(path: str | Path) -> Manifest:
    """Read a CSV (``.csv``) or JSON-lines (``.jsonl``/``.json``) manifest; bad lines become errors."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"manifest {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        rows = _csv_rows(path)
    elif suffix in (".jsonl", ".json", ".ndjson"):
        rows = _jsonl_rows(path)
    else:
        raise ValueError(f"manifest {str(path)!r}: extension {suffix!r} is not .csv or .jsonl")
    manifest = Manifest(path)
    for number, row in rows:
        if isinstance(row, LineError):
            manifest.errors.append(row)
            continue
        try:
            manifest.lines.append(_line(number, row, path.parent))
        except ValueError as exc:
            manifest.errors.append(LineError(number, str(exc), _text(row.get("audio")), _text(row.get("out"))))
    outs: dict[Path, int] = {}
    for ln in list(manifest.lines):   # two lines writing one file would overwrite each other
        if ln.out.resolve() in outs:
            manifest.lines.remove(ln)
            manifest.errors.append(LineError(ln.line, f"out {str(ln.out)!r} is also the output of line {outs[ln.out.resolve()]}",
                                             str(ln.audio), str(ln.out)))
        else:
            outs[ln.out.resolve()] = ln.line
    return manifest


def _csv_rows(path: Path) -> list[tuple[int, dict[str, Any] | LineError]]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or "audio" not in reader.fieldnames or "out" not in reader.fieldnames:
            raise ValueError(f"manifest {str(path)!r}: the header must name 'audio' and 'out', got {reader.fieldnames}")
        unknown = set(reader.fieldnames) - set(COLUMNS)
        if unknown:
            raise ValueError(f"manifest {str(path)!r}: unknown columns {sorted(unknown)}; allowed: {list(COLUMNS)}")
        rows: list[tuple[int, dict[str, Any] | LineError]] = []
        for row in reader:
            if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
                continue                                  # blank line
            clean = {k: v.strip() for k, v in row.items() if isinstance(v, str) and v.strip() != ""}
            if None in row:                               # more cells than the header
                rows.append((reader.line_num, LineError(reader.line_num, f"{len(row[None])} cells more than the header")))
                continue
            rows.append((reader.line_num, clean))
        return rows


def _jsonl_rows(path: Path) -> list[tuple[int, dict[str, Any] | LineError]]:
    rows: list[tuple[int, dict[str, Any] | LineError]] = []
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            rows.append((number, LineError(number, f"not JSON: {exc.msg} at column {exc.colno}")))
            continue
        if not isinstance(row, dict):
            rows.append((number, LineError(number, f"must be a JSON object, got {type(row).__name__}")))
            continue
        unknown = set(row) - set(COLUMNS)
        if unknown:
            rows.append((number, LineError(number, f"unknown keys {sorted(unknown)}; allowed: {list(COLUMNS)}",
                                           _text(row.get("audio")), _text(row.get("out")))))
            continue
        rows.append((number, {k: v for k, v in row.items() if v is not None and v != ""}))
    return rows


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _line(number: int, row: dict[str, Any], root: Path) -> BatchLine:
    for key in ("audio", "out"):
        if not isinstance(row.get(key), str) or not row[key]:
            raise ValueError(f"{key} is required (a path), got {row.get(key)!r}")
    fields: dict[str, Any] = {"line": number, "audio": root / row["audio"], "out": root / row["out"]}
    if "format" in row:
        from ..formats import WRITE_FORMATS
        if row["format"] not in WRITE_FORMATS:
            raise ValueError(f"format must be one of {list(WRITE_FORMATS)}, got {row['format']!r}")
        fields["format"] = row["format"]
    elif Path(row["out"]).suffix.lower() not in (".csv", ".json", ".npz"):
        raise ValueError(f"out {row['out']!r}: extension must be .csv, .json or .npz (or give a format)")
    if "emotion" in row:
        fields["emotion"] = str(row["emotion"])
    for key, kind in (("intensity", float), ("seed", int), ("steps", int), ("fps", float), ("head_motion", float)):
        if key in row:
            fields[key] = _number(key, row[key], kind)
    controls = row.get("controls")
    if isinstance(controls, str):
        fields["controls"] = tuple(s for s in controls.replace(";", " ").split() if s)
    elif isinstance(controls, list):
        if not all(isinstance(s, str) for s in controls):
            raise ValueError(f"controls must be a list of ACTION:START-END[:INTENSITY] strings, got {controls!r}")
        fields["controls"] = tuple(controls)
    elif isinstance(controls, dict):
        fields["controls_json"] = controls
    elif controls is not None:
        raise ValueError(f"controls must be a string, a list or an object, got {type(controls).__name__}")
    if "text" in row:
        fields["text"] = str(row["text"])
    if "language" in row:   # the tag's form here; whether the model takes it, when the line is prepared
        from ..audio.frontend import check_language
        fields["language"] = check_language(row["language"])
    return BatchLine(**fields)


def _number(key: str, value: Any, kind: type) -> int | float:
    try:
        if kind is int:
            as_float = float(value)
            if not as_float.is_integer():
                raise ValueError
            return int(as_float)
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{key} must be {'an integer' if kind is int else 'a number'}, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{key} must be finite, got {value!r}")
    return number
