"""Train the Cafe-Talk model: stage 1 (audio + coarse), then stage 2 (fine control adapter, base frozen).

Single process (CPU or one GPU):
    cafetalk train --data corpus --out runs/small
    python -m cafetalk_core.training.denoiser --data corpus --out runs/small --stage both --steps 4000
Many GPUs (or CPU processes with gloo) with DDP:
    torchrun --standalone --nproc_per_node 4 -m cafetalk_core.training.denoiser --data corpus --out runs/ddp

Both commands take the same options (cafetalk_core/training/options.py). Layout of ``--out`` (stage
``both``): ``OUT/stage1/`` is the stage-1 checkpoint, ``OUT/`` the final stage-2 one; each holds
model.safetensors + config.json (+ optimizer.safetensors, train_config.json, log.jsonl).
``--resume`` continues from what is there.

Read top to bottom, in the manner of nanoGPT's training/denoiser.py: ``run`` sets up DDP (one unit,
``Distributed``) and plans the stages; ``train_stage`` builds one stage in named steps (model,
seeds, front end, data, trainable parameters and optimiser, DDP wrapper, run record); ``train_loop``
is the one loop (learning rate, step, clip, log, then validation + checkpoint). The helpers follow.
The file is over 400 lines on purpose: the whole training run reads in one place, in that order.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

from ..model import (DDIMScheduler, Denoiser, SchedulerConfig, add_styles, attach_control, build_model,
                    diffusion_loss, load_checkpoint, preset, save_checkpoint)
from ..model.checkpoint import OPTIMIZER_FILE, held_stage1_steps, load_optimizer, read_config
from ..model.config import ModelConfig
from .loop import optimizer_step, scheduled_lr
from .options import add_train_arguments


# -- the run: DDP and the stages --------------------------------------------------------------

@dataclass(frozen=True)
class Distributed:
    """Where this process sits in the run: nanoGPT's DDP block as one value (world 1 without torchrun)."""
    ddp: bool
    rank: int
    world: int
    device: torch.device

    @property
    def master(self) -> bool:
        """Rank 0 validates, writes checkpoints and logs."""
        return self.rank == 0

    def barrier(self) -> None:
        if self.ddp:
            torch.distributed.barrier()


def init_distributed(device: str) -> Distributed:
    """DDP when launched by torchrun (RANK is set), else one process on ``device`` (auto | cpu | cuda)."""
    if int(os.environ.get("RANK", -1)) == -1:
        use_cuda = (device == "auto" and torch.cuda.is_available()) or device == "cuda"
        return Distributed(False, 0, 1, torch.device("cuda" if use_cuda else "cpu"))
    backend = "nccl" if torch.cuda.is_available() and device != "cpu" else "gloo"
    torch.distributed.init_process_group(backend=backend)
    local = int(os.environ.get("LOCAL_RANK", 0))
    here = torch.device(f"cuda:{local}") if backend == "nccl" else torch.device("cpu")
    if here.type == "cuda":
        torch.cuda.set_device(here)
    return Distributed(True, torch.distributed.get_rank(), torch.distributed.get_world_size(), here)


@dataclass(frozen=True)
class StageSettings:
    """One stage of the plan: what to train, for how long, from where, into which folder."""
    stage: int
    steps: int
    lr: float
    out: Path
    init: str | None    # checkpoint to start from (stage 2: the stage-1 one); None = a new model


