"""A reference learned from the capture folder itself: ridge regression from audio to each channel.

Why: the capture targets (jawOpen r, mean mouth r) mean little without knowing how much of a
face the audio can tell at all. This reference is fitted on the folder's *training* takes (its
``dataset.json`` ``splits``; never the takes it is scored on) and predicts every counted channel
linearly from log-mel and loudness over a +-0.27 s context. It is not a product: it knows one
speaker and one rig, and sees nothing else. Where the model beats it, the model adds something
over a linear read of the same audio; where neither gets near a target, the audio may not
carry that channel (smiles in a neutral read).
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from .. import rig
from ..audio.mel import log_mel, loudness
from . import metrics

if TYPE_CHECKING:
    from .captures import CaptureTake

#: Context offsets in frames (at 30 fps: -0.27 .. +0.27 s, every other frame).
CONTEXT = tuple(range(-8, 9, 2))
RIDGE = 1000.0   # chosen on the FACEGOOD validation take (1 .. 1000 all within 0.01 there)
NAME = "reference: ridge on the folder's train takes"


def audio_context(wav: np.ndarray, num_frames: int, fps: float) -> np.ndarray:
    """(frames, 81 x len(CONTEXT)) log-mel + loudness, stacked over the context offsets (edges repeat)."""
    f = np.concatenate([log_mel(wav, num_frames, fps), loudness(wav, num_frames, fps)[:, None]], axis=1)
    idx = np.clip(np.arange(num_frames)[:, None] + np.array(CONTEXT)[None, :], 0, num_frames - 1)
    return f[idx].reshape(num_frames, -1).astype(np.float64)


class CaptureRidge:
    """Per-channel linear map from :func:`audio_context` to ARKit weights, fitted on training takes."""

    def __init__(self, takes: Sequence["CaptureTake"], channels: Sequence[str], ridge: float = RIDGE) -> None:
        if not takes:
            raise ValueError("the ridge reference needs at least one training take")
        self.idx = rig.indices(list(channels))
        xs = [audio_context(t.wav, len(t.values), t.fps) for t in takes]
        x = np.concatenate(xs)
        y = np.concatenate([t.values[:, self.idx] for t in takes])
        self.mu, self.sd = x.mean(0), x.std(0) + 1e-6
        xn = (x - self.mu) / self.sd
        self.y_mean = y.mean(0)
        self.w = np.linalg.solve(xn.T @ xn + ridge * np.eye(xn.shape[1]), xn.T @ (y - self.y_mean))

    def predict(self, take: "CaptureTake") -> np.ndarray:
        """(frames, 52) at the take's rate: the fitted channels, zero elsewhere, clipped to [0, 1]."""
        x = (audio_context(take.wav, len(take.values), take.fps) - self.mu) / self.sd
        out = np.zeros((len(take.values), rig.NUM_CHANNELS), np.float64)
        out[:, self.idx] = np.clip(x @ self.w + self.y_mean, 0.0, 1.0)
        return out


def fit_folder(folder: str | Path) -> CaptureRidge | None:
    """The reference fitted on ``folder``'s train split; None for a folder without one (a user's
    folder: every take is a test take, nothing to fit on)."""
    from ..data.records import read_dataset_card
    from .captures import load_captures

    card = read_dataset_card(Path(folder))
    if not (card.get("splits") or {}).get("train"):
        return None
    train = load_captures(folder, "train")
    return CaptureRidge(train, train[0].channels)


def ridge_system(folders: Sequence[str | Path]) -> dict[str, Callable[["CaptureTake"], np.ndarray]]:
    """``{NAME: predict}`` with each take predicted by its own folder's fit; empty unless every
    folder has a train split (a reference missing on some takes would not pool fairly)."""
    fits = {str(f): fit_folder(f) for f in folders}
    if not fits or any(m is None for m in fits.values()):
        return {}
    return {NAME: lambda take: fits[take.source].predict(take)}


def take_fits(model: Any, folder: str | Path) -> list[dict[str, Any]]:
    """Per take of every split (train takes included: how well each system fits what it learned from),
    jawOpen r of ``model`` (its defaults for the take's language) and of the ridge fitted on the train
    split, over all frames and over the voiced ones (loudness above its 40th percentile: the articulation
    within speech, which a speech/silence alternation does not inflate)."""
    from .captures import load_captures

    fit = fit_folder(folder)
    if fit is None:
        raise ValueError(f"{folder}: no train split to fit the ridge on")
    jaw = rig.INDEX["jawOpen"]
    rows = []
    for split in ("train", "val", "test"):
        for take in load_captures(folder, split):
            truth = take.values[:, jaw]
            voiced = loudness(take.wav, len(truth), take.fps)
            voiced = voiced > np.percentile(voiced, 40)
            row: dict[str, Any] = {"take": take.id, "split": split}
            preds = {"model": model.generate(take.wav, seed=0, fps=take.fps, language=take.language)
                     .in_arkit_order().values, "ridge": fit.predict(take)}
            for name, pred in preds.items():
                n = min(len(pred), len(truth))
                p, g, v = pred[:n, jaw], truth[:n], voiced[:n]
                row[name] = metrics.pearson(p, g)
                row[f"{name}_voiced"] = metrics.pearson(p[v], g[v])
            rows.append(row)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Print :func:`take_fits` for the FACEGOOD folder (or FOLDER) and the shipped model (or --checkpoint)."""
    from ..pipeline import DEFAULT_CHECKPOINT, Generator
    from .captures import default_capture_dir

    ap = argparse.ArgumentParser(prog="python -m cafetalk_core.evaluation.capture_ridge",
                                 description="jawOpen r per take: the model and the ridge reference, train takes included")
    ap.add_argument("folder", nargs="?", default=None)
    ap.add_argument("--checkpoint", default=None)
    args = ap.parse_args(argv)
    model = Generator(args.checkpoint or DEFAULT_CHECKPOINT, threads=1)
    print(f"{'take':<12} {'split':<6} {'model r':>8} {'ridge r':>8} {'model voiced':>13} {'ridge voiced':>13}")
    for r in take_fits(model, args.folder or default_capture_dir()):
        print(f"{r['take']:<12} {r['split']:<6} {r['model']:>8.3f} {r['ridge']:>8.3f} {r['model_voiced']:>13.3f} "
              f"{r['ridge_voiced']:>13.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
