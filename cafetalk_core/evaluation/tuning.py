"""Choose a checkpoint's sampling defaults (audio guidance scale, DDIM steps) on real speech.

Why: the classifier-free guidance scale on the audio condition decides whether the lips close on
real voices (the step-2,000 model closed 0.66 of the real-speech test bilabials at a = 1 and 0.95
at a = 3, docs/training.md). Such a setting must be picked on recordings that the README's figures
do not come from, so this module scores settings on the real-speech *validation* set
(``evaluation/sets/real_speech_val``) and ``--write`` stores the choice in the checkpoint's
``config.json`` (``default_audio_scale``, ``default_steps``), which every ``Generator`` then uses.

Rule: among the settings whose silence aperture is
<= 0.10 and whose vowel centres are sealed (``jawOpen - mouthClose < 0.05``) at most 10% of the
time (issue 23: a closure score that counts hits only would pick a mouth that closes everywhere),
take the highest bilabial closure; settings within ``tie`` of the best count as tied
and the one with the least jitter wins (then the fewer steps, then the smaller scale). A checkpoint
with style tokens (model/config.py) is swept over every style too, and ``--write`` stores the
chosen ``default_style``. Time is
reported, not selected on (it moves with the machine's load): the step counts offered by
default are those ``benchmarks/bench_sampling.py`` measured within the budget of 1 s per 5 s
of speech.
"""
from __future__ import annotations

import hashlib
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..files import update_json_atomic
from . import real_speech as realspeech

SILENCE_LIMIT = 0.10
VOWEL_SEAL_LIMIT = 0.10


@dataclass
class SettingScore:
    """Pooled real-speech metrics of one (audio_scale, steps) setting over all seeds."""

    audio_scale: float
    steps: int
    bilabial_closure: float
    closed: int
    bilabials: int
    silence_aperture: float
    open_vowel_aperture: float
    jitter: float
    seconds_per_audio_second: float
    eyes_closed: float = float("nan")
    vowel_seal_rate: float = float("nan")
    closure_precision: float = float("nan")
    style: str | None = None   # the style token sampled with (a checkpoint with style tokens), else None


class MemoFrontEnd:
    """Delegates to a front end, remembering features per (audio, frames, fps).

    A sweep samples every clip many times; recognition and log-mel are the same each time. Given
    phones are passed through, except the empty list of phone-free input (``phone_free_features``),
    which is remembered as its own entry.
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._memo: dict[tuple[str, int, float, bool], np.ndarray] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def features(self, wav16k: np.ndarray, num_frames: int, fps: float, phones: Any = None) -> np.ndarray:
        if phones:
            return self._inner.features(wav16k, num_frames, fps, phones)
        key = (hashlib.sha1(np.ascontiguousarray(wav16k, np.float32).tobytes()).hexdigest(), int(num_frames),
               float(fps), phones is not None)
        if key not in self._memo:
            self._memo[key] = (self._inner.features(wav16k, num_frames, fps) if phones is None
                               else self._inner.features(wav16k, num_frames, fps, phones=[]))
        return self._memo[key]


def score_settings(generator: Any, clips: Sequence[realspeech.RealClip], scales: Sequence[float],
                   steps: Sequence[int], seeds: Sequence[int] = (0, 1),
                   styles: Sequence[str | None] = (None,)) -> list[SettingScore]:
    """Every (style, scale, steps) on ``clips``; timing counts sampling only (features are memoised).
    A style of None samples with the checkpoint's default."""
    fps = float(generator.cfg.fps)
    original = generator.front_end
    generator.front_end = MemoFrontEnd(original)
    try:
        out = []
        audio_s = sum(c.duration_s for c in clips) * len(seeds)
        for style, n_steps, a in ((st, n, a) for st in styles for n in steps for a in scales):
            per, seconds = [], 0.0
            for seed in seeds:
                for c in clips:
                    generator.front_end.features(c.wav, max(1, int(round(c.duration_s * fps))), fps)  # warm memo
                    t0 = time.perf_counter()
                    curves = generator.generate(c.wav, seed=seed, audio_scale=a, steps=n_steps, style=style)
                    seconds += time.perf_counter() - t0
                    per.append(realspeech.clip_metrics(realspeech._as_values(curves, c.num_frames(fps), fps), c, fps))
            pooled = realspeech.pool_clip_metrics(per, seconds, audio_s)
            out.append(SettingScore(float(a), int(n_steps), pooled["bilabial_closure"], pooled["closed"],
                                    pooled["bilabials"], pooled["silence_aperture"], pooled["open_vowel_aperture"],
                                    pooled["jitter"], pooled["seconds_per_audio_second"], pooled["eyes_closed"],
                                    pooled["vowel_seal_rate"], pooled["closure_precision"], style))
        return out
    finally:
        generator.front_end = original


