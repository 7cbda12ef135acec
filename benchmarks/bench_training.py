"""Training speed on CPU: steps/s per preset, stage and thread count, and DDP 2-process scaling.

    python benchmarks/bench_training.py                       # tiny + small, stages 1/2, 1 and 2 threads, DDP N=1/2
    python benchmarks/bench_training.py --quick               # about a minute, even on a loaded 2-core CPU
    python benchmarks/bench_training.py --preset small --steps 20 --threads 1 --no-ddp
    python benchmarks/bench_training.py --quick --omp-passive  # same, idle OpenMP threads sleep

Part 1 times one full optimizer step as cafetalk_core/training/denoiser.py does it (diffusion_loss with its
condition dropout, backward, grad clip 1.0, AdamW) on a synthetic random batch of B=16 windows
of T=120 frames, the shape of the shipped training run, so data loading is left out. Stage 2
attaches the control adapter, freezes the base and alternates plain and swap-label batches as
training/denoiser.py does. Prints the median ms/step, steps/s, frames/s (B*T per step) and the process CPU
ms per step: on a shared machine the CPU time is the steadier figure, the wall time what a
training run sees. ``--quick`` stops a case after 3 s (column n: steps timed; 0 when the
warm-up alone spent the budget, and then the warm-up step is what is shown). On a loaded CPU
2 threads can be many times slower than 1, because libgomp's threads spin-wait for each other
while other processes hold the cores; ``--omp-passive`` re-runs under OMP_WAIT_POLICY=PASSIVE.

Part 2 launches ``python -m torch.distributed.run --standalone --nproc_per_node=N`` on this same
file (``--ddp-worker``), which wraps the model in DistributedDataParallel with the gloo backend
and 1 torch thread per process, gives every rank its own batch of B windows (the global batch
grows with N, as in training/denoiser.py) and times rounds of K steps. samples/s = N * B * K / the median
round's time (of the slowest rank); the scaling ratio is samples/s at N=2 over N=1 (2.0 would
be perfect). On a 2-core machine the two processes share the same two cores with gloo's
all-reduce and with whatever else runs, so a ratio well under 2 there says more about the
machine than about DDP.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:            # `python benchmarks/bench_training.py` from anywhere
    sys.path.insert(0, str(ROOT))

from cafetalk_core.model import (DDIMScheduler, Denoiser, SchedulerConfig, attach_control,  # noqa: E402
                                 build_model, diffusion_loss, preset)

AUDIO_DIM = 166          # the phonetic-mel-v1 front end the shipped model trains on
CLIP_NORM = 1.0          # training/denoiser.py's default --clip
RESULT_TAG = "DDP_RESULT "


def synthetic_batch(cfg, batch: int, frames: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """A random batch with the names and shapes diffusion_loss expects (train.to_batch's output).

    Fine controls are two random action spans per row (stage 2's input is sparse like real
    labels, so drop_controls and the swap-label path do their usual work).
    """
    g = torch.Generator().manual_seed(seed)
    fine = torch.zeros(batch, frames, cfg.num_actions)
    for b in range(batch):
        for _ in range(2):
            a = int(torch.randint(0, cfg.num_actions, (1,), generator=g))
            start = int(torch.randint(0, max(1, frames - 30), (1,), generator=g))
            length = int(torch.randint(10, 31, (1,), generator=g))
            fine[b, start:start + length, a] = float(torch.rand(1, generator=g)) * 0.7 + 0.3
    return {
        "curves": torch.rand(batch, frames, cfg.num_channels, generator=g),        # (B, T, 52) in [0, 1]
        "audio": torch.randn(batch, frames, cfg.audio_dim, generator=g),           # (B, T, audio_dim)
        "emotion": torch.randint(0, cfg.num_emotions, (batch, frames), generator=g),
        "intensity": torch.rand(batch, 1, generator=g).expand(batch, frames).contiguous(),
        "fine": fine,                                                              # (B, T, num_actions)
        "mask": torch.ones(batch, frames, dtype=torch.bool),
    }


def training_setup(preset_name: str, stage: int) -> tuple[Denoiser, list[torch.nn.Parameter]]:
    """A fresh model for ``stage`` with training/denoiser.py's trainable set (stage 2: the adapter only)."""
    model = build_model(preset(preset_name, audio_dim=AUDIO_DIM), stage=1)
    if stage == 2:
        attach_control(model)
        for name, p in model.named_parameters():
            p.requires_grad_(name.startswith("control."))
    model.train()
    return model, [p for p in model.parameters() if p.requires_grad]


class Trainer:
    """One optimizer step exactly as training/denoiser.py's loop takes it (minus data loading and logging)."""

    def __init__(self, model: torch.nn.Module, params: list[torch.nn.Parameter], stage: int) -> None:
        core = getattr(model, "module", model)
        self.model, self.params, self.stage = model, params, stage
        self.optimizer = torch.optim.AdamW(params, lr=3e-4, betas=(0.9, 0.99), weight_decay=0.01)
        self.scheduler = DDIMScheduler(SchedulerConfig(core.cfg.num_train_timesteps, core.cfg.beta_schedule,
                                                       prediction=core.cfg.prediction))
        self.step_index = 0

    def step(self, batch: dict[str, torch.Tensor]) -> float:
        p_swap = 0.5 if (self.stage == 2 and self.step_index % 2 == 1) else 0.0
        loss, _ = diffusion_loss(self.model, self.scheduler, batch, stage=self.stage, p_swap=p_swap)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, CLIP_NORM)
        self.optimizer.step()
        self.step_index += 1
        return float(loss.detach())


