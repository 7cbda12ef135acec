"""The Cafe-Talk two-stage diffusion model (stage-1 DiT + stage-2 control adapter), its
scheduler/sampler, losses and checkpoints. See docs/model.md."""
from .checkpoint import Checkpoint, CheckpointError, build_model, load_checkpoint, save_checkpoint
from .config import PRESETS, ModelConfig, preset
from .control_branch import ControlBranch, attach_control
from .denoiser import Conditions, Denoiser, add_styles, alignment_mask
from .diffusion import (CFGDenoiser, DDIMScheduler, DDIMStepOutput, InpaintDenoiser, SchedulerConfig,
                        cfg_combine, diffusion_loss, drop_controls, sample_ddim)

__all__ = [
    "Checkpoint", "CheckpointError", "build_model", "load_checkpoint", "save_checkpoint", "PRESETS",
    "ModelConfig", "preset", "ControlBranch", "attach_control", "Conditions", "Denoiser", "add_styles", "alignment_mask",
    "CFGDenoiser", "InpaintDenoiser", "DDIMScheduler", "DDIMStepOutput", "SchedulerConfig", "cfg_combine", "diffusion_loss",
    "drop_controls", "sample_ddim",
]
