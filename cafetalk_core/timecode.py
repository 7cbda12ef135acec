"""SMPTE timecodes as Live Link Face files write them: ``HH:MM:SS:FF.fff``, where ``.fff`` is a
fraction of a frame, and drop-frame ``HH:MM:SS;FF.fff`` (29.97 and 59.94 fps).

The files have no fps field, so the rate comes from the timecodes (:func:`infer_fps`). A
non-drop-frame 29.97 fps file counts its timecode seconds like a 30 fps one and cannot be told
from it: give its rate (``--fps 29.97``). Drop-frame timecode says 29.97 by its ``;``.
"""
from __future__ import annotations

import math

#: Frame rates a timecode's frame field is snapped up to when the fps is inferred.
STANDARD_RATES: tuple[int, ...] = (24, 25, 30, 50, 60)


class TimecodeError(ValueError):
    """A timecode that cannot be read (the take readers add the file, line and column)."""


def format_timecode(frame: float, fps: float) -> str:
    """``HH:MM:SS:FF.fff`` where ``.fff`` is a fraction of a frame (not milliseconds).

    The fraction is rounded to thousandths first, so 0.9996 of a frame carries to the next frame.
    """
    if not (frame >= 0 and math.isfinite(frame)):
        raise ValueError(f"frame must be >= 0, got {frame}")
    whole, milli = divmod(int(round(frame * 1000)), 1000)
    ifps = int(round(fps))
    secs, ff = divmod(whole, ifps)
    return f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}:{ff:02d}.{milli:03d}"


def split_timecode(text: str) -> tuple[int, float]:
    """``(whole seconds, frame field with its fraction)`` of ``HH:MM:SS:FF.fff``.

    A drop-frame timecode (``HH:MM:SS;FF.fff``, the ``;`` SMPTE uses for 29.97 and 59.94 fps)
    splits the same way; :func:`is_drop_frame` tells it and :func:`timecode_frame` counts it.
    """
    try:
        hh, mm, ss, ff = text.strip().replace(";", ":").split(":")
        h, m, sec, frame = int(hh), int(mm), int(ss), float(ff)
    except ValueError:
        raise TimecodeError(f"Timecode {text!r} is not HH:MM:SS:FF.fff (or HH:MM:SS;FF.fff, drop-frame)") from None
    if not (h >= 0 and 0 <= m < 60 and 0 <= sec < 60 and 0 <= frame < 1000 and math.isfinite(frame)):
        raise TimecodeError(f"Timecode {text!r} is out of range (MM and SS below 60, FF >= 0)")
    return (h * 60 + m) * 60 + sec, frame


def is_drop_frame(text: str) -> bool:
    """A drop-frame timecode: a ``;`` among its separators (``00:01:00;02``)."""
    return ";" in text


#: Drop-frame timecode's nominal frame counts and the rates they stand for: 2 frame numbers
#: (4 at 60) are skipped at the start of every minute except each tenth, so a timecode hour
#: holds 107,892 frames (215,784), exactly 29.97 fps (59.94).
DROP_FRAME_RATES: dict[int, float] = {30: 29.97, 60: 59.94}


def timecode_frame(secs: int, frame: float, nominal: int, drop_frame: bool = False) -> float:
    """Frames since 00:00:00:00 of a split timecode, counted at ``nominal`` frames per timecode second.

    Drop-frame (``nominal`` 30 or 60) skips the dropped frame numbers, so frames stay evenly spaced
    in time; a frame number that drop-frame skips (``00:01:00;00``) is refused.
    """
    if not drop_frame:
        return secs * nominal + frame
    if nominal not in DROP_FRAME_RATES:
        raise TimecodeError(f"drop-frame timecode needs 29.97 or 59.94 fps, got {nominal} frames per second")
    dropped = 2 * nominal // 30
    minutes = secs // 60
    if secs % 60 == 0 and minutes % 10 and frame < dropped:
        raise TimecodeError(f"frame {int(frame)} of minute {minutes % 60} does not exist in drop-frame timecode "
                              f"(frames 0-{dropped - 1} are skipped)")
    return secs * nominal + frame - dropped * (minutes - minutes // 10)


def parse_timecode(text: str, fps: float) -> float:
    """Frame number of a ``HH:MM:SS:FF.fff`` timecode at ``fps`` (frames counted at round(fps);
    ``HH:MM:SS;FF.fff`` is drop-frame)."""
    secs, frame = split_timecode(text)
    return timecode_frame(secs, frame, round(fps), is_drop_frame(text))


def infer_fps(timecodes: list[str]) -> float:
    """The frame rate of a file's timecodes (the file has no fps field).

    A second that is followed by another one shows its whole frame count: the largest FF in
    it + 1, snapped up to :data:`STANDARD_RATES` (so one dropped last frame does not change
    it), is the rate; 24, 25 and 50 fps files therefore read back at their rate. A file
    inside one second falls back to Epic's importer rule: 60 if any FF > 30, else 30. The
    iPhone app's 30 and 60 fps files give 30 and 60 under both rules. Drop-frame timecodes
    (``;``) give 29.97 (59.94 when the count is 60) however short the take.
    """
    parsed = [split_timecode(tc) for tc in timecodes]
    return infer_rate(parsed, any(is_drop_frame(tc) for tc in timecodes))


def infer_rate(parsed: list[tuple[int, float]], drop_frame: bool = False) -> float:
    """:func:`infer_fps` on timecodes already split by :func:`split_timecode`."""
    if not parsed:
        return DROP_FRAME_RATES[30] if drop_frame else 30
    last = max(s for s, _ in parsed)
    full = [int(ff) for s, ff in parsed if s != last]
    if not full:
        count = 60 if any(ff >= 31 for _, ff in parsed) else 30
    else:
        count = max(full) + 1
        count = next((r for r in STANDARD_RATES if r >= count), count)
    if drop_frame:
        return DROP_FRAME_RATES[30] if count <= 30 else DROP_FRAME_RATES[60]
    return count
