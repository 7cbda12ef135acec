"""Lip sync on real human speech, where there are no ground-truth curves, only phone times.

Why: the model is trained on synthesised speech, and users bring recorded voices; this is
the check that it transfers (issue 11). The bundled set (``evaluation/sets/real_speech``, see its
SOURCES.md) holds recordings of real people with phone alignments. Metrics use ARKit
semantics only (rules shared with :mod:`cafetalk_core.evaluation.metrics`):

- lip aperture = ``jawOpen - mouthClose``;
- bilabial closure: share of P/B/M where the aperture within +-20 ms of the phone drops below
  35% of the clip's median aperture during open vowels (pooled over clips);
- open-vowel aperture: mean aperture inside open vowels (should be clearly > 0);
- silence aperture: mean aperture in SIL stretches longer than 150 ms, without their first
  and last 100 ms (should be near 0: the mouth rests in pauses);
- envelope correlation: Pearson correlation of aperture with the loudness envelope (RMS level
  in dB over a 60 dB range, ``audio.mel.loudness``; the loudness baseline follows linear RMS,
  so it scores high here by construction: a sanity figure, not a goal);
- jitter: mean |second difference| of the lip-sync channels (per frame^2, fps-dependent);
- closure precision and false seals (issue 23): vowel centres closed by the closure rule, and
  phone centres sealed (``jawOpen - mouthClose < 0.05``) per phone class (``metrics.seals_by_class``);
- eyes closed: share of frames whose mean eyeBlink (left, right) is above 0.5 (synthetic ground
  truth with its blinks: ~0.05; the audio-only baselines do not blink, so 0).

Over 400 lines because the set's loading, per-clip metrics, pooling, the systems it runs side by
side, its degradations and its tables share one report layout; the issue-23 tables (false seals
per phone class, targets) live in :mod:`.side_by_side`.

Every report carries audio-only baselines computed in the same run: (a) loudness-following
(jawOpen = the clip's RMS envelope) and (b) recogniser -> procedural visemes (pocketsphinx
phone loop -> ``visemes.phones_to_curves``), plus (c) the aligned phones -> procedural
visemes as a reference that is NOT audio-only (it reads the alignment).
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .. import rig
from . import metrics, motion
from ..phones import OPEN_VOWELS, Phone

EVALSET_DIR = Path(__file__).parent / "sets" / "real_speech"
VALSET_DIR = Path(__file__).parent / "sets" / "real_speech_val"  # for choosing settings, never reported as results
EYE_BLINK = [rig.channel_index("eyeBlinkLeft"), rig.channel_index("eyeBlinkRight")]
SILENCE_MIN_S = 0.150
SILENCE_EDGE_S = 0.100


@dataclass
class RealClip:
    """One real recording: 16 kHz audio, aligned phones, and where it came from."""

    id: str
    wav: np.ndarray
    phones: list[Phone]
    text: str
    speaker: str
    alignment: str

    @property
    def duration_s(self) -> float:
        return len(self.wav) / 16000.0

    def num_frames(self, fps: float) -> int:
        return int(math.ceil(self.duration_s * fps - 1e-9))


def real_set_dir(name: str | Path) -> Path:
    """``"test"`` -> the bundled evaluation set, ``"val"`` -> the validation set, else a folder.

    Why two sets: sampling settings and checkpoints are chosen on ``val`` so the ``test``
    figures in the README are not selected on.
    """
    if str(name) == "test":
        return EVALSET_DIR
    if str(name) == "val":
        return VALSET_DIR
    return Path(name)


def load_real_speech(directory: str | Path | None = None) -> list[RealClip]:
    """The clips listed in ``clips.json`` of ``directory`` (default: the bundled set)."""
    from ..audio.io import load_audio

    root = Path(directory) if directory is not None else EVALSET_DIR
    manifest = root / "clips.json"
    if not manifest.is_file():
        raise FileNotFoundError(f"no clips.json in real-speech set directory {str(root)!r}")
    clips = []
    for e in json.loads(manifest.read_text()):
        clips.append(RealClip(e["id"], load_audio(root / e["wav"]), [Phone(p, float(s), float(t)) for p, s, t in e["phones"]],
                              e.get("text", ""), e.get("speaker", ""), e.get("alignment", "")))
    return clips


# ---------------------------------------------------------------------------------------------
# Per-clip metrics
# ---------------------------------------------------------------------------------------------

def _frames_between(start_s: float, end_s: float, fps: float, n: int) -> np.ndarray:
    a = max(0, int(math.ceil(start_s * fps - 1e-9)))
    b = min(n - 1, int(math.floor(end_s * fps + 1e-9)))
    return np.arange(a, b + 1) if b >= a else np.zeros(0, int)


def silence_frames(phones: list[Phone], fps: float, n: int) -> np.ndarray:
    """Frames inside SIL stretches > 150 ms, 100 ms in from each edge."""
    idx = [_frames_between(p.start_s + SILENCE_EDGE_S, p.end_s - SILENCE_EDGE_S, fps, n)
           for p in phones if p.phone == "SIL" and p.end_s - p.start_s > SILENCE_MIN_S]
    return np.unique(np.concatenate(idx)) if idx else np.zeros(0, int)


def open_vowel_frames(phones: list[Phone], fps: float, n: int) -> np.ndarray:
    idx = [_frames_between(p.start_s, p.end_s, fps, n) for p in phones if p.phone in OPEN_VOWELS]
    return np.unique(np.concatenate(idx)) if idx else np.zeros(0, int)


def rms_envelope(wav16k: np.ndarray, num_frames: int, fps: float) -> np.ndarray:
    """(num_frames,) linear RMS per motion frame / the clip's 95th percentile, clipped to [0, 1]."""
    from ..audio.mel import HOP_S, frame_rms, pool_to_frames

    env = pool_to_frames(frame_rms(wav16k), HOP_S, num_frames, fps)[:, 0]
    ref = float(np.percentile(env, 95)) if env.size else 0.0
    return np.clip(env / ref, 0.0, 1.0) if ref > 1e-8 else np.zeros_like(env)


