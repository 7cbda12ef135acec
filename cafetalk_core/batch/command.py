"""``cafetalk batch MANIFEST``: every line of a manifest to a take, with progress, resume and a report.

* Resumable: a line whose output already exists is skipped (outputs are written atomically, so
  an interrupted run leaves no half file); ``--overwrite`` regenerates them.
* A bad line (unreadable manifest line, broken audio, bad controls, a failure in the model or
  when writing) is reported with its line number and stage, and the batch goes on.
* The report (``--report``, default ``MANIFEST.report.json``) holds the summary and every failed
  line; the same summary is printed. Exit status 0 when no line failed, 1 otherwise, 2 when the
  run could not start (no manifest, no engine).
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

from .jobs import LineResult, is_done, write_result
from .manifest import LineError, read_manifest


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("manifest", help="CSV (header: audio,out[,format,emotion,intensity,controls,text,seed,steps,fps,"
                                    "head_motion,language]) or JSON lines with the same keys (docs/batch.md)")
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local: a process pool on this machine (default); ray: a Ray cluster (--address)")
    p.add_argument("--address", default=None,
                   help="Ray cluster address (HEAD:6379, or 'auto' for the cluster this machine joined); "
                        "default: a Ray started for this run on this machine")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda (ray: cuda needs GPUs in the cluster)")
    p.add_argument("--checkpoint", default=None, help="checkpoint folder (default: the shipped model)")
    p.add_argument("--workers", type=int, default=None,
                   help="local: front-end processes (default: cores - 1; 0 = all in this process)")
    p.add_argument("--actors", type=int, default=None, help="ray: model actors (default: one per GPU, else per CPU)")
    p.add_argument("--batch-size", type=int, default=None, help="clips sampled together (default: 16 on a GPU, 1 on a CPU)")
    p.add_argument("--overwrite", action="store_true", help="regenerate lines whose output exists")
    p.add_argument("--report", default=None, help="JSON report (default: MANIFEST.report.json)")
    p.add_argument("--random-model", action="store_true", help=argparse.SUPPRESS)   # tests: the tiny random model


def build_engine(args: argparse.Namespace) -> Any:
    if args.engine == "ray":
        from .ray_engine import RayEngine
        return RayEngine(args.checkpoint, args.device, address=args.address, batch_size=args.batch_size,
                         actors=args.actors, random_model=args.random_model)
    from .local import LocalEngine
    return LocalEngine(args.checkpoint, args.device, workers=args.workers, batch_size=args.batch_size,
                       random_model=args.random_model)


def cli_batch(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    try:
        manifest = read_manifest(args.manifest)
    except (FileNotFoundError, ValueError) as exc:
        print(f"cafetalk batch: {exc}", file=sys.stderr)
        return 2
    errors: list[LineError] = list(manifest.errors)
    todo = [ln for ln in manifest.lines if args.overwrite or not is_done(ln)]
    skipped = len(manifest.lines) - len(todo)
    for err in manifest.errors:
        print(f"cafetalk batch: line {err.line}: {err.message}", file=sys.stderr)
    start = time.perf_counter()
    done, audio_s = 0, 0.0
    engine_info: dict[str, Any] = {"engine": args.engine}
    if todo:
        try:
            engine = build_engine(args)
        except (RuntimeError, ValueError, FileNotFoundError) as exc:
            print(f"cafetalk batch: {exc}", file=sys.stderr)
            return 2
        engine_info.update(device=engine.device, batch_size=engine.batch_size,
                           workers=engine.workers if isinstance(engine.workers, int) else len(engine.workers))
        if not isinstance(engine.workers, int):   # Ray: the actors' machines
            engine_info["nodes"] = len({w["node"] for w in engine.workers})
        try:
            with tqdm(total=len(todo), desc="batch", unit="clip") as bar:
                for result in engine.run(todo):
                    err = _record(result)
                    if err is None:
                        done += 1
                        audio_s += result.audio_s
                    else:
                        errors.append(err)
                        tqdm.write(f"cafetalk batch: line {err.line} ({err.stage}): {err.message}", file=sys.stderr)
                    bar.update(1)
        finally:
            engine.close()
    seconds = time.perf_counter() - start
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU time of this process (the model) and of the finished pool workers (the front end): on a
    # machine shared with other work the wall time says little, these say where the time went
    engine_info["cpu_seconds"] = {"this_process": round(own.ru_utime + own.ru_stime, 2),
                                  "workers": round(children.ru_utime + children.ru_stime, 2)}
    summary = {"manifest": str(manifest.path), **engine_info, "lines": len(manifest.lines) + len(manifest.errors),
               "done": done, "skipped": skipped, "failed": len(errors), "seconds": round(seconds, 3),
               "audio_seconds": round(audio_s, 3),
               "clips_per_minute": round(60.0 * done / seconds, 2) if done and seconds > 0 else None,
               "errors": [e.to_dict() for e in sorted(errors, key=lambda e: e.line)]}
    report = Path(args.report) if args.report else manifest.path.with_name(manifest.path.name + ".report.json")
    report.write_text(json.dumps(summary, indent=2))
    print(f"cafetalk batch: {done} done, {skipped} skipped (already there), {len(errors)} failed "
          f"in {seconds:.1f} s" + (f" ({summary['clips_per_minute']} clips/min)" if summary["clips_per_minute"] else "")
          + f"; report: {report}")
    return 0 if not errors else 1


def _record(result: LineResult) -> LineError | None:
    if result.error is not None:
        return result.error
    return write_result(result)
