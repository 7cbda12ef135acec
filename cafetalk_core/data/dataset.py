"""Training data: a torch Dataset over synth-data folders and users' own Live Link captures.

A folder may hold (a) ``cafetalk synth-data`` output (``<id>.wav`` + ``<id>.csv`` +
``<id>.json`` with phones, emotion and performed events) and/or (b) a user's ``<name>.wav``
+ ``<name>.csv`` pairs straight from the Live Link Face app (any fps, any sample rate).

- Curves are resampled to the model fps (``BlendshapeCurves.resample``), audio to 16 kHz
  mono by ``audio.load_audio`` (the project's one loader).
- Split: the JSON's ``split`` for synth clips; a folder's ``dataset.json`` ``splits`` (by take) for
  converted real captures (``datasets/facegood``); otherwise a hash of the file name (70/15/15).
- Supervised channels: a folder's ``dataset.json`` may name the ARKit channels its captures really
  animate (``supervised_channels``: FACEGOOD maps 27 mouth and jaw channels); the others are zero in
  the files but unknown, so each item carries ``channel_mask`` (52,) and the loss ignores them.
- Audio: ``<name>.wav`` or ``<name>.flac``.
- Weights: each training clip gives as many windows per epoch as it holds (long real takes are not
  drowned by many short synthetic clips), times its folder's weight (``--data-weights``).
- Windows of ``window_frames``: a random crop per item for train, a fixed tiling for val/test;
  shorter clips are padded with the rest pose and ``mask`` = 0 on the padding.
- Labels: emotion/intensity/events from the JSON when present, otherwise neutral / 0.5 and
  fine labels from Algorithm 1 (``controls.binarize``).
- Audio features come from a *front end* (``id``, ``dim``, ``features(wav, n, fps, phones)``,
  ``recognise(wav)``). With probability ``p_recog`` a sample uses the recogniser's phones
  (cached once per clip as ``<id>.recog.json``), else the true phones, perturbed by
  ``audio.perturb_phones``, so the model learns to trust recognised phones only as far as
  they deserve. A front end that does not ``use_phones`` (``logmel-v1``, the default) gets
  the audio alone.
- Speech the recogniser does not know (a card's or sidecar's ``language`` other than English:
  FACEGOOD is Mandarin) gets its phone columns zeroed (``audio.phone_free_features``), never
  the recogniser's noise; ``p_drop_phones`` zeroes them on a share of the other samples too, so
  one model runs with phones (English) and without (any other language).
- Style: each clip's source (``records.style_of``); with ``styles`` (a model with per-source style
  tokens, ``model/config.py``) items carry the style's index in it.
- Bad files (unreadable wav, malformed CSV, length mismatch) are logged by name and skipped;
  an epoch never crashes on one.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch.utils.data import Dataset, default_collate

from ..files import write_json_atomic
from .. import rig
from ..audio import (AudioError, LogMelFrontEnd, load_audio, perturb_phones, phone_free_features,
                     recogniser_understands)
from ..audio.frontend import drop_phone_columns
from ..audio import FrontEnd as AudioFrontEnd
from ..controls.binarize import binarize, labels_to_controls
from ..controls.coarse import emotion_index
from ..controls.fine import FineControl, rasterize_fine
from ..controls.vocabulary import NUM_ACTIONS
from ..curves import BlendshapeCurves
from ..phones import Phone
from .records import BadClip, ClipRecord, channel_mask, scan

log = logging.getLogger(__name__)

MAX_MISMATCH_S = 0.5  # wav vs CSV length tolerance before a pair counts as broken


class FrontEnd(AudioFrontEnd, Protocol):
    """An audio front end (``audio.FrontEnd``); one that ``uses_phones`` also has a recogniser."""

    def recognise(self, wav16k: np.ndarray) -> list[Phone]: ...


def load_audio_16k(path: Path) -> np.ndarray:
    """``audio.load_audio`` (the one loader); an unusable file is a :class:`BadClip` naming it."""
    try:
        return load_audio(path)
    except AudioError as exc:
        raise BadClip(f"{path}: {exc}") from None


def load_curves(rec: ClipRecord, fps: float) -> np.ndarray:
    """The clip's curves at ``fps``, trimmed/padded to the audio length (small mismatch only)."""
    file_fps = (rec.meta or {}).get("fps")
    try:
        take = rig.read_live_link_csv(rec.csv, fps=file_fps)
    except (rig.LiveLinkFormatError, OSError, UnicodeDecodeError) as exc:
        raise BadClip(f"{rec.csv}: malformed Live Link CSV ({exc})") from None
    if take.weights.shape[0] < 2:
        raise BadClip(f"{rec.csv}: fewer than 2 frames")
    if take.clamped:
        log.info("%s: %d weights slightly outside [0, 1] clamped into it", rec.csv, take.clamped)
    curves = BlendshapeCurves(take.weights, take.fps).resample(fps)   # the reader clamped into [0, 1]
    n = rec.num_frames(fps)
    if abs(curves.num_frames / fps - rec.duration_s) > max(MAX_MISMATCH_S, 0.05 * rec.duration_s):
        raise BadClip(f"{rec.csv}: length mismatch, CSV {curves.num_frames / fps:.2f} s at {take.fps:g} fps "
                      f"vs wav {rec.duration_s:.2f} s")
    v = curves.values[:n]
    if v.shape[0] < n:
        v = np.concatenate([v, np.repeat(v[-1:], n - v.shape[0], axis=0)])
    return v