def clip_metrics(values: np.ndarray, clip: RealClip, fps: float, envelope: np.ndarray | None = None) -> dict[str, Any]:
    """Metrics of (frames, 52) ARKit-ordered curves on one clip (sums kept for pooling)."""
    v = np.asarray(values, np.float64)
    n = len(v)
    ap = metrics.lip_aperture(v)
    bil = metrics.bilabial_closure(ap, clip.phones, fps)
    sil = silence_frames(clip.phones, fps, n)
    vow = open_vowel_frames(clip.phones, fps, n)
    if envelope is None:
        from ..audio.mel import loudness

        envelope = loudness(clip.wav, n, fps)
    env = envelope
    return {
        "closed": int(bil["closed"]) if not math.isnan(bil["rate"]) else 0,
        "bilabials": int(bil["total"]) if not math.isnan(bil["rate"]) else 0,
        "bilabial_closure": bil["rate"],
        "vowels_closed": int(bil["vowels_closed"]) if not math.isnan(bil["rate"]) else 0,
        "seals": metrics.seals_by_class(ap, clip.phones, fps),
        "open_vowel_sum": float(ap[vow].sum()), "open_vowel_frames": int(len(vow)),
        "silence_sum": float(ap[sil].sum()), "silence_frames": int(len(sil)),
        "envelope_corr": metrics.pearson(ap, env[:n]),
        "jitter": metrics.jitter(v, metrics.MOUTH_IDX),
        "eyes_closed_frames": int((v[:, EYE_BLINK].mean(axis=1) > 0.5).sum()), "frames": n,
    }


