"""Fit the rules that stay (blinks, saccades, eye angles) to the real captures' TRAIN takes (issue 24).

In evaluation/ (not training/) because the fit is a measurement: it scores the product's own output
with capture_stats, as tuning.py chooses sampling settings.

Blinks stay a rule stage (motion/blinks.py: a diffusion sampler blurs point events); their
parameters are fitted here so the product's blinks measure like the captures' under the same
statistics (evaluation/capture_stats.py):

1. the shape (length, closing share, flat top) minimises the squared log-ratios of the mean
   blink width at half its height, closing time and opening time against the captures' (the width
   at half height, not the time past 0.5: the iPhone reads a shut lid as 0.5-0.95, a rig as 1; the
   product's blinks shut fully);
2. then, with the triggers off (fit_blinks says why), the rate (the gamma process's mean) that makes
   the blinks a minute match, simulated on the shipped model's own lids and gaze on the real-speech
   VALIDATION clips (short clips: the measured rate is not the parameter).

Saccades (motion/saccades.py) are placed by rule too: their rate and the spread of the fixations
are fitted (grid search, simulated on the same validation clips) so the product's saccades a minute
and mean size match the captures'; the blinks are fitted after them, because a saccade is a gaze
shift that may trigger a blink.

The eye angles of motion/eyes.py (radians per unit eyeLook weight) are a least-squares fit of the
captured eye rotations on the eyeLook weights (``capture_stats.fit_eye_angles``).

The head (``--head``): the NeuroSync takes hold no head motion, so the head stage's output is fitted
to a real speaker's head track instead (data/head_pose.py, its TRAIN block): per axis a smoothing
and a gain while the voice is active (``model.head.HeadFit``) so that the spread and the mean angular
speed of the shipped head stage's samples on the real-speech VALIDATION clips match the track's, cut
into windows as long as those clips: the (width, gain) pair with the least squared log-ratios wins.
``--write`` records the fit as ``real_fit`` in the checkpoint's ``head/config.json``.

Run: ``python -m cafetalk_core.evaluation.fit_motion_rules`` (prints the fitted values; they are the
defaults of ``BlinkConfig`` and ``motion/eyes.py``); ``--head [--write]`` for the head.
"""
from __future__ import annotations

import itertools
import json
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..files import write_json_atomic
from ..data.captures import load_neurosync
from ..data.head_pose import load_head_track
from ..model.head import HeadFit
from .capture_stats import (AXES, _resample, blink_events, capture_stats, fit_eye_angles, gaze_degrees,
                            head_reference_stats, head_track_stats, saccades)
from ..motion.blinks import BlinkConfig, add_spontaneous_blinks
from ..motion.saccades import SaccadeConfig, add_saccades

SEEDS = (0, 1, 2)
RATE_SEEDS = tuple(range(20))


def _product_lids(clips: Sequence) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """(values before the blink stage, voice activity, fps) of the shipped model on ``clips``."""
    from ..pipeline import Generator

    g = Generator()
    g.cfg = g.cfg.replace(blink_stage=False)
    out = []
    for c in clips:
        v = g.generate(c.wav, seed=0).values
        out.append((v, g.speech_activity(g.front_end.features(c.wav, len(v), g.cfg.fps), c.wav), g.cfg.fps))
    return out


def gaze_spread(takes: Sequence) -> tuple[float, float]:
    """Mean per-take std of the captured gaze (yaw, pitch; degrees, at 30 fps)."""
    sds = [_resample(gaze_degrees(t.values, t.curves.rotations), t.fps).std(axis=0) for t in takes]
    return float(np.mean([s[0] for s in sds])), float(np.mean([s[1] for s in sds]))


def fit_saccades(target: dict[str, float], spread: tuple[float, float],
                 sims: list[tuple[np.ndarray, np.ndarray, float]]) -> tuple[SaccadeConfig, dict]:
    """Rate and spread scale whose saccades a minute and mean size match the captures'."""
    best = None
    for rate, scale in itertools.product(np.arange(20.0, 84.0, 4.0), (0.6, 0.8, 1.0, 1.2, 1.4)):
        cfg = SaccadeConfig(rate_per_min=float(rate), spread_deg=(round(spread[0] * scale, 2), round(spread[1] * scale, 2)))
        amps, minutes = [], 0.0
        for v, _, fps in sims:
            for seed in SEEDS:
                amps += saccades(gaze_degrees(add_saccades(v, fps, seed=seed, cfg=cfg), None), fps)
                minutes += len(v) / fps / 60.0
        m = {"saccades_per_min": len(amps) / minutes, "saccade_deg": float(np.mean(amps)) if amps else 0.0}
        loss = sum(np.log(max(m[k], 1e-3) / target[k]) ** 2 for k in m)
        if best is None or loss < best[0]:
            best = (loss, cfg, m)
    return best[1], best[2]


