"""Train the Cafe-Talk model: stage 1 (audio + coarse), then stage 2 (fine control adapter, base frozen).

Single process (CPU or one GPU):
    cafetalk train --data corpus --out runs/small
    python -m cafetalk_core.train --data corpus --out runs/small --stage both --steps 4000
Many GPUs (or CPU processes with gloo) with DDP:
    torchrun --standalone --nproc_per_node 4 -m cafetalk_core.train --data corpus --out runs/ddp

Layout of ``--out`` (stage ``both``): ``OUT/stage1/`` is the stage-1 checkpoint, ``OUT/`` the
final stage-2 one; each holds model.safetensors + config.json (+ optimizer.safetensors,
train_config.json, log.jsonl). ``--resume`` continues from what is there.

The loop is nanoGPT-shaped: DDP block, data, model, optimizer, then one loop with lr schedule,
periodic validation + checkpoint, step, clip, log.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

from .model import (DDIMScheduler, Denoiser, SchedulerConfig, attach_control, build_model, diffusion_loss,
                    load_checkpoint, preset, save_checkpoint)
from .model.checkpoint import OPTIMIZER_FILE, load_optimizer
from .model.config import ModelConfig


@dataclass
class StageSettings:
    stage: int
    steps: int
    lr: float
    out: Path


def build_front_end(name: str) -> Any:
    """The audio front end named in the model config (cafetalk_core.audio)."""
    from .audio import build_front_end as _build

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
        self._acoustic: dict[tuple[int, int, float], np.ndarray] = {}
        self._phones = getattr(front_end, "slices", {}).get("phones")

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
             "intensity": item["intensity"], "fine": item["fine"], "mask": item["mask"] > 0.5}
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


def lr_at(step: int, total: int, base: float, warmup: int) -> float:
    """Linear warm-up, then cosine decay to 10% (nanoGPT's schedule)."""
    if step < warmup:
        return base * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def data_stats(dataset: Any, max_clips: int = 400) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean/std of the training curves (the model normalises with them)."""
    from .data.dataset import BadClip, load_curves

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


def train_stage(args: argparse.Namespace, settings: StageSettings, ddp: bool, rank: int, world: int,
                device: torch.device) -> Path:
    """One stage, start to end (or from where ``--resume`` finds it). Returns the checkpoint folder."""
    from .data.dataset import CurvesDataset, precompute

    master = rank == 0
    stage, out = settings.stage, settings.out
    torch.manual_seed(args.seed + rank)             # different noise/dropout per rank
    np.random.seed(args.seed + rank)

    # -- model -------------------------------------------------------------------------------
    start_step, resume_opt = 0, None
    if args.resume and (out / "config.json").is_file():
        ck = load_checkpoint(out, device)
        model, cfg, start_step = ck.model, ck.config, ck.step
        resume_opt = out / OPTIMIZER_FILE
        if master:
            print(f"[stage {stage}] resuming {out} at step {start_step}")
    elif stage == 1:
        init = args.init
        if init:
            ck = load_checkpoint(init, device)
            model, cfg = ck.model, ck.config
        else:
            front_end = build_front_end(args.front_end)
            cfg = model_config(args.config, front_end, args.fps)
            model = build_model(cfg, stage=1).to(device)
    else:
        init = args.init or (args.out / "stage1")
        ck = load_checkpoint(init, device)
        model, cfg = ck.model, ck.config
        if model.control is None:
            attach_control(model)
    model.train()
    if start_step:   # a resumed run must not replay the noise and dropout of its first steps
        torch.manual_seed(args.seed + rank + 7919 * start_step)
        np.random.seed((args.seed + rank + 7919 * start_step) % 2**32)
    front_end = build_front_end(cfg.front_end)
    uses_phones = bool(getattr(front_end, "uses_phones", False))
    if uses_phones:
        front_end = AcousticCache(front_end)
    p_recog = args.p_recog if uses_phones else 0.0

    # -- data --------------------------------------------------------------------------------
    window = args.window_frames or cfg.max_frames
    if master and uses_phones and args.precompute_workers > 0:
        t0 = time.time()
        n = precompute(args.data, front_end, workers=args.precompute_workers)
        print(f"[data] recogniser output cached for {n} clips in {time.time() - t0:.0f} s")
    if ddp:
        torch.distributed.barrier()
    train_set = CurvesDataset(args.data, "train", fps=cfg.fps, window_frames=window, front_end=front_end,
                              fine_label_seed=args.seed, p_recog=p_recog, seed=args.seed + rank,
                              recog_cached_only=args.precompute_workers == 0)
    val_set = CurvesDataset(args.data, "val", fps=cfg.fps, window_frames=window, front_end=front_end,
                            fine_label_seed=args.seed, p_recog=1.0 if uses_phones else 0.0, seed=0)
    if len(train_set) == 0:
        raise SystemExit(f"no training clips under {args.data}")
    sampler = (DistributedSampler(train_set, num_replicas=world, rank=rank, shuffle=True, seed=args.seed)
               if ddp else RandomSampler(train_set))
    loader = DataLoader(train_set, batch_size=args.batch_size, sampler=sampler, num_workers=args.workers,
                        drop_last=len(train_set) >= args.batch_size * world, persistent_workers=args.workers > 0)
    val_loader = DataLoader(val_set if len(val_set) else train_set, batch_size=args.batch_size, shuffle=False)
    if stage == 1 and start_step == 0 and not args.init:
        mean, std = data_stats(train_set)
        model.set_data_stats(mean.to(device), std.to(device))

    # -- optimizer ---------------------------------------------------------------------------
    if stage == 2:  # the base is frozen: only the zero-initialised branch learns
        for name, p in model.named_parameters():
            p.requires_grad_(name.startswith("control."))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings.lr, betas=(0.9, 0.99), weight_decay=0.01)
    if resume_opt is not None and resume_opt.is_file():
        load_optimizer(resume_opt, optimizer)
    scheduler = DDIMScheduler(SchedulerConfig(cfg.num_train_timesteps, cfg.beta_schedule, prediction=cfg.prediction))
    raw_model = model
    if ddp:
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    loss_model = model   # diffusion_loss calls the DDP wrapper (gradient sync) and reads attributes from .module
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)

    if master:
        out.mkdir(parents=True, exist_ok=True)
        run_config = {**{k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                      "stage": stage, "world_size": world, "model_config": cfg.to_dict(),
                      "train_clips": len(train_set.records), "val_clips": len(val_set.records)}
        (out / "train_config.json").write_text(json.dumps(run_config, indent=2, default=str))
        n_params = sum(p.numel() for p in params)
        print(f"[stage {stage}] {len(train_set.records)} train clips, {len(val_set.records)} val clips, "
              f"{n_params / 1e6:.2f} M trainable parameters, device {device}, world {world}")

    def checkpoint(step: int, val_loss: float) -> None:
        save_checkpoint(out, raw_model, step=step, stage=stage, optimizer=optimizer,
                        front_end={"id": cfg.front_end},
                        train={"data": str(args.data), "val_loss": val_loss, "lr": settings.lr,
                               "batch_size": args.batch_size * world, "seed": args.seed})

    # -- loop --------------------------------------------------------------------------------
    batches = infinite(loader, sampler)
    log_path = out / "log.jsonl"
    t_last, val_loss = time.time(), float("nan")
    progress = None
    if master:
        from tqdm import tqdm
        progress = tqdm(total=settings.steps, initial=start_step, desc=f"stage {stage}", dynamic_ncols=True,
                        disable=not sys.stderr.isatty() and not args.progress)
    for step in range(start_step, settings.steps):
        lr = lr_at(step, settings.steps, settings.lr, args.warmup)
        for group in optimizer.param_groups:
            group["lr"] = lr
        batch = to_batch(next(batches), device)
        # Stage 2 alternates plain batches and swap-label batches (paper section 3.3).
        p_swap = args.p_swap if (stage == 2 and step % 2 == 1) else 0.0
        with amp:
            loss, logs = diffusion_loss(loss_model, scheduler, batch, stage=stage,
                                        p_swap=p_swap, p_drop_controls=args.p_drop_controls)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()            # under DDP the backward all-reduces (averages) the gradients
        grad_norm = torch.nn.utils.clip_grad_norm_(params, args.clip)
        optimizer.step()
        if master:
            progress.update(1)
            if step % args.log_every == 0 or step == settings.steps - 1:
                dt = time.time() - t_last
                t_last = time.time()
                rec = {"step": step, "lr": lr, "grad_norm": float(grad_norm), "sec": round(dt, 2), **logs}
                progress.set_postfix(loss=f"{logs['loss']:.4f}", val=f"{val_loss:.4f}")
                with open(log_path, "a") as f:
                    f.write(json.dumps(rec) + "\n")
                if args.progress:
                    print(json.dumps(rec), flush=True)
        last = step == settings.steps - 1
        if (step + 1) % args.eval_every == 0 or last:
            if master:
                val_loss = validate(raw_model, scheduler, val_loader, stage, device)
                with open(log_path, "a") as f:
                    f.write(json.dumps({"step": step + 1, "val_loss": val_loss}) + "\n")
                checkpoint(step + 1, val_loss)
                print(f"[stage {stage}] step {step + 1}: val loss {val_loss:.4f}", flush=True)
            if ddp:
                torch.distributed.barrier()
    if ddp:
        check_ranks_in_sync(raw_model, out if master else None, world)
    if master:
        if progress is not None:
            progress.close()
        if start_step >= settings.steps:
            print(f"[stage {stage}] already at step {start_step} >= {settings.steps}; nothing to do")
    return out


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
    from .cli import _add_train

    p = argparse.ArgumentParser(prog="python -m cafetalk_core.train", description=__doc__.splitlines()[0])
    _add_train(p)
    add_training_options(p)
    return p


def add_training_options(p: argparse.ArgumentParser) -> None:
    """Options beyond the CLI's basic ones (also used by ``cafetalk train``)."""
    p.add_argument("--stage2-steps", type=int, default=None, help="stage-2 steps (default: steps / 2)")
    p.add_argument("--stage2-lr", type=float, default=None, help="stage-2 learning rate (default: --lr)")
    p.add_argument("--front-end", default="phonetic-viseme-mel-v1", help="audio front end id for a new model")
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--window-frames", type=int, default=None, help="training window (default: model max_frames)")
    p.add_argument("--p-recog", type=float, default=0.5, help="share of samples using recogniser phones")
    p.add_argument("--p-swap", type=float, default=0.5, help="swap-label share in stage-2 swap batches")
    p.add_argument("--p-drop-controls", type=float, default=0.8, help="stage 2: drop each control span")
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--clip", type=float, default=1.0, help="gradient clipping norm")
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers")
    p.add_argument("--precompute-workers", type=int, default=2, help="processes for the recogniser cache (0 = lazy)")
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--progress", action="store_true", help="print JSON log lines (for non-tty logs)")


def run(args: argparse.Namespace) -> Path:
    """Both stages as asked; DDP when launched by torchrun."""
    args.out = Path(args.out)
    ddp = int(os.environ.get("RANK", -1)) != -1
    if ddp:
        backend = "nccl" if torch.cuda.is_available() and args.device != "cpu" else "gloo"
        torch.distributed.init_process_group(backend=backend)
        rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
        local = int(os.environ.get("LOCAL_RANK", 0))
        device = torch.device(f"cuda:{local}") if backend == "nccl" else torch.device("cpu")
        if device.type == "cuda":
            torch.cuda.set_device(device)
    else:
        rank, world = 0, 1
        want = args.device
        device = torch.device("cuda" if (want == "auto" and torch.cuda.is_available()) or want == "cuda" else "cpu")
    if args.threads:
        torch.set_num_threads(args.threads)
    stage2_steps = args.stage2_steps if args.stage2_steps is not None else max(1, args.steps // 2)
    stage2_lr = args.stage2_lr or args.lr
    try:
        if args.stage in ("1", "both"):
            s1_out = args.out / "stage1" if args.stage == "both" else args.out
            train_stage(args, StageSettings(1, args.steps, args.lr, s1_out), ddp, rank, world, device)
        if args.stage in ("2", "both"):
            if args.stage == "both":
                args.init = str(args.out / "stage1")
            elif not args.init and not (args.resume and (args.out / "config.json").is_file()):
                raise SystemExit("stage 2 needs a stage-1 checkpoint: pass --init DIR")
            train_stage(args, StageSettings(2, stage2_steps, stage2_lr, args.out), ddp, rank, world, device)
    finally:
        if ddp:
            torch.distributed.destroy_process_group()
    return args.out


def cli_train(args: argparse.Namespace) -> int:
    defaults = build_parser().parse_args(["--data", "x", "--out", "x"])
    for k, v in vars(defaults).items():   # `cafetalk train` lacks the extra options: fill defaults
        if not hasattr(args, k):
            setattr(args, k, v)
    run(args)
    return 0


if __name__ == "__main__":
    run(build_parser().parse_args())