def pool_clip_metrics(per_clip: list[dict[str, Any]], seconds: float, audio_s: float) -> dict[str, Any]:
    """Clips' :func:`clip_metrics` -> the set's figures (counts summed, rates from the sums)."""
    closed = sum(c["closed"] for c in per_clip)
    total = sum(c["bilabials"] for c in per_clip)
    ov_n = sum(c["open_vowel_frames"] for c in per_clip)
    si_n = sum(c["silence_frames"] for c in per_clip)
    false = sum(c["vowels_closed"] for c in per_clip)
    seals = metrics.pool_seals(c["seals"] for c in per_clip)
    return {
        "bilabial_closure": closed / total if total else float("nan"),
        "closed": closed, "bilabials": total, "vowels_closed": false,
        "closure_precision": closed / (closed + false) if closed + false else float("nan"),
        "vowel_seal_rate": seals["vowels"]["rate"], "seals": seals,
        "open_vowel_aperture": sum(c["open_vowel_sum"] for c in per_clip) / ov_n if ov_n else float("nan"),
        "silence_aperture": sum(c["silence_sum"] for c in per_clip) / si_n if si_n else float("nan"),
        "envelope_corr": metrics.nanmean(c["envelope_corr"] for c in per_clip),
        "jitter": metrics.nanmean(c["jitter"] for c in per_clip),
        "eyes_closed": (sum(c["eyes_closed_frames"] for c in per_clip) / max(1, sum(c["frames"] for c in per_clip))),
        "seconds_per_audio_second": seconds / audio_s if audio_s else float("nan"),
    }


# ---------------------------------------------------------------------------------------------
# Systems: the model under test and the baselines
# ---------------------------------------------------------------------------------------------

def loudness_baseline(wav16k: np.ndarray, num_frames: int, fps: float) -> np.ndarray:
    """jawOpen follows the RMS envelope; everything else at rest."""
    out = np.zeros((num_frames, rig.NUM_CHANNELS), np.float32)
    out[:, metrics.JAW_OPEN] = rms_envelope(wav16k, num_frames, fps)
    return out


