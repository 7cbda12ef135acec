"""FACEGOOD-Audio2Face takes -> cafetalk take files (``<take>.flac`` + Live Link CSV + ``dataset.json``).

Source: the public repository FACEGOOD/FACEGOOD-Audio2Face (MIT; docs/data_sources.md has the card):
``code/train/wav/1114_<take>.wav`` (16 kHz speech, one speaker, Mandarin) and
``code/train/bs_value/bs_value_1114_<take>.npy`` (frames x 116 weights of their rig at 30 fps, solved
by an animator from video of the performance). Their ARKit mapping
(``doc/Voice2Face_blendshape2ARkit.xlsx``, rows marked "valid") covers 27 mouth and jaw channels.

The column order, checked rather than trusted (``check_column_order``): the value files follow
their older rig naming (``shirley_1015_bs_name.npy``, the ``bs_name_1015_v2`` index lists of their
``step3_concat_select_split.py``), which is ``shirley_1119_bs_name.npy`` with ``tongue_Scale_X``
inserted at index 1, so value column c carries the 1119 name at c - 1. Read that way the 8 pairs of
identical columns are left/right twins and ``mouth_stretch_c`` (their jawOpen) follows loudness
best; read with the 1119 names the twins straddle unrelated names. The converter refuses a snapshot
where either check fails.

Usage (the snapshot is a bare git directory, as the ``fetch`` tool leaves it, or a plain checkout)::

    python -m cafetalk_core.data.facegood --snapshot /work/.mirror/FACEGOOD+FACEGOOD-Audio2Face/repo \\
        --out datasets/facegood
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf

from .. import rig
from .snapshot import SnapshotError, head_commit, read_file

REPOSITORY = "FACEGOOD/FACEGOOD-Audio2Face"
FPS = 30.0
SAMPLE_RATE = 16000

#: Takes with both speech and curves in the snapshot (1114_1_* are over the snapshot's 4 MiB limit).
#: Split by take: validation and test takes are never trained on.
SPLITS: dict[str, tuple[str, ...]] = {
    "train": ("1114_2_01", "1114_2_02", "1114_2_03", "1114_2_04", "1114_3_15"),
    "val": ("1114_2_05",),
    "test": ("1114_3_16",),
}

#: FACEGOOD's own ARKit mapping (doc/Voice2Face_blendshape2ARkit.xlsx, the 27 rows marked "valid"):
#: ARKit channel <- the max over these rig channels.
ARKIT_MAPPING: dict[str, tuple[str, ...]] = {
    "jawForward": ("jaw_thrust_c",),
    "jawLeft": ("jaw_sideways_l",),
    "jawRight": ("jaw_sideways_r",),
    "jawOpen": ("mouth_stretch_c",),
    "mouthClose": ("mouth_chew_c",),
    "mouthFunnel": ("mouth_funnel_dl", "mouth_funnel_dr", "mouth_funnel_ul", "mouth_funnel_ur"),
    "mouthPucker": ("mouth_pucker_l", "mouth_pucker_r"),
    "mouthLeft": ("mouth_sideways_l",),
    "mouthRight": ("mouth_sideways_r",),
    "mouthSmileLeft": ("mouth_lipCornerPull_l",),
    "mouthSmileRight": ("mouth_lipCornerPull_r",),
    "mouthFrownLeft": ("mouth_lipCornerDepress_l", "mouth_lipCornerDepressFix_l"),
    "mouthFrownRight": ("mouth_lipCornerDepress_r", "mouth_lipCornerDepressFix_r"),
    "mouthDimpleLeft": ("mouth_dimple_l",),
    "mouthDimpleRight": ("mouth_dimple_r",),
    "mouthStretchLeft": ("mouth_lipStretch_l",),
    "mouthStretchRight": ("mouth_lipStretch_r",),
    "mouthRollLower": ("mouth_suck_dl", "mouth_suck_dr"),
    "mouthRollUpper": ("mouth_suck_ul", "mouth_suck_ur"),
    "mouthShrugLower": ("mouth_chinRaise_d",),
    "mouthShrugUpper": ("mouth_chinRaise_u",),
    "mouthPressLeft": ("mouth_press_l",),
    "mouthPressRight": ("mouth_press_r",),
    "mouthLowerDownLeft": ("mouth_lowerLipDepress_l",),
    "mouthLowerDownRight": ("mouth_lowerLipDepress_r",),
    "mouthUpperUpLeft": ("mouth_upperLipRaise_l",),
    "mouthUpperUpRight": ("mouth_upperLipRaise_r",),
}

NAMES_FILE = "code/train/shirley_1119_bs_name.npy"
OLD_NAMES_FILE = "code/train/shirley_1015_bs_name.npy"


class FacegoodError(ValueError):
    """A snapshot that does not look as the converter expects; the message says what and where."""


def _load_npy(data: bytes) -> np.ndarray:
    """Their .npy files were written by Python 2 (latin-1 pickles of name arrays)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return np.load(io.BytesIO(data), allow_pickle=True, encoding="latin1")


