"""The head stage: head yaw / pitch / roll from the voice, a small diffusion model of its own.

Why a second stage rather than 3 more channels of stage 1 (DiffPoseTalk's way): the shipped
stage 1 reached its real-speech lip closure after a long CPU run, and retraining it with extra
outputs risks exactly that; head motion depends on prosody (loudness accents, pauses) and
emotion, not on visemes, so it needs none of stage 1's phonetic input. The stage is the same
DiT (``Denoiser``) sized for 3 channels, fed log-mel + loudness + voice activity (82 columns)
and the coarse condition, and sampled with DDIM like stage 1; it learns the corpus's head
truth (data/head_rules.py). Head motion is one-to-many (the same sentence is said with many
head paths), which is why it is sampled, not regressed: a regressor averages to a still head.

Checkpoint: the folder ``head/`` inside a stage-1/2 checkpoint (same safetensors + JSON format).
``head_motion`` (0 = still head, 1 = as learned, up to 2) scales the sampled angles, per frame
when the controls carry head spans; the amount and its check live with the controls
(``controls/head.py``), which the layers below this one can import.

Fitted to a real head (issue 24): the stage learned rule-made head truth, so its output is
shaped by a :class:`HeadFit`, a per-axis gain and smoothing chosen so that the head's spread and
angular speed per axis match a real speaker's (the AD-NeRF head track, data/head_pose.py; fitted
by ``python -m cafetalk_core.evaluation.fit_motion_rules --head --write``, stored as
``real_fit`` in ``head/config.json``). A checkpoint without one samples the head as learned.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d

from ..audio.mel import N_MELS, log_mel, loudness
from ..audio.vad import voice_activity
from .config import ModelConfig
from .denoiser import Conditions, Denoiser
from .diffusion import CFGDenoiser, DDIMScheduler, SchedulerConfig, sample_ddim
from .windows import crossfade_into, windows

HEAD_NAMES = ("HeadYaw", "HeadPitch", "HeadRoll")
HEAD_FEATURES = "head-mel-loudness-vad-v1"
HEAD_AUDIO_DIM = N_MELS + 2
HEAD_DIR = "head"
WINDOW_OVERLAP_S = 1.0


def head_model_config(fps: float = 30.0) -> ModelConfig:
    """The shipped head stage's size: ~0.1 M parameters, a few ms per step on CPU.

    20 steps: on the corpus validation split 8 steps gave a yaw / pitch / roll spread of 2.2 /
    2.0 / 1.2 deg against the truth's 3.8 / 2.8 / 1.9 (DDIM with few steps under-disperses); 20
    gave 2.8 / 2.4 / 1.6 for ~40 ms more per 5 s clip (the 2,000-step model; the shipped 5,000-step
    one gives 3.1 / 2.7 / 1.7). The shipped checkpoint's guidance (2.0) was
    chosen on the real-speech validation set for stillness in pauses (docs/training.md).
    """
    return ModelConfig(num_channels=len(HEAD_NAMES), audio_dim=HEAD_AUDIO_DIM, width=64, depth=2, heads=2,
                       ff_mult=2, attn_window=8, max_frames=240, fps=fps, front_end=HEAD_FEATURES,
                       control_width=16, default_steps=20, default_audio_scale=2.0)


def head_features(wav16k: np.ndarray, num_frames: int, fps: float, vad: np.ndarray | None = None) -> np.ndarray:
    """(frames, 82): log-mel, loudness, voice activity, computed by the project's one audio front end code."""
    wav = np.asarray(wav16k, np.float32)
    n = int(num_frames)
    act = voice_activity(wav, n, fps) if vad is None else np.asarray(vad, np.float32)
    return np.concatenate([log_mel(wav, n, fps), loudness(wav, n, fps)[:, None], act[:n, None]], axis=1).astype(np.float32)


def head_features_from(front_end: object, feats: np.ndarray) -> np.ndarray | None:
    """The same 82 columns cut from a phonetic front end's features (no second log-mel), else None."""
    slices = getattr(front_end, "slices", {})
    if not all(k in slices for k in ("mel", "loudness", "vad")):
        return None
    return np.concatenate([feats[:, slices["mel"]], feats[:, slices["loudness"]], feats[:, slices["vad"]]],
                          axis=1).astype(np.float32)


#: The fit's gain eases in and out around speech over about this long (a Gaussian of the voice activity).
SPEECH_EDGE_S = 0.25


