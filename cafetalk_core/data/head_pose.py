"""Real head motion of a speaker: the AD-NeRF Obama head track (issue 24).

Why: the NeuroSync iPhone takes hold no head motion (every head column is 0), so the head stage
had no real reference. This track is the head rotation of a real speaker over 320 s of a
monologue (a US presidential weekly address), fitted per frame to the video by AD-NeRF's
face tracker (a 3DMM fit, 25 fps): *tracked from video, not motion-captured*, one speaker, a
formal address to camera. It judges and fits the head's spread and speed per axis; it is too
narrow to learn head motion from.

- :func:`build_head_pose` converts ``dataset/Obama/track_params.pt`` of the
  starc52/Improved-ADNeRF snapshot (AD-NeRF's preprocessing output; the same file AD-NeRF's own
  pipeline writes) into ``datasets/head_pose/obama_adnerf/``: ``head_pose.csv`` (frame, yaw,
  pitch, roll in degrees) and ``dataset.json`` (provenance, sha256, licence, splits). Rebuild:
  ``python -m cafetalk_core.data.head_pose``.
- Angles: AD-NeRF's ``euler`` is (x, y, z) radians with R = Rx Ry Rz about the camera's axes,
  x = pitch, y = yaw, z = roll. Some frames are stored in the equivalent form (pi + x, pi - y,
  pi + z); :func:`canonical_euler` picks the form with |yaw| <= 90 deg, so the track has no
  360-degree jumps. Signs follow the camera axes, not Live Link's; the statistics used here
  (spread, |angular speed|) do not depend on sign.
- Splits by time, never shuffled: the first 70% ``train`` (fits), the next 15% ``val``, the last
  15% ``test`` (the README's reference).
"""
from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .snapshot import git

REPO = "starc52/Improved-ADNeRF"
SNAPSHOT = Path("/work/.mirror/starc52+Improved-ADNeRF/repo")
SOURCE = "dataset/Obama/track_params.pt"
DATASET_DIR = Path(__file__).resolve().parents[2] / "datasets" / "head_pose" / "obama_adnerf"
FPS = 25.0
SPLITS = {"train": (0.0, 0.70), "val": (0.70, 0.85), "test": (0.85, 1.0)}
LICENSE = ("repository: MIT (Copyright (c) 2021 YudongGuo, the AD-NeRF authors; the fork keeps it); the track "
           "is derived from a US presidential weekly address video, a work of the US federal government "
           "(public domain in the US, 17 U.S.C. 105); no separate data licence is stated")


@dataclass
class HeadTrack:
    """Head rotation of one real take: ``rotations`` (frames, 3) radians as yaw, pitch, roll."""

    name: str
    rotations: np.ndarray
    fps: float


def canonical_euler(euler: np.ndarray) -> np.ndarray:
    """(frames, 3) AD-NeRF (x, y, z) radians -> the equivalent angles with |y| <= pi/2, each in (-pi, pi]."""
    e = np.asarray(euler, np.float64)
    wrap = lambda a: (a + np.pi) % (2 * np.pi) - np.pi  # noqa: E731
    first = wrap(e)
    alt = wrap(np.stack([e[:, 0] + np.pi, np.pi - e[:, 1], e[:, 2] + np.pi], axis=1))
    return np.where((np.abs(first[:, 1]) <= np.pi / 2)[:, None], first, alt)


def read_track_params(raw: bytes) -> np.ndarray:
    """(frames, 3) canonical (x, y, z) radians from the bytes of an AD-NeRF ``track_params.pt``."""
    import torch

    params = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    return canonical_euler(params["euler"].double().numpy())


def build_head_pose(snapshot: str | Path = SNAPSHOT, out_dir: str | Path = DATASET_DIR) -> dict:
    """Convert the snapshot's track into ``out_dir`` (head_pose.csv + dataset.json); returns the card."""
    snapshot, out_dir = Path(snapshot), Path(out_dir)
    commit = git(snapshot, "rev-parse", "HEAD").decode().strip()
    raw = git(snapshot, "show", f"HEAD:{SOURCE}")
    xyz = np.degrees(read_track_params(raw))
    ypr = xyz[:, [1, 0, 2]]                                   # yaw (y), pitch (x), roll (z)
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = ["frame,yaw_deg,pitch_deg,roll_deg"] + [f"{i},{y:.4f},{p:.4f},{r:.4f}" for i, (y, p, r) in enumerate(ypr)]
    (out_dir / "head_pose.csv").write_text("\n".join(lines) + "\n")
    n = len(ypr)
    card = {"name": "obama-adnerf-head-pose", "repository": f"https://github.com/{REPO}", "commit": commit,
            "source_file": SOURCE, "source_sha256": hashlib.sha256(raw).hexdigest(), "license": LICENSE,
            "what": "per-frame head rotation of one real speaker (weekly address monologue), fitted to the video "
                    "by AD-NeRF's 3DMM face tracker: tracked from video, not motion-captured; no audio kept",
            "fps": FPS, "frames": n, "seconds": n / FPS, "columns": ["yaw_deg", "pitch_deg", "roll_deg"],
            "axes": "camera axes (R = Rx Ry Rz; x pitch, y yaw, z roll), canonical form with |yaw| <= 90 deg",
            "converter": "python -m cafetalk_core.data.head_pose",
            "splits": {k: [int(round(a * n)), int(round(b * n))] for k, (a, b) in SPLITS.items()},
            "split_rule": "by time: first 70% train, next 15% val, last 15% test (frame ranges [start, end))"}
    (out_dir / "dataset.json").write_text(json.dumps(card, indent=2) + "\n")
    return card


def load_head_track(split: str | None = None, root: str | Path = DATASET_DIR) -> HeadTrack:
    """The converted track (all of it, or one split's frames) as radians yaw, pitch, roll."""
    root = Path(root)
    card = json.loads((root / "dataset.json").read_text())
    data = np.loadtxt(root / "head_pose.csv", delimiter=",", skiprows=1, dtype=np.float64)
    rot = np.radians(data[:, 1:4])
    if split is not None:
        if split not in card["splits"]:
            raise ValueError(f"split must be one of {sorted(card['splits'])}, got {split!r}")
        a, b = card["splits"][split]
        rot = rot[a:b]
    return HeadTrack(f"obama_adnerf:{split or 'all'}", rot, float(card["fps"]))


def cut_windows(track: HeadTrack, durations_s: Sequence[float]) -> list[np.ndarray]:
    """Consecutive windows of ``track`` whose lengths cycle through ``durations_s``, so a real track is
    measured in pieces as long as the clips it is compared with (a spread grows with the window)."""
    if not durations_s or min(durations_s) <= 0:
        raise ValueError("durations_s must be positive and not empty")
    out, start, k = [], 0, 0
    n = len(track.rotations)
    while True:
        length = int(round(durations_s[k % len(durations_s)] * track.fps))
        if start + length > n:
            return out
        out.append(track.rotations[start:start + length])
        start, k = start + length, k + 1


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(description="convert the AD-NeRF Obama head track into datasets/head_pose/obama_adnerf")
    p.add_argument("--snapshot", default=str(SNAPSHOT), help=f"bare git dir of {REPO}")
    p.add_argument("--out", default=str(DATASET_DIR))
    a = p.parse_args(argv)
    card = build_head_pose(a.snapshot, a.out)
    print(f"{card['frames']} frames ({card['seconds']:.1f} s at {card['fps']:g} fps) -> {a.out}; splits {card['splits']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
