"""What a data folder holds: its clips as records (audio, curves, sidecar), its card, splits and styles.

Why apart from ``dataset.py``: scanning a folder is what training, the closure and head trainers,
the recogniser cache and the evaluations all share, without the torch Dataset around it.

- A folder's ``dataset.json`` card (``read_dataset_card``): provenance, ``splits`` by take,
  ``supervised_channels``, ``fps``, ``language``, and optionally ``style``.
- Split: the clip's sidecar ``split`` (synth clips); else the card's ``splits``; else a stable hash
  of the file name (70/15/15, ``split_of_name``).
- Style (``style_of``): a carded folder's ``style`` or ``name``; a ``synth-data`` clip (its sidecar
  has phones) ``synthetic``; any other capture its folder's name. A model with per-source style
  tokens (``model/config.py``) learns one per style name.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from .. import rig
from ..audio import recogniser_understands

log = logging.getLogger(__name__)


def split_of_name(name: str) -> str:
    """70/15/15 split of a user file by a stable hash of its name."""
    h = int(hashlib.sha1(name.encode("utf-8")).hexdigest()[:8], 16) / 2**32
    return "train" if h < 0.7 else "val" if h < 0.85 else "test"


AUDIO_SUFFIXES = (".wav", ".flac")
SYNTHETIC_STYLE = "synthetic"   # the style name of ``cafetalk synth-data`` clips
DATASET_CARD = "dataset.json"   # a folder's card: provenance, splits by take, supervised channels


@dataclass
class ClipRecord:
    id: str
    wav: Path
    csv: Path
    meta: dict | None
    split: str
    duration_s: float
    channels: tuple[str, ...] | None = None   # supervised ARKit channels; None = all 52
    weight: float = 1.0                       # the folder's sampling weight
    language: str | None = None               # the speech's language (card or sidecar); None = English
    style: str = SYNTHETIC_STYLE              # the source's style name (module docstring)

    def num_frames(self, fps: float) -> int:
        return max(1, int(round(self.duration_s * fps)))


class BadClip(ValueError):
    """A clip that cannot be used; the message names the file."""


def read_dataset_card(root: Path) -> dict:
    """A folder's ``dataset.json`` (empty when there is none); bad splits or channel names raise."""
    path = root / DATASET_CARD
    if not path.is_file():
        return {}
    try:
        card = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not JSON ({exc})") from None
    for name in card.get("supervised_channels") or []:
        if name not in rig.ARKIT_NAMES:
            raise ValueError(f"{path}: supervised_channels: {name!r} is not an ARKit channel")
    for split, takes in (card.get("splits") or {}).items():
        if split not in ("train", "val", "test"):
            raise ValueError(f"{path}: splits: {split!r} is not train, val or test")
    return card


def scan(roots: str | Path | list[str | Path], weights: list[float] | None = None) -> list[ClipRecord]:
    """Every usable-looking ``<name>.wav|.flac`` + ``<name>.csv`` pair under the roots (not recursive)."""
    roots = [roots] if isinstance(roots, (str, Path)) else list(roots)
    weights = [1.0] * len(roots) if weights is None else list(weights)
    if len(weights) != len(roots):
        raise ValueError(f"{len(weights)} data weights for {len(roots)} data folders")
    out: list[ClipRecord] = []
    for root, weight in zip(map(Path, roots), weights):
        if not root.is_dir():
            raise FileNotFoundError(f"data folder {root} does not exist")
        card = read_dataset_card(root)
        split_of_take = {t: split for split, takes in (card.get("splits") or {}).items() for t in takes}
        channels = tuple(card["supervised_channels"]) if card.get("supervised_channels") else None
        audio_files = sorted(p for p in root.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)
        for wav in audio_files:
            csv_path = wav.with_suffix(".csv")
            if not csv_path.exists():
                log.warning("%s: no matching %s; skipped", wav, csv_path.name)
                continue
            meta = None
            meta_path = wav.with_suffix(".json")
            if meta_path.exists():
                try:
                    meta = json.loads(meta_path.read_text())
                except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                    log.warning("%s: unreadable JSON (%s); using it as a plain capture", meta_path, exc)
            if meta is None and card.get("fps"):
                meta = {"fps": card["fps"]}
            try:
                info = sf.info(str(wav))
                duration = info.frames / info.samplerate
            except Exception as exc:
                log.warning("%s: unreadable audio (%s); skipped", wav, exc)
                continue
            if duration <= 0:
                log.warning("%s: empty audio; skipped", wav)
                continue
            split = (meta or {}).get("split") or split_of_take.get(wav.stem) or split_of_name(wav.stem)
            language = (meta or {}).get("language") or card.get("language")
            recogniser_understands(language)   # a bad tag fails here, naming nothing worse than the tag
            out.append(ClipRecord(wav.stem, wav, csv_path, meta, split, duration, channels, float(weight),
                                  language, style_of(root, card, meta)))
    return out


def style_of(root: Path, card: dict, meta: dict | None) -> str:
    """A clip's style name (the module docstring's rule)."""
    if card:
        return str(card.get("style") or card.get("name") or root.name)
    return SYNTHETIC_STYLE if meta and "phones" in meta else root.name


def channel_mask(rec: ClipRecord) -> np.ndarray:
    """(52,) 1 on the channels this clip's truth really animates."""
    if rec.channels is None:
        return np.ones(rig.NUM_CHANNELS, np.float32)
    mask = np.zeros(rig.NUM_CHANNELS, np.float32)
    mask[rig.indices(rec.channels)] = 1.0
    return mask
