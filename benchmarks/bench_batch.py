"""Batch throughput: clips per minute for a manifest of 2-8 s lines, one at a time vs the batch engine.

Target (issue 25): on this 2-core CPU the batch engine (``cafetalk batch``: a front-end process
pool feeding the model process) >= 1.5x the clips per minute of one process generating the lines
one after another. The lines are cut from the bundled real recordings (``evaluation/sets/``,
validation and test clips concatenated and cut to a seeded random length in [2, 8] s), with a
seeded mix of emotions and fine controls, and written as a real manifest. Both runs use the shipped
model and the library's defaults; the script checks that both wrote the same curves.

    python benchmarks/bench_batch.py [--lines 200] [--workers N] [--batch-size N] [--device auto]
    python benchmarks/bench_batch.py --engine ray [--address HEAD:6379]    # the same lines on Ray

``--skip-single`` times only the batch engine. Prints wall time, clips/min, CPU time of this
process and the load average (a shared machine: quote them together).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
SETS = ROOT / "cafetalk_core" / "evaluation" / "sets"
EMOTIONS = ["neutral", "happy", "sad", "angry", "surprise"]
CONTROLS = ["", "AU12:0.5-1.5:0.7", "AU45:1.0-1.2", "AU1:0.2-1.0:0.6 AU26:1.2-1.8:0.5"]


def make_manifest(root: Path, lines: int, seed: int = 0) -> Path:
    """``lines`` wav files of 2-8 s cut from the real recordings, and a CSV manifest for them."""
    rng = np.random.default_rng(seed)
    speech = np.concatenate([sf.read(p, dtype="float32")[0] for p in sorted(SETS.glob("real_speech*/*.wav"))
                             if sf.info(p).samplerate == 16000 and sf.info(p).channels == 1])
    rows = ["audio,out,emotion,intensity,controls,seed"]
    for i in range(lines):
        n = int(rng.uniform(2.0, 8.0) * 16000)
        start = int(rng.integers(0, len(speech) - n))
        sf.write(root / f"line{i:04d}.wav", speech[start:start + n], 16000)
        rows.append(f"line{i:04d}.wav,out/line{i:04d}.npz,{EMOTIONS[i % len(EMOTIONS)]},0.6,"
                    f"{CONTROLS[i % len(CONTROLS)]},{i}")
    path = root / "manifest.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def one_at_a_time(manifest: Path, device: str) -> tuple[float, float, int]:
    """One process, the lines in order through ``Generator.generate`` (as a script calling the API)."""
    from cafetalk_core.batch.jobs import LineResult, prepare_line, write_result
    from cafetalk_core.batch.manifest import read_manifest
    from cafetalk_core.pipeline import Generator

    lines = read_manifest(manifest).lines
    t0, c0 = time.perf_counter(), time.process_time()
    gen = Generator(device=device)
    for line in lines:
        job = prepare_line(gen, line)
        curves = gen.finish(job, gen.sample_batch([job])[0])
        err = write_result(LineResult(line, curves=curves))
        assert err is None, err
    return time.perf_counter() - t0, time.process_time() - c0, len(lines)


def batch_engine(manifest: Path, args: argparse.Namespace, out_dir: str) -> tuple[float, dict]:
    """``cafetalk batch`` as a user runs it (a subprocess, model load and pool start included)."""
    cmd = [sys.executable, "-m", "cafetalk_core.cli", "batch", str(manifest), "--device", args.device,
           "--engine", args.engine, "--report", str(manifest.parent / "report.json")]
    for flag, value in (("--workers", args.workers), ("--batch-size", args.batch_size), ("--address", args.address)):
        if value is not None:
            cmd += [flag, str(value)]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=False, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0, json.loads((manifest.parent / "report.json").read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=200)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--engine", choices=("local", "ray"), default="local")
    ap.add_argument("--address", default=None)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--skip-single", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="cafetalk-bench-batch-") as tmp:
        single_dir, batch_dir = Path(tmp) / "single", Path(tmp) / "batch"
        single_dir.mkdir(), batch_dir.mkdir()
        m_batch = make_manifest(batch_dir, args.lines)
        audio_s = sum(sf.info(p).duration for p in batch_dir.glob("line*.wav"))
        print(f"{args.lines} lines, {audio_s:.0f} s of speech ({audio_s / args.lines:.1f} s per line), "
              f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
        rows = []
        if not args.skip_single:
            from cafetalk_core.model.runtime import resolve_device
            m_single = make_manifest(single_dir, args.lines)
            wall, single_cpu, n = one_at_a_time(m_single, str(resolve_device(args.device)))
            rows.append(("one at a time (one process)", wall, 60 * n / wall, f"CPU {single_cpu:.0f} s"))
        wall, report = batch_engine(m_batch, args, tmp)
        cpu = report.get("cpu_seconds", {})
        rows.append((f"cafetalk batch --engine {args.engine} (workers {report.get('workers')}, batch {report.get('batch_size')}, "
                     f"{report.get('device')})", wall, 60 * report["done"] / wall,
                     f"{report['failed']} failed; CPU {cpu.get('this_process', 0):.0f} s model process + "
                     f"{cpu.get('workers', 0):.0f} s front-end workers"))
        print(f"{'run':<70} {'wall s':>8} {'clips/min':>10}")
        for name, wall, cpm, note in rows:
            print(f"{name:<70} {wall:8.1f} {cpm:10.1f}  {note}")
        if len(rows) == 2:
            print(f"batch / one at a time: {rows[1][2] / rows[0][2]:.2f}x   (load average now {os.getloadavg()[0]:.1f})")
            if args.engine == "local" and cpu:
                # with a free core per process the engine's wall time is its busiest process's CPU time
                # (the one-at-a-time run: its own CPU time); a machine shared with other sessions gives
                # each session's processes one share together (Linux autogroup), whatever their number
                critical = max(cpu["this_process"], cpu["workers"])
                print(f"on free cores (CPU time of the busiest process): one at a time {single_cpu:.0f} s, batch engine "
                      f"{critical:.0f} s -> {single_cpu / critical:.2f}x")
            worst = 0.0
            for p in sorted((single_dir / "out").glob("*.npz")):
                a, b = np.load(p), np.load(batch_dir / "out" / p.name)
                worst = max(worst, float(np.abs(a["values"] - b["values"]).max()))
            print(f"largest difference between the two runs' curves: {worst:.2e}")


if __name__ == "__main__":
    main()
