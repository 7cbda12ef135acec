"""Train the head stage (model/head.py) on a synthetic corpus's head truth (data/head_rules.py).

    cafetalk train-head --data corpus --out runs/head --steps 3000
    python -m cafetalk_core.training.head --data corpus --out runs/head --steps 3000 --resume

One process, CPU or GPU. Features and head truth are computed once per clip and cached in
``<data>/head_cache.npz`` (the truth is seeded by the clip id, so it is the same every run).
The loop, like training/denoiser.py's: learning rate (warm-up, cosine), step, clip, log, and every
``--eval-every`` steps the validation loss and a checkpoint (resumable with ``--resume``);
the checkpoint kept in ``--out`` is the one with the lowest validation loss (``best/``).
"""
from __future__ import annotations

import argparse
import hashlib
import math
import time
from pathlib import Path

import numpy as np
import torch

from ..controls.coarse import emotion_index
from ..data.dataset import load_audio_16k, true_phones
from ..data.records import scan
from ..model.checkpoint import build_model, load_checkpoint, save_checkpoint
from ..model.denoiser import Conditions
from ..model.diffusion import DDIMScheduler, SchedulerConfig
from ..model.head import HEAD_FEATURES, head_features, head_model_config
from ..model.runtime import configure_threads
from .loop import append_log, optimizer_step, scheduled_lr
from .options import add_head_arguments
from ..data.head_rules import head_truth


def clip_seed(clip_id: str) -> int:
    return int(hashlib.sha1(clip_id.encode()).hexdigest()[:8], 16)


def build_cache(data: Path, fps: float) -> dict[str, list]:
    """Per split: lists of (features (n, 82), truth (n, 3), emotion id, intensity)."""
    cache = data / "head_cache.npz"
    if cache.is_file():
        z = np.load(cache, allow_pickle=False)
        out: dict[str, list] = {"train": [], "val": [], "test": []}
        for k in range(int(z["count"])):
            out[str(z[f"split_{k}"])].append((z[f"feat_{k}"], z[f"truth_{k}"], int(z[f"emo_{k}"]), float(z[f"int_{k}"])))
        return out
    arrays: dict[str, np.ndarray] = {}
    out = {"train": [], "val": [], "test": []}
    k = 0
    for rec in scan(data):
        phones = true_phones(rec)
        if phones is None:
            continue
        meta = rec.meta or {}
        n = rec.num_frames(fps)
        emotion, intensity = str(meta.get("emotion", "neutral")), float(meta.get("intensity", 0.0))
        feat = head_features(load_audio_16k(rec.wav), n, fps)
        truth = head_truth(phones, n, fps, emotion, intensity, np.random.default_rng(clip_seed(rec.id)))
        item = (feat, truth, emotion_index(emotion), intensity)
        out.setdefault(rec.split, []).append(item)
        arrays.update({f"feat_{k}": feat, f"truth_{k}": truth, f"emo_{k}": np.int64(item[2]),
                       f"int_{k}": np.float32(intensity), f"split_{k}": np.array(rec.split)})
        k += 1
    np.savez(cache, count=np.int64(k), **arrays)
    return out


