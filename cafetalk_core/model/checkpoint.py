"""Checkpoints: ``DIR/model.safetensors`` + ``DIR/config.json``; never a pickle.

config.json (fixed keys, nanoGPT-style)::

    {"format": "cafetalk.checkpoint", "format_version": 1, "model_config": {...},
     "front_end": {"id": ...}, "train": {...}, "step": 1234, "stage": 1 | 2
     [, "stage1_step": 3300]}

``step`` is the step of the run that wrote the folder; a stage-2 folder may record the steps of
the stage-1 run under it as ``stage1_step`` (:meth:`Checkpoint.model_id` reads both).

The optimizer state, when saved, goes to ``DIR/optimizer.safetensors`` (flattened tensors +
a JSON description in the safetensors metadata). Loading uses ``safetensors.torch.load_file``
only, so a checkpoint from the internet cannot execute code.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from .config import ModelConfig
from .control_branch import attach_control
from .denoiser import Denoiser

FORMAT = "cafetalk.checkpoint"
FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
OPTIMIZER_FILE = "optimizer.safetensors"


class CheckpointError(ValueError):
    """A checkpoint folder that cannot be loaded (missing file, wrong format, newer version)."""


@dataclass
class Checkpoint:
    model: Denoiser
    config: ModelConfig
    front_end: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    step: int = 0
    stage: int = 1
    path: Path | None = None
    #: Steps of the stage-1 run a stage-2 checkpoint was built on (``stage1_step`` in config.json).
    stage1_step: int | None = None
    #: Whether the weights hold a learned stage-2 adapter (``control.*``); a signature-prior stage 2 has none.
    adapter: bool = False

    def model_id(self) -> str:
        """The folder name and the training steps its weights really hold, from its own record.

        ``step`` counts the run that wrote the folder: for a stage-2 folder that is the adapter's run,
        so a stage 2 whose adapter was dropped (the shipped signature prior) names its stage-1 steps;
        an adapter's steps are added after them; a stage 2 that does not record its stage 1 says
        ``stage2``. The shipped model: ``default-step4300`` (3,300 steps on the corpus, 1,000 on corpus + real takes).
        """
        name = self.path.name if self.path is not None else "checkpoint"
        if self.stage < 2:
            return f"{name}-step{self.step}" if self.step else name
        if self.stage1_step is None:
            return f"{name}-stage2-step{self.step}"
        return f"{name}-step{self.stage1_step}" + (f"-adapter{self.step}" if self.adapter else "")


def build_model(cfg: ModelConfig, stage: int = 1) -> Denoiser:
    """A fresh model: the stage-1 DiT, plus the zero-initialised adapter for stage 2."""
    model = Denoiser(cfg)
    if stage >= 2:
        attach_control(model)
    return model


def save_checkpoint(directory: str | Path, model: Denoiser, *, step: int = 0, stage: int | None = None,
                    front_end: dict[str, Any] | None = None, train: dict[str, Any] | None = None,
                    optimizer: torch.optim.Optimizer | None = None, stage1_step: int | None = None) -> Path:
    """Write weights + config (and optionally the optimizer state) to ``directory``; returns it."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model = getattr(model, "module", model)  # unwrap DDP
    stage = stage if stage is not None else (2 if model.control is not None else 1)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tmp = directory / (WEIGHTS_FILE + ".tmp")
    save_file(state, str(tmp), metadata={"format": FORMAT, "format_version": str(FORMAT_VERSION)})
    tmp.replace(directory / WEIGHTS_FILE)
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "model_config": model.cfg.to_dict(),
            "front_end": front_end or {"id": model.cfg.front_end}, "train": train or {},
            "step": int(step), "stage": int(stage)}
    if stage1_step is not None:
        meta["stage1_step"] = int(stage1_step)
    (directory / CONFIG_FILE).write_text(json.dumps(meta, indent=2))
    if optimizer is not None:
        save_optimizer(directory / OPTIMIZER_FILE, optimizer)
    return directory


