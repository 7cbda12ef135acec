"""The mouth side by side (issue 23): the model under test, today's synthetic-only model and the
procedural baselines, in one run, on real captured faces and on speech in other languages.

``cafetalk evaluate --real-captures [DIR ...] --languages [LANG ...] --compare-model PATH``; the
real-speech set (``--real``) gets the same second model and its false-seal and target tables.
The rules live in :mod:`.captures` (captured curves), :mod:`.metrics` (closure, false seals) and
:mod:`.real_speech` (phone-timed sets); this module only puts the systems together.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import capture_ridge
from . import captures as capture_eval
from . import metrics
from . import multilingual
from . import real_speech as realspeech

#: Today's synthetic-only model, kept outside the wheel for this comparison (models/README.md).
COMPARE_DIR = Path("models") / "synthetic_only_v1"


def default_compare_model() -> Path | None:
    """``models/synthetic_only_v1`` in the working directory or the source checkout; None when absent."""
    for p in (COMPARE_DIR, Path(__file__).resolve().parents[2] / COMPARE_DIR):
        if (p / "config.json").is_file():
            return p
    return None


def weights_digest(checkpoint: str | Path | None) -> str | None:
    """sha256 of a checkpoint's model.safetensors (None without one): the same weights are not run twice."""
    from ..pipeline import DEFAULT_CHECKPOINT

    path = Path(checkpoint) if checkpoint is not None else DEFAULT_CHECKPOINT
    f = path / "model.safetensors"
    return hashlib.sha256(f.read_bytes()).hexdigest() if f.is_file() else None


#: Issue 23's targets on real voices (the reference is the procedural tool given the true phone times).
TARGETS: dict[str, str] = {"vowel_seal_rate": "<= 0.10", "open_vowel_ratio": ">= 0.8x ref",
                           "bilabial_closure": ">= 0.93", "jitter_ratio": "<= 1.2x ref", "silence_aperture": "<= 0.10"}


def format_seal_table(report: dict[str, Any], title: str = "real speech") -> str:
    """False seals per phone class (vowel centres with jawOpen - mouthClose < 0.05) next to closure, per system."""
    classes = (*metrics.PHONE_CLASSES, "vowels")
    systems = report["systems"]
    width = max([len(k) for k in systems] + [6])
    head = f"{'system':<{width}}  " + "  ".join(f"{c:>16}" for c in classes)
    lines = [f"{title}: phone centres sealed (jawOpen - mouthClose < {metrics.SEAL_APERTURE}); on vowels a seal is "
             "false, on bilabials it is the closure", head, "-" * len(head)]
    for name, m in systems.items():
        cells = []
        for c in classes:
            d = m["seals"].get(c, {"phones": 0, "sealed": 0, "rate": float("nan")})
            rate = d["rate"]
            cells.append(f"{'n/a' if not rate == rate else f'{rate:.3f}'} ({d['sealed']}/{d['phones']})")
        lines.append(f"{name:<{width}}  " + "  ".join(f"{c:>16}" for c in cells))
    return "\n".join(lines)


def format_targets(report: dict[str, Any], title: str = "real speech") -> str:
    """Issue 23's targets per system: vowel seals, open-vowel aperture and jitter vs the reference, closure, silence."""
    realspeech.add_reference_ratios(report)
    cols = (("vowel_seal_rate", "vowels sealed", "{:.3f}"), ("open_vowel_ratio", "open-vowel/ref", "{:.2f}x"),
            ("bilabial_closure", "closure", "{:.3f}"), ("closure_precision", "precision", "{:.3f}"),
            ("jitter_ratio", "jitter/ref", "{:.2f}x"), ("silence_aperture", "silence ap", "{:.3f}"),
            ("mouth_close_p95", "mouthClose p95", "{:.3f}"))
    systems = report["systems"]
    width = max([len(k) for k in systems] + [6])
    head = f"{'system':<{width}}  " + "  ".join(f"{h:>14}" for _, h, _ in cols)
    lines = [f"{title}: issue 23 targets", head, "-" * len(head)]
    for name, m in systems.items():
        cells = []
        for key, _, fmt in cols:
            x = m.get(key)
            cells.append("n/a" if x is None or not x == x else fmt.format(x))
        lines.append(f"{name:<{width}}  " + "  ".join(f"{c:>14}" for c in cells))
    lines.append(f"{'target':<{width}}  " + "  ".join(f"{TARGETS.get(k, ''):>14}" for k, _, _ in cols))
    lines.append("(precision = closed bilabials / (closed bilabials + vowel centres closed by the same rule); "
                 "mouthClose p95: a real iPhone capture of speech, 0.065)")
    return "\n".join(lines)


def _phones_optional(generator: Any) -> bool:
    return bool(getattr(generator.cfg, "phones_optional", False))


def language_for(generator: Any, language: str | None) -> str | None:
    """The ``language`` a model runs with: the speech's own where the model can do without phones
    (``phones_optional``), else None: a model trained on English phones only is run as a user would
    have to run it, on the recogniser's phones (:func:`input_modes` says so in the report)."""
    return language if _phones_optional(generator) else None


def input_modes(models: dict[str, Any]) -> dict[str, str]:
    """name -> how the model hears speech in another language (:func:`language_for`), for the report."""
    return {name: ("acoustics alone (phone-free) for other languages" if _phones_optional(g)
                   else "English recogniser phones, whatever the language") for name, g in models.items()}