def plan_stages(args: argparse.Namespace) -> list[StageSettings]:
    """``--stage 1 | 2 | both`` -> the stages to run, in order."""
    stages = []
    if args.stage in ("1", "both"):
        s1_out = args.out / "stage1" if args.stage == "both" else args.out
        stages.append(StageSettings(1, args.steps, args.lr, s1_out, args.init))
    if args.stage in ("2", "both"):
        if args.stage == "both":
            init = str(args.out / "stage1")
        elif args.init or (args.resume and (args.out / "config.json").is_file()):
            init = args.init    # None when resuming: load_model resumes from OUT first
        else:
            raise SystemExit("stage 2 needs a stage-1 checkpoint: pass --init DIR")
        steps = args.stage2_steps if args.stage2_steps is not None else max(1, args.steps // 2)
        stages.append(StageSettings(2, steps, args.stage2_lr or args.lr, args.out, init))
    return stages


def run(args: argparse.Namespace) -> Path:
    """Both stages as asked; DDP when launched by torchrun."""
    args.out = Path(args.out)
    dist = init_distributed(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        for settings in plan_stages(args):
            train_stage(args, settings, dist)
        if dist.ddp:   # every rank reaches the end before any tears gloo down: a rank destroying its group
            torch.distributed.barrier()   # while another still used it aborted now and then (SIGABRT)
    finally:
        if dist.ddp:   # (no barrier on an error: the other ranks may be gone, it would hang)
            torch.distributed.destroy_process_group()
    return args.out


# -- one stage, in named steps ----------------------------------------------------------------

@dataclass
class StageData:
    train_set: Any
    val_set: Any
    sampler: Any
    loader: DataLoader
    val_loader: DataLoader


@dataclass
class StageRun:
    """Everything one stage's loop needs, built by ``train_stage``."""
    settings: StageSettings
    model: Denoiser                 # the bare model: validation, checkpoints, statistics
    loss_model: torch.nn.Module     # the model or its DDP wrapper (gradient all-reduce)
    cfg: ModelConfig
    params: list[torch.nn.Parameter]
    optimizer: torch.optim.Optimizer
    scheduler: DDIMScheduler
    data: StageData
    start_step: int


def train_stage(args: argparse.Namespace, settings: StageSettings, dist: Distributed) -> Path:
    """One stage, start to end (or from where ``--resume`` finds it). Returns the checkpoint folder."""
    seed_everything(args.seed + dist.rank)      # different noise/dropout per rank
    model, cfg, start_step, resume_optimizer = load_model(args, settings, dist)
    model.train()
    if start_step:   # a resumed run must not replay the noise and dropout of its first steps
        seed_everything(args.seed + dist.rank + 7919 * start_step)
    front_end, uses_phones = load_front_end(cfg.front_end)
    data = load_data(args, cfg, front_end, uses_phones, dist, settings.stage)
    if data.train_set.teaches_phone_free:   # recorded with the weights: generate(language=...) may drop phones
        cfg.phones_optional = model.cfg.phones_optional = True
    if args.styles and model.style is None:   # per-source tokens, zero at first (model/config.py)
        from ..data.records import SYNTHETIC_STYLE
        add_styles(model, data.train_set.found_styles)
        cfg.style_names = model.cfg.style_names
        # sampling reads the corpus's style until tuning chooses (evaluation/tuning.py)
        cfg.default_style = model.cfg.default_style = (SYNTHETIC_STYLE if SYNTHETIC_STYLE in cfg.style_names
                                                       else cfg.style_names[0])
        if dist.master:
            print(f"[stage {settings.stage}] style tokens for {list(cfg.style_names)}")
    data.train_set.styles = data.val_set.styles = tuple(cfg.style_names)
    if settings.stage == 1 and start_step == 0 and not settings.init:
        mean, std = data_stats(data.train_set)
        model.set_data_stats(mean.to(dist.device), std.to(dist.device))
    params = trainable_parameters(model, settings.stage)
    optimizer = make_optimizer(params, settings.lr, resume_optimizer)
    scheduler = DDIMScheduler(SchedulerConfig(cfg.num_train_timesteps, cfg.beta_schedule, prediction=cfg.prediction))
    stage = StageRun(settings, model, wrap_ddp(model, dist), cfg, params, optimizer, scheduler, data, start_step)
    if dist.master:
        write_run_record(args, stage, dist)
    train_loop(args, stage, dist)
    return settings.out


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)


def load_model(args: argparse.Namespace, settings: StageSettings,
               dist: Distributed) -> tuple[Denoiser, ModelConfig, int, Path | None]:
    """Resume from OUT, start from ``settings.init``, or build a new model.

    Returns (model, config, first step, optimizer state to restore or None).
    """
    out, device = settings.out, dist.device
    if args.resume and (out / "config.json").is_file():
        ck = load_checkpoint(out, device)
        if dist.master:
            print(f"[stage {settings.stage}] resuming {out} at step {ck.step}")
        return ck.model, ck.config, ck.step, out / OPTIMIZER_FILE
    if settings.init:
        ck = load_checkpoint(settings.init, device)
        if settings.stage == 2 and ck.model.control is None:
            attach_control(ck.model)    # the stage-2 branch, zero-initialised
        return ck.model, ck.config, 0, None
    front_end = build_front_end(args.front_end)
    cfg = model_config(args.config, front_end, args.fps)
    return build_model(cfg, stage=1).to(device), cfg, 0, None


def load_front_end(front_end_id: str) -> tuple[Any, bool]:
    """The model's audio front end (cached acoustics when it uses phones), and whether it does."""
    front_end = build_front_end(front_end_id)
    uses_phones = bool(getattr(front_end, "uses_phones", False))
    return (AcousticCache(front_end) if uses_phones else front_end), uses_phones


def load_data(args: argparse.Namespace, cfg: ModelConfig, front_end: Any, uses_phones: bool,
              dist: Distributed, stage: int) -> StageData:
    """Train and validation windows; the recogniser cache is filled once, by rank 0, first."""
    from ..data.dataset import CurvesDataset
    from ..data.recognition_cache import precompute

    window = args.window_frames or cfg.max_frames
    if dist.master and uses_phones and args.precompute_workers > 0:
        t0 = time.time()
        n = precompute(args.data, front_end, workers=args.precompute_workers)
        print(f"[data] recogniser output cached for {n} clips in {time.time() - t0:.0f} s")
    dist.barrier()
    train_set = CurvesDataset(args.data, "train", fps=cfg.fps, window_frames=window, front_end=front_end,
                              fine_label_seed=args.seed, p_recog=args.p_recog if uses_phones else 0.0,
                              seed=args.seed + dist.rank, recog_cached_only=args.precompute_workers == 0,
                              weights=args.data_weights, fine_labels=stage == 2,
                              p_drop_phones=args.p_drop_phones)
    val_set = CurvesDataset(args.data, "val", fps=cfg.fps, window_frames=window, front_end=front_end,
                            fine_label_seed=args.seed, p_recog=1.0 if uses_phones else 0.0, seed=0,
                            fine_labels=stage == 2)
    if len(train_set) == 0:
        raise SystemExit(f"no training clips under {args.data}")
    sampler = (DistributedSampler(train_set, num_replicas=dist.world, rank=dist.rank, shuffle=True, seed=args.seed)
               if dist.ddp else RandomSampler(train_set))
    loader = DataLoader(train_set, batch_size=args.batch_size, sampler=sampler, num_workers=args.workers,
                        drop_last=len(train_set) >= args.batch_size * dist.world,
                        persistent_workers=args.workers > 0)
    val_loader = DataLoader(val_set if len(val_set) else train_set, batch_size=args.batch_size, shuffle=False)
    return StageData(train_set, val_set, sampler, loader, val_loader)


def trainable_parameters(model: Denoiser, stage: int) -> list[torch.nn.Parameter]:
    """Stage 2 freezes the base: only the zero-initialised control branch learns (paper section 3.3)."""
    if stage == 2:
        for name, p in model.named_parameters():
            p.requires_grad_(name.startswith("control."))
    return [p for p in model.parameters() if p.requires_grad]


def make_optimizer(params: list[torch.nn.Parameter], lr: float, resume_from: Path | None) -> torch.optim.Optimizer:
    optimizer = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.99), weight_decay=0.01)
    if resume_from is not None and resume_from.is_file():
        load_optimizer(resume_from, optimizer)
    return optimizer


