"""What every batch engine does with a line: prepare it, sample a group, finish, write the take.

The engines (``local.py``: a process pool on this machine; ``ray_engine.py``: Ray actors on a
cluster) differ only in *where* these run. Lines are grouped in manifest order, ``batch_size``
at a time, by :func:`groups` on every engine, so a line lands in the same group (hence the same
batch rows) whichever engine runs it: the curves are then identical across engines on the same
hardware and thread count (tests/test_batch_ray.py).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .manifest import BatchLine, LineError

if TYPE_CHECKING:
    from ..curves import BlendshapeCurves
    from ..pipeline import Generator, PreparedJob


@dataclass
class LineResult:
    """One line's outcome: curves (written by the caller) or the error that stopped it."""

    line: BatchLine
    curves: "BlendshapeCurves | None" = None
    error: LineError | None = None
    audio_s: float = 0.0


def groups(lines: list[BatchLine], batch_size: int) -> list[list[BatchLine]]:
    """Consecutive lines, ``batch_size`` at a time (the same split on every engine)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return [lines[i:i + batch_size] for i in range(0, len(lines), batch_size)]


def default_batch_size(device: str) -> int:
    """Clips sampled together: 16 on a GPU (its matmuls are wide and mostly idle at one clip); 1 on a
    CPU, where one thread's matmuls are already full and padding rows of different lengths only
    adds work (measured: 4 real clips of 2-7 s took 2.1 s in one batch, 1.1 s one by one)."""
    return 16 if str(device).startswith("cuda") else 1


def prepare_line(gen: "Generator", line: BatchLine, audio: bytes | None = None) -> "PreparedJob":
    """The line's controls and features (``audio``: the file's bytes when the caller read it, e.g. a
    Ray driver sending it to a node that cannot see the path). Raises on bad audio or controls."""
    from ..audio import SAMPLE_RATE, load_audio
    from ..controls import ControlSet
    from ..pipeline import build_controls

    wav = load_audio(audio if audio is not None else line.audio)
    base = ControlSet.from_dict(line.controls_json) if line.controls_json is not None else None
    controls = build_controls(line.emotion, line.intensity, list(line.controls), line.text, len(wav) / SAMPLE_RATE,
                              base=base)
    return gen.prepare(wav, controls, steps=line.steps, seed=line.seed, fps=line.fps, head_motion=line.head_motion,
                       language=line.language)


def run_group(gen: "Generator", prepared: list[tuple[BatchLine, "PreparedJob"]]) -> list[LineResult]:
    """Sample the prepared lines as one batch and finish each. If the batch fails, each line is
    sampled alone so the error lands on the line that caused it (and is reported as that)."""
    if not prepared:
        return []
    jobs = [job for _, job in prepared]
    try:
        sampled = gen.sample_batch(jobs)
    except Exception:   # find the line: one at a time, each failure reported on its own line
        sampled = []
        for line, job in prepared:
            try:
                sampled.append(gen.sample_batch([job])[0])
            except Exception as exc:  # noqa: BLE001 - reported per line, the batch goes on
                sampled.append(_error(line, "sample", exc))
    results = []
    for (line, job), out in zip(prepared, sampled):
        if isinstance(out, LineError):
            results.append(LineResult(line, error=out, audio_s=job.duration_s))
            continue
        try:
            results.append(LineResult(line, curves=gen.finish(job, out), audio_s=job.duration_s))
        except Exception as exc:  # noqa: BLE001
            results.append(LineResult(line, error=_error(line, "finish", exc), audio_s=job.duration_s))
    return results


class LineFailure(Exception):
    """A line's error carried across a process boundary as text (some errors, e.g. ControlError,
    do not survive pickling, and an unpicklable result breaks a whole process pool)."""


def describe(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, LineFailure) else f"{type(exc).__name__}: {exc}"


def _error(line: BatchLine, stage: str, exc: BaseException) -> LineError:
    return LineError(line.line, describe(exc), str(line.audio), str(line.out), stage)


def error_result(line: BatchLine, stage: str, exc: BaseException) -> LineResult:
    return LineResult(line, error=_error(line, stage, exc))


def write_result(result: LineResult) -> LineError | None:
    """Write the take atomically (a partial file next to it, then a rename), so an interrupted run
    never leaves a file that a resumed run would take for finished."""
    from ..formats import write_take

    line = result.line
    out = Path(line.out)
    tmp = out.with_name(f".{out.stem}.partial{out.suffix}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_take(result.curves, tmp, line.format)
        os.replace(tmp, out)
    except Exception as exc:  # noqa: BLE001
        tmp.unlink(missing_ok=True)
        return _error(line, "write", exc)
    return None


def is_done(line: BatchLine) -> bool:
    """A finished output exists (resume skips the line)."""
    out = Path(line.out)
    return out.is_file() and out.stat().st_size > 0


def read_audio_bytes(line: BatchLine) -> bytes:
    return Path(line.audio).read_bytes()

