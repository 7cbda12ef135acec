"""Front-end speed: seconds of CPU work per second of audio, per stage and in total.

The budget (issues 5 and 11): 5 s of speech -> curves in <= 1 s on this 2-core CPU,
recognition included, so the front end must stay well under 0.5 s for 5 s of audio.

    python benchmarks/bench_frontend.py [--repeat 5]

Runs on the bundled real recordings concatenated to 5 s (real speech decodes slower than
silence). Prints wall and process (CPU) time: on a shared machine the CPU time is the
honest figure, the wall time what a user waits.
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--fps", type=float, default=30.0)
    args = ap.parse_args()

    from cafetalk_core.audio import PhoneticMelFrontEnd
    from cafetalk_core.audio.mel import log_mel, loudness
    from cafetalk_core.audio.phonetic import phone_features, recognise_phones
    from cafetalk_core.audio.vad import voice_activity
    from cafetalk_core.evaluation.real_speech import load_real_speech

    wav = np.concatenate([c.wav for c in load_real_speech()])[: int(args.seconds * 16000)]
    n = int(round(args.seconds * args.fps))
    fe = PhoneticMelFrontEnd()
    fe.features(wav, n, args.fps)  # warm-up: decoder load (~0.2 s, once per process), imports

    stages = {
        "recognise (pocketsphinx phone loop)": lambda: recognise_phones(wav),
        "phone features": lambda: phone_features(phones, n, args.fps),
        "log-mel": lambda: log_mel(wav, n, args.fps),
        "loudness": lambda: loudness(wav, n, args.fps),
        "voice activity": lambda: voice_activity(wav, n, args.fps),
        "TOTAL phonetic-mel-v1 features": lambda: fe.features(wav, n, args.fps),
    }
    phones = recognise_phones(wav)
    print(f"{args.seconds:g} s of real speech, {n} frames at {args.fps:g} fps, best of {args.repeat}")
    print(f"{'stage':<38} {'wall s':>8} {'cpu s':>8} {'cpu s per audio s':>18}")
    for name, fn in stages.items():
        walls, cpus = [], []
        for _ in range(args.repeat):
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            walls.append(time.perf_counter() - w0)
            cpus.append(time.process_time() - c0)
        print(f"{name:<38} {min(walls):8.3f} {min(cpus):8.3f} {min(cpus) / args.seconds:18.4f}")
    print("budget: the whole front end well under 0.5 s for 5 s (the model gets the rest of 1 s)")


if __name__ == "__main__":
    main()
