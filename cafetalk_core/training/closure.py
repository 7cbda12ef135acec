"""Train the closure stage (model/closure.py) on a synthetic corpus's exact bilabial times.

    cafetalk train-closure --data corpus --out runs/closure --steps 1500
    python -m cafetalk_core.training.closure --data corpus --out runs/closure

The features are the front end of ``--checkpoint`` (default: the shipped model), the one the
detector will run beside; they are computed once per clip and cached under
``<data>/.closure/<front-end id>-<fps>fps/`` (resumable: an interrupted run keeps the clips it did).
The label of a frame is 1 inside a /p b m/ of the corpus's phone alignment. The loop is
short (a few CPU minutes): AdamW, warm-up and cosine, input noise, a positive-class weight for
the rare closures, and every ``--eval-every`` steps the average precision on the validation
split; the checkpoint with the best one is written to ``<out>/best`` (and ``<out>/last``).

``--p-drop-phones P`` (issue 23) zeroes the phone columns (``audio.frontend.drop_phone_columns``) of a
share P of the training windows, so the detector also hears bilabials from log-mel, loudness and
voice activity alone: the features a phone-free model gets for speech the English recogniser does
not know. Such a detector records ``phones_optional`` and is scored on the validation split both
ways (the selection score is the mean of the two average precisions).
"""
from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..audio.frontend import drop_phone_columns
from ..data.dataset import load_audio_16k, true_phones
from ..data.records import scan
from ..model.closure import ClosureDetector, save_closure
from ..model.runtime import configure_threads
from ..phones import BILABIALS, Phone
from .loop import append_log, optimizer_step, scheduled_lr
from .options import add_closure_arguments


def bilabial_labels(phones: list[Phone], num_frames: int, fps: float) -> np.ndarray:
    """(frames,) 1.0 on frames whose centre lies in a bilabial (at least the frame it starts in)."""
    lab = np.zeros(num_frames, np.float32)
    for p in phones:
        if p.phone in BILABIALS:
            a = int(np.floor(p.start_s * fps + 0.5))
            b = int(np.ceil(p.end_s * fps - 0.5))
            lab[max(0, a):max(a + 1, min(num_frames, b + 1))] = 1.0
    return lab


def build_cache(data: Path, checkpoint: str | None, fps: float) -> tuple[dict[str, list[tuple[np.ndarray, np.ndarray]]], Any]:
    """Per split: (features, labels) of every train/val clip with phones, computed by the checkpoint's
    front end; and that front end."""
    from ..pipeline import Generator

    front_end = Generator(checkpoint, threads=1).front_end
    folder = data / ".closure" / f"{front_end.id}-{fps:g}fps"
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, list] = {"train": [], "val": [], "test": []}
    for rec in scan(data):
        phones = true_phones(rec)
        if phones is None or rec.split == "test":
            continue
        path = folder / f"{rec.id}.npz"
        if not path.is_file():
            n = rec.num_frames(fps)
            feats = np.asarray(front_end.features(load_audio_16k(rec.wav), n, fps), np.float32)
            tmp = path.with_name(f".{path.stem}.tmp.npz")
            np.savez(tmp, feats=feats, label=bilabial_labels(phones, n, fps))
            tmp.replace(path)
        z = np.load(path)
        out.setdefault(rec.split, []).append((z["feats"], z["label"]))
    return out, front_end


