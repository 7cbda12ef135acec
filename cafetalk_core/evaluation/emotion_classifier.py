"""A small emotion classifier on curves: the yardstick for coarse (emotion) control.

Cafe-Talk reports emotion accuracy of a classifier applied to generated animation; a number
only means something next to the same classifier's accuracy on ground truth. So the
classifier is trained on ground-truth curves only, and ``evaluation/corpus.py`` reports its accuracy on
ground-truth test clips next to its accuracy on the model's curves for the same clips.

Features: the clip is cut into windows (2 s, hop 1 s; a shorter clip is one window); per
window and per channel of the upper face and mouth corners (where emotion shows, and not the
lip-sync channels that follow the words): mean, std, 10th/50th/90th percentiles.
Model: scikit-learn's ``StandardScaler`` + multinomial ``LogisticRegression`` (L-BFGS), the L2
strength chosen on the validation clips (accuracy, ties broken by log-loss). ``l2`` is the
weight of ``l2 * |W|^2 / 2`` next to the *mean* window cross-entropy, i.e. sklearn's
``C = 1 / (l2 * windows)``, so the strength does not depend on how many windows there are.
A clip's label is the argmax of its windows' mean probability. The fitted numbers are kept as
arrays (scaler mean/scale, weight, bias) in safetensors + JSON, never a pickle, so a stored
classifier loads without scikit-learn's version.

The clip split (:func:`stratified_split`) stays our own: per label, seeded, and every label
with >= 3 clips gets at least one clip in each part, which scikit-learn's stratified splitters
do not promise for small classes (they fail when a part is smaller than the number of labels).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .. import rig
from ..controls.coarse import EMOTIONS

FORMAT = "cafetalk.emotion_classifier"
VERSION = 1

#: Where emotion shows: brows, lids, cheeks, nose, and mouth corners (not jaw/lips/gaze/blink).
EMOTION_CHANNELS: tuple[str, ...] = (
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "eyeSquintLeft", "eyeSquintRight", "eyeWideLeft", "eyeWideRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "noseSneerLeft", "noseSneerRight",
    "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthPressLeft", "mouthPressRight", "mouthUpperUpLeft", "mouthUpperUpRight",
    "mouthShrugLower", "mouthShrugUpper",
)
STATS: tuple[str, ...] = ("mean", "std", "p10", "p50", "p90")
L2_GRID: tuple[float, ...] = (10.0, 1.0, 1e-1, 1e-2)


def windows(values: np.ndarray, fps: float, window_s: float = 2.0, hop_s: float = 1.0) -> list[np.ndarray]:
    """Overlapping windows of a (frames, C) array; the whole clip when shorter than one window."""
    n = len(values)
    w = max(1, int(round(window_s * fps)))
    h = max(1, int(round(hop_s * fps)))
    if n <= w:
        return [values]
    starts = list(range(0, n - w + 1, h))
    if starts[-1] + w < n:
        starts.append(n - w)  # cover the tail
    return [values[s:s + w] for s in starts]


def window_features(win: np.ndarray) -> np.ndarray:
    """(frames, C) -> (C * len(STATS),) statistics, channel-major."""
    p10, p50, p90 = np.percentile(win, [10, 50, 90], axis=0)
    return np.stack([win.mean(0), win.std(0), p10, p50, p90], axis=1).reshape(-1)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


#: Bias of a class absent from the training windows: its probability is 0 to float precision.
ABSENT_BIAS = -1e4


def fit_logistic(x: np.ndarray, y: np.ndarray, num_classes: int, l2: float,
                 max_iter: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression minimising mean cross-entropy + ``l2 * |W|^2 / 2``; (W, b).

    W is (features, num_classes) over all classes; classes with no window in ``y`` get weight 0
    and :data:`ABSENT_BIAS`. sklearn fits two classes as one logit difference v; the softmax
    optimum of the same objective is (-v/2, +v/2), whose penalty is half of |v|^2, hence C doubles.
    """
    from sklearn.linear_model import LogisticRegression

    present = np.unique(y)
    w = np.zeros((x.shape[1], num_classes))
    b = np.full(num_classes, ABSENT_BIAS)
    if len(present) == 1:      # one label: nothing to separate
        b[present[0]] = 0.0
        return w, b
    binary = len(present) == 2
    fit = LogisticRegression(C=(2.0 if binary else 1.0) / (l2 * len(x)), max_iter=max_iter).fit(x, y)
    if binary:
        v, c = fit.coef_[0] / 2, fit.intercept_[0] / 2
        w[:, present[0]], w[:, present[1]], b[present[0]], b[present[1]] = -v, v, -c, c
    else:
        w[:, present], b[present] = fit.coef_.T, fit.intercept_
    return w, b


