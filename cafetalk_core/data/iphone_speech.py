"""A real iPhone capture of English speech, with its audio: the test take of ``datasets/iphone_speech``.

Why (issue 23): the FACEGOOD takes are one Mandarin speaker whose face an animator solved from
video; the product's main input is English. wolfi/NeuroSync_Trainer_Lite (a fork of AnimaVR's
trainer) keeps the trainer's own held-out pair, ``dataset/test_set/audio.wav`` + ``testset.csv``:
20 s of English speech and the Live Link Face export of the same performance (60 fps, the 52
weights, head and eye rotations). It is the only real English face with its speech the project
has found, so it is a **test take only**: nothing is trained, fitted or chosen on it (the card has
no train or val split, so ``cafetalk train`` and every tuner skip it).

Both files are copied byte for byte (their sha256 and the snapshot's commit go to the card). The
converter checks that the speech and the curves last as long as each other and records how far
the capture trails the sound (the loudness envelope against jawOpen: a capture's video frames can
lag its audio), which the capture report's best-lag column absorbs.

    python -m cafetalk_core.data.iphone_speech [--snapshot DIR] [--out datasets/iphone_speech]
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
from pathlib import Path
from typing import Sequence

import numpy as np
import soundfile as sf

from .. import rig
from ..audio.io import load_audio
from ..audio.mel import loudness
from .head_pose import HeadTrack
from .snapshot import head_commit, read_file

REPOSITORY = "wolfi/NeuroSync_Trainer_Lite"
SNAPSHOT = Path("/work/.mirror/wolfi+NeuroSync_Trainer_Lite/repo")
DATASET_DIR = Path(__file__).resolve().parents[2] / "datasets" / "iphone_speech"
TAKE = "neurosync_trainer_test"
FILES = {"wav": "dataset/test_set/audio.wav", "csv": "dataset/test_set/testset.csv"}
MAX_LENGTH_GAP_S = 0.2
LAG_SEARCH = 6   # frames either side when measuring the capture's delay behind the sound
LICENCE = ("NeuroSync Trainer Lite dual licence (LICENCE.txt): MIT for individuals and businesses under $1M "
           "yearly revenue; a commercial licence from the authors above that")


class IphoneSpeechError(ValueError):
    """The snapshot's pair is not what this converter expects (one line, naming the file)."""


def capture_delay_frames(wav16k: np.ndarray, jaw: np.ndarray, fps: float) -> tuple[int, float]:
    """(frames the capture trails the sound, the correlation there): the lag maximising the
    correlation of the loudness envelope at t with jawOpen at t + lag."""
    env = loudness(wav16k, len(jaw), fps)
    best = (0, -1.0)
    for lag in range(-LAG_SEARCH, LAG_SEARCH + 1):
        a, b = env[max(0, -lag): len(env) - max(0, lag)], jaw[max(0, lag): len(jaw) - max(0, -lag)]
        r = float(np.corrcoef(a, b)[0, 1])
        if r > best[1]:
            best = (lag, r)
    return best


def convert(snapshot: str | Path = SNAPSHOT, out: str | Path = DATASET_DIR) -> dict:
    """Copy the pair into ``out`` as ``TAKE.wav`` + ``TAKE.csv`` and write the card; returns the card."""
    out = Path(out)
    raw = {kind: read_file(snapshot, rel) for kind, rel in FILES.items()}
    info = sf.info(io.BytesIO(raw["wav"]))
    speech_s = info.frames / info.samplerate
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{TAKE}.csv").write_bytes(raw["csv"])
    take = rig.read_live_link_csv(out / f"{TAKE}.csv")
    weights = np.asarray(take.weights, np.float64)
    curves_s = len(weights) / take.fps
    if abs(curves_s - speech_s) > MAX_LENGTH_GAP_S:
        (out / f"{TAKE}.csv").unlink()
        raise IphoneSpeechError(f"{FILES['csv']}: curves last {curves_s:.2f} s but {FILES['wav']} {speech_s:.2f} s")
    (out / f"{TAKE}.wav").write_bytes(raw["wav"])
    wav = load_audio(out / f"{TAKE}.wav")
    jaw = weights[:, rig.INDEX["jawOpen"]]
    lag, r = capture_delay_frames(wav, jaw, take.fps)
    moving = [n for n in rig.ARKIT_NAMES if weights[:, rig.INDEX[n]].std() > 0.01]
    card = {
        "name": "iphone-speech-en",
        "source": {"repository": REPOSITORY, "commit": head_commit(snapshot),
                   "files": {kind: {"path": rel, "sha256": hashlib.sha256(raw[kind]).hexdigest()}
                             for kind, rel in FILES.items()}},
        "licence": LICENCE,
        "what": "a Live Link Face (iPhone) export of one English speaker's performance with the speech recorded "
                "beside it: the trainer's own held-out test pair; 52 weights and 9 rotation columns at 60 fps",
        "language": "en",
        "fps": float(take.fps),
        "supervised_channels": list(rig.ARKIT_NAMES),
        "splits": {"test": [TAKE]},
        "takes": {TAKE: {"split": "test", "seconds": round(speech_s, 3), "frames": int(len(weights)),
                         "speech_rate_hz": int(info.samplerate), "moving_channels": len(moving),
                         "mouth_close_p95": round(float(np.percentile(weights[:, rig.INDEX["mouthClose"]], 95)), 4),
                         "capture_delay_frames": lag, "loudness_jaw_corr_at_delay": round(r, 3)}},
        "use": "test only: never trained, fitted or chosen on (no train or val split)",
        "converter": "python -m cafetalk_core.data.iphone_speech",
    }
    (out / "dataset.json").write_text(json.dumps(card, indent=2) + "\n")
    return card


def load_head_track(root: str | Path = DATASET_DIR) -> HeadTrack:
    """The take's head rotation (yaw, pitch, roll radians from its Live Link columns): a second real
    head reference beside the AD-NeRF track, and the only one captured while the speech was recorded."""
    take = rig.read_live_link_csv(Path(root) / f"{TAKE}.csv")
    if take.rotations is None or not np.any(np.abs(take.rotations[:, :3]) > 1e-6):
        raise IphoneSpeechError(f"{Path(root) / f'{TAKE}.csv'}: no head rotation columns with motion")
    return HeadTrack(f"iphone_speech:{TAKE}", np.asarray(take.rotations[:, :3], np.float64), float(take.fps))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m cafetalk_core.data.iphone_speech", description=__doc__.split("\n")[0])
    p.add_argument("--snapshot", default=str(SNAPSHOT), help=f"bare git dir (or checkout) of {REPOSITORY}")
    p.add_argument("--out", default=str(DATASET_DIR))
    args = p.parse_args(argv)
    card = convert(args.snapshot, args.out)
    t = card["takes"][TAKE]
    print(f"wrote {args.out}: {TAKE}, {t['seconds']} s, {t['frames']} frames at {card['fps']:g} fps, "
          f"capture {t['capture_delay_frames']} frame(s) behind the sound")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
