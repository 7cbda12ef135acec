"""Choose the closure stage's threshold for phone-free input on validation speech in other languages.

Why (issue 23): without phones, stage 1 rarely shuts the lips (bilabial closure 0.08-0.32 on
espeak-ng voices in seven languages), and the closure stage is the one part that hears bilabials
in the acoustics. Its rule 4 (motion/finish.py) shuts the lips where the detector's probability
exceeds a threshold; too low a threshold seals vowels. The threshold is chosen here on the
*validation* sentences of ``multilingual`` (other words than the test set, same voices):

* every clip is sampled once, phone-free; only the finish stage is rerun per threshold;
* score = closed bilabials - vowel centres closed (a false closure costs as much as a missed
  one), among thresholds whose vowel centres sealed (``jawOpen - mouthClose < 0.05``) stay
  <= ``SEAL_LIMIT`` (issue 23's target); ties go to the higher threshold (fewer closures);
* "off" (no rule 4) competes too: if no threshold beats it, none is recorded.

    python -m cafetalk_core.evaluation.closure_threshold CHECKPOINT [--write]

``--write`` records the choice as ``phone_free_threshold`` in ``CHECKPOINT/closure/config.json``.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from . import multilingual
from . import real_speech as realspeech
from ..audio import SAMPLE_RATE

THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
SEAL_LIMIT = 0.10


def sweep(generator: Any, languages: list[str] | None = None, thresholds: tuple[float, ...] = THRESHOLDS,
          seed: int = 0, max_clips: int | None = None) -> dict[str, Any]:
    """Pooled closure and seals per threshold ("off" = rule 4 off) on the multilingual validation set."""
    det = generator.closure
    if det is None or not det.phones_optional:
        raise ValueError("the checkpoint's closure stage was not trained for phone-free input "
                         "(cafetalk train-closure --p-drop-phones)")
    langs = multilingual.check_languages(languages)
    clips = realspeech.load_real_speech(multilingual.build_set(langs, split="val"))
    if max_clips is not None:   # per language (toy scale, for tests)
        clips = [c for lang in langs for c in [c for c in clips if multilingual.language_of(c.id) == lang][:max_clips]]
    fps = float(generator.cfg.fps)
    per: dict[str, list[dict[str, Any]]] = {}
    kept = det.phone_free_threshold
    try:
        for k, clip in enumerate(clips):
            job = generator.prepare(clip.wav, sample_rate=SAMPLE_RATE, seed=seed + k,
                                    language=multilingual.language_of(clip.id))
            sampled = generator.sample_batch([job])[0]
            n = clip.num_frames(fps)
            for thr in (None, *thresholds):
                det.phone_free_threshold = thr
                values = generator.finish(job, sampled).values[:n]
                per.setdefault("off" if thr is None else f"{thr:g}", []).append(realspeech.clip_metrics(values, clip, fps))
    finally:
        det.phone_free_threshold = kept
    return {"set": "multilingual val", "languages": list(langs), "clips": len(clips),
            "results": {name: realspeech.pool_clip_metrics(rows, 0.0, 1.0) for name, rows in per.items()}}


def choose(results: dict[str, dict[str, Any]], seal_limit: float = SEAL_LIMIT) -> str:
    """The key of ``results`` with the best closed - falsely closed, seals within the limit ("off" if none)."""
    def score(name: str) -> tuple[float, float]:
        r = results[name]
        return (r["closed"] - r["vowels_closed"], float("inf") if name == "off" else float(name))

    allowed = [name for name, r in results.items() if name == "off" or r["vowel_seal_rate"] <= seal_limit]
    return max(allowed, key=score)


def record(checkpoint: str | Path, report: dict[str, Any], best: str) -> float | None:
    """Write the choice into ``checkpoint/closure/config.json`` (with the validation figures it had)."""
    cfg_path = Path(checkpoint) / "closure" / "config.json"
    meta = json.loads(cfg_path.read_text())
    meta["phone_free_threshold"] = None if best == "off" else float(best)
    meta.setdefault("train", {})["phone_free_threshold_chosen_on"] = {
        "command": "python -m cafetalk_core.evaluation.closure_threshold --write", "set": report["set"],
        "languages": report["languages"], "clips": report["clips"], "results": report["results"][best]}
    tmp = cfg_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(meta, indent=2))
    tmp.replace(cfg_path)
    return meta["phone_free_threshold"]


def recipe_closure_threshold(step: Any, out: Path) -> dict[str, Any]:
    """A recipe's ``closure_threshold`` step (training/recipe.py), after a closure step trained with
    ``p_drop_phones``: options ``languages``, ``max_clips``, ``thresholds``. The shipped recipes have no such
    step: the phone-dropout detector was tried and not shipped (docs/model.md)."""
    from ..pipeline import Generator

    opts = dict(step.options)
    report = sweep(Generator(out, threads=1), opts.get("languages"), tuple(opts.get("thresholds", THRESHOLDS)),
                   max_clips=opts.get("max_clips"))
    best = choose(report["results"])
    return {"phone_free_threshold": record(out, report, best), "validation": report["results"][best]}


def main(argv: list[str] | None = None) -> int:
    from ..pipeline import Generator

    p = argparse.ArgumentParser(prog="python -m cafetalk_core.evaluation.closure_threshold",
                                description=__doc__.splitlines()[0])
    p.add_argument("checkpoint")
    p.add_argument("--languages", nargs="*", default=None)
    p.add_argument("--write", action="store_true", help="record the choice in CHECKPOINT/closure/config.json")
    args = p.parse_args(argv)
    g = Generator(Path(args.checkpoint))
    report = sweep(g, args.languages)
    print(f"{'threshold':>9}  {'closure':>13}  {'precision':>9}  {'vowels sealed':>13}")
    for name, r in report["results"].items():
        print(f"{name:>9}  {r['bilabial_closure']:.3f} ({r['closed']:>3}/{r['bilabials']:<3})  "
              f"{r['closure_precision']:>9.3f}  {r['vowel_seal_rate']:>13.3f}")
    best = choose(report["results"])
    print(f"chosen on the validation sentences: {best}")
    if args.write:
        print(f"wrote phone_free_threshold = {record(args.checkpoint, report, best)} to {args.checkpoint}/closure")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