def evaluate_real_speech(generate_fn: Callable[[np.ndarray], Any] | None, fps: float = 30.0,
                         clips: list[RealClip] | None = None, name: str = "model",
                         oracle: bool = True, degrade: Callable[[np.ndarray], np.ndarray] | None = None,
                         recogniser: str = "phone-loop", indexed: bool = False,
                         more_models: dict[str, Callable[..., Any]] | None = None) -> dict[str, Any]:
    """Run ``generate_fn`` (16 kHz audio -> BlendshapeCurves or (frames, 52) array) and the baselines.

    ``indexed=True``: ``generate_fn(audio, k)`` gets the clip's index k too, so a caller can give
    each clip its own seed (pooled figures then average independent samples, not one noise draw
    that every clip shares: the head's yaw on the validation set was 0.7 / 2.9 / 1.6 deg at seeds
    0 / 1 / 2 for one clip).

    ``more_models`` (name -> a function like ``generate_fn``, called the same way) are run next
    to the model in the same report, e.g. today's synthetic-only model beside a retrained one.
    ``generate_fn=None`` runs the baselines (and ``more_models``) only. Curves at another fps than ``fps`` are
    resampled; the frame count is cut or padded (last frame held) to the clip's length.
    ``degrade`` (16 kHz audio -> audio of the same length, e.g. noise or reverberation from
    ``audio.augment``) is applied to every clip before any system hears it; the metrics still
    use the clean alignment, so it measures robustness. ``recogniser`` is the pocketsphinx mode of
    the recogniser baseline (``"phone-loop"``, as the default front end, or ``"words"``).
    Returns ``{"fps", "clips", "audio_s", "systems": {name: pooled metrics}, "per_clip":
    {name: {clip id: metrics}}, "notes": [...]}``.
    """
    from ..audio.phonetic import recognise_phones
    from ..visemes import phones_to_curves

    clips = load_real_speech() if clips is None else clips
    if degrade is not None:
        clips = [RealClip(c.id, _degraded(degrade, c.wav), c.phones, c.text, c.speaker, c.alignment) for c in clips]
    notes: list[str] = []
    rotations: dict[str, np.ndarray | None] = {}
    systems: dict[str, Callable[[RealClip, int], np.ndarray]] = {}
    index = {c.id: k for k, c in enumerate(clips)}

    def as_system(fn: Callable[..., Any], keep_rotations: bool) -> Callable[[RealClip, int], np.ndarray]:
        def model_fn(c: RealClip, n: int) -> np.ndarray:
            result = fn(c.wav, index[c.id]) if indexed else fn(c.wav)
            if keep_rotations:
                rotations[c.id] = _as_rotations(result, n, fps)
            return _as_values(result, n, fps)
        return model_fn

    if generate_fn is not None:
        systems[name] = as_system(generate_fn, True)
    for other, fn in (more_models or {}).items():
        systems[other] = as_system(fn, False)
    systems["baseline: loudness -> jawOpen"] = lambda c, n: loudness_baseline(c.wav, n, fps)
    label = "baseline: recogniser -> visemes" + ("" if recogniser == "phone-loop" else f" ({recogniser})")
    systems[label] = lambda c, n: phones_to_curves(recognise_phones(c.wav, recogniser), n, fps)
    if oracle:
        systems[REFERENCE] = lambda c, n: phones_to_curves(c.phones, n, fps)
    audio_s = sum(c.duration_s for c in clips)
    report: dict[str, Any] = {"fps": fps, "clips": len(clips), "audio_s": round(audio_s, 3),
                              "speakers": len({c.speaker for c in clips}), "systems": {}, "per_clip": {}, "notes": notes}
    report["motion"] = {}
    for sys_name, fn in systems.items():
        per, seconds, moving, mouth_close = {}, 0.0, [], []
        for c in clips:
            n = c.num_frames(fps)
            t0 = time.perf_counter()
            values = fn(c, n)
            seconds += time.perf_counter() - t0
            per[c.id] = clip_metrics(values, c, fps)
            moving.append(clip_motion_report(values, c, fps, rotations.get(c.id) if sys_name == name else None))
            mouth_close.append(np.asarray(values)[:, metrics.MOUTH_CLOSE])
        report["systems"][sys_name] = pool_clip_metrics(list(per.values()), seconds, audio_s)
        # ARKit's mouthClose is a corrective (lips together over an open jaw): a real capture of speech keeps it
        # small (95th percentile 0.065, issue 23); a mouth that closes with it everywhere shows here
        report["systems"][sys_name]["mouth_close_p95"] = float(np.percentile(np.concatenate(mouth_close), 95))
        report["motion"][sys_name] = pool_motion_report(moving)
        report["per_clip"][sys_name] = {k: {m: v[m] for m in ("bilabial_closure", "closed", "bilabials",
                                                             "vowels_closed", "envelope_corr", "jitter")}
                                        for k, v in per.items()}
    add_reference_ratios(report)
    return report


def _pink_10db(wav: np.ndarray) -> np.ndarray:
    from ..audio import augment

    return augment.add_noise(wav, 10.0, np.random.default_rng(0), "pink")


def _white_20db(wav: np.ndarray) -> np.ndarray:
    from ..audio import augment

    return augment.add_noise(wav, 20.0, np.random.default_rng(0), "white")


def _reverb_06(wav: np.ndarray) -> np.ndarray:
    from ..audio import augment

    return augment.reverb(wav, np.random.default_rng(0), rt60_s=0.6, wet=0.6)


def _telephone(wav: np.ndarray) -> np.ndarray:
    from ..audio import augment

    return augment.mu_law(augment.low_rate(augment.band_limit(wav), 8000))


#: Named, seeded degradations for robustness runs (``cafetalk evaluate --real --degrade NAME``).
DEGRADATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "pink-10db": _pink_10db, "white-20db": _white_20db, "reverb-0.6s": _reverb_06, "telephone": _telephone,
}


