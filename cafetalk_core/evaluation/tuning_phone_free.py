"""Choose the sampling defaults for speech read from the acoustics alone (``phone_free_steps``,
``phone_free_audio_scale`` in the checkpoint's config.json): ``cafetalk tune --phone-free``.

Why a second pair of defaults: English runs on the recogniser's phones and needs the 10 DDIM steps
that close its bilabials (``tuning.py``), but on the phone-free input of other languages the same
model's mouth follows a real captured face better with fewer steps, which keep the sample nearer
the conditional mean (docs/training.md, "Fewer DDIM steps for phone-free input"). Fewer steps are
also faster.

Validation only: the real curves are the capture folders' ``val`` takes (the held-out FACEGOOD
Mandarin take), the phonetics the multilingual ``val`` sentences (espeak-ng speech in seven
languages with exact phone times, ``multilingual.py``); the README's figures come from the test
take and the test sentences.

Rule: among the settings whose multilingual validation speech keeps the silence aperture <= 0.10,
the vowel centres sealed (``jawOpen - mouthClose < 0.05``) at most 10% of the time, at least half the
bilabial closures and at least the open-vowel aperture of the *reference* (the checkpoint's English
defaults run on the same phone-free speech, i.e. what phone-free input got before this knob), take the
highest mean correlation over the mapped mouth channels on the capture takes (``jawOpen`` among them);
settings within ``tie`` of the best count as tied, and the fewest steps wins (then the higher jawOpen
correlation). Why the floors: fewer steps give a smoother, better-correlated mouth whose lips may never
meet on a bilabial and whose vowels may open less, which a correlation with a real face barely sees and
an artist sees at once. The sampling runs the closure stage, so its phone-free rule 4 is chosen first
(the recipe's ``closure_rule4_phone_free_first``): on the shipped model one step closes 0.05 of the
validation bilabials without it and 0.91 with it. Seeds are pooled: every take and clip is sampled once
per seed. A checkpoint with style tokens is swept over every style too (``phone_free_style``).
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

from ..files import update_json_atomic
from . import captures as capture_eval
from . import multilingual
from . import real_speech as realspeech
from .tuning import SILENCE_LIMIT, VOWEL_SEAL_LIMIT, MemoFrontEnd, floats, style_cell, style_width, styles_to_try

TIE = 0.01
CLOSURE_FLOOR_SHARE = 0.5   # of the reference setting's bilabial closure (module docstring)
APERTURE_FLOOR_SHARE = 1.0  # of the reference setting's open-vowel aperture (module docstring)
RULE = (f"max mouth mean r on the capture val takes (tie {TIE}) with silence <= {SILENCE_LIMIT}, vowel centres "
        f"sealed <= {VOWEL_SEAL_LIMIT}, bilabial closure >= {CLOSURE_FLOOR_SHARE} x the reference's and open-vowel "
        f"aperture >= {APERTURE_FLOOR_SHARE} x the reference's on the multilingual val speech, then fewer steps, "
        "then higher jawOpen r")


@dataclass
class PhoneFreeScore:
    """One (audio_scale, steps) setting: real-capture correlations and multilingual phonetics."""

    audio_scale: float
    steps: int
    mouth_mean_corr: float
    jaw_open_corr: float
    vowel_seal_rate: float
    silence_aperture: float
    bilabial_closure: float
    closure_precision: float
    seconds_per_audio_second: float
    style: str | None = None
    open_vowel_aperture: float = float("nan")


def score_settings(generator: Any, takes: Sequence[capture_eval.CaptureTake], clips: Sequence[realspeech.RealClip],
                   scales: Sequence[float], steps: Sequence[int], seeds: Sequence[int] = (0, 1),
                   styles: Sequence[str | None] = (None,)) -> list[PhoneFreeScore]:
    """Every (style, scale, steps) on the capture ``takes`` (their own language) and the multilingual
    ``clips`` (each clip's language from its id); features are memoised, so time counts the model."""
    fps = float(generator.cfg.fps)
    original = generator.front_end
    generator.front_end = MemoFrontEnd(original)
    audio_s = (sum(t.duration_s for t in takes) + sum(c.duration_s for c in clips)) * len(seeds)
    try:
        out = []
        for style, n_steps, a in ((st, n, a) for st in styles for n in steps for a in scales):
            rows, per, seconds = [], [], 0.0
            for seed in seeds:
                for k, t in enumerate(takes):
                    t0 = time.perf_counter()
                    curves = generator.generate(t.wav, seed=seed + k, audio_scale=a, steps=n_steps, fps=t.fps,
                                                language=t.language, style=style)
                    seconds += time.perf_counter() - t0
                    rows.append(capture_eval.take_metrics(curves.in_arkit_order().values, t))
                for k, c in enumerate(clips):
                    t0 = time.perf_counter()
                    curves = generator.generate(c.wav, seed=seed + k, audio_scale=a, steps=n_steps,
                                                language=multilingual.language_of(c.id), style=style)
                    seconds += time.perf_counter() - t0
                    per.append(realspeech.clip_metrics(realspeech._as_values(curves, c.num_frames(fps), fps), c, fps))
            caps = capture_eval.pool_takes(rows)
            speech = realspeech.pool_clip_metrics(per, seconds, audio_s)
            out.append(PhoneFreeScore(float(a), int(n_steps), caps["mouth_mean_corr"], caps["jaw_open_corr"],
                                      speech["vowel_seal_rate"], speech["silence_aperture"],
                                      speech["bilabial_closure"], speech["closure_precision"],
                                      speech["seconds_per_audio_second"], style, speech["open_vowel_aperture"]))
        return out
    finally:
        generator.front_end = original


def choose(scores: Sequence[PhoneFreeScore], reference: PhoneFreeScore, tie: float = TIE) -> PhoneFreeScore:
    """The module docstring's rule; ValueError when no setting passes the limits."""
    floor = CLOSURE_FLOOR_SHARE * reference.bilabial_closure
    # a reference without the figure sets no floor; a setting without it cannot pass a finite one
    aperture_floor = APERTURE_FLOOR_SHARE * reference.open_vowel_aperture
    ok = [s for s in scores if math.isfinite(s.mouth_mean_corr) and not s.silence_aperture > SILENCE_LIMIT
          and not s.vowel_seal_rate > VOWEL_SEAL_LIMIT and s.bilabial_closure >= floor - 1e-12
          and (math.isnan(aperture_floor) or s.open_vowel_aperture >= aperture_floor - 1e-12)]
    if not ok:
        raise ValueError(f"no setting keeps silence <= {SILENCE_LIMIT}, vowel centres sealed <= {VOWEL_SEAL_LIMIT}, "
                         f"bilabial closure >= {floor:.3f} and open-vowel aperture >= {aperture_floor:.3f} on the "
                         "multilingual validation speech; widen the sweep")
    best = max(s.mouth_mean_corr for s in ok)
    tied = [s for s in ok if s.mouth_mean_corr >= best - tie - 1e-12]
    return min(tied, key=lambda s: (s.steps, -s.jaw_open_corr, s.audio_scale))


def format_scores(scores: Sequence[PhoneFreeScore], chosen: PhoneFreeScore | None = None,
                  reference: PhoneFreeScore | None = None) -> str:
    w = max(style_width(scores), 5) if style_width(scores) else 0
    head = (style_cell("style" if w else None, w)
            + f"{'scale':>6} {'steps':>5} {'mouth r':>8} {'jaw r':>6} {'vow sealed':>10} {'silence':>8} "
            f"{'closure':>8} {'precision':>9} {'open-ap':>7} {'s/s':>6}")
    lines = [head, "-" * len(head)]
    for s in scores:
        mark = ("  <- chosen" if chosen is not None and s == chosen else "") + (
            "  (reference)" if reference is not None and s == reference else "")
        lines.append(style_cell(s.style, w)
                     + f"{s.audio_scale:>6.2f} {s.steps:>5d} {s.mouth_mean_corr:>8.3f} {s.jaw_open_corr:>6.3f} "
                     f"{s.vowel_seal_rate:>10.3f} {s.silence_aperture:>8.3f} {s.bilabial_closure:>8.3f} "
                     f"{s.closure_precision:>9.3f} {s.open_vowel_aperture:>7.3f} {s.seconds_per_audio_second:>6.3f}{mark}")
    return "\n".join(lines)


def write_defaults(checkpoint: str | Path, chosen: PhoneFreeScore, evidence: dict[str, Any]) -> None:
    """Store the choice as the checkpoint's phone-free sampling defaults (config.json, in place)."""
    changes = {"phone_free_audio_scale": chosen.audio_scale, "phone_free_steps": chosen.steps}
    if chosen.style is not None:
        changes["phone_free_style"] = chosen.style
    write_evidence(checkpoint, evidence, changes)


def write_evidence(checkpoint: str | Path, evidence: dict[str, Any], changes: dict[str, Any] | None = None) -> None:
    """``phone_free_sampling_tuned`` (and any model_config ``changes``) into config.json, atomically."""
    def update(cfg: dict[str, Any]) -> None:
        cfg["model_config"].update(changes or {})
        cfg["phone_free_sampling_tuned"] = evidence
    update_json_atomic(Path(checkpoint) / "config.json", update)


def validation_data(capture_folders: Sequence[str | Path] | None = None, languages: Sequence[str] | None = None,
                    max_takes: int | None = None,
                    max_clips: int | None = None) -> tuple[list[capture_eval.CaptureTake], list[realspeech.RealClip]]:
    """The capture folders' ``val`` takes (default: datasets/facegood) and the multilingual val clips
    (``max_clips`` per language)."""
    folders = list(capture_folders or [capture_eval.default_capture_dir()])
    takes = [t for f in folders for t in capture_eval.load_captures(f, "val", max_takes)]
    langs = multilingual.check_languages(list(languages) if languages else None)
    every = realspeech.load_real_speech(multilingual.build_set(langs, split="val"))
    clips = [c for lang in langs for c in [c for c in every if multilingual.language_of(c.id) == lang][: max_clips or None]]
    return takes, clips


def sweep(generator: Any, scales: Sequence[float], steps: Sequence[int], seeds: int = 2, *,
          capture_folders: Sequence[str | Path] | None = None, max_takes: int | None = None,
          max_clips: int | None = None) -> tuple[list[PhoneFreeScore], PhoneFreeScore, dict[str, Any]]:
    """Score the grid (and the reference, when the grid lacks it) on the validation data: (scores,
    reference, the evidence to store without the choice)."""
    if not generator.cfg.phones_optional:
        raise ValueError(f"{generator.model_id}: not trained without phones (phones_optional): there is no "
                         "phone-free input to tune")
    takes, clips = validation_data(capture_folders, max_takes=max_takes, max_clips=max_clips)
    seed_list = list(range(int(seeds)))
    scores = score_settings(generator, takes, clips, list(scales), [int(x) for x in steps], seed_list,
                            styles_to_try(generator))
    reference = reference_of(generator, scores)
    if reference is None:   # the English defaults are not in the grid: score them too
        c = generator.cfg
        reference = score_settings(generator, takes, clips, [c.default_audio_scale], [c.default_steps], seed_list,
                                   [c.default_style])[0]
        scores.append(reference)
    evidence = {"captures": [t.id for t in takes], "multilingual_clips": len(clips), "seeds": seed_list,
                "rule": RULE, "reference": asdict(reference), "scores": [asdict(s) for s in scores]}
    return scores, reference, evidence


def tune_checkpoint(checkpoint: str | Path, scales: Sequence[float], steps: Sequence[int], seeds: int = 2, *,
                    write: bool = True, device: str = "cpu", threads: int | str = "auto",
                    **data: Any) -> tuple[PhoneFreeScore, list[PhoneFreeScore], dict[str, Any]]:
    """Score (``data``: :func:`sweep`'s keywords), choose by the rule, optionally store; returns
    (chosen, scores, evidence). ValueError when no setting passes the rule's limits."""
    from ..pipeline import Generator

    generator = Generator(Path(checkpoint), device=device, threads=threads)
    scores, reference, evidence = sweep(generator, scales, steps, seeds, **data)
    chosen = choose(scores, reference)
    evidence["chosen"] = asdict(chosen)
    if write:
        write_defaults(checkpoint, chosen, evidence)
    return chosen, scores, evidence


def reference_of(generator: Any, scores: Sequence[PhoneFreeScore]) -> PhoneFreeScore | None:
    """The score of the checkpoint's English defaults (steps, scale, style) in ``scores``, if swept."""
    c = generator.cfg
    for s in scores:
        if (s.steps, s.audio_scale, s.style) == (c.default_steps, float(c.default_audio_scale), c.default_style):
            return s
    return None


def recipe_tune_phone_free(step: Any, out: Path) -> dict[str, Any]:
    """The recipe's ``tune_phone_free`` step (training/recipe.py): options ``scales``, ``steps``, ``seeds``,
    ``max_takes`` and ``max_clips`` (the tiny recipe's toy scale), and ``if_none_passes``: "fail" (the
    default: the rebuild stops with the rule's error) or "keep" (phone-free input keeps the English
    defaults; config.json records that no setting passed and why, and the step's result says so).
    "keep" is for toy rebuilds, whose barely trained model never opens its mouth without phones."""
    opts = dict(step.options)
    if_none = opts.get("if_none_passes", "fail")
    if if_none not in ("fail", "keep"):
        raise ValueError(f"tune_phone_free: if_none_passes must be 'fail' or 'keep', got {if_none!r}")
    from ..pipeline import Generator

    generator = Generator(out, threads=1)
    scores, reference, evidence = sweep(generator, opts.get("scales", (2,)), opts.get("steps", (3, 10)),
                                        opts.get("seeds", 2), max_takes=opts.get("max_takes"),
                                        max_clips=opts.get("max_clips"))
    try:
        chosen = choose(scores, reference)
    except ValueError as exc:
        if if_none == "fail":
            raise
        evidence.update(chosen=None, kept_english_defaults=str(exc))
        write_evidence(out, evidence)
        return {"chosen": None, "kept_english_defaults": str(exc)}
    evidence["chosen"] = asdict(chosen)
    write_defaults(out, chosen, evidence)
    return {"audio_scale": chosen.audio_scale, "steps": chosen.steps, "style": chosen.style,
            "mouth_mean_corr": chosen.mouth_mean_corr}


def cli_tune_phone_free(args: Any) -> int:
    """``cafetalk tune --phone-free``: print the sweep, ``--write`` stores the choice."""
    import sys

    from ..pipeline import DEFAULT_CHECKPOINT, Generator

    checkpoint = Path(args.checkpoint) if args.checkpoint else DEFAULT_CHECKPOINT

    try:
        generator = Generator(checkpoint, device=args.device, threads=int(args.threads) if args.threads else "auto")
        scores, reference, evidence = sweep(generator, floats(args.scales), [int(x) for x in floats(args.steps)],
                                            args.seeds, capture_folders=args.captures or None)
    except (FileNotFoundError, ValueError) as exc:
        print(f"cafetalk tune: {exc}", file=sys.stderr)
        return 1
    print(f"{checkpoint}: phone-free input; capture val takes {', '.join(evidence['captures'])}; "
          f"{evidence['multilingual_clips']} multilingual val clips; seeds {evidence['seeds']}")
    try:
        chosen = choose(scores, reference)
    except ValueError as exc:
        print(format_scores(scores, None, reference))
        print(f"cafetalk tune: {exc}", file=sys.stderr)
        return 1
    print(format_scores(scores, chosen, reference))
    print(f"rule: {RULE}")
    if args.write:
        evidence["chosen"] = asdict(chosen)
        write_defaults(checkpoint, chosen, evidence)
        style = "" if chosen.style is None else f", phone_free_style={chosen.style}"
        print(f"wrote phone_free_audio_scale={chosen.audio_scale:g}, phone_free_steps={chosen.steps}{style} to "
              f"{checkpoint / 'config.json'}")
    return 0