def choose(scores: Sequence[SettingScore], tie: float = 0.02) -> SettingScore:
    """The module docstring's rule."""
    ok = [s for s in scores if not math.isnan(s.bilabial_closure) and not s.silence_aperture > SILENCE_LIMIT]
    if not ok:
        raise ValueError(f"no setting keeps the silence aperture <= {SILENCE_LIMIT}; widen the sweep")
    ok = [s for s in ok if not s.vowel_seal_rate > VOWEL_SEAL_LIMIT]
    if not ok:
        raise ValueError(f"no setting keeps the vowel centres sealed <= {VOWEL_SEAL_LIMIT} of the time "
                         "(the lips talk through shut lips at every setting); widen the sweep")
    best = max(s.bilabial_closure for s in ok)
    tied = [s for s in ok if s.bilabial_closure >= best - tie - 1e-12]
    return min(tied, key=lambda s: (s.jitter, s.steps, s.audio_scale))


def styles_to_try(generator: Any) -> list[str | None]:
    """Every style token of the checkpoint (the sweep chooses among them), else [None]."""
    return list(generator.cfg.style_names) or [None]


def style_cell(style: str | None, width: int) -> str:
    """The leading style column of a sweep table ('' for a checkpoint without style tokens)."""
    return "" if width == 0 else f"{style or '-':>{width}} "


def style_width(scores: Sequence[Any]) -> int:
    return max((len(s.style) for s in scores if s.style is not None), default=0)


def format_scores(scores: Sequence[SettingScore], chosen: SettingScore | None = None) -> str:
    w = style_width(scores)
    head = (style_cell("style" if w else None, max(w, 5) if w else 0)
            + f"{'scale':>6} {'steps':>5} {'closure':>12} {'precision':>9} {'vow sealed':>10} {'silence':>8} "
            f"{'open-vowel':>10} {'jitter':>8} {'eyes shut':>9} {'s/s':>6}")
    lines = [head, "-" * len(head)]
    for s in scores:
        mark = "  <- chosen" if chosen is not None and s == chosen else ""
        lines.append(style_cell(s.style, max(w, 5) if w else 0) + f"{s.audio_scale:>6.2f} {s.steps:>5d} {s.bilabial_closure:>5.3f} ({s.closed:>2}/{s.bilabials:<2})"
                     f" {s.closure_precision:>9.3f} {s.vowel_seal_rate:>10.3f} {s.silence_aperture:>8.3f} {s.open_vowel_aperture:>10.3f} {s.jitter:>8.4f}"
                     f" {s.eyes_closed:>9.3f} {s.seconds_per_audio_second:>6.3f}{mark}")
    return "\n".join(lines)


def write_defaults(checkpoint: str | Path, chosen: SettingScore, evidence: dict[str, Any]) -> None:
    """Store the chosen setting as the checkpoint's sampling defaults (config.json, in place)."""
    changes = {"default_audio_scale": chosen.audio_scale, "default_steps": chosen.steps}
    if chosen.style is not None:
        changes["default_style"] = chosen.style

    def update(cfg: dict[str, Any]) -> None:
        cfg["model_config"].update(changes)
        cfg["sampling_tuned"] = evidence
    update_json_atomic(Path(checkpoint) / "config.json", update)


