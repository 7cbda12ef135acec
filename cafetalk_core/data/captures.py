"""Real face captures: Live Link Face CSV takes (with or without audio), and the NeuroSync set.

Why: everything above the mouth in the product was made by rules until issue 24; real captures
are what blinks, gaze, head motion, expressions and the actions' co-activations are fitted to.

- :func:`read_capture` reads one Live Link Face CSV with the core reader (``rig.read_live_link_csv``)
  at its own rate (60 fps for the iPhone); weights slightly above 1 (the iPhone's solver
  overshoots) are clamped into [0, 1] and counted there.
- :func:`load_capture_folder` reads a user folder of ``name.csv`` (+ optional ``name.wav``).
- :func:`build_neurosync` converts the AnimaVR/NeuroSync_Player snapshot's
  ``livelink/animations/<Emotion>/*.csv`` into ``datasets/neurosync/``: one CSV per *distinct*
  take, byte for byte the source (several emotion folders hold byte-identical files; the labels of such a take are all of
  its folders, and the data card says which labels are therefore ambiguous), and
  ``dataset.json`` with provenance (repository, path(s), commit, sha256), labels, clamping
  counts and the split by take. Rebuild: ``python -m cafetalk_core.data.captures``.
- :func:`load_neurosync` reads the converted set back, by split.

Splits (by take, never by frame): every label group with at least 3 takes holds its last take
(by name) out as ``val``; the rest is ``train``. With 10 takes there is no separate test split:
the held-out takes are the only unseen ones, so figures on them are validation figures
(docs/data_sources.md).
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from .. import rig
from ..curves import BlendshapeCurves
from .snapshot import git

REPO = "AnimaVR/NeuroSync_Player"
SNAPSHOT = Path("/work/.mirror/AnimaVR+NeuroSync_Player/repo")
ANIMATIONS = "livelink/animations"
DATASET_DIR = Path(__file__).resolve().parents[2] / "datasets" / "neurosync"
#: Folder name in the NeuroSync repository -> the product's emotion label (controls/coarse.py).
FOLDER_EMOTION = {"Angry": "angry", "Disgusted": "disgust", "Fearful": "fear", "Happy": "happy",
                  "Neutral": "neutral", "Sad": "sad", "Surprised": "surprise", "default_anim": "default"}
MIN_TAKES_FOR_HELDOUT = 3
LICENSE = ("NeuroSync Player dual licence: MIT for individuals and businesses under $1M yearly revenue; "
           "a commercial licence from the authors above that (LICENCE in the repository)")


@dataclass
class CaptureTake:
    """One real take: curves at the capture's own rate (with head/eye rotations), optional audio."""

    name: str
    curves: BlendshapeCurves
    clamped: int = 0                          # weights outside [0, 1] clamped on reading
    audio: Path | None = None
    labels: tuple[str, ...] = ()
    split: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def fps(self) -> float:
        return self.curves.fps

    @property
    def values(self) -> np.ndarray:
        return self.curves.values


def read_capture(path: str | Path, fps: float | None = None) -> CaptureTake:
    """One Live Link Face CSV (the core reader clamps weights slightly outside [0, 1] and counts them);
    ``name.wav`` beside it is its audio."""
    path = Path(path)
    take = rig.read_live_link_csv(path, fps=fps)
    wav = path.with_suffix(".wav")
    return CaptureTake(path.stem, BlendshapeCurves.from_live_link(take), take.clamped, wav if wav.is_file() else None)


def load_capture_folder(folder: str | Path) -> list[CaptureTake]:
    """Every ``*.csv`` in ``folder`` (sorted), each with its ``.wav`` when there is one."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"capture folder {str(folder)!r} does not exist")
    takes = [read_capture(p) for p in sorted(folder.glob("*.csv"))]
    if not takes:
        raise FileNotFoundError(f"capture folder {str(folder)!r} holds no .csv take")
    return takes


def load_neurosync(split: str | Sequence[str] | None = None, root: str | Path = DATASET_DIR) -> list[CaptureTake]:
    """The converted NeuroSync takes of ``split`` ("train", "val", a list, or None for all)."""
    root = Path(root)
    card = root / "dataset.json"
    if not card.is_file():
        raise FileNotFoundError(f"{card} is missing: run python -m cafetalk_core.data.captures")
    meta = json.loads(card.read_text())
    want = None if split is None else ({split} if isinstance(split, str) else set(split))
    known = {t["split"] for t in meta["takes"]}
    if want is not None and not want <= known:
        raise ValueError(f"split must be among {sorted(known)}, got {sorted(want)}")
    out = []
    for t in meta["takes"]:
        if want is not None and t["split"] not in want:
            continue
        take = read_capture(root / t["file"], fps=meta["fps"])
        take.labels, take.split, take.meta = tuple(t["labels"]), t["split"], t
        out.append(take)
    return out


# -- the converter ----------------------------------------------------------------------------
def snapshot_files(snapshot: Path = SNAPSHOT) -> tuple[str, list[tuple[str, str]]]:
    """(commit, [(path, blob id)]) of every CSV under livelink/animations at the snapshot's HEAD."""
    commit = git(snapshot, "rev-parse", "HEAD").decode().strip()
    files = []
    for line in git(snapshot, "ls-tree", "-r", "HEAD", ANIMATIONS).decode().splitlines():
        meta, path = line.split("\t", 1)
        if path.endswith(".csv"):
            files.append((path, meta.split()[2]))
    if not files:
        raise FileNotFoundError(f"{snapshot}: no CSV under {ANIMATIONS} at HEAD")
    return commit, sorted(files)