def wrap_ddp(model: Denoiser, dist: Distributed) -> torch.nn.Module:
    """The module the loss calls: under DDP the wrapper (gradient sync; diffusion_loss reads attributes
    from ``.module``), else the model itself."""
    if not dist.ddp:
        return model
    return torch.nn.parallel.DistributedDataParallel(
        model, device_ids=[dist.device.index] if dist.device.type == "cuda" else None)


def recorded_paths(paths: str | Path | list) -> list[str]:
    """Data folders as the run record keeps them: relative to the working directory when inside it,
    so a checkpoint made in a checkout names its data the same way on every machine."""
    out = []
    for p in ([paths] if isinstance(paths, (str, Path)) else paths):
        full = Path(p).resolve()
        out.append(os.path.relpath(full) if full.is_relative_to(Path.cwd()) else str(p))
    return out


def write_run_record(args: argparse.Namespace, stage: StageRun, dist: Distributed) -> None:
    """OUT/train_config.json (every option, the model config, the clip counts) and a summary line."""
    s, out = stage.settings, stage.settings.out
    out.mkdir(parents=True, exist_ok=True)
    options = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    options["data"] = recorded_paths(args.data)
    record = {**options, "init": s.init, "stage": s.stage, "world_size": dist.world,
              "model_config": stage.cfg.to_dict(), "train_clips": len(stage.data.train_set.records),
              "val_clips": len(stage.data.val_set.records)}
    (out / "train_config.json").write_text(json.dumps(record, indent=2, default=str))
    n_params = sum(p.numel() for p in stage.params)
    print(f"[stage {s.stage}] {len(stage.data.train_set.records)} train clips, {len(stage.data.val_set.records)} "
          f"val clips, {n_params / 1e6:.2f} M trainable parameters, device {dist.device}, world {dist.world}")