@dataclass
class EmotionClassifier:
    """Standardise -> linear -> softmax over windows; clip label = argmax of the mean."""

    weight: np.ndarray                      # (features, classes)
    bias: np.ndarray                        # (classes,)
    mean: np.ndarray                        # (features,)
    std: np.ndarray                         # (features,)
    classes: tuple[str, ...] = EMOTIONS
    channels: tuple[str, ...] = EMOTION_CHANNELS
    window_s: float = 2.0
    hop_s: float = 1.0
    info: dict[str, Any] = field(default_factory=dict)

    # -- features ------------------------------------------------------------------------
    def _clip_features(self, values: np.ndarray, fps: float) -> np.ndarray:
        v = np.asarray(values, np.float64)[:, rig.indices(self.channels)]
        return np.stack([window_features(w) for w in windows(v, fps, self.window_s, self.hop_s)])

    # -- prediction ----------------------------------------------------------------------
    def predict_proba(self, values: np.ndarray, fps: float) -> np.ndarray:
        """(classes,) mean window probability of one clip (values: (frames, 52) ARKit order)."""
        f = (self._clip_features(values, fps) - self.mean) / self.std
        return _softmax(f @ self.weight + self.bias).mean(axis=0)

    def predict(self, values: np.ndarray, fps: float) -> str:
        return self.classes[int(np.argmax(self.predict_proba(values, fps)))]

    def accuracy(self, clips: Sequence[tuple[np.ndarray, float]], labels: Sequence[str]) -> float:
        """Share of clips ((values, fps) pairs) predicted as their label; NaN with no clips."""
        if not clips:
            return float("nan")
        hits = [self.predict(v, fps) == lab for (v, fps), lab in zip(clips, labels)]
        return float(np.mean(hits))

    # -- training ------------------------------------------------------------------------
    @classmethod
    def train(cls, train: Sequence[tuple[np.ndarray, float]], train_labels: Sequence[str],
              val: Sequence[tuple[np.ndarray, float]] = (), val_labels: Sequence[str] = (),
              classes: Sequence[str] = EMOTIONS, window_s: float = 2.0, hop_s: float = 1.0,
              channels: Sequence[str] = EMOTION_CHANNELS) -> "EmotionClassifier":
        """Fit on ground-truth clips; the L2 strength with the best validation accuracy wins.

        Without validation clips the middle of :data:`L2_GRID` is used. ``channels`` are the ARKit
        channels it reads (default: the upper face and the mouth corners).
        """
        from sklearn.preprocessing import StandardScaler

        classes = tuple(classes)
        unknown = sorted(set(train_labels) - set(classes))
        if unknown:
            raise ValueError(f"train_labels has labels outside classes: {unknown}")
        if not train:
            raise ValueError("train must hold at least one clip")
        channels = tuple(channels)
        probe = cls(np.zeros((1, 1)), np.zeros(1), np.zeros(1), np.ones(1), classes, channels, window_s, hop_s)
        feats, ys = [], []
        for (v, fps), lab in zip(train, train_labels):
            f = probe._clip_features(v, fps)
            feats.append(f)
            ys.append(np.full(len(f), classes.index(lab)))
        x, y = np.concatenate(feats), np.concatenate(ys)
        scaler = StandardScaler().fit(x)       # a constant feature gets scale 1
        mean, std = scaler.mean_, scaler.scale_
        xs = scaler.transform(x)
        grid = L2_GRID if val else (L2_GRID[len(L2_GRID) // 2],)
        best: tuple[tuple[float, float], float, EmotionClassifier] | None = None
        for l2 in grid:
            w, b = fit_logistic(xs, y, len(classes), l2)
            model = cls(w, b, mean, std, classes, channels, window_s, hop_s)
            key = model._val_key(val, val_labels) if val else (0.0, 0.0)
            if best is None or key > best[0]:
                best = (key, l2, model)
        assert best is not None
        (score, _), l2, model = best
        model.info = {"l2": l2, "train_clips": len(train), "train_windows": int(len(x)), "val_clips": len(val),
                      "val_accuracy": score,
                      "train_accuracy": model.accuracy(list(train), list(train_labels))}
        return model

    def _val_key(self, val: Sequence[tuple[np.ndarray, float]], labels: Sequence[str]) -> tuple[float, float]:
        """(accuracy, -mean log-loss): accuracy first, confidence in the right label breaks ties."""
        probs = [self.predict_proba(v, fps) for v, fps in val]
        acc = float(np.mean([self.classes[int(np.argmax(p))] == lab for p, lab in zip(probs, labels)]))
        nll = float(np.mean([-np.log(p[self.classes.index(lab)] + 1e-12) for p, lab in zip(probs, labels)]))
        return acc, -nll

    # -- storage -------------------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        """``folder/emotion_classifier.safetensors`` + ``folder/emotion_classifier.json``."""
        from safetensors.numpy import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_file({"weight": self.weight.astype(np.float64), "bias": self.bias.astype(np.float64),
                   "mean": self.mean.astype(np.float64), "std": self.std.astype(np.float64)},
                  str(folder / "emotion_classifier.safetensors"))
        meta = {"format": FORMAT, "version": VERSION, "classes": list(self.classes),
                "channels": list(self.channels), "stats": list(STATS), "window_s": self.window_s,
                "hop_s": self.hop_s, "info": self.info}
        (folder / "emotion_classifier.json").write_text(json.dumps(meta, indent=2, allow_nan=True))
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> "EmotionClassifier":
        from safetensors.numpy import load_file

        folder = Path(folder)
        meta = json.loads((folder / "emotion_classifier.json").read_text())
        if meta.get("format") != FORMAT:
            raise ValueError(f"{folder}: format must be {FORMAT!r}, got {meta.get('format')!r}")
        if int(meta.get("version", 0)) > VERSION:
            raise ValueError(f"{folder}: classifier version {meta['version']} is newer than this reader ({VERSION})")
        if list(meta.get("stats", [])) != list(STATS):
            raise ValueError(f"{folder}: stats {meta.get('stats')} differ from this reader's {list(STATS)}")
        t = load_file(str(folder / "emotion_classifier.safetensors"))
        return cls(t["weight"], t["bias"], t["mean"], t["std"], tuple(meta["classes"]), tuple(meta["channels"]),
                   float(meta["window_s"]), float(meta["hop_s"]), meta.get("info", {}))


def stratified_split(ids: Sequence[str], labels: Sequence[str], fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
                     seed: int = 0) -> dict[str, str]:
    """id -> "train" | "val" | "test", per label in the given proportions, seeded.

    Within each label the ids are shuffled; counts are rounded so every label with >= 3 clips
    has at least one clip in each part whose fraction is above 0.
    """
    if abs(sum(fractions) - 1.0) > 1e-6 or min(fractions) < 0:
        raise ValueError(f"fractions must be >= 0 and sum to 1, got {fractions}")
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[str]] = {}
    for i, lab in zip(ids, labels):
        by_label.setdefault(lab, []).append(i)
    out: dict[str, str] = {}
    for lab in sorted(by_label):
        members = sorted(by_label[lab])
        rng.shuffle(members)
        n = len(members)
        n_val = int(round(fractions[1] * n))
        n_test = int(round(fractions[2] * n))
        if n >= 3:  # a non-empty part gets at least one clip of each label
            n_val = max(1, n_val) if fractions[1] > 0 else 0
            n_test = max(1, n_test) if fractions[2] > 0 else 0
        n_train = n - n_val - n_test
        for k, i in enumerate(members):
            out[i] = "train" if k < n_train else ("val" if k < n_train + n_val else "test")
    return out