@dataclass(frozen=True)
class HeadFit:
    """Per axis (yaw, pitch, roll): a Gaussian smoothing (``smooth_s``, its sigma in seconds; 0 =
    none) and then a gain. Two numbers per axis because the sampled head is off in two ways at
    once: its spread (the gain) and how fast it moves for that spread (the smoothing). The gain
    applies while the voice is active (the reference track is speech throughout), so the head's
    stillness in pauses stays as learned."""

    gain: tuple[float, float, float] = (1.0, 1.0, 1.0)
    smooth_s: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        if len(self.gain) != 3 or len(self.smooth_s) != 3:
            raise ValueError("a HeadFit has 3 gains and 3 smoothing widths (yaw, pitch, roll)")
        if not np.all(np.isfinite(self.gain + self.smooth_s)) or min(self.gain) < 0 or min(self.smooth_s) < 0:
            raise ValueError(f"gains and smoothing widths must be >= 0, got {self.gain}, {self.smooth_s}")

    def apply(self, head: np.ndarray, fps: float, speech: np.ndarray | None = None) -> np.ndarray:
        """(frames, 3) angles -> the same, smoothed and scaled per axis about the clip's mean pose
        (the posture an emotion sets, e.g. sad lowers the head ~7 deg, keeps its size); with
        ``speech`` ((frames,) voice activity in [0, 1]) the gain eases to 1 in pauses."""
        out = np.array(head, np.float32, copy=True)
        if len(out) == 0:
            return out
        talking = np.ones(len(out), np.float32)
        if speech is not None:
            talking = np.clip(gaussian_filter1d(np.asarray(speech, np.float32)[:len(out)], SPEECH_EDGE_S * fps,
                                                mode="nearest"), 0.0, 1.0)
        centre = out.mean(axis=0)
        for k in range(3):
            if self.smooth_s[k] > 0 and len(out) > 1:
                out[:, k] = gaussian_filter1d(out[:, k], self.smooth_s[k] * fps, mode="nearest")
            gain = 1.0 + (self.gain[k] - 1.0) * talking
            out[:, k] = centre[k] + gain * (out[:, k] - centre[k])
        return out

    def to_dict(self) -> dict:
        return {"gain": [float(g) for g in self.gain], "smooth_s": [float(s) for s in self.smooth_s]}

    @classmethod
    def from_dict(cls, d: dict) -> "HeadFit":
        return cls(tuple(float(g) for g in d["gain"]), tuple(float(s) for s in d["smooth_s"]))


def read_head_fit(directory: str | Path) -> HeadFit | None:
    """The ``real_fit`` recorded in ``directory/config.json``, or None when the head was not fitted."""
    from .checkpoint import read_config

    meta = read_config(directory)
    return HeadFit.from_dict(meta["real_fit"]) if "real_fit" in meta else None


class HeadStage:
    """A loaded head model: ``sample(features, emotion, intensity)`` -> (frames, 3) radians."""

    def __init__(self, model: Denoiser, fit: HeadFit | None = None) -> None:
        if model.cfg.num_channels != len(HEAD_NAMES) or model.cfg.audio_dim != HEAD_AUDIO_DIM:
            raise ValueError(f"a head model has {len(HEAD_NAMES)} channels and {HEAD_AUDIO_DIM}-d input, "
                             f"got {model.cfg.num_channels} and {model.cfg.audio_dim}")
        self.model = model.eval()
        self.cfg = model.cfg
        self.fit = fit

    @classmethod
    def load(cls, directory: str | Path, device: str | torch.device = "cpu") -> "HeadStage":
        from .checkpoint import load_checkpoint

        return cls(load_checkpoint(directory, device).model, read_head_fit(directory))

    @torch.inference_mode()
    def sample(self, feats: np.ndarray, emotion: np.ndarray, intensity: np.ndarray, *, seed: int = 0,
               steps: int | None = None) -> np.ndarray:
        """(frames, 82) features + per-frame emotion ids / intensities -> (frames, 3) radians."""
        model, cfg = self.model, self.cfg
        dev = next(model.parameters()).device
        n = feats.shape[0]
        steps = int(steps or cfg.default_steps)
        gen = torch.Generator().manual_seed((int(seed) * 7919 + 3) & 0x7FFFFFFF)
        out = np.zeros((n, len(HEAD_NAMES)), np.float32)
        done = 0
        t = lambda a, dtype=torch.float32: torch.as_tensor(a, dtype=dtype, device=dev)[None]  # noqa: E731
        for s, e in windows(n, cfg.max_frames, int(round(WINDOW_OVERLAP_S * cfg.fps))):
            cond = Conditions(t(feats[s:e]), t(emotion[s:e], torch.long), t(intensity[s:e]))
            sched = DDIMScheduler(SchedulerConfig(cfg.num_train_timesteps, cfg.beta_schedule, prediction=cfg.prediction))
            sched.set_timesteps(steps)
            x = torch.randn((1, e - s, len(HEAD_NAMES)), generator=gen).to(dev)
            x0 = sample_ddim(CFGDenoiser(model, cond, cfg.default_audio_scale, 1.0), x, sched, generator=gen)
            res = model.denormalize(x0)[0].float().cpu().numpy()
            done = crossfade_into(out, res, s, done)
        return self.fit.apply(out, cfg.fps, speech=feats[:, -1]) if self.fit is not None else out

