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

from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from .. import rig
from ..audio.mel import log_mel, loudness

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
