"""Choose the closure stage's rule 4 (threshold and loudness gate) on validation speech, per input.

Why (issue 23): rule 4 of motion/finish.py shuts the lips where the closure stage's detector hears
a bilabial. It is the one stage after sampling that can close a vowel, so it must earn its place on
a score that counts false closures, chosen on validation speech and recorded with the detector:

* ``--input phones`` (English, the recogniser's phones in the features): the real-speech validation
  recordings (``evaluation/sets/real_speech`` split val, true phone timings);
* ``--input phone-free`` (any other language): the validation sentences of ``multilingual`` (other
  words than its test set, same voices); the detector must have been trained for that input
  (``cafetalk train-closure --p-drop-phones``).

Settings: rule 4 "off", or a threshold, ungated or gated by a loudness dip (the lips may shut only
where the sound is at least ``dip`` dB below the loudest frame within 0.2 s: a lip closure stops or
damps the sound, a vowel's centre is where it is loudest). Every clip is sampled once; only the
stages after sampling are rerun per setting. The choice:

* score = closed bilabials - vowel centres closed (a false closure costs as much as a missed one),
  among settings whose vowel centres sealed (``jawOpen - mouthClose < 0.05``) stay <= ``SEAL_LIMIT``
  (issue 23's target);
* ties go to the setting that closes less: a higher threshold, then a larger dip (ungated last);
* "off" competes too: if no setting beats it, rule 4 stays off for that input.

    python -m cafetalk_core.evaluation.closure_threshold CHECKPOINT [--input phones|phone-free] [--write]

``--write`` records the choice in ``CHECKPOINT/closure/config.json`` (``threshold`` and ``dip_db``
with phones, ``phone_free_threshold`` and ``phone_free_dip_db`` without), with the validation figures.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Sequence

from ..files import write_json_atomic
from . import multilingual
from . import real_speech as realspeech
from ..audio import SAMPLE_RATE

THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
DIPS_DB: tuple[float | None, ...] = (None, 6.0, 10.0, 15.0)
SEAL_LIMIT = 0.10
INPUTS = ("phones", "phone-free")


def setting_name(threshold: float | None, dip_db: float | None) -> str:
    """"off", "0.8" (ungated) or "0.8@10dB"."""
    if threshold is None:
        return "off"
    return f"{threshold:g}" if dip_db is None else f"{threshold:g}@{dip_db:g}dB"


def parse_setting(name: str) -> tuple[float | None, float | None]:
    """The inverse of :func:`setting_name`: (threshold, dip_db)."""
    if name == "off":
        return None, None
    thr, _, dip = name.partition("@")
    return float(thr), (float(dip.removesuffix("dB")) if dip else None)


def _clips(phone_free: bool, languages: list[str] | None, max_clips: int | None, real_set: str) -> tuple[list, list, str]:
    """(clips, each clip's language tag or None, the set's name) for one input."""
    if phone_free:
        langs = multilingual.check_languages(languages)
        clips = realspeech.load_real_speech(multilingual.build_set(langs, split="val"))
        if max_clips is not None:   # per language (toy scale, for tests)
            clips = [c for lang in langs for c in [c for c in clips if multilingual.language_of(c.id) == lang][:max_clips]]
        return clips, [multilingual.language_of(c.id) for c in clips], "multilingual val"
    clips = realspeech.load_real_speech(realspeech.real_set_dir(real_set))[:max_clips]
    return clips, [None] * len(clips), f"real speech {real_set}"


def sweep(generator: Any, languages: list[str] | None = None, thresholds: Sequence[float] = THRESHOLDS,
          seed: int = 0, max_clips: int | None = None, *, phone_free: bool = True,
          dips: Sequence[float | None] = (None,), real_set: str = "val") -> dict[str, Any]:
    """Pooled closure and seals per setting ("off" = rule 4 off) on the input's validation set."""
    det = generator.closure
    if det is None:
        raise ValueError("the checkpoint has no closure stage")
    if phone_free and not det.phones_optional:
        raise ValueError("the checkpoint's closure stage was not trained for phone-free input "
                         "(cafetalk train-closure --p-drop-phones)")
    clips, tags, set_name = _clips(phone_free, languages, max_clips, real_set)
    settings = [(None, None)] + [(t, d) for t in thresholds for d in dips]
    attrs = ("phone_free_threshold", "phone_free_dip_db") if phone_free else ("threshold", "dip_db")
    kept = tuple(getattr(det, a) for a in attrs)
    fps = float(generator.cfg.fps)
    per: dict[str, list[dict[str, Any]]] = {}
    try:
        for k, (clip, tag) in enumerate(zip(clips, tags)):
            job = generator.prepare(clip.wav, sample_rate=SAMPLE_RATE, seed=seed + k, language=tag)
            sampled = generator.sample_batch([job])[0]
            n = clip.num_frames(fps)
            for thr, dip in settings:
                setattr(det, attrs[0], thr)
                setattr(det, attrs[1], dip)
                values = generator.finish(job, sampled).values[:n]
                per.setdefault(setting_name(thr, dip), []).append(realspeech.clip_metrics(values, clip, fps))
    finally:
        for a, v in zip(attrs, kept):
            setattr(det, a, v)
    return {"set": set_name, "input": "phone-free" if phone_free else "phones",
            "languages": list(multilingual.check_languages(languages)) if phone_free else ["en"], "clips": len(clips),
            "results": {name: realspeech.pool_clip_metrics(rows, 0.0, 1.0) for name, rows in per.items()}}