def _measure(sims: list[tuple[np.ndarray, np.ndarray, float]], cfg: BlinkConfig,
             seeds: Sequence[int] = SEEDS) -> dict[str, float]:
    events, minutes = [], 0.0
    for v, speech, fps in sims:
        for seed in seeds:
            out = add_spontaneous_blinks(v, fps, speech, seed=seed, cfg=cfg)
            events += blink_events(out, fps)
            minutes += len(v) / fps / 60.0
    mean = lambda k: float(np.mean([e[k] for e in events])) if events else float("nan")  # noqa: E731
    return {"blinks_per_min": len(events) / minutes, "blink_ms": mean("duration_ms"),
            "blink_half_width_ms": mean("half_width_ms"), "closing_ms": mean("closing_ms"),
            "opening_ms": mean("opening_ms")}


def fit_blinks(target: dict[str, float], sims: list[tuple[np.ndarray, np.ndarray, float]]) -> tuple[BlinkConfig, dict]:
    """The BlinkConfig whose blinks measure closest to ``target`` (capture_stats' pooled figures)."""
    base = BlinkConfig(p_boundary=0.45, p_gaze=0.0)
    keys = ("blink_half_width_ms", "closing_ms", "opening_ms")
    best = None
    for length, frac, plateau in itertools.product(np.arange(0.14, 0.40, 0.02), (0.2, 0.25, 0.3, 0.35, 0.4, 0.45),
                                                   (1.0, 1.2, 1.4)):
        cfg = replace(base, duration_s=(round(length - 0.06, 3), round(length + 0.06, 3)), close_frac=frac,
                      plateau=plateau)
        m = _measure(sims, cfg)
        loss = sum(np.log(m[k] / target[k]) ** 2 for k in keys)
        if best is None or loss < best[0]:
            best = (loss, cfg, m)
    _, cfg, _ = best
    best_rate = None
    # the rate, with both triggers off: with saccades every second a gaze trigger multiplies the blink
    # rate, and a phrase-end trigger makes it depend on how many pauses a clip has (with the old 45%
    # it was 16.5 a minute on the validation clips and 24.5 on the test clips); whether people blink
    # more at phrase ends cannot be checked on captures without audio. 20 seeds per clip (~13
    # simulated minutes, ~200 blinks) so the count's own noise stays ~7%
    cfg = replace(cfg, p_boundary=0.0, p_gaze=0.0)
    for rate in np.arange(8.0, 24.5, 1.0):
        c = replace(cfg, rate_per_min=float(rate))
        m = _measure(sims, c, seeds=RATE_SEEDS)
        err = abs(np.log(m["blinks_per_min"] / target["blinks_per_min"]))
        if best_rate is None or err < best_rate[0]:
            best_rate = (err, c, m)
    return best_rate[1], best_rate[2]


HEAD_SMOOTH_S = (0.0, 0.033, 0.067, 0.1, 0.133, 0.167, 0.2, 0.267, 0.333)
HEAD_GAINS = tuple(round(float(g), 2) for g in np.arange(0.5, 5.001, 0.05))


def product_heads(generator: Any, clips: Sequence) -> list[tuple[np.ndarray, np.ndarray]]:
    """((frames, 3) radians, (frames,) voice activity) of ``generator``'s head stage *without* its fit
    on each clip (seed = its index)."""
    fit, generator.head.fit = generator.head.fit, None
    try:
        out = []
        for i, c in enumerate(clips):   # generate's phases, so the job's voice activity comes with it
            job = generator.prepare(c.wav, seed=i)
            take = generator.finish(job, generator.sample_batch([job])[0])
            out.append((np.asarray(take.rotations, np.float64)[:, :3], job.speech))
        return out
    finally:
        generator.head.fit = fit


def fit_head(target: dict[str, float], heads: Sequence[tuple[np.ndarray, np.ndarray]],
             fps: float) -> tuple[HeadFit, dict[str, float]]:
    """The HeadFit whose output on ``heads`` ((angles, voice activity) per clip) matches ``target``'s
    head spread and speed per axis (grid over smoothing widths and gains; least squared log-ratios)."""
    gains, widths = [], []
    for k, axis in enumerate(AXES):
        best = None
        for width, gain in itertools.product(HEAD_SMOOTH_S, HEAD_GAINS):
            one = HeadFit(gain=tuple(gain if j == k else 1.0 for j in range(3)),
                          smooth_s=tuple(width if j == k else 0.0 for j in range(3)))
            m = head_track_stats([one.apply(h, fps, speech) for h, speech in heads], fps)
            loss = (np.log(m[f"head_{axis}_std_deg"] / target[f"head_{axis}_std_deg"]) ** 2
                    + np.log(m[f"head_{axis}_speed_deg_s"] / target[f"head_{axis}_speed_deg_s"]) ** 2)
            if best is None or loss < best[0]:
                best = (loss, gain, width)
        gains.append(best[1])
        widths.append(best[2])
    fit = HeadFit(tuple(gains), tuple(widths))
    return fit, head_track_stats([fit.apply(h, fps, speech) for h, speech in heads], fps)


