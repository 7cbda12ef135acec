"""The closure stage's rule 4 (threshold, loudness gate) and the smoothing, replayed on sampled curves (issue 23).

Why: rule 4 of ``motion/finish.py`` (shut the lips where the closure stage hears a bilabial) is the
one stage after sampling that can close a vowel, so it is kept only if it earns its place on a
score that counts false closures, with its threshold chosen on a validation set. Sampling is
seeded, so each clip is sampled once (seed = its index, as ``cafetalk evaluate`` does) and the
after-sampling stages are replayed on the same sampled curves for every setting.

    python benchmarks/closure_stage_sweep.py [--checkpoint DIR] [--set val]
    python benchmarks/closure_stage_sweep.py --corpus corpus_dir [--clips 40]   # its validation split

Rule 4 is swept ungated and gated by a loudness dip (``threshold@dip``: the lips shut only where the
sound is that many dB below the loudest frame within 0.2 s). Prints, per setting: bilabial closure, closure precision, vowel centres sealed
(``jawOpen - mouthClose < 0.05``), open vowels sealed, open-vowel aperture, mouth jitter; and the
same for the sampled curves before any stage and for the procedural tool given the true phones.
"""
from __future__ import annotations

import argparse
from typing import Any, Callable

import numpy as np

from cafetalk_core.evaluation import metrics
from cafetalk_core.evaluation import real_speech as realspeech
from cafetalk_core.evaluation.closure_threshold import DIPS_DB, setting_name
from cafetalk_core.motion.finish import FinishConfig, finish_lips_and_face
from cafetalk_core.phones import Phone
from cafetalk_core.pipeline import Generator
from cafetalk_core.visemes import phones_to_curves

THRESHOLDS = (0.5, 0.7, 0.8, 0.9, 0.95)


def sampled_curves(gen: Generator, clips: list[tuple[str, np.ndarray, list[Phone]]]) -> list[dict[str, Any]]:
    """Per clip: the clamped sampled curves, the closure stage's probability, voice activity, phones."""
    seen: dict[str, Any] = {}
    inner = gen._after_sampling

    def record(out, feats, speech, *rest):   # the pipeline's own inputs to the stages
        seen.update(raw=np.array(out), speech=np.array(speech), loudness=gen.loudness(feats),
                    prob=gen.closure.probability(feats) if gen.closure is not None else None)
        return inner(out, feats, speech, *rest)

    gen._after_sampling = record
    rows = []
    for k, (cid, wav, phones) in enumerate(clips):
        gen.generate(wav, None, seed=k, fps=gen.cfg.fps)
        rows.append(dict(seen, id=cid, phones=phones))
    gen._after_sampling = inner
    return rows


def score(rows: list[dict[str, Any]], fps: float, stage: Callable[[dict[str, Any]], np.ndarray]) -> dict[str, float]:
    bil, seals, ov, jit = [], [], [], []
    for r in rows:
        v = stage(r)
        ap = metrics.lip_aperture(v)
        bil.append(metrics.bilabial_closure(ap, r["phones"], fps))
        seals.append(metrics.seals_by_class(ap, r["phones"], fps))
        ov.append(ap[realspeech.open_vowel_frames(r["phones"], fps, len(v))])
        jit.append(metrics.jitter(v, metrics.MOUTH_IDX))
    ok = [b for b in bil if b["rate"] == b["rate"]]
    closed, total = sum(b["closed"] for b in ok), sum(b["total"] for b in ok)
    false = sum(b["vowels_closed"] for b in bil)
    pooled = metrics.pool_seals(seals)
    return {"closure": closed / total if total else float("nan"),
            "precision": closed / (closed + false) if closed + false else float("nan"),
            "vowels sealed": pooled["vowels"]["rate"], "open sealed": pooled["open vowels"]["rate"],
            "open aperture": float(np.concatenate(ov).mean()), "jitter": float(np.mean(jit))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--set", default="val", help="real-speech set: val (default) or a folder; never test for choosing")
    p.add_argument("--corpus", default=None, help="a synthetic corpus: its validation split instead of --set")
    p.add_argument("--clips", type=int, default=40)
    args = p.parse_args()
    gen = Generator(args.checkpoint, threads=1)
    fps = float(gen.cfg.fps)
    if args.corpus:
        from cafetalk_core.evaluation.corpus import _balanced_order, load_corpus
        chosen = _balanced_order([c for c in load_corpus(args.corpus) if c.split == "val"], 0)[: args.clips]
        clips = [(c.id, c.audio(), [Phone(q["phone"], q["start_s"], q["end_s"]) for q in c.phones]) for c in chosen]
    else:
        clips = [(c.id, c.wav, c.phones) for c in realspeech.load_real_speech(realspeech.real_set_dir(args.set))]
    rows = sampled_curves(gen, clips)
    settings: dict[str, Callable[[dict[str, Any]], np.ndarray]] = {
        "sampled (no stage)": lambda r: r["raw"],
        "smoothing, rule 5 (default)": lambda r: finish_lips_and_face(
            r["raw"], fps, closure_prob=r["prob"], speech=None if r["prob"] is None else r["speech"]),
    }
    for th in THRESHOLDS:
        for dip in DIPS_DB:
            settings[f"+ rule 4 at {setting_name(th, dip)}"] = lambda r, th=th, dip=dip: finish_lips_and_face(
                r["raw"], fps, FinishConfig(detector_threshold=th, detector_dip_db=dip), closure_prob=r["prob"],
                speech=r["speech"], loudness=r["loudness"])
    settings["procedural, true phones"] = lambda r: phones_to_curves(r["phones"], len(r["raw"]), fps)
    if rows and rows[0]["prob"] is None:
        settings = {k: v for k, v in settings.items() if "rule" not in k}
    print(f"{len(rows)} clips ({args.corpus or args.set})")
    head = f"{'setting':<30}" + "".join(f"{k:>15}" for k in score(rows[:1], fps, settings['sampled (no stage)']))
    print(head + "\n" + "-" * len(head))
    for name, fn in settings.items():
        print(f"{name:<30}" + "".join(f"{x:>15.{4 if k == 'jitter' else 3}f}" for k, x in score(rows, fps, fn).items()))


if __name__ == "__main__":
    main()