@dataclass
class StepTiming:
    preset: str
    stage: int
    threads: int
    trainable: int
    wall_ms: float          # median wall time per step
    cpu_ms: float           # process CPU time per step (all threads), mean
    timed: int              # steps timed (fewer when the case budget ran out; 0: the warm-up step)

    def row(self, batch: int, frames: int) -> str:
        sps = 1000.0 / self.wall_ms
        return (f"{self.preset:<6} {self.stage:>5} {self.threads:>7} {self.trainable / 1e6:>9.2f} "
                f"{self.wall_ms:>9.1f} {sps:>8.2f} {sps * batch * frames:>9.0f} {self.cpu_ms:>8.1f} {self.timed:>3}")


HEADER = f"{'preset':<6} {'stage':>5} {'threads':>7} {'trainM':>9} {'ms/step':>9} {'steps/s':>8} {'frames/s':>9} {'cpu ms':>8} {'n':>3}"


def time_steps(preset_name: str, stage: int, threads: int, steps: int, warmup: int, batch: int,
               frames: int, budget_s: float | None = None) -> StepTiming:
    """Median step time over ``steps`` timed steps, or fewer (at least one) once ``budget_s`` is spent
    on warm-up and timing together."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model, params = training_setup(preset_name, stage)
    trainer = Trainer(model, params, stage)
    data = synthetic_batch(model.cfg, batch, frames)
    warm: list[tuple[float, float]] = []
    for _ in range(warmup):            # allocator, autograd graph and AdamW state warm-up
        t0, c0 = time.perf_counter(), time.process_time()
        trainer.step(data)
        warm.append((time.perf_counter() - t0, time.process_time() - c0))
    if budget_s is not None and warm and sum(w for w, _ in warm) >= budget_s:
        # the budget is spent already: report the last warm-up step (n = 0), whose one-off
        # costs are small next to a step this slow, instead of timing another one
        wall, cpu = warm[-1]
        return StepTiming(preset_name, stage, threads, sum(p.numel() for p in params), 1000 * wall, 1000 * cpu, 0)
    walls: list[float] = []
    cpu0 = time.process_time()
    spent = sum(w for w, _ in warm)    # the budget covers warm-up and timed steps together
    while len(walls) < steps and (budget_s is None or not walls or spent + sum(walls) < budget_s):
        t0 = time.perf_counter()
        trainer.step(data)
        walls.append(time.perf_counter() - t0)
    cpu = (time.process_time() - cpu0) / len(walls)
    return StepTiming(preset_name, stage, threads, sum(p.numel() for p in params),
                      1000 * statistics.median(walls), 1000 * cpu, len(walls))


# -- DDP ------------------------------------------------------------------------------------------

def ddp_worker(args: argparse.Namespace) -> None:
    """Runs inside torch.distributed.run: DDP-wrapped model, 1 thread, K timed steps."""
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group(backend="gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    try:
        torch.manual_seed(0)                  # identical replicas (DDP also broadcasts rank 0's)
        model, params = training_setup(args.ddp_preset, args.ddp_stage)
        ddp_model = torch.nn.parallel.DistributedDataParallel(model)
        trainer = Trainer(ddp_model, params, args.ddp_stage)
        torch.manual_seed(1000 + rank)        # different noise / dropout per rank, as training/denoiser.py
        data = synthetic_batch(model.cfg, args.batch, args.frames, seed=rank)
        for _ in range(args.warmup):
            trainer.step(data)
        rounds = []
        for _ in range(args.ddp_rounds):
            dist.barrier()
            t0 = time.perf_counter()
            for _ in range(args.ddp_steps):
                trainer.step(data)
            elapsed = torch.tensor([time.perf_counter() - t0], dtype=torch.float64)
            dist.all_reduce(elapsed, op=dist.ReduceOp.MAX)     # a round is as fast as its slowest rank
            rounds.append(float(elapsed))
        seconds = statistics.median(rounds)      # a busy neighbour spoils single rounds, not the median
        if rank == 0:
            result = {"world": world, "steps": args.ddp_steps, "batch_per_rank": args.batch, "rounds": rounds,
                      "seconds": seconds, "samples_per_s": world * args.batch * args.ddp_steps / seconds}
            print(RESULT_TAG + json.dumps(result), flush=True)
    finally:
        dist.destroy_process_group()


def run_ddp(nprocs: int, args: argparse.Namespace) -> dict:
    """Launch torch.distributed.run with ``nprocs`` workers of this file; returns rank 0's result."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nprocs}",
           str(Path(__file__).resolve()), "--ddp-worker", "--ddp-preset", args.ddp_preset,
           "--ddp-stage", str(args.ddp_stage), "--ddp-steps", str(args.ddp_steps), "--warmup", str(args.warmup),
           "--ddp-rounds", str(args.ddp_rounds),
           "--batch", str(args.batch), "--frames", str(args.frames)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(
        [str(ROOT)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []))}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.ddp_timeout)
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_TAG):
            return json.loads(line[len(RESULT_TAG):])
    raise RuntimeError(f"DDP run with nproc_per_node={nprocs} gave no result (exit {proc.returncode}):\n"
                       f"{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")