def record_head_fit(checkpoint: Any, fit: HeadFit, target: dict[str, float], got: dict[str, float], clips: int) -> None:
    """Write ``fit`` as ``real_fit`` into ``checkpoint/head/config.json`` with what it was fitted on."""
    path = Path(checkpoint) / "head" / "config.json"
    meta = json.loads(path.read_text())
    meta["real_fit"] = {**fit.to_dict(), "fitted_on": {
        "command": "python -m cafetalk_core.evaluation.fit_motion_rules --head --write",
        "target": "datasets/head_pose/obama_adnerf (train block), windows as long as the clips",
        "product": f"the real-speech validation set ({clips} clips, seed = clip index)",
        "target_stats": {k: round(v, 3) for k, v in target.items()},
        "product_stats": {k: round(v, 3) for k, v in got.items()}}}
    write_json_atomic(path, meta, newline=True)


def head_fit_for(checkpoint: Any, max_clips: int | None = None) -> tuple[HeadFit, dict, dict, int]:
    """(fit, track train-block stats, fitted product stats, clips) for ``checkpoint``'s head stage."""
    from ..pipeline import Generator
    from .real_speech import load_real_speech, real_set_dir

    g = Generator(checkpoint, threads=1)
    if g.head is None:
        raise ValueError(f"{checkpoint}: no head stage to fit")
    clips = load_real_speech(real_set_dir("val"))[:max_clips]
    heads = product_heads(g, clips)
    track = load_head_track("train")
    keys = [f"head_{a}_{m}" for a in AXES for m in ("std_deg", "speed_deg_s")]
    target = {k: v for k, v in head_reference_stats(track, [c.duration_s for c in clips]).items() if k in keys}
    fit, got = fit_head(target, heads, g.cfg.fps)
    before = head_track_stats([h for h, _ in heads], g.cfg.fps)
    print(f"{'':22s} {'track (train)':>13s} {'head as learned':>15s} {'fitted':>8s}")
    for key in keys:
        print(f"{key:22s} {target[key]:13.2f} {before[key]:15.2f} {got[key]:8.2f}")
    print(f"fitted HeadFit: gain={fit.gain} smooth_s={fit.smooth_s}")
    return fit, target, {k: got[k] for k in keys}, len(clips)


def recipe_head_fit(step: Any, out: Any) -> dict[str, Any]:
    """The recipe's ``head_fit`` step (training/recipe.py): option ``max_clips`` (the tiny recipe's toy scale)."""
    fit, target, got, clips = head_fit_for(out, step.options.get("max_clips"))
    record_head_fit(out, fit, target, got, clips)
    return {"head_fit": fit.to_dict(), "validation": got}


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    from .real_speech import load_real_speech, real_set_dir

    p = argparse.ArgumentParser(prog="python -m cafetalk_core.evaluation.fit_motion_rules",
                                description="fit the rules that stay to real captures")
    p.add_argument("--head", action="store_true", help="fit the head stage's HeadFit to the real head track instead")
    p.add_argument("--write", action="store_true", help="with --head: record it in the checkpoint's head/config.json")
    p.add_argument("--checkpoint", default=None, help="with --head: the checkpoint (default: the shipped one)")
    a = p.parse_args(argv)
    if a.head:
        from ..pipeline import DEFAULT_CHECKPOINT

        fit, target, got, clips = head_fit_for(a.checkpoint or DEFAULT_CHECKPOINT)
        if a.write:
            record_head_fit(a.checkpoint or DEFAULT_CHECKPOINT, fit, target, got, clips)
            print(f"wrote real_fit to {a.checkpoint or DEFAULT_CHECKPOINT}/head/config.json")
        return 0
    train = load_neurosync("train")
    target = capture_stats(train)
    print("captures (train):", {k: round(target[k], 1) for k in ("blinks_per_min", "blink_ms", "blink_half_width_ms",
                                                                 "closing_ms", "opening_ms")})
    print("eye angles:", {k: round(v, 3) for k, v in fit_eye_angles(train).items()})
    sims = _product_lids(load_real_speech(real_set_dir("val")))
    spread = gaze_spread(train)
    print("captured gaze spread (yaw, pitch deg):", tuple(round(x, 2) for x in spread),
          "saccades:", {k: round(target[k], 1) for k in ("saccades_per_min", "saccade_deg")})
    scfg, sm = fit_saccades(target, spread, sims)
    print(f"fitted SaccadeConfig: rate_per_min={scfg.rate_per_min:g} spread_deg={scfg.spread_deg}")
    print("product with it (real-speech val):", {k: round(v, 1) for k, v in sm.items()})
    sims = [(add_saccades(v, fps, seed=0, cfg=scfg), speech, fps) for v, speech, fps in sims]
    cfg, m = fit_blinks(target, sims)
    print(f"fitted BlinkConfig: rate_per_min={cfg.rate_per_min:g} p_boundary={cfg.p_boundary:g} p_gaze={cfg.p_gaze:g} "
          f"duration_s={cfg.duration_s} "
          f"close_frac={cfg.close_frac:g} plateau={cfg.plateau:g}")
    print("product with it (real-speech val):", {k: round(v, 1) for k, v in m.items()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