def _take_id(paths: list[str]) -> str:
    stems = sorted(Path(p).stem for p in paths)
    slate = [s for s in stems if s.lower().startswith("myslate")]
    stem = slate[0] if slate else stems[0]
    return stem.lower().replace("_iphone_cal", "")


def assign_splits(groups: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """take id -> "train" | "val": each label group with >= MIN_TAKES_FOR_HELDOUT takes holds its last out."""
    by_labels: dict[tuple[str, ...], list[str]] = {}
    for take, labels in groups.items():
        by_labels.setdefault(labels, []).append(take)
    out = {}
    for members in by_labels.values():
        members = sorted(members)
        for k, take in enumerate(members):
            out[take] = "val" if len(members) >= MIN_TAKES_FOR_HELDOUT and k == len(members) - 1 else "train"
    return out


def build_neurosync(snapshot: str | Path = SNAPSHOT, out_dir: str | Path = DATASET_DIR) -> dict:
    """Convert the snapshot's captures into ``out_dir`` (takes/*.csv + dataset.json); returns the card."""
    snapshot, out_dir = Path(snapshot), Path(out_dir)
    commit, files = snapshot_files(snapshot)
    by_blob: dict[str, list[str]] = {}
    for path, blob in files:
        by_blob.setdefault(blob, []).append(path)
    (out_dir / "takes").mkdir(parents=True, exist_ok=True)
    records, labels = [], {}
    for blob, paths in by_blob.items():
        raw = git(snapshot, "cat-file", "blob", blob)
        take = _take_id(paths)
        folders = sorted({Path(p).parent.name for p in paths})
        unknown = [f for f in folders if f not in FOLDER_EMOTION]
        if unknown:
            raise ValueError(f"{paths}: emotion folder(s) {unknown} not in FOLDER_EMOTION")
        labs = tuple(sorted({FOLDER_EMOTION[f] for f in folders} - {"default"}))
        dest = out_dir / "takes" / f"{take}.csv"
        dest.write_bytes(raw)                                # the source, byte for byte
        read = rig.read_live_link_csv(dest)                  # clamps weights slightly above 1 and counts them
        curves, clamped = BlendshapeCurves.from_live_link(read), read.clamped
        labels[take] = labs
        records.append({"id": take, "file": f"takes/{take}.csv", "labels": list(labs),
                        "ambiguous_label": len(labs) > 1, "source_paths": sorted(paths),
                        "source_sha256": hashlib.sha256(raw).hexdigest(), "git_blob": blob,
                        "frames": curves.num_frames, "seconds": round(curves.duration_s, 3),
                        "clamped_weights": clamped,
                        "max_raw_weight": _max_weight(raw.decode("utf-8-sig"))})
    splits = assign_splits(labels)
    for r in records:
        r["split"] = splits[r["id"]]
    records.sort(key=lambda r: r["id"])
    card = {"name": "neurosync-livelink", "repository": f"https://github.com/{REPO}", "commit": commit,
            "source_folder": ANIMATIONS, "license": LICENSE, "fps": 60.0, "format": "Live Link Face CSV",
            "audio": False, "converter": "python -m cafetalk_core.data.captures",
            "split_rule": f"by take; each label group with >= {MIN_TAKES_FOR_HELDOUT} takes holds its last take "
                          "out as val; no test split (too few takes)",
            "source_files": len(files), "distinct_takes": len(records), "takes": records}
    (out_dir / "dataset.json").write_text(json.dumps(card, indent=2) + "\n")
    return card


def _max_weight(text: str) -> float:
    rows = list(csv.reader(io.StringIO(text)))
    names = {n.lower() for n in rig.ARKIT_NAMES}
    cols = [i for i, h in enumerate(rows[0]) if h.strip().lower() in names]
    return round(float(np.max(np.array([[float(r[i]) for i in cols] for r in rows[1:]]))), 6)


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(description="convert the NeuroSync_Player Live Link captures into datasets/neurosync")
    p.add_argument("--snapshot", default=str(SNAPSHOT), help="bare git dir of AnimaVR/NeuroSync_Player")
    p.add_argument("--out", default=str(DATASET_DIR))
    a = p.parse_args(argv)
    card = build_neurosync(a.snapshot, a.out)
    for t in card["takes"]:
        print(f"{t['id']:14s} {t['split']:5s} {','.join(t['labels']):22s} {t['seconds']:6.1f} s "
              f"clamped {t['clamped_weights']} (max {t['max_raw_weight']})")
    print(f"{card['distinct_takes']} distinct takes from {card['source_files']} files -> {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
