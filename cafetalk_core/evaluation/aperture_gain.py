"""Fit the lip aperture gain for phone-free input (``phone_free_aperture_gain`` in config.json).

Why (issue 23): speech in other languages is sampled with few DDIM steps (``tuning_phone_free``),
which keeps the mouth near the conditional mean: it follows a real face's timing best, but opens
less than the face does (the aperture's spread about 0.7x the captured one on the FACEGOOD
validation take) and seals more vowel centres than it would at full size. The pipeline multiplies
the sampled ``jawOpen`` and ``mouthClose`` together by this gain before the stages
(``rig.scale_aperture``): vowels open wider, a shut mouth stays shut, and a correlation cannot change.

Fit, on validation data only: the gain that makes the aperture's spread match the capture
folders' ``val`` takes (the pooled ratio of standard deviations, the model sampled with the
checkpoint's phone-free defaults and no gain, seeds pooled), rounded to 0.05. It is kept only if
the multilingual validation speech, sampled with it, keeps the vowel centres sealed and the
silence aperture within the tuner's limits (``tuning.VOWEL_SEAL_LIMIT``, ``SILENCE_LIMIT``).

    python -m cafetalk_core.evaluation.aperture_gain [CHECKPOINT] [--seeds 2] [--write]

``--write`` stores the gain and the evidence (``phone_free_aperture_gain_fitted``) in config.json.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..files import update_json_atomic
from . import captures as capture_eval
from . import metrics
from .tuning import SILENCE_LIMIT, VOWEL_SEAL_LIMIT
from .tuning_phone_free import PhoneFreeScore, score_settings, validation_data

ROUND = 0.05


def aperture_spread_ratio(generator: Any, takes: Sequence[capture_eval.CaptureTake], seeds: Sequence[int]) -> float:
    """Pooled std of the model's aperture over the captured one's, on ``takes`` with the phone-free
    defaults (every take once per seed, seed + take index as the tuners do)."""
    model_parts, capture_parts = [], []
    for seed in seeds:
        for k, t in enumerate(takes):
            curves = generator.generate(t.wav, seed=seed + k, fps=t.fps, language=t.language)
            p, g = metrics.align(curves.in_arkit_order().values, t.values)
            model_parts.append(capture_eval.aperture_of(p, t.channels))
            capture_parts.append(capture_eval.aperture_of(g, t.channels))
    pred, real = np.concatenate(model_parts), np.concatenate(capture_parts)
    ok = np.isfinite(pred) & np.isfinite(real)
    if not ok.any() or pred[ok].std() <= 1e-9:
        raise ValueError("the model's aperture does not move on the capture validation takes: no gain to fit")
    return float(pred[ok].std() / real[ok].std())


def fit(generator: Any, seeds: int = 2, capture_folders: Sequence[str | Path] | None = None,
        max_takes: int | None = None, max_clips: int | None = None) -> dict[str, Any]:
    """The gain and its evidence (no gain while measuring); ValueError when the gained mouth breaks a limit
    on the multilingual validation speech."""
    if not generator.cfg.phones_optional:
        raise ValueError(f"{generator.model_id}: not trained without phones (phones_optional): no phone-free "
                         "input to fit")
    takes, clips = validation_data(capture_folders, max_takes=max_takes, max_clips=max_clips)
    if not takes:
        raise ValueError("no capture validation take to fit the aperture gain on")
    seed_list = list(range(int(seeds)))
    cfg = generator.cfg
    before = cfg.phone_free_aperture_gain
    try:
        cfg.phone_free_aperture_gain = None
        ratio = aperture_spread_ratio(generator, takes, seed_list)
        gain = max(ROUND, round(round(1.0 / ratio / ROUND) * ROUND, 2))
        sampling = ([generator.default_audio_scale(True)], [generator.default_steps(True)], seed_list,
                    [generator.style_for(True)])
        without = score_settings(generator, takes, clips, *sampling)[0]
        cfg.phone_free_aperture_gain = gain
        with_gain = score_settings(generator, takes, clips, *sampling)[0]
    finally:
        cfg.phone_free_aperture_gain = before
    evidence = {"command": "python -m cafetalk_core.evaluation.aperture_gain --write",
                "captures": [t.id for t in takes], "multilingual_clips": len(clips), "seeds": seed_list,
                "aperture_spread_ratio": ratio, "gain": gain, "without": _figures(without),
                "with": _figures(with_gain)}
    if with_gain.vowel_seal_rate > VOWEL_SEAL_LIMIT or with_gain.silence_aperture > SILENCE_LIMIT:
        raise ValueError(f"gain {gain:g}: vowel centres sealed {with_gain.vowel_seal_rate:.3f} (limit "
                         f"{VOWEL_SEAL_LIMIT}), silence aperture {with_gain.silence_aperture:.3f} (limit "
                         f"{SILENCE_LIMIT}) on the multilingual validation speech")
    return evidence


def _figures(s: PhoneFreeScore) -> dict[str, float]:
    return {k: getattr(s, k) for k in ("mouth_mean_corr", "jaw_open_corr", "vowel_seal_rate", "silence_aperture",
                                        "bilabial_closure", "closure_precision", "open_vowel_aperture")}


def write(checkpoint: str | Path, evidence: dict[str, Any]) -> None:
    """The gain into model_config and the evidence beside it (config.json, atomically)."""
    def update(cfg: dict[str, Any]) -> None:
        cfg["model_config"]["phone_free_aperture_gain"] = evidence["gain"]
        cfg["phone_free_aperture_gain_fitted"] = evidence
    update_json_atomic(Path(checkpoint) / "config.json", update)


def format_evidence(ev: dict[str, Any]) -> str:
    lines = [f"capture val takes {', '.join(ev['captures'])}; {ev['multilingual_clips']} multilingual val clips; "
             f"seeds {ev['seeds']}",
             f"aperture spread, model / capture: {ev['aperture_spread_ratio']:.3f} -> gain {ev['gain']:g}",
             f"{'':>8} {'mouth r':>8} {'jaw r':>6} {'vow sealed':>10} {'silence':>8} {'closure':>8} "
             f"{'precision':>9} {'open-ap':>7}"]
    for name in ("without", "with"):
        f = ev[name]
        lines.append(f"{name:>8} {f['mouth_mean_corr']:>8.3f} {f['jaw_open_corr']:>6.3f} {f['vowel_seal_rate']:>10.3f} "
                     f"{f['silence_aperture']:>8.3f} {f['bilabial_closure']:>8.3f} {f['closure_precision']:>9.3f} "
                     f"{f['open_vowel_aperture']:>7.3f}")
    return "\n".join(lines)


def recipe_aperture_gain(step: Any, out: Path) -> dict[str, Any]:
    """The recipe's ``aperture_gain`` step (training/recipe.py): options ``seeds``, ``max_takes``,
    ``max_clips`` (the tiny recipe's toy scale) and ``if_no_fit``: "fail" (the default: the rebuild
    stops with the error) or "keep" (no gain; config.json records why). "keep" is for toy rebuilds,
    whose barely trained model hardly opens its mouth without phones."""
    from ..pipeline import Generator

    opts = dict(step.options)
    if_no_fit = opts.get("if_no_fit", "fail")
    if if_no_fit not in ("fail", "keep"):
        raise ValueError(f"aperture_gain: if_no_fit must be 'fail' or 'keep', got {if_no_fit!r}")
    try:
        evidence = fit(Generator(out, threads=1), opts.get("seeds", 2), max_takes=opts.get("max_takes"),
                       max_clips=opts.get("max_clips"))
    except ValueError as exc:
        if if_no_fit == "fail":
            raise
        why = {"gain": None, "kept_without_gain": str(exc)}
        update_json_atomic(out / "config.json", lambda cfg: cfg.update(phone_free_aperture_gain_fitted=why))
        return why
    write(out, evidence)
    return {"gain": evidence["gain"], "aperture_spread_ratio": evidence["aperture_spread_ratio"]}


def main(argv: list[str] | None = None) -> int:
    import sys

    from ..pipeline import DEFAULT_CHECKPOINT, Generator

    p = argparse.ArgumentParser(prog="python -m cafetalk_core.evaluation.aperture_gain",
                                description=__doc__.splitlines()[0])
    p.add_argument("checkpoint", nargs="?", default=None, help="checkpoint folder (default: the shipped model)")
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--write", action="store_true", help="store the gain in CHECKPOINT/config.json")
    args = p.parse_args(argv)
    checkpoint = Path(args.checkpoint) if args.checkpoint else DEFAULT_CHECKPOINT
    try:
        evidence = fit(Generator(checkpoint, threads=1), args.seeds)
    except (FileNotFoundError, ValueError) as exc:
        print(f"aperture_gain: {exc}", file=sys.stderr)
        return 1
    print(format_evidence(evidence))
    if args.write:
        write(checkpoint, evidence)
        print(f"wrote phone_free_aperture_gain={evidence['gain']:g} to {checkpoint / 'config.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
