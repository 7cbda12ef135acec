"""Sampling speed: 5 s of speech -> curves with the "small" preset and default DDIM steps on CPU.

Target (issue 5): <= 1 s in total on this 2-core CPU, front end included (the paper reports
14.71 s for 5 s of audio on a 2080Ti). Prints front end / model split, with and without fine
controls (fine controls add the third CFG branch), as the median of several runs.

    python benchmarks/bench_sampling.py [--preset small] [--threads auto|N] [--runs 5] [--steps N]
    python benchmarks/bench_sampling.py --checkpoint cafetalk_core/weights/default --real-clip

``--threads auto`` (the default) is what ``pipeline.Generator`` picks by itself
(``model.runtime.configure_threads``), so the figure is what a Python API user gets.

``--real-clip`` times a recorded voice (the first seconds of the real-speech test clip
librivox_0890) instead of a synthetic tone: the recogniser's time depends on the speech.
"""
from __future__ import annotations

import argparse
import statistics
import time

import os

import numpy as np
import torch

from cafetalk_core.controls import ControlSet
from cafetalk_core.pipeline import SAMPLE_RATE, Generator


def speech_like(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    rng = np.random.default_rng(0)
    return (0.2 * env * np.sin(2 * np.pi * 140 * t) + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="small")
    ap.add_argument("--checkpoint", default=None, help="time a trained checkpoint instead of a random preset")
    ap.add_argument("--front-end", default="logmel-v1")
    ap.add_argument("--threads", default="auto", help="torch CPU threads: 'auto' (the library's choice) or N")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--real-clip", action="store_true", help="time a real recording instead of a synthetic tone")
    args = ap.parse_args()
    threads = args.threads if args.threads == "auto" else int(args.threads)
    gen = Generator(args.checkpoint, args.device, threads=threads) if args.checkpoint else \
        Generator.random(args.preset, front_end=args.front_end, device=args.device, threads=threads)
    args.threads = f"{torch.get_num_threads()} ({args.threads})"
    cfg = gen.cfg
    n_base = sum(p.numel() for n, p in gen.model.named_parameters() if not n.startswith("control."))
    n_ctrl = sum(p.numel() for n, p in gen.model.named_parameters() if n.startswith("control."))
    steps = args.steps or cfg.default_steps
    if args.real_clip:
        from cafetalk_core.evaluation.real_speech import load_real_speech

        clip = next(c for c in load_real_speech() if c.id == "librivox_0890")
        wav = clip.wav[: int(args.seconds * SAMPLE_RATE)]
        args.seconds = len(wav) / SAMPLE_RATE
    else:
        wav = speech_like(args.seconds)
    n = int(round(args.seconds * cfg.fps))
    print(f"model {gen.model_id}: width {cfg.width} x depth {cfg.depth}, {n_base / 1e6:.2f} M base + "
          f"{n_ctrl / 1e6:.2f} M control params; front end {gen.front_end.id}; {args.threads} threads; "
          f"{args.seconds:g} s audio = {n} frames; {steps} DDIM steps; device {gen.device}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    plain = ControlSet.from_dict({"emotion": "happy", "intensity": 0.7})
    fine = ControlSet.from_dict({"emotion": "happy", "intensity": 0.7, "fine": [
        {"action": "AU12", "start_s": 1.0, "end_s": 2.5, "intensity": 0.8}]})
    a = cfg.default_audio_scale
    cases = {   # name -> (controls, audio_scale)
        f"emotion, a={a:g} (default)": (plain, None),
        "emotion, a=1 (1 CFG branch)": (plain, 1.0),
        "emotion, a=1.5 (2 CFG branches)": (plain, 1.5),
        f"+ fine control, a={a:g} (default)": (fine, None),
        "+ fine control, a=1.5 (3 branches)": (fine, 1.5),
    }
    gen.generate(wav, steps=2)  # warm-up
    from torch.utils.flop_counter import FlopCounterMode
    for name, (cs, scale) in cases.items():
        fe, total = [], []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            gen.front_end.features(wav, n, cfg.fps)
            fe.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            gen.generate(wav, cs, steps=steps, audio_scale=scale)
            total.append(time.perf_counter() - t0)
        with FlopCounterMode(display=False) as counter:
            gen.generate(wav, cs, steps=steps, audio_scale=scale)
        gflop = counter.get_total_flops() / 1e9
        f, t = statistics.median(fe), statistics.median(total)
        print(f"{name:38s} total {t:6.3f} s = front end {f:6.3f} s + model {t - f:6.3f} s "
              f"({(t - f) / steps * 1000:5.1f} ms/step); real-time factor {t / args.seconds:.3f}; "
              f"min total {min(total):.3f} s; model {gflop:.2f} GFLOP "
              f"(= {gflop / 140 * 1000:.0f} ms at 140 GFLOPS)")


if __name__ == "__main__":
    main()