def value_column_names(names_1119: list[str], names_1015: list[str]) -> list[str]:
    """The rig name of each value column: the 1015 list (their training code's ``bs_name_1015_v2``).

    It is the 1119 list with ``tongue_Scale_X`` inserted at index 1 (so column c carries the 1119 name
    at c - 1), apart from a few swapped brow, cheek and eye names that never move in these takes;
    every name the ARKit mapping reads agrees between the two readings, which is checked here.
    """
    if sorted(names_1015) != sorted(names_1119) or names_1015[1] != "tongue_Scale_X":
        raise FacegoodError("the 1015 name list is not the 1119 list with tongue_Scale_X at index 1")
    for sources in ARKIT_MAPPING.values():
        for name in sources:
            c = names_1015.index(name)
            if names_1119[c - 1] != name:
                raise FacegoodError(f"{name}: column {c} in the 1015 list but {names_1119[c - 1]} in the 1119 list at c - 1")
    return list(names_1015)


def check_column_order(values: np.ndarray, names: list[str], wav: np.ndarray) -> dict[str, float]:
    """Evidence that ``names`` label the value columns: left/right twins and the jaw following loudness.

    Raises :class:`FacegoodError` when a pair of identical moving columns does not carry a left/right
    pair of names, or when ``mouth_stretch_c`` is not the column that follows log loudness best.
    """
    moving = [c for c in range(values.shape[1]) if values[:, c].std() > 1e-4]
    for i in moving:   # twins: identical columns that really move (a few barely-moving ones coincide)
        for j in moving:
            if i < j and min(values[:, i].std(), values[:, j].std()) > 0.005 and np.array_equal(values[:, i], values[:, j]):
                if names[i][:-1] != names[j][:-1]:
                    raise FacegoodError(f"identical columns {i} ({names[i]}) and {j} ({names[j]}) are not twins")
    hop = SAMPLE_RATE / FPS
    n = min(values.shape[0], int(len(wav) / hop))
    loud = np.log(np.array([np.sqrt(np.mean(wav[int(i * hop):int((i + 1) * hop)] ** 2)) for i in range(n)]) + 1e-4)
    corr = {names[c]: float(np.corrcoef(loud, values[:n, c])[0, 1]) for c in moving}
    best = max(corr, key=corr.get)
    if best != "mouth_stretch_c":
        raise FacegoodError(f"the column following loudness best is {best} (r {corr[best]:.2f}), not mouth_stretch_c")
    return corr


def to_arkit(values: np.ndarray, names: list[str]) -> np.ndarray:
    """(frames, 116) rig weights -> (frames, 52) ARKit weights; unmapped channels stay 0."""
    col = {n: i for i, n in enumerate(names)}
    out = np.zeros((values.shape[0], rig.NUM_CHANNELS), np.float32)
    for arkit, sources in ARKIT_MAPPING.items():
        out[:, rig.channel_index(arkit)] = values[:, [col[s] for s in sources]].max(axis=1)
    return np.clip(out, 0.0, 1.0)


