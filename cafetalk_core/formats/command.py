"""``cafetalk convert IN OUT [--fps F]``: take files between formats, without Blender.

``python -m cafetalk_core.formats.command IN OUT`` is the same command without the rest of the
``cafetalk`` parser (it never loads torch): the Blender add-on calls it.
"""
from __future__ import annotations

import json
import math
import sys

from . import READ_FORMATS, WRITE_FORMATS, read_take, write_take
from ..rig import WEIGHT_TOLERANCE, TakeFormatError


def clamp_note(path, count: int) -> str:
    """The one-line note for weights a reader clamped into [0, 1] (``rig.clamp_weights``)."""
    return (f"{path}: {count} weight{'s' if count != 1 else ''} slightly outside [0, 1] "
            f"(within {WEIGHT_TOLERANCE:g}) clamped into [0, 1]")


def add_arguments(p) -> None:
    p.add_argument("input", help="take file: Live Link CSV, cafetalk JSON, .npz, Audio2Face JSON/CSV, Rhubarb TSV/JSON")
    p.add_argument("output", help="output file: .csv (Live Link Face), .json (cafetalk), .npz; --to audio2face-json")
    p.add_argument("--fps", type=float, default=None,
                   help="input frame rate where the file cannot state it (Live Link takes shorter than a second, "
                        "29.97 fps, Rhubarb cues; default: inferred, Rhubarb 30)")
    p.add_argument("--from", dest="from_format", choices=READ_FORMATS, default=None, help="input format (default: detected)")
    p.add_argument("--to", dest="to_format", choices=WRITE_FORMATS, default=None, help="output format (default: from the extension)")


def cli_convert(args) -> int:
    """Exit 0 on success (one JSON line on stdout, with ``clamped``: weights a little outside [0, 1]
    clamped into it, also told in one note on stderr), 2 with one line on stderr for a bad file or option."""
    if args.fps is not None and not (args.fps > 0 and math.isfinite(args.fps)):
        print(f"cafetalk convert: error: --fps must be positive, got {args.fps}", file=sys.stderr)
        return 2
    try:
        curves = read_take(args.input, fps=args.fps, format=args.from_format)
        used = write_take(curves, args.output, args.to_format)
    except (TakeFormatError, ValueError, OSError) as exc:
        print(f"cafetalk convert: error: {exc}", file=sys.stderr)
        return 2
    if curves.clamped:
        print(f"cafetalk convert: note: {clamp_note(args.input, curves.clamped)}", file=sys.stderr)
    print(json.dumps({"input": str(args.input), "output": str(args.output), "format": used,
                      "frames": curves.num_frames, "fps": curves.fps, "rotations": curves.rotations is not None,
                      "start_s": curves.start_s, "clamped": curves.clamped}))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m cafetalk_core.formats.command IN OUT``: the command without the whole ``cafetalk`` parser."""
    import argparse
    parser = argparse.ArgumentParser(prog="cafetalk convert", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return cli_convert(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
