"""Against real captured faces: per-channel correlation and error on held-out takes (issue 23).

Why: every other score compares the model with rules (the corpus's procedural truth, phone
times); a capture of a real face is the only truth that was not made by the project. Correlation
is the fair measure across rigs and people (an animator's rig and the iPhone's ARKit solve
differ in scale), so the scale (std ratio) is reported apart, and the RMS error in weight units
next to it.

A capture folder holds takes ``<take>.wav|.flac`` + ``<take>.csv`` (Live Link Face CSV). With a
``dataset.json`` (the FACEGOOD conversion, ``datasets/facegood``) its ``splits`` choose the takes
(``test`` by default, ``val`` for choosing settings) and ``supervised_channels`` the channels the
capture really animates (the others are zero-filled and ignored); its ``fps`` is the CSV's rate.
Without one (a user's folder) every take is a test take and all 52 channels count; the rate comes
from the CSV's timecodes.

Per take and system: for every counted channel that moves in the capture (std > ``MOVES``),
Pearson correlation, RMS error and std ratio (prediction / capture); ``jawOpen``; the mean
correlation over the counted mouth channels (``rig.LIP_SYNC_NAMES``; a prediction that holds a
channel still scores 0 there, not "undefined"); and the lip aperture (``jawOpen - mouthClose``)
correlation, also at the best lag within +-``MAX_LAG`` frames (the lag is reported: a positive
lag means the prediction is late); mouthClose's 95th percentile, the prediction's and the
capture's (ARKit's mouthClose is a corrective: a real iPhone capture of speech keeps it at 0.065).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .. import rig
from . import metrics

#: A capture channel counts only when it moves: its std over the take above this.
MOVES = 1e-3
MAX_LAG = 5
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
MOUTH_NAMES = frozenset(rig.LIP_SYNC_NAMES)


@dataclass
class CaptureTake:
    """One captured take: 16 kHz audio, (frames, 52) ARKit weights at ``fps``, the channels that count."""

    id: str
    wav: np.ndarray
    values: np.ndarray
    fps: float
    channels: tuple[str, ...]
    source: str
    language: str | None = None   # the speech's language (the card's ``language``); None = English

    @property
    def duration_s(self) -> float:
        return len(self.wav) / 16000.0


def _shipped_dataset(name: str) -> Path:
    """``datasets/NAME`` in the working directory, else next to the package (a source checkout)."""
    here = Path("datasets") / name
    return here if here.is_dir() else Path(__file__).resolve().parents[2] / "datasets" / name


def default_capture_dir() -> Path:
    """The FACEGOOD takes (``datasets/facegood``): the one capture folder with train and val takes,
    so the one that training and the phone-free tuners use."""
    return _shipped_dataset("facegood")


def default_capture_dirs(split: str = "test") -> list[Path]:
    """The shipped capture folders that hold ``split``, each reported on its own: the FACEGOOD takes
    (Mandarin, animator-solved) and, for ``test``, the English iPhone take (``datasets/iphone_speech``,
    test only; ``data/iphone_speech.py``)."""
    folders = [default_capture_dir()]
    return folders + [_shipped_dataset("iphone_speech")] if split == "test" else folders


def _audio_of(folder: Path, take: str) -> Path:
    for suffix in AUDIO_SUFFIXES:
        if (folder / f"{take}{suffix}").is_file():
            return folder / f"{take}{suffix}"
    raise FileNotFoundError(f"{folder}: take {take!r} has no audio ({'/'.join(AUDIO_SUFFIXES)})")


def load_captures(folder: str | Path, split: str = "test", max_takes: int | None = None) -> list[CaptureTake]:
    """The takes of one capture folder (see the module docstring); ``split`` only where dataset.json has splits."""
    from ..audio.io import load_audio
    from ..data.records import DATASET_CARD, read_dataset_card

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"--real-captures {str(folder)!r}: no such folder")
    meta = read_dataset_card(folder)   # the training data's reader of the card: names checked there
    if meta:
        splits = meta.get("splits") or {}
        if split not in splits:
            raise ValueError(f"{folder / DATASET_CARD}: no split {split!r} in 'splits' (has {sorted(splits)})")
        names = list(splits[split])
        channels = tuple(meta.get("supervised_channels") or rig.ARKIT_NAMES)
        fps = float(meta["fps"]) if meta.get("fps") else None
        language = meta.get("language")
    else:
        names = sorted(p.stem for p in folder.glob("*.csv") if any((folder / f"{p.stem}{s}").is_file()
                                                                  for s in AUDIO_SUFFIXES))
        channels, fps, language = tuple(rig.ARKIT_NAMES), None, None
    if not names:
        raise FileNotFoundError(f"--real-captures {str(folder)!r}: no take (name.wav + name.csv) found")
    takes = []
    for name in names[: max_takes or None]:
        take = rig.read_live_link_csv(folder / f"{name}.csv", fps=fps)
        takes.append(CaptureTake(name, load_audio(_audio_of(folder, name)), np.asarray(take.weights, np.float64),
                                 float(take.fps), channels, str(folder), language))
    return takes


def best_lag_correlation(pred: np.ndarray, truth: np.ndarray, max_lag: int = MAX_LAG) -> tuple[float, int]:
    """(correlation, lag) maximising ``pearson(pred[t + lag], truth[t])`` for |lag| <= max_lag."""
    best, best_lag = float("nan"), 0
    n = min(len(pred), len(truth))
    for lag in range(-max_lag, max_lag + 1):
        p = pred[max(0, lag): n + min(0, lag)]
        t = truth[max(0, -lag): n - max(0, lag)]
        r = metrics.pearson(p, t) if len(p) > 2 else float("nan")
        if math.isfinite(r) and not (r <= best):
            best, best_lag = r, lag
    return best, best_lag


def aperture_of(values: np.ndarray, channels: Sequence[str]) -> np.ndarray:
    """``jawOpen - mouthClose`` over the counted channels: a capture that does not animate mouthClose
    (zero-filled there) is compared on jawOpen alone, on both sides; NaN without jawOpen."""
    if "jawOpen" not in channels:
        return np.full(len(values), np.nan)
    ap = values[:, rig.INDEX["jawOpen"]].astype(np.float64)
    return ap - values[:, rig.INDEX["mouthClose"]] if "mouthClose" in channels else ap


def take_metrics(pred: np.ndarray, take: CaptureTake) -> dict[str, Any]:
    """Per-channel and summary figures of (frames, 52) ``pred`` (at the take's fps) against the capture."""
    p, g = metrics.align(pred, take.values)
    channels: dict[str, dict[str, float]] = {}
    for name in take.channels:
        i = rig.INDEX[name]
        sd = float(g[:, i].std())
        if sd <= MOVES:
            continue
        r = metrics.pearson(p[:, i], g[:, i])
        channels[name] = {"corr": 0.0 if math.isnan(r) else r, "still": bool(math.isnan(r)),
                          "rmse": float(np.sqrt(np.mean((p[:, i] - g[:, i]) ** 2))),
                          "scale": float(p[:, i].std()) / sd}
    mouth = [d["corr"] for n, d in channels.items() if n in MOUTH_NAMES]
    ap_p, ap_g = aperture_of(p, take.channels), aperture_of(g, take.channels)
    lag_r, lag = best_lag_correlation(ap_p, ap_g)
    return {"frames": len(g), "channels": channels,
            "jaw_open_corr": channels.get("jawOpen", {}).get("corr", float("nan")),
            "mouth_mean_corr": float(np.mean(mouth)) if mouth else float("nan"), "mouth_channels": len(mouth),
            "aperture_corr": metrics.pearson(ap_p, ap_g), "aperture_corr_best_lag": lag_r, "aperture_lag": lag,
            "aperture_scale": float(ap_p.std()) / max(float(ap_g.std()), 1e-9),
            "mouth_close_p95": float(np.percentile(p[:, rig.INDEX["mouthClose"]], 95)),
            "capture_mouth_close_p95": float(np.percentile(g[:, rig.INDEX["mouthClose"]], 95))
            if "mouthClose" in take.channels else float("nan")}


def pool_takes(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Frame-weighted means over takes (each take's figures, weighted by its frames)."""
    w = np.array([r["frames"] for r in rows], np.float64)

    def mean(values: Sequence[float], weights: np.ndarray) -> float:
        v = np.asarray(values, np.float64)
        ok = np.isfinite(v)
        return float(np.sum(v[ok] * weights[ok]) / np.sum(weights[ok])) if ok.any() else float("nan")

    out: dict[str, Any] = {k: mean([r[k] for r in rows], w) for k in
                           ("jaw_open_corr", "mouth_mean_corr", "aperture_corr", "aperture_corr_best_lag",
                            "aperture_scale", "mouth_close_p95", "capture_mouth_close_p95")}
    names = sorted({n for r in rows for n in r["channels"]}, key=rig.INDEX.__getitem__)
    out["channels"] = {}
    for n in names:
        have = [(r["channels"][n], r["frames"]) for r in rows if n in r["channels"]]
        ww = np.array([f for _, f in have], np.float64)
        out["channels"][n] = {k: mean([d[k] for d, _ in have], ww) for k in ("corr", "rmse", "scale")}
    out["frames"] = int(w.sum())
    return out


def evaluate_captures(systems: dict[str, Callable[[CaptureTake], np.ndarray]],
                      takes: Sequence[CaptureTake]) -> dict[str, Any]:
    """Run every system (take -> (frames, 52) at the take's fps) on every take; per take and pooled."""
    report: dict[str, Any] = {"takes": [{"id": t.id, "source": t.source, "seconds": round(t.duration_s, 3),
                                         "fps": t.fps, "channels": len(t.channels)} for t in takes],
                              "systems": {}, "per_take": {}}
    for name, fn in systems.items():
        rows = [take_metrics(fn(t), t) for t in takes]
        report["per_take"][name] = {t.id: r for t, r in zip(takes, rows)}
        report["systems"][name] = pool_takes(rows)
    return report


def baseline_systems() -> dict[str, Callable[[CaptureTake], np.ndarray]]:
    """The audio-only baselines of the real-speech report, on a capture's audio at its frame rate."""
    from ..audio.phonetic import recognise_phones
    from ..visemes import phones_to_curves
    from .real_speech import loudness_baseline

    def frames(t: CaptureTake) -> int:
        return len(t.values)

    return {"baseline: recogniser -> visemes": lambda t: phones_to_curves(recognise_phones(t.wav), frames(t), t.fps),
            "baseline: loudness -> jawOpen": lambda t: loudness_baseline(t.wav, frames(t), t.fps)}


TARGETS = {"jaw_open_corr": ">= 0.75", "mouth_mean_corr": ">= 0.50"}


def format_captures(report: dict[str, Any]) -> str:
    """Summary per system, then per channel (correlation / RMS error / scale) per system."""
    takes = report["takes"]
    secs = sum(t["seconds"] for t in takes)
    systems = report["systems"]
    width = max([len(k) for k in systems] + [6])
    cols = (("jaw_open_corr", "jawOpen r"), ("mouth_mean_corr", "mouth mean r"), ("aperture_corr", "aperture r"),
            ("aperture_corr_best_lag", "ap r best lag"), ("aperture_scale", "ap scale"),
            ("mouth_close_p95", "mouthClose p95"))
    head = f"{'system':<{width}}  " + "  ".join(f"{h:>13}" for _, h in cols)
    lines = [f"real captures: {len(takes)} take(s) ({', '.join(t['id'] for t in takes)}), {secs:.1f} s; "
             f"targets: jawOpen r {TARGETS['jaw_open_corr']}, mouth mean r {TARGETS['mouth_mean_corr']}", head,
             "-" * len(head)]
    for name, m in systems.items():
        lags = sorted({r["aperture_lag"] for r in report["per_take"][name].values()})
        cells = [_cell(m[k]) for k, _ in cols]
        lines.append(f"{name:<{width}}  " + "  ".join(f"{c:>13}" for c in cells) + f"  (lag {lags} fr)")
    cap = next(iter(systems.values()), {}).get("capture_mouth_close_p95", float("nan"))
    lines.append(f"(mouthClose p95 of the capture: {_cell(cap, 3)}; per take, mean over takes)")
    names = list(dict.fromkeys(n for m in systems.values() for n in m["channels"]))
    short = [s.replace("baseline: ", "").replace("reference: ", "") for s in systems]
    lines += ["", "per channel: correlation / RMS error / scale (std ratio)",
              f"{'channel':<20}  " + "  ".join(f"{s[:22]:>22}" for s in short)]
    for n in names:
        cells = []
        for m in systems.values():
            d = m["channels"].get(n)
            cells.append("n/a" if d is None else f"{_cell(d['corr'])} / {_cell(d['rmse'], 3)} / {_cell(d['scale'])}")
        lines.append(f"{n:<20}  " + "  ".join(f"{c:>22}" for c in cells))
    lines.append(f"(systems: {'; '.join(systems)})")
    return "\n".join(lines)


def _cell(x: Any, digits: int = 2) -> str:
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{digits}f}"