def held_stage1_steps(meta: dict[str, Any]) -> int:
    """Stage-1 training steps a checkpoint's weights hold, along its chain of ``--init`` runs: a
    stage-2 folder's ``stage1_step``, else its own steps plus those of the run it started from
    (``train.init_steps``, written by training/denoiser.py)."""
    if int(meta.get("stage", 1)) >= 2 and meta.get("stage1_step") is not None:
        return int(meta["stage1_step"])
    return int(meta.get("step", 0)) + int((meta.get("train") or {}).get("init_steps", 0))


def read_config(directory: str | Path) -> dict[str, Any]:
    directory = Path(directory)
    cfg_path = directory / CONFIG_FILE
    if not directory.is_dir():
        raise FileNotFoundError(f"checkpoint folder {str(directory)!r} does not exist")
    if not cfg_path.is_file():
        raise FileNotFoundError(f"checkpoint {str(directory)!r} has no {CONFIG_FILE}")
    try:
        meta = json.loads(cfg_path.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{cfg_path}: not valid JSON ({exc.msg})") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{cfg_path}: format must be {FORMAT!r}, got {meta.get('format')!r}")
    version = meta.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise CheckpointError(f"{cfg_path}: format_version must be a positive integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{cfg_path}: format_version {version} is newer than this cafetalk reads "
                              f"({FORMAT_VERSION}); upgrade cafetalk")
    return meta


def load_checkpoint(directory: str | Path, device: str | torch.device = "cpu") -> Checkpoint:
    """Rebuild the model from config.json and load weights with safetensors (no unpickling)."""
    directory = Path(directory)
    meta = read_config(directory)
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        raise FileNotFoundError(f"checkpoint {str(directory)!r} has no {WEIGHTS_FILE}")
    cfg = ModelConfig.from_dict(meta["model_config"])
    try:
        state = load_file(str(weights), device="cpu")
    except Exception as exc:  # safetensors raises its own error types for a pickle / garbage
        raise CheckpointError(f"{weights}: not a safetensors file ({exc})") from None
    stage = int(meta.get("stage", 1))
    # stage 2 when the adapter's weights are there, or when the stage is the signature prior alone
    adapter = any(k.startswith("control.") for k in state)
    has_control = adapter or (stage >= 2 and cfg.control_prior)
    model = build_model(cfg, stage=2 if has_control else 1)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(f"{weights}: weights do not match model_config "
                              f"(missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]})")
    model.to(device).eval()
    stage1_step = meta.get("stage1_step")
    return Checkpoint(model, cfg, meta.get("front_end", {}), meta.get("train", {}), int(meta.get("step", 0)),
                      stage, directory, None if stage1_step is None else int(stage1_step), adapter)


# -- optimizer state without pickle ----------------------------------------------------------
def save_optimizer(path: str | Path, optimizer: torch.optim.Optimizer) -> None:
    """Tensors of ``optimizer.state_dict()`` to safetensors; the rest as JSON metadata."""
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    state_meta: dict[str, dict[str, Any]] = {}
    for pid, st in sd["state"].items():
        state_meta[str(pid)] = {}
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"{pid}.{k}"] = v.detach().cpu().contiguous()
                state_meta[str(pid)][k] = "__tensor__"
            else:
                state_meta[str(pid)][k] = v
    meta = {"param_groups": sd["param_groups"], "state": state_meta}
    save_file(tensors, str(path), metadata={"optimizer": json.dumps(meta)})


def load_optimizer(path: str | Path, optimizer: torch.optim.Optimizer) -> None:
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no optimizer state at {str(path)!r}")
    tensors = load_file(str(path), device="cpu")
    with safe_open(str(path), framework="pt") as f:
        meta = json.loads(f.metadata()["optimizer"])
    state = {}
    for pid, st in meta["state"].items():
        state[int(pid)] = {k: (tensors[f"{pid}.{k}"] if v == "__tensor__" else v) for k, v in st.items()}
    optimizer.load_state_dict({"param_groups": meta["param_groups"], "state": state})