# -- the loop ---------------------------------------------------------------------------------

def train_loop(args: argparse.Namespace, stage: StageRun, dist: Distributed) -> None:
    """Learning rate, one optimiser step, clip, log; every ``--eval-every`` steps validate + checkpoint."""
    s = stage.settings
    batches = infinite(stage.data.loader, stage.data.sampler)
    log = StageLog(s, stage.start_step, args, enabled=dist.master)
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if dist.device.type == "cuda" else torch.autocast("cpu", enabled=False)
    val_loss = float("nan")
    for step in range(stage.start_step, s.steps):
        lr = scheduled_lr(stage.optimizer, step, s.steps, s.lr, args.warmup)
        batch = to_batch(next(batches), dist.device)
        # Stage 2 alternates plain batches and swap-label batches (paper section 3.3).
        p_swap = args.p_swap if (s.stage == 2 and step % 2 == 1) else 0.0
        with amp:
            loss, logs = diffusion_loss(stage.loss_model, stage.scheduler, batch, stage=s.stage,
                                        p_swap=p_swap, p_drop_controls=args.p_drop_controls,
                                        high_t_share=args.high_t_share)
        grad_norm = optimizer_step(loss, stage.optimizer, stage.params, args.clip)   # DDP: backward all-reduces
        log.step(step, lr, grad_norm, logs, val_loss)
        if (step + 1) % args.eval_every == 0 or step == s.steps - 1:
            if dist.master:
                val_loss = validate(stage.model, stage.scheduler, stage.data.val_loader, s.stage, dist.device)
                log.validation(step + 1, val_loss)
                save_stage_checkpoint(args, stage, dist, step + 1, val_loss)
            dist.barrier()
    if dist.ddp:
        check_ranks_in_sync(stage.model, s.out if dist.master else None, dist.world)
    log.close()
    if dist.master and stage.start_step >= s.steps:
        print(f"[stage {s.stage}] already at step {stage.start_step} >= {s.steps}; nothing to do")