# -- main -----------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="tiny,small", help="comma-separated model presets for part 1")
    ap.add_argument("--stages", default="1,2", help="comma-separated stages (1, 2)")
    ap.add_argument("--threads", default="1,2", help="comma-separated torch thread counts")
    ap.add_argument("--steps", type=int, default=None, help="timed steps per case (default 10, --quick 3)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 2, --quick 1)")
    ap.add_argument("--batch", type=int, default=16, help="windows per batch (per rank under DDP)")
    ap.add_argument("--frames", type=int, default=120, help="frames per window")
    ap.add_argument("--quick", action="store_true", help="few steps, a 3 s budget per case, DDP on the tiny preset")
    ap.add_argument("--case-seconds", type=float, default=None,
                    help="stop timing a case after this many seconds (at least 1 step; default none, --quick 3)")
    ap.add_argument("--omp-passive", action="store_true",
                    help="re-run with OMP_WAIT_POLICY=PASSIVE (idle OpenMP threads sleep instead of spinning)")
    ap.add_argument("--no-ddp", action="store_true", help="skip the DDP scaling part")
    ap.add_argument("--ddp-preset", default=None, help="preset for DDP (default: small, --quick: tiny)")
    ap.add_argument("--ddp-stage", type=int, default=1, choices=(1, 2))
    ap.add_argument("--ddp-steps", type=int, default=None, help="K timed DDP steps per round (default 20, --quick 10)")
    ap.add_argument("--ddp-rounds", type=int, default=3, help="timed rounds of K steps; the median round counts")
    ap.add_argument("--ddp-nprocs", default="1,2", help="comma-separated process counts")
    ap.add_argument("--ddp-timeout", type=float, default=300.0, help="seconds before a DDP launch is abandoned")
    ap.add_argument("--ddp-worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.steps is None:
        args.steps = 3 if args.quick else 10
    if args.warmup is None:
        args.warmup = 1 if args.quick else 2
    if args.ddp_preset is None:
        args.ddp_preset = "tiny" if args.quick else "small"
    if args.case_seconds is None and args.quick:
        args.case_seconds = 3.0
    if args.ddp_steps is None:
        args.ddp_steps = 10 if args.quick else 20
    for name in ("steps", "batch", "frames", "ddp_steps", "ddp_rounds"):
        if getattr(args, name) <= 0:
            ap.error(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    return args


def ints(text: str, flag: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise SystemExit(f"{flag} must be comma-separated integers, got {text!r}") from None
    if not values or min(values) <= 0:
        raise SystemExit(f"{flag} must list positive integers, got {text!r}")
    return values


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.omp_passive and os.environ.get("OMP_WAIT_POLICY", "").upper() != "PASSIVE":
        # libgomp reads the policy when it loads, so it has to be in the environment before torch is imported
        os.execve(sys.executable, [sys.executable, str(Path(__file__).resolve())] + sys.argv[1:],
                  {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"})
    if args.ddp_worker:
        ddp_worker(args)
        return
    presets = [p.strip() for p in args.preset.split(",") if p.strip()]
    stages, threads = ints(args.stages, "--stages"), ints(args.threads, "--threads")
    if not set(stages) <= {1, 2}:
        raise SystemExit(f"--stages must be 1 and/or 2, got {args.stages!r}")
    for name in presets + [args.ddp_preset]:
        try:
            preset(name)                   # fail on a typo before minutes of timing
        except ValueError as err:
            raise SystemExit(str(err)) from None
    load0 = os.getloadavg()[0]
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, load average {load0:.1f}; "
          f"batch {args.batch} x {args.frames} frames, audio_dim {AUDIO_DIM}; "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}\n"
          f"{args.steps} timed steps after {args.warmup} warm-up"
          + (f", at most {args.case_seconds:g} s per case" if args.case_seconds else "")
          + "; ms/step is the median wall time, cpu ms the process CPU time per step, n the steps timed "
          "(0: the budget went on warm-up, its last step is shown)")

    timings: list[StepTiming] = []
    print("\n" + HEADER)
    for name in presets:
        for stage in stages:
            for n in threads:
                t = time_steps(name, stage, n, args.steps, args.warmup, args.batch, args.frames, args.case_seconds)
                timings.append(t)
                print(t.row(args.batch, args.frames), flush=True)
    by_key = {(t.preset, t.stage, t.threads): t for t in timings}
    if len(threads) > 1:
        lo, hi = min(threads), max(threads)
        print(f"\n{hi} vs {lo} threads (steps/s ratio): " + ", ".join(
            f"{p} stage {s} x{by_key[(p, s, lo)].wall_ms / by_key[(p, s, hi)].wall_ms:.2f}"
            for p in presets for s in stages))
        # a little slower is a model too small to split; several times slower is threads spinning
        if any(by_key[(p, s, hi)].wall_ms > 2 * by_key[(p, s, lo)].wall_ms for p in presets for s in stages):
            print(f"  {hi} threads are more than 2x slower than {lo}: on a busy CPU the OpenMP threads spin-wait "
                  "for each other; use torch.set_num_threads(1) (python -m cafetalk_core.training.denoiser --threads 1) "
                  "or OMP_WAIT_POLICY=PASSIVE (--omp-passive)")
    if 1 in stages and 2 in stages:
        print("stage 2 vs stage 1 (steps/s ratio, frozen base + adapter): " + ", ".join(
            f"{p} {n}t x{by_key[(p, 1, n)].wall_ms / by_key[(p, 2, n)].wall_ms:.2f}" for p in presets for n in threads))

    if not args.no_ddp:
        nprocs = ints(args.ddp_nprocs, "--ddp-nprocs")
        print(f"\nDDP (gloo, 1 thread per process): preset {args.ddp_preset}, stage {args.ddp_stage}, "
              f"{args.batch} x {args.frames} per rank, "
              f"median of {args.ddp_rounds} rounds of {args.ddp_steps} steps")
        print(f"{'nproc':>5} {'seconds':>8} {'samples/s':>10} {'steps/s':>8} {'vs N=' + str(nprocs[0]):>8}")
        results = {}
        for n in nprocs:
            r = results[n] = run_ddp(n, args)
            base = results[nprocs[0]]["samples_per_s"]
            print(f"{n:>5} {r['seconds']:>8.2f} {r['samples_per_s']:>10.1f} {args.ddp_steps / r['seconds']:>8.2f} "
                  f"{r['samples_per_s'] / base:>7.2f}x", flush=True)
        if 1 in results and 2 in results:
            ratio = results[2]["samples_per_s"] / results[1]["samples_per_s"]
            print(f"scaling ratio (N=2 samples/s / N=1 samples/s): {ratio:.2f} (ideal 2.00)")
        if (os.cpu_count() or 1) <= max(nprocs):
            print(f"note: {os.cpu_count()} CPU cores for up to {max(nprocs)} processes: the ranks share the same "
                  "cores with each other, gloo's all-reduce and anything else running, so the ratio mixes DDP's "
                  "communication cost with core contention; it shows DDP's own cost only with a free core per rank.")
    print(f"\nload average {load0:.1f} at start, {os.getloadavg()[0]:.1f} at end")


if __name__ == "__main__":
    main()