def true_phones(rec: ClipRecord) -> list[Phone] | None:
    if not rec.meta or "phones" not in rec.meta:
        return None
    return [Phone(p["phone"], float(p["start_s"]), float(p["end_s"])) for p in rec.meta["phones"]]


def recognised_phones(rec: ClipRecord, front_end: FrontEnd, audio: np.ndarray | None = None) -> list[Phone]:
    """The front end's recogniser output for the clip, cached as ``<id>.recog.json``."""
    cache = rec.wav.with_name(f"{rec.id}.recog.json")
    if cache.exists():  # (git ignores *.recog.json: a cache, not data)
        try:
            data = json.loads(cache.read_text())
            if data.get("front_end") == front_end.id:
                return [Phone(p, a, b) for p, a, b in data["phones"]]
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            pass
    wav = load_audio_16k(rec.wav) if audio is None else audio
    phones = list(front_end.recognise(wav))
    try:
        write_json_atomic(cache, {"front_end": front_end.id,
                                  "phones": [[p.phone, round(p.start_s, 4), round(p.end_s, 4)] for p in phones]},
                          indent=None)
    except OSError as exc:  # read-only data folder: fine, just not cached
        log.info("cannot cache %s: %s", cache, exc)
    return phones


class CurvesDataset(Dataset):
    """Windows of (curves, audio features, emotion, intensity, fine labels) for training.

    Items are dicts: ``x0`` (T, 52), ``audio`` (T, dim), ``emotion`` (T,) int64, ``intensity``
    (T,), ``fine`` (T, NUM_ACTIONS), ``mask`` (T,) (1 on real frames), ``channel_mask`` (52,)
    (1 on the channels the clip's truth animates), ``id``, and with ``styles`` given ``style`` ().
    """

    def __init__(self, root: str | Path | list, split: str | None = "train", fps: float = 30.0,
                 window_frames: int = 120, front_end: FrontEnd | None = None,
                 fine_label_seed: int | None = None, p_recog: float = 0.5, seed: int = 0,
                 cache_clips: bool = True, recog_cached_only: bool = False,
                 weights: list[float] | None = None, fine_labels: bool = True,
                 p_drop_phones: float = 0.0, styles: tuple[str, ...] = ()) -> None:
        if split not in ("train", "val", "test", None):
            raise ValueError(f"split must be train, val, test or None, got {split!r}")
        if window_frames < 1:
            raise ValueError(f"window_frames must be >= 1, got {window_frames}")
        self.fps, self.window, self.split = float(fps), int(window_frames), split
        self.front_end = front_end if front_end is not None else LogMelFrontEnd()
        self.fine_label_seed, self.p_recog, self.seed = fine_label_seed, float(p_recog), seed
        self.fine_labels = fine_labels   # stage 1 never reads them: Algorithm 1 per item is a third of its cost
        if not 0.0 <= p_drop_phones <= 1.0:
            raise ValueError(f"p_drop_phones must be in [0, 1], got {p_drop_phones}")
        self.p_drop_phones = float(p_drop_phones)
        if self.p_drop_phones and "phones" not in getattr(self.front_end, "slices", {}):
            raise ValueError(f"p_drop_phones needs a front end with phone columns, not {self.front_end.id!r}")
        self.records = [r for r in scan(root, weights) if split is None or r.split == split]
        self.styles = tuple(styles)   # the model's style names; empty = items carry no style
        self.bad: set[str] = set()
        self._cache: dict[str, dict[str, Any]] = {}
        self._cache_clips = cache_clips
        # Training may start before the recogniser has run over the whole corpus: then only
        # clips whose recogniser output is already cached use it; the rest use perturbed truth.
        self.recog_cached_only = recog_cached_only
        self._epoch = 0
        if split == "train":   # a clip gives as many random windows as it holds, times its folder's weight
            self.index = [(i, -1) for i, r in enumerate(self.records)
                          for _ in range(max(1, round(r.weight * r.num_frames(self.fps) / self.window)))]
        else:  # deterministic tiling
            self.index = []
            for i, r in enumerate(self.records):
                n = r.num_frames(self.fps)
                starts = list(range(0, max(1, n - self.window + 1), self.window))
                if n > self.window and starts[-1] + self.window < n:
                    starts.append(n - self.window)
                self.index += [(i, s) for s in starts]

    def __len__(self) -> int:
        return len(self.index)

    @property
    def teaches_phone_free(self) -> bool:
        """Whether some samples come without phone columns (dropped, or speech in another
        language): a model trained on them may run with ``language`` set to any language."""
        return "phones" in getattr(self.front_end, "slices", {}) and (
            self.p_drop_phones > 0 or any(not recogniser_understands(r.language) for r in self.records))

    @property
    def found_styles(self) -> tuple[str, ...]:
        """The style names of this split's clips, sorted (what a model with style tokens is given)."""
        return tuple(sorted({r.style for r in self.records}))

    def set_epoch(self, epoch: int) -> None:
        """Changes the random crops / phone choices (like DistributedSampler.set_epoch)."""
        self._epoch = epoch

    # -- loading ---------------------------------------------------------------------------------
    def _load(self, rec: ClipRecord) -> dict[str, Any]:
        if rec.id in self._cache:
            return self._cache[rec.id]
        audio = load_audio_16k(rec.wav)
        curves = load_curves(rec, self.fps)
        n = curves.shape[0]
        meta = rec.meta or {}
        if meta.get("emotion") is not None:
            emo = emotion_index(meta["emotion"])
            inten = float(meta.get("intensity", 0.5))
        else:
            emo, inten = emotion_index("neutral"), 0.5
        if "events" in meta:
            controls = [FineControl(e["action"], float(e["start_s"]), float(e["end_s"]), float(e.get("intensity", 1.0)))
                        for e in meta["events"]]
            fine = rasterize_fine(controls, n, self.fps)
        else:
            fine = None  # Algorithm 1 per item (it is random with a seed)
        item = {"audio": audio, "curves": curves, "emotion": emo, "intensity": inten, "fine": fine,
                "phones": true_phones(rec)}
        if self._cache_clips:
            self._cache[rec.id] = item
        return item

    def _features(self, rec: ClipRecord, clip: dict, rng: np.random.Generator) -> np.ndarray:
        n = clip["curves"].shape[0]
        fe = self.front_end
        if not fe.uses_phones:   # acoustic features only: no recogniser, no phones
            return np.asarray(fe.features(clip["audio"], n, self.fps), np.float32)
        if not recogniser_understands(rec.language):   # the English recogniser's phones would be noise
            key = ("phone_free", fe.id)
            if key not in clip:
                clip[key] = phone_free_features(fe, clip["audio"], n, self.fps)
            return clip[key]
        phones = clip["phones"]
        use_recog = phones is None or rng.random() < self.p_recog
        if use_recog and phones is not None and self.recog_cached_only and ("feat", fe.id) not in clip \
                and not rec.wav.with_name(f"{rec.id}.recog.json").exists():
            use_recog = False
        if use_recog:
            key = ("feat", fe.id)
            if key not in clip:
                recog = recognised_phones(rec, fe, clip["audio"])
                clip[key] = np.asarray(fe.features(clip["audio"], n, self.fps, phones=recog or None), np.float32)
            return clip[key]
        phones = perturb_phones(phones, rng)
        return np.asarray(fe.features(clip["audio"], n, self.fps, phones=phones), np.float32)

    def _item(self, k: int) -> dict[str, Any]:
        ci, start = self.index[k]
        rec = self.records[ci]
        if rec.id in self.bad:
            raise BadClip(f"{rec.wav}: known bad")
        rng = np.random.default_rng([self.seed, self._epoch, k])
        clip = self._load(rec)
        n = clip["curves"].shape[0]
        feats = self._features(rec, clip, rng)
        if self.p_drop_phones and rng.random() < self.p_drop_phones:   # learn to do without them
            feats = drop_phone_columns(self.front_end, feats)
        if feats.shape[0] != n:
            raise BadClip(f"{rec.wav}: front end returned {feats.shape[0]} frames, expected {n}")
        if start < 0:
            start = int(rng.integers(0, max(1, n - self.window + 1)))
        end = min(n, start + self.window)
        fine = clip["fine"]
        if fine is None and not self.fine_labels:
            fine = np.zeros((n, NUM_ACTIONS), np.float32)
        elif fine is None:
            seed = None if self.fine_label_seed is None else int(rng.integers(2**31)) + self.fine_label_seed
            labels = binarize(clip["curves"], self.fps, seed=seed)
            fine = rasterize_fine(labels_to_controls(labels, clip["curves"], self.fps), n, self.fps)
        t = end - start
        pad = self.window - t
        x0 = np.zeros((self.window, rig.NUM_CHANNELS), np.float32)
        x0[:t] = clip["curves"][start:end]
        audio = np.zeros((self.window, feats.shape[1]), np.float32)
        audio[:t] = feats[start:end]
        if pad:
            audio[t:] = feats.min(axis=0, keepdims=True)  # padding = the quietest frame
        fine_w = np.zeros((self.window, fine.shape[1]), np.float32)
        fine_w[:t] = fine[start:end]
        mask = np.zeros(self.window, np.float32)
        mask[:t] = 1
        item = {
            "x0": torch.from_numpy(x0), "audio": torch.from_numpy(audio),
            "emotion": torch.full((self.window,), clip["emotion"], dtype=torch.int64),
            "intensity": torch.full((self.window,), clip["intensity"], dtype=torch.float32),
            "fine": torch.from_numpy(fine_w), "mask": torch.from_numpy(mask),
            "channel_mask": torch.from_numpy(channel_mask(rec)), "id": rec.id,
        }
        if self.styles:
            if rec.style not in self.styles:
                raise ValueError(f"{rec.wav}: style {rec.style!r} is not one of the model's {list(self.styles)}")
            item["style"] = torch.tensor(self.styles.index(rec.style), dtype=torch.int64)
        return item

    def __getitem__(self, k: int) -> dict[str, Any]:
        """Item ``k``; a bad clip is reported once by name and replaced by the next good one."""
        for step in range(len(self.index)):
            kk = (k + step) % len(self.index)
            try:
                return self._item(kk)
            except BadClip as exc:
                rec = self.records[self.index[kk][0]]
                if rec.id not in self.bad:
                    log.warning("%s; skipped", exc)
                    self.bad.add(rec.id)
        raise RuntimeError("every clip in this dataset is bad (see the warnings above)")


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack tensors; ``id`` becomes a list of strings."""
    return default_collate(items)