class StageLog:
    """Rank 0's record of a stage: a tqdm bar, OUT/log.jsonl, and JSON lines on stdout with ``--progress``."""

    def __init__(self, settings: StageSettings, start_step: int, args: argparse.Namespace, enabled: bool) -> None:
        self.enabled, self.every, self.echo = enabled, args.log_every, args.progress
        self.last_step, self.stage = settings.steps - 1, settings.stage
        self.path = settings.out / "log.jsonl"
        self.t_last = time.time()
        self.bar = None
        if enabled:
            from tqdm import tqdm
            self.bar = tqdm(total=settings.steps, initial=start_step, desc=f"stage {settings.stage}",
                            dynamic_ncols=True, disable=not sys.stderr.isatty() and not args.progress)

    def step(self, step: int, lr: float, grad_norm: float, logs: dict[str, float], val_loss: float) -> None:
        if not self.enabled:
            return
        self.bar.update(1)
        if step % self.every == 0 or step == self.last_step:
            now = time.time()
            rec = {"step": step, "lr": lr, "grad_norm": grad_norm, "sec": round(now - self.t_last, 2), **logs}
            self.t_last = now
            self.bar.set_postfix(loss=f"{logs['loss']:.4f}", val=f"{val_loss:.4f}")
            self._write(rec)
            if self.echo:
                print(json.dumps(rec), flush=True)

    def validation(self, step: int, val_loss: float) -> None:
        self._write({"step": step, "val_loss": val_loss})
        print(f"[stage {self.stage}] step {step}: val loss {val_loss:.4f}", flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def _write(self, rec: dict[str, Any]) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(rec) + "\n")


def save_stage_checkpoint(args: argparse.Namespace, stage: StageRun, dist: Distributed, step: int,
                          val_loss: float) -> None:
    """Weights, optimizer state and the fixed metadata keys (model/checkpoint.py) into OUT."""
    s = stage.settings
    save_checkpoint(s.out, stage.model, step=step, stage=s.stage, optimizer=stage.optimizer,
                    front_end={"id": stage.cfg.front_end},
                    train={"data": recorded_paths(args.data), "val_loss": val_loss, "lr": s.lr,
                           "batch_size": args.batch_size * dist.world, "seed": args.seed,
                           "init_steps": held_stage1_steps(read_config(s.init)) if s.init and s.stage == 1 else 0})


# -- helpers ----------------------------------------------------------------------------------

def build_front_end(name: str) -> Any:
    """The audio front end named in the model config (cafetalk_core.audio)."""
    from ..audio import build_front_end as _build

    return _build(name)


class AcousticCache:
    """Wraps a phonetic front end so training recomputes only the phone columns per sample.

    The acoustic columns (log-mel, loudness, VAD) depend only on the waveform, which the
    dataset keeps in memory per clip; the phone columns change with every perturbation of the
    true timings. Recomputing the acoustics each time cost ~30 ms per item, more than a
    training step's share of compute on two cores.
    """

    def __init__(self, front_end: Any) -> None:
        self.inner = front_end
        self.id, self.dim = front_end.id, front_end.dim
        self.uses_phones = True   # only phonetic front ends are wrapped (load_front_end)
        self._acoustic: dict[tuple[int, int, float], np.ndarray] = {}
        self.slices = getattr(front_end, "slices", {})
        self._phones = self.slices.get("phones")

    def recognise(self, wav16k: np.ndarray) -> Any:
        return self.inner.recognise(wav16k)

    def features(self, wav16k: np.ndarray, num_frames: int, fps: float, phones: Any = None) -> np.ndarray:
        if self._phones is None or phones is None or not hasattr(self.inner, "phone_columns"):
            return self.inner.features(wav16k, num_frames, fps, phones=phones)
        key = (id(wav16k), int(num_frames), float(fps))
        if key not in self._acoustic:
            full = self.inner.features(wav16k, num_frames, fps, phones=phones)
            self._acoustic[key] = full
            return full
        out = self._acoustic[key].copy()
        out[:, self._phones] = self.inner.phone_columns(phones, int(num_frames), fps)
        return out