def choose(results: dict[str, dict[str, Any]], seal_limit: float = SEAL_LIMIT) -> str:
    """The key of ``results`` with the best closed - falsely closed, seals within the limit ("off" if none)."""
    def score(name: str) -> tuple[float, float, float]:
        r = results[name]
        thr, dip = parse_setting(name)
        if thr is None:
            return (r["closed"] - r["vowels_closed"], float("inf"), float("inf"))
        return (r["closed"] - r["vowels_closed"], thr, -1.0 if dip is None else dip)

    allowed = [name for name, r in results.items() if name == "off" or r["vowel_seal_rate"] <= seal_limit]
    return max(allowed, key=score)


def record(checkpoint: str | Path, report: dict[str, Any], best: str) -> tuple[float | None, float | None]:
    """Write the choice into ``checkpoint/closure/config.json`` (with the validation figures it had)."""
    cfg_path = Path(checkpoint) / "closure" / "config.json"
    meta = json.loads(cfg_path.read_text())
    thr, dip = parse_setting(best)
    prefix = "phone_free_" if report["input"] == "phone-free" else ""
    meta[f"{prefix}threshold"], meta[f"{prefix}dip_db"] = thr, dip
    meta.setdefault("train", {})[f"{prefix}threshold_chosen_on"] = {
        "command": f"python -m cafetalk_core.evaluation.closure_threshold --input {report['input']} "
                   "--write", "set": report["set"], "languages": report["languages"], "clips": report["clips"],
        "setting": best, "results": report["results"][best], "off": report["results"]["off"]}
    write_json_atomic(cfg_path, meta)
    return thr, dip


def recipe_closure_threshold(step: Any, out: Path) -> dict[str, Any]:
    """A recipe's ``closure_threshold`` step (training/recipe.py): options ``input`` ("phones" or
    "phone-free", the default), ``languages``, ``max_clips``, ``thresholds``, ``dips`` (null = ungated;
    default ``DIPS_DB``, as the command).
    The shipped recipe chooses rule 4 for both inputs: with phones after the English sampling defaults,
    phone-free after the phone-free ones (the detector is trained with phone dropout; docs/model.md)."""
    from ..pipeline import Generator

    opts = dict(step.options)
    report = sweep(Generator(out, threads=1), opts.get("languages"), tuple(opts.get("thresholds", THRESHOLDS)),
                   max_clips=opts.get("max_clips"), phone_free=opts.get("input", "phone-free") == "phone-free",
                   dips=tuple(opts.get("dips", DIPS_DB)))
    best = choose(report["results"])
    thr, dip = record(out, report, best)
    return {"input": report["input"], "threshold": thr, "dip_db": dip, "validation": report["results"][best]}


def main(argv: list[str] | None = None) -> int:
    from ..pipeline import Generator

    p = argparse.ArgumentParser(prog="python -m cafetalk_core.evaluation.closure_threshold",
                                description=__doc__.splitlines()[0])
    p.add_argument("checkpoint")
    p.add_argument("--input", choices=INPUTS, default="phone-free",
                   help="phones: English real-speech val set; phone-free: the multilingual val sentences")
    p.add_argument("--languages", nargs="*", default=None)
    p.add_argument("--write", action="store_true", help="record the choice in CHECKPOINT/closure/config.json")
    args = p.parse_args(argv)
    g = Generator(Path(args.checkpoint))
    report = sweep(g, args.languages, phone_free=args.input == "phone-free", dips=DIPS_DB)
    print(f"{report['set']}, {report['clips']} clips")
    print(f"{'setting':>10}  {'closure':>13}  {'precision':>9}  {'vowels sealed':>13}  {'closed - false':>14}")
    for name, r in report["results"].items():
        print(f"{name:>10}  {r['bilabial_closure']:.3f} ({r['closed']:>3}/{r['bilabials']:<3})  "
              f"{r['closure_precision']:>9.3f}  {r['vowel_seal_rate']:>13.3f}  {r['closed'] - r['vowels_closed']:>14}")
    best = choose(report["results"])
    print(f"chosen on {report['set']}: {best}")
    if args.write:
        thr, dip = record(args.checkpoint, report, best)
        print(f"wrote rule 4 for {report['input']} input (threshold {thr}, dip {dip} dB) to {args.checkpoint}/closure")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
