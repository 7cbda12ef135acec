"""Model configuration: one dataclass, three presets, JSON round-trip.

Sizes follow Cafe-Talk (ICLR 2025, arXiv 2503.14517): the paper's base is a DiT of 8 blocks x
512 wide with 8 heads (~25 M parameters) and a ~5 M-parameter fine-control adapter. "small"
is the shipped CPU model, sized so 5 s of speech (150 frames) samples in well under a second
on two CPU threads with the default DDIM steps and all CFG branches (benchmarks/bench_sampling.py).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from ..controls.coarse import NUM_EMOTIONS
from ..controls.vocabulary import NUM_ACTIONS
from ..rig import NUM_CHANNELS


@dataclass
class ModelConfig:
    """Everything needed to rebuild the network and sample from it (stored in config.json)."""

    num_channels: int = NUM_CHANNELS       # ARKit-52 output channels
    audio_dim: int = 80                    # front-end feature size (per motion frame)
    num_emotions: int = NUM_EMOTIONS       # MEAD's 8; id num_emotions is the "null" (dropped) token
    num_actions: int = NUM_ACTIONS         # fine-control vocabulary size (controls/vocabulary.py)
    width: int = 256
    depth: int = 4
    heads: int = 4
    ff_mult: int = 4
    attn_window: int = 6                   # cross-attention half-width in frames (near-diagonal mask)
    audio_conv_layers: int = 2             # conv layers in the audio encoder (local context, run once)
    prior_offset: int = -1                 # first audio-feature column of a viseme prior (-1: none); see Denoiser
    max_frames: int = 240                  # training window / sampling window length in frames
    fps: float = 30.0
    prediction: str = "x0"                 # the network predicts the clean sample (as the paper)
    front_end: str = "logmel-v1"           # id of the audio front end the features come from
    control_width: int = 128               # stage-2 adapter width
    control_depth: int = 0                 # adapter blocks; 0 = one per base block
    dropout: float = 0.0
    # sampling defaults (stored with the checkpoint so a trained model ships its best settings)
    num_train_timesteps: int = 1000
    beta_schedule: str = "cosine"
    default_steps: int = 10
    default_audio_scale: float = 1.0       # CFG scale a (audio + coarse); 1 = plain conditional
    # a on the channels outside lip sync (eyes, brows, cheeks, nose); None = default_audio_scale.
    # Why a separate knob: lips and upper face may want different strengths (docs/model.md: for the
    # shipped model one scale measured as well as two, so it ships None)
    default_face_scale: float | None = None
    default_control_scale: float = 1.0     # CFG scale b (fine controls, only on covered frames)
    # steps and a for speech read from the acoustics alone (Generator.runs_phone_free); None = the
    # defaults above. Why separate: the phone-free mouth is best near the conditional mean, which
    # fewer DDIM steps keep it at, while English wants the 10 steps that close its bilabials
    # (evaluation/tuning_phone_free.py chooses them on the capture validation take)
    phone_free_steps: int | None = None
    phone_free_audio_scale: float | None = None
    # the sampled jawOpen and mouthClose (the lip aperture pair) times this for phone-free input, before
    # the stages; None = 1. Why: the few-step phone-free sample sits near the conditional mean, which
    # follows a real face's timing but opens about 0.7x as wide; scaling the pair together widens the
    # vowels and keeps a shut mouth shut (evaluation/aperture_gain.py fits it on the capture val take)
    phone_free_aperture_gain: float | None = None
    cfg_fine_reference: str = "none"       # the paper's M0 ("none"), or "audio_coarse" (docs/model.md)
    control_prior: bool = False            # stage 2 starts from each action's ARKit signature (motion/control_signature.py, after sampling)
    control_adapter: bool = True           # the learned adapter; False = signature prior alone (no third CFG branch)
    control_ramp_s: float = 0.1            # the prior's ramp at span edges (half height at the edges)
    finish_motion: bool = False            # closure-aware smoothing after sampling (motion/finish.py)
    blink_stage: bool = False              # spontaneous blinks with human timing (motion/blinks.py)
    # trained with the phone columns zeroed on some samples (and on takes in other languages), so it
    # runs on speech the English recogniser does not know: Generator.generate(language=...)
    phones_optional: bool = False
    # Per-source style tokens (docs/model.md, "Style tokens"): one learned vector per training source
    # (the synthetic corpus, each real capture set), added to the coarse condition and never dropped
    # by CFG, so a real animator's mouth and the corpus's rules stop pulling one set of weights in
    # two directions. Empty = no tokens (older checkpoints). Sampling picks a source by name:
    # ``default_style`` for speech with phones (English), ``phone_free_style`` for other languages.
    style_names: tuple[str, ...] = ()
    default_style: str | None = None
    phone_free_style: str | None = None

    def __post_init__(self) -> None:
        if self.width % self.heads:
            raise ValueError(f"width ({self.width}) must be divisible by heads ({self.heads})")
        if self.prediction not in ("x0", "epsilon"):
            raise ValueError(f"prediction must be 'x0' or 'epsilon', got {self.prediction!r}")
        if self.default_face_scale is not None and not self.default_face_scale >= 0:
            raise ValueError(f"default_face_scale must be None or >= 0, got {self.default_face_scale}")
        if self.phone_free_steps is not None and not self.phone_free_steps >= 1:
            raise ValueError(f"phone_free_steps must be None or >= 1, got {self.phone_free_steps}")
        if self.phone_free_audio_scale is not None and not self.phone_free_audio_scale >= 0:
            raise ValueError(f"phone_free_audio_scale must be None or >= 0, got {self.phone_free_audio_scale}")
        if self.phone_free_aperture_gain is not None and not self.phone_free_aperture_gain > 0:
            raise ValueError(f"phone_free_aperture_gain must be None or > 0, got {self.phone_free_aperture_gain}")
        self.style_names = tuple(self.style_names)
        for knob in ("default_style", "phone_free_style"):
            name = getattr(self, knob)
            if name is not None and name not in self.style_names:
                raise ValueError(f"{knob} {name!r} is not one of the style_names {list(self.style_names)}")
        if self.cfg_fine_reference not in ("none", "audio_coarse"):
            raise ValueError(f"cfg_fine_reference must be 'none' or 'audio_coarse', got {self.cfg_fine_reference!r}")
        if self.control_depth < 0 or self.control_depth > self.depth:
            raise ValueError(f"control_depth must be in [0, depth={self.depth}], got {self.control_depth}")
        for name in ("width", "depth", "heads", "ff_mult", "max_frames", "audio_dim", "control_width"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if not self.control_adapter and not self.control_prior:
            raise ValueError("control_adapter=False needs control_prior=True (stage 2 would do nothing)")
        if not self.control_ramp_s >= 0:
            raise ValueError(f"control_ramp_s must be >= 0, got {self.control_ramp_s}")
        if self.attn_window < 0:
            raise ValueError(f"attn_window must be >= 0, got {self.attn_window}")

    @property
    def num_control_blocks(self) -> int:
        return self.control_depth or self.depth

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model_config keys {sorted(unknown)}")
        return cls(**data)

    def replace(self, **changes: Any) -> "ModelConfig":
        return ModelConfig.from_dict({**self.to_dict(), **changes})


PRESETS: dict[str, ModelConfig] = {
    # unit tests and integration before training exists: milliseconds per step
    "tiny": ModelConfig(width=32, depth=2, heads=2, ff_mult=2, max_frames=120, control_width=16,
                        audio_conv_layers=1, default_steps=4),
    # the shipped CPU model
    "small": ModelConfig(width=192, depth=4, heads=4, ff_mult=4, max_frames=240, control_width=96),
    # the paper's base: 8 blocks x 512, 8 heads (~25 M parameters with the adapter ~5 M)
    # (ff_mult 2 and a 4-block adapter land on the paper's ~25 M + ~5 M parameters)
    "paper": ModelConfig(width=512, depth=8, heads=8, ff_mult=2, max_frames=300, control_width=256,
                         control_depth=4, attn_window=8, default_steps=25),
}


def preset(name: str, **overrides: Any) -> ModelConfig:
    """A preset by name, with field overrides (``preset("small", audio_dim=96)``)."""
    if name not in PRESETS:
        raise ValueError(f"unknown model preset {name!r}; known: {', '.join(PRESETS)}")
    return PRESETS[name].replace(**overrides)