def batch(items: list, size: int, frames: int, rng: np.random.Generator,
          drop_phones: Callable[[np.ndarray], np.ndarray] | None = None,
          p_drop_phones: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random windows of random clips; ``drop_phones`` (features -> features without the phone
    columns) is applied to a share ``p_drop_phones`` of them."""
    xs, ys = [], []
    for i in rng.integers(0, len(items), size):
        f, y = items[int(i)]
        s = int(rng.integers(0, max(1, len(f) - frames + 1)))
        f, y = f[s:s + frames], y[s:s + frames]
        if drop_phones is not None and rng.random() < p_drop_phones:
            f = drop_phones(f)
        pad = frames - len(f)
        xs.append(np.pad(f, ((0, pad), (0, 0))))
        ys.append(np.pad(y, (0, pad)))
    return torch.as_tensor(np.stack(xs)), torch.as_tensor(np.stack(ys))


def average_precision(prob: np.ndarray, label: np.ndarray) -> float:
    """Area under the precision-recall curve (step-wise), the selection score."""
    order = np.argsort(-prob, kind="stable")
    hits = label[order] > 0.5
    if not hits.any():
        return float("nan")
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(precision[hits].mean())


@torch.no_grad()
def val_score(det: ClosureDetector, items: list, drop_phones: Callable[[np.ndarray], np.ndarray] | None = None) -> float:
    """Average precision over the validation clips (their phone columns dropped by ``drop_phones`` if given)."""
    det.eval()
    prob = np.concatenate([det.probability(f if drop_phones is None else drop_phones(f)) for f, _ in items])
    det.train()
    return average_precision(prob, np.concatenate([y for _, y in items]))


def train_closure(args: argparse.Namespace) -> Path:
    configure_threads(args.threads)
    out = Path(args.out)
    data, front_end = build_cache(Path(args.data), args.checkpoint, args.fps)
    if not data["train"] or not data["val"]:
        raise SystemExit(f"no train/val clips with phones under {args.data}")
    if not 0.0 <= args.p_drop_phones <= 1.0:
        raise SystemExit(f"--p-drop-phones must be in [0, 1], got {args.p_drop_phones}")
    phones_optional = args.p_drop_phones > 0
    drop = (lambda f: drop_phone_columns(front_end, f)) if phones_optional else None   # noqa: E731
    torch.manual_seed(args.seed)
    feats = np.concatenate([f for f, _ in data["train"]])
    pos = float(np.concatenate([y for _, y in data["train"]]).mean())
    det = ClosureDetector(feats.shape[1], args.width, front_end.id, phones_optional=phones_optional)
    det.set_feature_stats(feats.mean(0), feats.std(0))
    opt = torch.optim.AdamW(det.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    pos_weight = torch.tensor(0.5 * (1.0 - pos) / max(pos, 1e-6))
    rng = np.random.default_rng(args.seed)
    out.mkdir(parents=True, exist_ok=True)
    log, best, t0 = out / "log.jsonl", -math.inf, time.time()
    for step in range(1, args.steps + 1):
        scheduled_lr(opt, step - 1, args.steps, args.lr, warmup=100, floor=0.0)
        x, y = batch(data["train"], args.batch_size, args.frames, rng, drop, args.p_drop_phones)
        x = x + args.noise * det.feat_std * torch.randn_like(x)      # noise in normalised units
        loss = F.binary_cross_entropy_with_logits(det(x), y, pos_weight=pos_weight)
        optimizer_step(loss, opt, det.parameters(), clip=None)
        if step % args.eval_every == 0 or step == args.steps:
            ap_phones = val_score(det, data["val"])
            ap_free = val_score(det, data["val"], drop) if phones_optional else None
            ap = ap_phones if ap_free is None else 0.5 * (ap_phones + ap_free)
            info = {"data": str(args.data), "val_ap": ap, "val_ap_phones": ap_phones, "val_ap_phone_free": ap_free,
                    "p_drop_phones": args.p_drop_phones, "step": step, "command": "cafetalk train-closure",
                    "steps": args.steps, "train_clips": len(data["train"]), "val_clips": len(data["val"])}
            append_log(log, {"step": step, "loss": loss.item(), "val_ap": ap, "val_ap_phones": ap_phones,
                             "val_ap_phone_free": ap_free, "sec": round(time.time() - t0, 1)})
            save_closure(out / "last", det, info)
            if ap > best:
                best = ap
                save_closure(out / "best", det, info)
            free = "" if ap_free is None else f" (with phones {ap_phones:.3f}, phone-free {ap_free:.3f})"
            print(f"[closure] step {step} loss {loss.item():.4f} val AP {ap:.3f}{free} (best {best:.3f})", flush=True)
    return out / "best"


def cli_train_closure(args: argparse.Namespace) -> int:
    print(f"[closure] best checkpoint: {train_closure(args)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m cafetalk_core.training.closure", description=__doc__.splitlines()[0])
    add_closure_arguments(p)
    return p


def main(argv: list[str] | None = None) -> int:
    return cli_train_closure(build_parser().parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
