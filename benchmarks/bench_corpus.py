"""Corpus generation speed: seconds of audio (with curves) written per wall second.

    python benchmarks/bench_corpus.py [--hours 0.02] [--workers 2] [--seed 0]

Also prints the per-engine cost of one utterance, so a slow engine stands out. The figure
depends on how busy the machine is: the CPU time is printed next to the wall time.
"""
from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time

from cafetalk_core.data.corpus import generate_corpus
from cafetalk_core.data.tts import synthesize

TEXT = "It was raining last night, so Rosa caught a jacket behind the house."


def cpu_s() -> float:
    r = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(x.ru_utime + x.ru_stime for x in r)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hours", type=float, default=0.02)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    for engine, voice in (("espeak", "en-us+m3"), ("flite", "slt"), ("festival", "slt_hts")):
        t = time.perf_counter()
        sp = synthesize(TEXT, engine, voice)
        dt = time.perf_counter() - t
        print(f"{engine:9s} {voice:10s} {sp.duration_s:5.2f} s of speech in {dt:5.3f} s ({sp.duration_s / dt:6.1f} x real time)")
    with tempfile.TemporaryDirectory() as tmp:
        c0, t0 = cpu_s(), time.perf_counter()
        m = generate_corpus(tmp, args.hours, seed=args.seed, workers=args.workers, progress=False)
        wall, cpu = time.perf_counter() - t0, cpu_s() - c0
    print(f"corpus: {m['clips']} clips, {m['duration_s']:.1f} s of audio in {wall:.1f} s wall, {cpu:.1f} s CPU "
          f"({args.workers} workers)")
    print(f"speed: {m['duration_s'] / wall:.1f} s of audio per wall second; "
          f"{m['duration_s'] / max(cpu, 1e-9):.1f} s per CPU second; "
          f"1 hour takes ~{3600 / (m['duration_s'] / wall) / 60:.1f} min here")


if __name__ == "__main__":
    main()