def batch(items: list, size: int, frames: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
    """Random windows of ``frames`` (padded and masked where a clip is shorter)."""
    feats, truth, emo, inten, mask = [], [], [], [], []
    for i in rng.integers(0, len(items), size):
        f, y, e, a = items[int(i)]
        n = len(f)
        s = int(rng.integers(0, max(1, n - frames + 1)))
        f, y = f[s:s + frames], y[s:s + frames]
        m = np.zeros(frames, bool)
        m[:len(f)] = True
        pad = frames - len(f)
        feats.append(np.pad(f, ((0, pad), (0, 0))))
        truth.append(np.pad(y, ((0, pad), (0, 0))))
        emo.append(np.full(frames, e))
        inten.append(np.full(frames, a, np.float32))
        mask.append(m)
    return {"audio": torch.as_tensor(np.stack(feats)), "curves": torch.as_tensor(np.stack(truth)),
            "emotion": torch.as_tensor(np.stack(emo)).long(), "intensity": torch.as_tensor(np.stack(inten)),
            "mask": torch.as_tensor(np.stack(mask))}


def head_loss(model: torch.nn.Module, sched: DDIMScheduler, b: dict[str, torch.Tensor], gen: torch.Generator,
              p_drop: float = 0.2, velocity_weight: float = 2.0) -> torch.Tensor:
    """x0 loss + velocity loss on valid frames, audio and coarse dropped with ``p_drop`` (CFG)."""
    x0 = model.normalize(b["curves"])
    bs = x0.shape[0]
    t = torch.randint(0, sched.config.num_train_timesteps, (bs,), generator=gen)
    x_t = sched.add_noise(x0, torch.randn(x0.shape, generator=gen), t)
    drop_c = torch.rand(bs, generator=gen) < p_drop
    emotion = torch.where(drop_c[:, None], torch.full_like(b["emotion"], model.cfg.num_emotions), b["emotion"])
    intensity = torch.where(drop_c[:, None], torch.zeros_like(b["intensity"]), b["intensity"])
    cond = Conditions(b["audio"], emotion, intensity, audio_keep=torch.rand(bs, generator=gen) >= p_drop,
                      frame_mask=b["mask"])
    pred = model(x_t, t, cond)
    m = b["mask"][..., None].float()
    loss = ((pred - x0) ** 2 * m).sum() / (m.sum() * x0.shape[-1])
    mv = m[:, 1:] * m[:, :-1]
    vel = (((pred[:, 1:] - pred[:, :-1]) - (x0[:, 1:] - x0[:, :-1])) ** 2 * mv).sum() / (mv.sum() * x0.shape[-1])
    return loss + velocity_weight * vel


@torch.no_grad()
def val_loss(model: torch.nn.Module, sched: DDIMScheduler, items: list, frames: int, batches: int = 8) -> float:
    rng, gen = np.random.default_rng(123), torch.Generator().manual_seed(123)
    model.eval()
    losses = [float(head_loss(model, sched, batch(items, 32, frames, rng), gen, p_drop=0.0)) for _ in range(batches)]
    model.train()
    return float(np.mean(losses))


def train_head(args: argparse.Namespace) -> Path:
    configure_threads(args.threads)
    out = Path(args.out)
    data = build_cache(Path(args.data), args.fps)
    if not data["train"] or not data["val"]:
        raise SystemExit(f"no train/val clips with phones under {args.data}")
    cfg = head_model_config(args.fps)
    last = out / "last"
    if args.resume and (last / "config.json").is_file():
        ck = load_checkpoint(last)
        model, step = ck.model, ck.step
        best = float(ck.train.get("best_val", math.inf))
    else:
        model, step, best = build_model(cfg, stage=1), 0, math.inf
        y = np.concatenate([t for _, t, _, _ in data["train"]])
        model.set_data_stats(torch.as_tensor(y.mean(0)), torch.as_tensor(y.std(0)))
        model.data_std.copy_(torch.as_tensor(y.std(0), dtype=torch.float32).clamp_min(1e-3))
    model.train()
    sched = DDIMScheduler(SchedulerConfig(cfg.num_train_timesteps, cfg.beta_schedule, prediction=cfg.prediction))
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    rng = np.random.default_rng(args.seed + step)
    gen = torch.Generator().manual_seed(args.seed + step)
    log = (out / "log.jsonl")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    while step < args.steps:
        lr = scheduled_lr(opt, step, args.steps, args.lr, warmup=100)
        loss = head_loss(model, sched, batch(data["train"], args.batch_size, args.frames, rng), gen)
        optimizer_step(loss, opt, model.parameters(), clip=1.0)
        step += 1
        if step % 50 == 0:
            append_log(log, {"step": step, "loss": loss.item(), "lr": lr, "sec": round(time.time() - t0, 1)})
        if step % args.eval_every == 0 or step == args.steps:
            v = val_loss(model, sched, data["val"], args.frames)
            info = {"data": str(args.data), "features": HEAD_FEATURES, "val_loss": v, "best_val": min(best, v),
                    "command": "cafetalk train-head", "steps": args.steps}
            append_log(log, {"step": step, "val_loss": v})
            save_checkpoint(last, model, step=step, stage=1, front_end={"id": HEAD_FEATURES}, train=info)
            if v < best:
                best = v
                save_checkpoint(out / "best", model, step=step, stage=1, front_end={"id": HEAD_FEATURES}, train=info)
            print(f"[head] step {step} loss {loss.item():.4f} val {v:.4f} (best {best:.4f})", flush=True)
    return out / "best"


def cli_train_head(args: argparse.Namespace) -> int:
    print(f"[head] best checkpoint: {train_head(args)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m cafetalk_core.training.head", description=__doc__.splitlines()[0])
    add_head_arguments(p)
    return p


def main(argv: list[str] | None = None) -> int:
    return cli_train_head(build_parser().parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