def _degraded(fn: Callable[[np.ndarray], np.ndarray], wav: np.ndarray) -> np.ndarray:
    out = np.asarray(fn(wav), np.float32)
    if out.shape != wav.shape:
        raise ValueError(f"degrade must keep the audio's shape {wav.shape}, got {out.shape}")
    return out


def _as_values(result: Any, num_frames: int, fps: float) -> np.ndarray:
    if hasattr(result, "in_arkit_order"):
        if abs(float(result.fps) - fps) > 1e-6:
            result = result.resample(fps)
        result = result.in_arkit_order().values
    v = np.asarray(result, np.float32)
    if v.ndim != 2 or v.shape[1] != rig.NUM_CHANNELS:
        raise ValueError(f"generate_fn must return (frames, {rig.NUM_CHANNELS}) curves, got shape {v.shape}")
    if len(v) >= num_frames:
        return v[:num_frames]
    pad = np.repeat(v[-1:] if len(v) else np.zeros((1, v.shape[1]), np.float32), num_frames - len(v), axis=0)
    return np.concatenate([v, pad])


def _as_rotations(result: Any, num_frames: int, fps: float) -> np.ndarray | None:
    """The result's (frames, 9) rotations at ``fps``, cut or padded to ``num_frames``; None without."""
    if getattr(result, "rotations", None) is None:
        return None
    if abs(float(result.fps) - fps) > 1e-6:
        result = result.resample(fps)
    r = np.asarray(result.rotations, np.float32)[:num_frames]
    return np.concatenate([r, np.repeat(r[-1:], num_frames - len(r), axis=0)]) if len(r) < num_frames else r


def clip_motion_report(values: np.ndarray, clip: RealClip, fps: float, rotations: np.ndarray | None) -> dict[str, Any]:
    """Issue 16's motion stats of one clip: face (evaluation/motion.py) + head against the speech."""
    from ..audio.mel import loudness
    from ..data.head_rules import speech_mask

    out = motion.clip_motion(values, clip.phones, fps)
    n = len(values)
    speech = speech_mask(clip.phones, n, fps)
    env = loudness(clip.wav, n, fps)
    accent = np.clip(np.diff(env, prepend=env[:1]), 0.0, None)       # loudness rises: syllable onsets
    out.update(motion.head_stats(rotations, speech, fps, accent))
    return out


def pool_motion_report(per_clip: list[dict[str, Any]]) -> dict[str, Any]:
    pooled = motion.pooled_motion(per_clip)
    for key in ("head_std_deg", "head_yaw_std_deg", "head_pitch_std_deg", "head_roll_std_deg",
                "head_pause_speed", "head_speech_speed", "head_accent_corr"):
        pooled[key] = metrics.nanmean(c[key] for c in per_clip)
    return pooled


MOTION_COLUMNS = (("jitter_all", "jitter", "{:.4f}"), ("jitter_mouth", "jit mouth", "{:.4f}"),
                  ("jitter_eyes", "jit eyes", "{:.4f}"), ("jitter_brows", "jit brows", "{:.4f}"),
                  ("closure_frames", "closure fr", "{:.1f}"), ("one_frame_closures", "1-fr clos", "{:.2f}"),
                  ("eyes_shut", "eyes shut", "{:.3f}"), ("blinks_per_min", "blinks/min", "{:.1f}"),
                  ("blink_ms", "blink ms", "{:.0f}"), ("half_closed", "half-shut", "{:.3f}"),
                  ("head_std_deg", "head std", "{:.2f}"), ("head_yaw_std_deg", "yaw std", "{:.2f}"),
                  ("head_speech_speed", "head v talk", "{:.2f}"),
                  ("head_pause_speed", "head v pause", "{:.2f}"), ("head_accent_corr", "head~accent", "{:.2f}"))