RULE = "max closure (tie 0.02) with silence <= 0.10 and vowel centres sealed <= 0.10, then min jitter"


def evidence(set_name: str | Path, clips: Sequence[Any], seeds: list[int], chosen: SettingScore,
             scores: Sequence[SettingScore]) -> dict[str, Any]:
    """What ``write_defaults`` stores beside the chosen setting (``sampling_tuned`` in config.json)."""
    return {"set": str(set_name), "clips": len(clips), "seeds": seeds, "rule": RULE,
            "chosen": asdict(chosen), "scores": [asdict(s) for s in scores]}


def tune_checkpoint(checkpoint: str | Path, set_name: str = "val", scales: Sequence[float] = (2, 3, 4, 5),
                    steps: Sequence[int] = (10,), seeds: int = 2, write: bool = True,
                    device: str = "cpu", max_clips: int | None = None) -> tuple[SettingScore, list[SettingScore]]:
    """Score the settings on a real-speech set, choose by the rule, optionally store it in the checkpoint."""
    from ..pipeline import Generator

    generator = Generator(Path(checkpoint), device=device)
    clips = realspeech.load_real_speech(realspeech.real_set_dir(set_name))[:max_clips]
    seed_list = list(range(int(seeds)))
    scores = score_settings(generator, clips, list(scales), [int(x) for x in steps], seed_list,
                            styles_to_try(generator))
    chosen = choose(scores)
    if write:
        write_defaults(checkpoint, chosen, evidence(set_name, clips, seed_list, chosen, scores))
    return chosen, scores


def recipe_tune(step: Any, out: Path) -> dict[str, Any]:
    """The recipe's ``tune`` step (training/recipe.py): options ``set``, ``scales``, ``steps``, ``seeds``,
    ``max_clips`` (the tiny recipe's toy scale; the default recipe uses the whole set)."""
    opts = dict(step.options)
    chosen, _ = tune_checkpoint(out, opts.get("set", "val"), opts.get("scales", (2, 3, 4, 5)),
                                opts.get("steps", (10,)), opts.get("seeds", 2), max_clips=opts.get("max_clips"))
    return {"audio_scale": chosen.audio_scale, "steps": chosen.steps, "style": chosen.style,
            "bilabial_closure": chosen.bilabial_closure}


def floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def cli_tune(args: Any) -> int:
    """Entry point of ``cafetalk tune``."""
    import sys

    from ..pipeline import DEFAULT_CHECKPOINT, Generator

    checkpoint = Path(args.checkpoint) if args.checkpoint else DEFAULT_CHECKPOINT
    try:
        generator = Generator(checkpoint, device=args.device, threads=int(args.threads) if args.threads else "auto")
        clips = realspeech.load_real_speech(realspeech.real_set_dir(args.set))
    except FileNotFoundError as exc:
        print(f"cafetalk tune: {exc}", file=sys.stderr)
        return 2
    seeds = list(range(int(args.seeds)))
    scores = score_settings(generator, clips, floats(args.scales), [int(x) for x in floats(args.steps)], seeds,
                            styles_to_try(generator))
    try:
        chosen = choose(scores)
    except ValueError as exc:
        print(format_scores(scores))
        print(f"cafetalk tune: {exc}", file=sys.stderr)
        return 1
    audio_s = sum(c.duration_s for c in clips)
    print(f"{checkpoint}: real-speech set {args.set!r}, {len(clips)} clips, {audio_s:.1f} s, seeds {seeds}")
    print(format_scores(scores, chosen))
    if args.write:
        write_defaults(checkpoint, chosen, evidence(args.set, clips, seeds, chosen, scores))
        style = "" if chosen.style is None else f", default_style={chosen.style}"
        print(f"wrote default_audio_scale={chosen.audio_scale:g}, default_steps={chosen.steps}{style} to "
              f"{checkpoint / 'config.json'}")
    return 0
