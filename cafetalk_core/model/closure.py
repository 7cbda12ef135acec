"""The closure stage: where the lips must meet, heard from the audio by a small classifier.

Why (issue 16): on synthesised voices stage 1 closed only ~0.72 of the bilabials (/p b m/) of
the held-out corpus split, against 0.97 on real voices. On 24 validation clips every miss was a
bilabial the phone recogniser did not report (its bilabial posterior separates bilabial frames
from the rest with an AUC of 0.70 on the corpus validation split), so stage 1 had nothing to
close on. A classifier trained on the corpus's exact phone times hears them far better from the
same features (AUC 0.94, average precision 0.61 on the validation split, against 0.70 and 0.21),
at the cost of a few microseconds per frame: a three-layer temporal convolution over the front
end's features (phone posteriors, viseme prior, log-mel, loudness, voice activity; ~0.5 s
receptive field). Retraining stage 1 would do the same job inside the model and risk its
real-speech lip sync, which took the longest CPU run to reach.

The finish stage (motion/finish.py) opens a long sealed stretch while speaking that the
detector does not support (the model "talking through sealed lips" when unsure, which also
hides every closure in it: rule 5). Turning its probability into closures (rule 4) is opt-in
since issue 23, as it is the one rule that could shut a vowel the model left open: it runs at the
``threshold`` recorded with the detector, gated by a loudness dip of ``dip_db`` (the lips shut
only where the sound dips, never on a vowel's loud centre), both chosen on the real-speech
validation set by a score that counts false closures (``evaluation/closure_threshold.py``).
Ungated, it did not earn its place there: every threshold sealed more vowel centres than
the bilabials it added (docs/model.md, "The closure stage").

Phone-free input (issue 23): a detector trained with the phone columns zeroed on a share of its
windows (``cafetalk train-closure --p-drop-phones``) is ``phones_optional``: it also runs on the
phone-free features a model gets for speech in another language, where stage 1 alone rarely shuts
the lips (bilabial closure 0.08-0.32 on espeak-ng voices in seven languages). Rule 4 is then on
for that input only, at ``phone_free_threshold``, chosen on a validation set in other languages
(``cafetalk_core.evaluation.closure_threshold``) and recorded with the detector.

Checkpoint: the folder ``closure/`` inside a stage-1/2 checkpoint: ``model.safetensors`` +
``config.json`` naming the front end it was trained on (a mismatch is refused on load),
``phones_optional``, and per input rule 4's threshold and loudness gate: ``threshold`` and ``dip_db``
with phones, ``phone_free_threshold`` and ``phone_free_dip_db`` without (a null threshold: rule 4 stays
off for that input; a null dip: ungated).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

CLOSURE_DIR = "closure"
FORMAT = "cafetalk-closure"
FORMAT_VERSION = 1


class ClosureDetector(nn.Module):
    """(B, T, A) front-end features -> (B, T) logits that the lips are closed for a bilabial."""

    def __init__(self, audio_dim: int, width: int = 64, front_end: str = "", phones_optional: bool = False,
                 phone_free_threshold: float | None = None, threshold: float | None = None,
                 dip_db: float | None = None, phone_free_dip_db: float | None = None) -> None:
        super().__init__()
        self.audio_dim, self.width, self.front_end = int(audio_dim), int(width), str(front_end)
        self.phones_optional = bool(phones_optional)   # trained with the phone columns dropped on a share of windows
        if phone_free_threshold is not None and not (phones_optional and 0.0 < phone_free_threshold < 1.0):
            raise ValueError(f"phone_free_threshold must be in (0, 1) on a phones_optional detector, got "
                             f"{phone_free_threshold} (phones_optional={phones_optional})")
        if threshold is not None and not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1) or None, got {threshold}")
        for name, dip in (("dip_db", dip_db), ("phone_free_dip_db", phone_free_dip_db)):
            if dip is not None and not dip > 0:
                raise ValueError(f"{name} must be > 0 dB or None, got {dip}")
        self.phone_free_threshold = None if phone_free_threshold is None else float(phone_free_threshold)
        self.threshold = None if threshold is None else float(threshold)   # rule 4 on input with phones
        self.dip_db = None if dip_db is None else float(dip_db)            # its loudness gate
        self.phone_free_dip_db = None if phone_free_dip_db is None else float(phone_free_dip_db)

        self.register_buffer("feat_mean", torch.zeros(self.audio_dim))
        self.register_buffer("feat_std", torch.ones(self.audio_dim))
        self.inp = nn.Conv1d(self.audio_dim, self.width, 5, padding=2)
        self.mid = nn.Conv1d(self.width, self.width, 5, padding=4, dilation=2)
        self.top = nn.Conv1d(self.width, self.width, 3, padding=1)
        self.out = nn.Conv1d(self.width, 1, 1)

    def rule4(self, phone_free: bool) -> tuple[float | None, float | None]:
        """(threshold, dip_db) of rule 4 for this input (motion/finish.py); threshold None: rule 4 off."""
        if phone_free:
            return self.phone_free_threshold, self.phone_free_dip_db
        return self.threshold, self.dip_db

    def set_feature_stats(self, mean: np.ndarray, std: np.ndarray) -> None:
        self.feat_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.feat_std.copy_(torch.as_tensor(std, dtype=torch.float32).clamp_min(1e-3))

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        h = ((feats - self.feat_mean) / self.feat_std).transpose(1, 2)
        h = F.gelu(self.inp(h))
        h = h + F.gelu(self.mid(h))
        h = h + F.gelu(self.top(h))
        return self.out(h)[:, 0]

    @torch.inference_mode()
    def probability(self, feats: np.ndarray) -> np.ndarray:
        """(frames, A) features of one clip -> (frames,) closure probability in [0, 1]."""
        f = np.asarray(feats, np.float32)
        if f.ndim != 2 or f.shape[1] != self.audio_dim:
            raise ValueError(f"closure detector expects (frames, {self.audio_dim}) features, got {f.shape}")
        dev = self.feat_mean.device
        return torch.sigmoid(self(torch.as_tensor(f, device=dev)[None]))[0].float().cpu().numpy()


def save_closure(directory: str | Path, detector: ClosureDetector, train: dict[str, Any] | None = None) -> Path:
    """Weights (safetensors) + config.json; written through temporary files so a crash leaves the old one."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in detector.state_dict().items()}
    tmp = directory / "model.safetensors.tmp"
    save_file(state, str(tmp), metadata={"format": FORMAT})
    tmp.replace(directory / "model.safetensors")
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "audio_dim": detector.audio_dim,
            "width": detector.width, "front_end": detector.front_end, "phones_optional": detector.phones_optional,
            "threshold": detector.threshold, "dip_db": detector.dip_db,
            "phone_free_threshold": detector.phone_free_threshold, "phone_free_dip_db": detector.phone_free_dip_db,
            "train": train or {}}
    (directory / "config.json").write_text(json.dumps(meta, indent=2))
    return directory


def load_closure(directory: str | Path, device: str | torch.device = "cpu") -> ClosureDetector:
    directory = Path(directory)
    meta = json.loads((directory / "config.json").read_text())
    if meta.get("format") != FORMAT or int(meta.get("format_version", 0)) > FORMAT_VERSION:
        raise ValueError(f"{directory}: not a {FORMAT} v{FORMAT_VERSION} folder (got {meta.get('format')!r} "
                         f"v{meta.get('format_version')!r})")
    det = ClosureDetector(meta["audio_dim"], meta["width"], meta["front_end"], bool(meta.get("phones_optional", False)),
                          meta.get("phone_free_threshold"), meta.get("threshold"), meta.get("dip_db"),
                          meta.get("phone_free_dip_db"))
    missing, unexpected = det.load_state_dict(load_file(str(directory / "model.safetensors")), strict=False)
    if missing or unexpected:
        raise ValueError(f"{directory}: weights do not match config (missing {missing[:3]}, unexpected {unexpected[:3]})")
    return det.to(device).eval()