def generate_fns(models: dict[str, Any], steps: int | None, seed: int) -> dict[str, Callable[..., Any]]:
    """name -> ``fn(wav, k, fps, language=None)`` (clip k with seed ``seed + k``, as the real-speech
    evaluation does; ``language`` as :func:`language_for` decides)."""
    return {name: (lambda wav, k, fps, language=None, _g=g: _g.generate(
                wav, None, steps=steps, seed=seed + k, fps=fps, language=language_for(_g, language)))
            for name, g in models.items()}


def evaluate_real_captures(models: dict[str, Any], folders: list[str | Path], *, split: str = "test",
                           steps: int | None = None, seed: int = 0) -> dict[str, Any]:
    """Every model and the audio-only baselines on the capture folders' takes (captures.py's rules)."""
    takes = [t for folder in folders for t in capture_eval.load_captures(folder, split)]
    index = {id(t): k for k, t in enumerate(takes)}
    systems: dict[str, Callable[[capture_eval.CaptureTake], np.ndarray]] = {}
    for name, fn in generate_fns(models, steps, seed).items():
        systems[name] = lambda t, _fn=fn: _fn(t.wav, index[id(t)], t.fps, t.language).in_arkit_order().values
    systems.update(capture_eval.baseline_systems())
    systems.update(capture_ridge.ridge_system(folders))
    report = capture_eval.evaluate_captures(systems, takes)
    report["split"] = split
    report["folders"] = [str(f) for f in folders]
    report["languages"] = sorted({t.language or "en" for t in takes})
    report["input_modes"] = input_modes(models)
    report["table"] = capture_eval.format_captures(report) + _modes_note(report)
    return report


def evaluate_capture_folders(models: dict[str, Any], folders: list[str | Path], *, split: str = "test",
                             steps: int | None = None, seed: int = 0) -> dict[str, Any]:
    """:func:`evaluate_real_captures` once per folder: a folder is one speaker, rig and language (a
    Mandarin face an animator solved is not pooled with an English iPhone capture), so each gets its
    own figures and table; ``sets`` in the order given."""
    sets = [evaluate_real_captures(models, [folder], split=split, steps=steps, seed=seed) for folder in folders]
    return {"split": split, "sets": sets,
            "table": "\n\n".join(f"[{Path(r['folders'][0]).name}]\n{r['table']}" for r in sets)}


def evaluate_languages(models: dict[str, Any], languages: list[str] | None, *, fps: float, steps: int | None = None,
                       seed: int = 0, max_clips: int | None = None, split: str = "test") -> dict[str, Any]:
    """Closure, false seals and the targets per language (espeak-ng speech with exact phone times;
    ``split`` "val" speaks other sentences, for choosing settings)."""
    langs = multilingual.check_languages(languages)
    folder = multilingual.build_set(langs, split=split)
    clips = realspeech.load_real_speech(folder)
    out: dict[str, Any] = {"set": str(folder), "split": split, "languages": {}}
    fns = generate_fns(models, steps, seed)
    for lang in langs:
        mine = [c for c in clips if multilingual.language_of(c.id) == lang][: max_clips or None]
        first, *rest = list(fns.items()) or [(None, None)]
        report = realspeech.evaluate_real_speech(
            None if first[1] is None else (lambda wav, k, _f=first[1], _l=lang: _f(wav, k, fps, _l)), fps=fps, clips=mine,
            name=first[0] or "model", indexed=True,
            more_models={n: (lambda wav, k, _f=f, _l=lang: _f(wav, k, fps, _l)) for n, f in rest})
        report.pop("motion", None)
        out["languages"][lang] = report
    out["input_modes"] = input_modes(models)
    out["table"] = _format_languages(out["languages"]) + _modes_note(out)
    return out


def _modes_note(report: dict[str, Any]) -> str:
    modes = report.get("input_modes") or {}
    return "".join(f"\n(input of {name}: {mode})" for name, mode in modes.items())


def _language_rows(lang: str, report: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(lang, name, m) for name, m in report["systems"].items()]


def _format_languages(per_language: dict[str, dict[str, Any]]) -> str:
    """One row per (language, system): closure, precision, vowels sealed, open vowels sealed, aperture/ref, jitter/ref."""
    rows = [r for lang, rep in per_language.items() for r in _language_rows(lang, rep)]
    if not rows:
        return ""
    width = max(len(name) for _, name, _ in rows)
    head = (f"{'lang':<4}  {'system':<{width}}  {'closure':>12}  {'precision':>9}  {'vowels sealed':>15}  "
            f"{'open sealed':>13}  {'open-ap/ref':>11}  {'jitter/ref':>10}  {'silence':>7}")
    lines = ["other languages (espeak-ng voices, exact phone times): closure and false seals", head, "-" * len(head)]
    for lang, name, m in rows:
        seals = m["seals"]
        lines.append(f"{lang:<4}  {name:<{width}}  {_f(m['bilabial_closure'])} ({m['closed']:>2}/{m['bilabials']:<2})  "
                     f"{_f(m['closure_precision']):>9}  {_f(seals['vowels']['rate'])} ({seals['vowels']['sealed']:>3}/"
                     f"{seals['vowels']['phones']:<3})  {_f(seals['open vowels']['rate'])} "
                     f"({seals['open vowels']['sealed']:>2}/{seals['open vowels']['phones']:<3})  "
                     f"{_f(m['open_vowel_ratio'], 2):>10}x  {_f(m['jitter_ratio'], 2):>9}x  {_f(m['silence_aperture']):>7}")
    return "\n".join(lines)


def _f(x: Any, digits: int = 3) -> str:
    return "n/a" if x is None or not x == x else f"{x:.{digits}f}"