def model_config(spec: str, front_end: Any, fps: float) -> ModelConfig:
    """``small`` | ``paper`` | ``tiny`` | path to a JSON of ModelConfig fields."""
    overrides = {"audio_dim": int(front_end.dim), "front_end": front_end.id, "fps": float(fps)}
    prior = getattr(front_end, "slices", {}).get("prior")
    if prior is not None:   # a viseme prior in the features: the model adds it through its skip
        overrides["prior_offset"] = int(prior.start)
    if spec.endswith(".json"):
        data = json.loads(Path(spec).read_text())
        return preset(data.pop("preset", "small"), **{**data, **overrides})
    return preset(spec, **overrides)


def to_batch(item: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """Dataset item names -> the names diffusion_loss expects."""
    batch = {"curves": item["x0"], "audio": item["audio"], "emotion": item["emotion"],
             "intensity": item["intensity"], "fine": item["fine"], "mask": item["mask"] > 0.5,
             "channel_mask": item["channel_mask"]}
    if "style" in item:
        batch["style"] = item["style"]
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def infinite(loader: DataLoader, sampler: Any) -> Iterator[dict[str, torch.Tensor]]:
    epoch = 0
    while True:
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        if hasattr(loader.dataset, "set_epoch"):
            loader.dataset.set_epoch(epoch)
        yield from loader
        epoch += 1


def data_stats(dataset: Any, max_clips: int = 400) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean/std of the training curves (the model normalises with them)."""
    from ..data.dataset import BadClip, load_curves

    chunks = []
    for rec in dataset.records[:max_clips]:
        try:
            chunks.append(load_curves(rec, dataset.fps))
        except BadClip:
            continue
    if not chunks:
        raise RuntimeError("no readable training clips to compute curve statistics")
    allv = np.concatenate(chunks)
    return torch.from_numpy(allv.mean(0)), torch.from_numpy(allv.std(0))


@torch.no_grad()
def validate(model: Denoiser, scheduler: DDIMScheduler, loader: DataLoader, stage: int, device: torch.device,
             max_batches: int = 8) -> float:
    """Mean loss on fixed validation windows with a fixed noise seed (comparable across runs)."""
    model.eval()
    g = torch.Generator().manual_seed(1234)
    losses = []
    for i, item in enumerate(loader):
        if i >= max_batches:
            break
        loss, _ = diffusion_loss(model, scheduler, to_batch(item, device), stage=stage, p_drop_audio=0.0,
                                 p_drop_coarse=0.0, p_drop_controls=0.0, generator=g)
        losses.append(float(loss))
    model.train()
    return float(np.mean(losses)) if losses else float("nan")


@torch.no_grad()
def check_ranks_in_sync(model: torch.nn.Module, out: Path | None, world: int) -> list[list[float]]:
    """All-gather a fingerprint of every rank's weights and fail loudly if they differ.

    DDP keeps replicas identical by construction; this catches the ways that breaks
    (a parameter outside DDP's buckets, a rank-dependent init). Rank 0 writes the result to
    ``OUT/ddp_check.json``.
    """
    flat = torch.cat([p.detach().float().flatten().cpu() for p in model.parameters()])
    weights = torch.linspace(1.0, 2.0, flat.numel())
    mine = torch.tensor([float(flat.sum()), float((flat * weights).sum()), float(flat.abs().max())], dtype=torch.float64)
    gathered = [torch.zeros_like(mine) for _ in range(world)]
    torch.distributed.all_gather(gathered, mine)
    prints = [g.tolist() for g in gathered]
    same = all(torch.equal(gathered[0], g) for g in gathered[1:])
    if out is not None:
        (out / "ddp_check.json").write_text(json.dumps({"world_size": world, "identical": same, "fingerprints": prints}))
    if not same:
        raise RuntimeError(f"DDP ranks diverged: weight fingerprints {prints}")
    return prints


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m cafetalk_core.training.denoiser", description=__doc__.splitlines()[0])
    add_train_arguments(p)
    return p


def cli_train(args: argparse.Namespace) -> int:
    """``cafetalk train``: the parser is the same (training/options.py), so the namespace is complete."""
    run(args)
    return 0


if __name__ == "__main__":
    run(build_parser().parse_args())