def format_motion_table(report: dict[str, Any]) -> str:
    """Issue 16's table: jitter per region, closures, blinks, head motion (degrees, deg/s), one row per system."""
    systems = report.get("motion") or {}
    if not systems:
        return ""
    width = max([len(k) for k in systems] + [6])
    head = f"{'system':<{width}}  " + "  ".join(f"{h:>12}" for _, h, _ in MOTION_COLUMNS)
    lines = ["motion on real speech (jitter = mean |second difference|; head in degrees and deg/s):", head, "-" * len(head)]
    for name, m in systems.items():
        cells = []
        for key, _, fmt in MOTION_COLUMNS:
            x = m.get(key)
            ok = x is not None and not (isinstance(x, float) and math.isnan(x))
            cells.append(f"{fmt.format(x) if ok else 'n/a':>12}")
        lines.append(f"{name:<{width}}  " + "  ".join(cells))
    return "\n".join(lines)


COLUMNS = (("bilabial_closure", "closure", "{:.2f}"), ("closure_precision", "precision", "{:.2f}"),
           ("vowel_seal_rate", "vow sealed", "{:.3f}"), ("open_vowel_aperture", "open-vowel", "{:.3f}"),
           ("silence_aperture", "silence", "{:.3f}"), ("envelope_corr", "env-corr", "{:.2f}"),
           ("jitter", "jitter", "{:.4f}"), ("eyes_closed", "eyes shut", "{:.3f}"),
           ("seconds_per_audio_second", "s/s", "{:.3f}"))


def format_table(report: dict[str, Any]) -> str:
    """A plain-text table of the pooled metrics, one row per system."""
    width = max([len(k) for k in report["systems"]] + [6])
    head = f"{'system':<{width}}  " + "  ".join(f"{h:>10}" for _, h, _ in COLUMNS)
    degraded = f", degraded: {report['degrade']}" if report.get("degrade") else ""
    lines = [f"real speech: {report['clips']} clips, {report['audio_s']:.1f} s, fps {report['fps']:g}{degraded}", head,
             "-" * len(head)]
    for name, m in report["systems"].items():
        cells = []
        for key, _, fmt in COLUMNS:
            x = m[key]
            cells.append(f"{'n/a' if x is None or (isinstance(x, float) and math.isnan(x)) else fmt.format(x):>10}")
        lines.append(f"{name:<{width}}  " + "  ".join(cells))
    any_sys = next(iter(report["systems"].values()), None)
    if any_sys:
        lines.append(f"(closure over {any_sys['bilabials']} bilabials; aperture = jawOpen - mouthClose)")
    lines += report.get("notes", [])
    return "\n".join(lines)


REFERENCE = "reference: aligned phones -> visemes (not audio-only)"
def add_reference_ratios(report: dict[str, Any]) -> None:
    """In place: each system's open-vowel aperture and jitter as ratios of the aligned-phones reference."""
    ref = report["systems"].get(REFERENCE)
    for m in report["systems"].values():
        ok = ref is not None and ref["open_vowel_aperture"] > 0 and ref["jitter"] > 0
        m["open_vowel_ratio"] = m["open_vowel_aperture"] / ref["open_vowel_aperture"] if ok else float("nan")
        m["jitter_ratio"] = m["jitter"] / ref["jitter"] if ok else float("nan")


def main(argv: list[str] | None = None) -> int:
    """Baselines only: ``python -m cafetalk_core.evaluation.real_speech [--set test|val|DIR] [--recogniser words]``."""
    import argparse

    from ..audio.phonetic import RECOGNISER_MODES

    p = argparse.ArgumentParser(prog="python -m cafetalk_core.evaluation.real_speech", description=main.__doc__)
    p.add_argument("--set", default="test", help="test (bundled evaluation set), val (validation set) or a folder")
    p.add_argument("--recogniser", default="phone-loop", choices=RECOGNISER_MODES)
    args = p.parse_args(argv)
    print(format_table(evaluate_real_speech(None, clips=load_real_speech(real_set_dir(args.set)),
                                            recogniser=args.recogniser)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