def convert(snapshot: Path, out: Path) -> dict:
    """Write every take of :data:`SPLITS` to ``out`` and the ``dataset.json`` card; returns the card."""
    names_1119 = [str(n) for n in _load_npy(read_file(snapshot, NAMES_FILE))]
    names = value_column_names(names_1119, [str(n) for n in _load_npy(read_file(snapshot, OLD_NAMES_FILE))])
    out.mkdir(parents=True, exist_ok=True)
    takes, sources, evidence = {}, {}, {}
    for split, ids in SPLITS.items():
        for take in ids:
            wav_rel, npy_rel = f"code/train/wav/{take}.wav", f"code/train/bs_value/bs_value_{take}.npy"
            wav_bytes, npy_bytes = read_file(snapshot, wav_rel), read_file(snapshot, npy_rel)
            wav, sr = sf.read(io.BytesIO(wav_bytes), dtype="float32", always_2d=True)
            if sr != SAMPLE_RATE:
                raise FacegoodError(f"{wav_rel}: {sr} Hz, expected {SAMPLE_RATE}")
            wav = wav.mean(axis=1)
            values = _load_npy(npy_bytes).astype(np.float64)
            if values.ndim != 2 or values.shape[1] != len(names):
                raise FacegoodError(f"{npy_rel}: shape {values.shape}, expected (frames, {len(names)})")
            if abs(values.shape[0] / FPS - len(wav) / sr) > 0.2:
                raise FacegoodError(f"{take}: curves {values.shape[0] / FPS:.2f} s vs speech {len(wav) / sr:.2f} s")
            evidence[take] = round(check_column_order(values, names, wav)["mouth_stretch_c"], 3)
            weights = to_arkit(values, names)
            sf.write(out / f"{take}.flac", wav, sr, subtype="PCM_16")
            rig.write_live_link_csv(out / f"{take}.csv", weights, FPS)
            takes[take] = {"split": split, "seconds": round(len(wav) / sr, 3), "frames": int(values.shape[0])}
            sources[take] = {"wav": wav_rel, "wav_sha256": hashlib.sha256(wav_bytes).hexdigest(),
                             "values": npy_rel, "values_sha256": hashlib.sha256(npy_bytes).hexdigest()}
    card = {
        "name": "facegood-1114",
        "source": {"repository": REPOSITORY, "commit": head_commit(snapshot), "files": sources,
                   "names": OLD_NAMES_FILE, "mapping": "doc/Voice2Face_blendshape2ARkit.xlsx"},
        "licence": "MIT (FACEGOOD-Audio2Face); their README excludes their test part and UE project from "
                   "commercial use, neither of which is used here",
        "speaker": "one speaker, Mandarin; face solved by an animator from video of the performance",
        "language": "zh",   # not the recogniser's: training drops these takes' phone columns
        "fps": FPS,
        "supervised_channels": sorted(ARKIT_MAPPING, key=rig.channel_index),
        "mapping": {k: list(v) for k, v in ARKIT_MAPPING.items()},
        "loudness_corr_mouth_stretch_c": evidence,
        "splits": {split: list(ids) for split, ids in SPLITS.items()},
        "takes": takes,
        "converter": "python -m cafetalk_core.data.facegood --snapshot DIR --out datasets/facegood",
    }
    (out / "dataset.json").write_text(json.dumps(card, indent=2) + "\n")
    return card


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m cafetalk_core.data.facegood", description=__doc__.splitlines()[0])
    p.add_argument("--snapshot", required=True, type=Path, help="the repository: a bare git dir or a checkout")
    p.add_argument("--out", required=True, type=Path, help="output folder (datasets/facegood)")
    args = p.parse_args(argv)
    try:
        card = convert(args.snapshot, args.out)
    except (FacegoodError, SnapshotError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    total = sum(t["seconds"] for t in card["takes"].values())
    print(f"wrote {len(card['takes'])} takes ({total / 60:.1f} min) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
