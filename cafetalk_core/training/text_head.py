"""Train the text -> action head: ``python -m cafetalk_core.training.text_head``.

Reproduces ``weights/text_head.safetensors`` + ``text_head.json`` from the generated phrases
(``controls/text/data.py``) in about a minute on one CPU core. Sentence embeddings are cached under
``$XDG_CACHE_HOME/cafetalk`` (or ``~/.cache/cafetalk``) so a second run only trains the head.

Loss (after the paper's CLIP detector): BCE over the multi-label actions + cross-entropy over
(none | 8 emotions) + BCE on "negated" + 0.2 x InfoNCE between the projected clause embedding
and the embedding of each action's description, for clauses that name exactly one action.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..controls.text.data import generate_examples
from ..controls.text.model import (CONFIG_PATH, EMBEDDING_MODEL, EMOTION_LABELS, HEAD_PATH, TextHead, embed, reset_cache,
                         save_head)
from ..controls.vocabulary import ACTION_IDS, ACTIONS
from .loop import optimizer_step, scheduled_lr


def _cache_path() -> Path:
    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cafetalk"
    root.mkdir(parents=True, exist_ok=True)
    return root / "text_embeddings_minilm.npz"


def embed_cached(texts: list[str]) -> np.ndarray:
    """Embeddings for ``texts``, computing only those not already in the on-disk cache."""
    path = _cache_path()
    cache: dict[str, np.ndarray] = {}
    if path.exists():
        data = np.load(path, allow_pickle=False)
        cache = dict(zip(data["texts"].tolist(), data["vecs"]))
    missing = sorted({t for t in texts if t not in cache})
    if missing:
        for t, v in zip(missing, embed(missing)):
            cache[t] = v
        keys = sorted(cache)
        np.savez(path, texts=np.array(keys), vecs=np.stack([cache[k] for k in keys]).astype(np.float32))
    return np.stack([cache[t] for t in texts]).astype(np.float32)


def action_descriptions() -> list[str]:
    """One sentence per action for the InfoNCE term ("smile", "look left", ...)."""
    return [f"{a.label}" for a in ACTIONS]


def train(epochs: int = 120, seed: int = 0, hidden: int = 256, lr: float = 2e-3, out: Path = HEAD_PATH,
          config_out: Path = CONFIG_PATH, verbose: bool = True) -> dict:
    """Train and save the head; returns the config written (with validation figures)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    t0 = time.time()
    rows = generate_examples(seed)
    texts = [r[0] for r in rows]
    x = torch.from_numpy(embed_cached(texts))
    desc = torch.from_numpy(embed_cached(action_descriptions()))
    y_act = torch.zeros(len(rows), len(ACTION_IDS))
    y_emo = torch.zeros(len(rows), dtype=torch.long)
    y_neg = torch.zeros(len(rows))
    for i, (_, acts, emo, neg) in enumerate(rows):
        for a in acts:
            y_act[i, ACTION_IDS.index(a)] = 1.0
        y_emo[i] = EMOTION_LABELS.index(emo) if emo else 0
        y_neg[i] = float(neg)
    single = y_act.sum(1) == 1
    perm = rng.permutation(len(rows))
    n_val = len(rows) // 10
    val, tr = torch.from_numpy(perm[:n_val]), torch.from_numpy(perm[n_val:])
    if verbose:
        print(f"{len(rows)} phrases embedded in {time.time() - t0:.1f} s; training on {len(tr)}, validating on {n_val}")

    head = TextHead(len(ACTION_IDS), len(EMOTION_LABELS), hidden)
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=1e-4)
    batch = 256
    for epoch in range(epochs):
        scheduled_lr(opt, epoch, epochs, lr, warmup=0, floor=0.0)   # per epoch, cosine to 0
        head.train()
        order = tr[torch.randperm(len(tr))]
        total = 0.0
        for k in range(0, len(order), batch):
            idx = order[k:k + batch]
            xb = x[idx] + 0.02 * torch.randn(len(idx), x.shape[1])   # small noise: smoother decision surface
            la, le, ln, proj = head(xb)
            loss = (F.binary_cross_entropy_with_logits(la, y_act[idx])
                    + 0.5 * F.cross_entropy(le, y_emo[idx])
                    + 0.3 * F.binary_cross_entropy_with_logits(ln, y_neg[idx]))
            s = single[idx]
            if s.any():
                sim = F.normalize(proj[s], dim=-1) @ F.normalize(desc, dim=-1).T / 0.07
                loss = loss + 0.2 * F.cross_entropy(sim, y_act[idx][s].argmax(1))
            optimizer_step(loss, opt, head.parameters(), clip=None)
            total += float(loss.detach()) * len(idx)
        if verbose and (epoch % 20 == 0 or epoch == epochs - 1):
            print(f"epoch {epoch:3d} loss {total / len(tr):.4f}")

    head.eval()
    with torch.no_grad():
        la, le, ln, _ = head(x[val])
        pred = torch.sigmoid(la) > 0.5
        truth = y_act[val] > 0.5
        tp = (pred & truth).sum().item()
        prec = tp / max(1, pred.sum().item())
        rec = tp / max(1, truth.sum().item())
        emo_acc = (le.argmax(1) == y_emo[val]).float().mean().item()
        neg_acc = ((torch.sigmoid(ln) > 0.5).float() == y_neg[val]).float().mean().item()
    config = {
        "version": 1,
        "embedding_model": EMBEDDING_MODEL,
        "embed_dim": int(x.shape[1]),
        "hidden": hidden,
        "label_order": list(ACTION_IDS),
        "emotion_order": list(EMOTION_LABELS),
        "thresholds": {a: 0.5 for a in ACTION_IDS},
        "emotion_threshold": 0.8,
        "negation_threshold": 0.5,
        "training": {
            "examples": len(rows), "train": len(tr), "validation": n_val, "epochs": epochs, "seed": seed, "lr": lr,
            "data_sha1": hashlib.sha1("\n".join(texts).encode()).hexdigest()[:12],
            "val_action_precision": round(prec, 4), "val_action_recall": round(rec, 4),
            "val_emotion_accuracy": round(emo_acc, 4), "val_negation_accuracy": round(neg_acc, 4),
            "seconds": round(time.time() - t0, 1),
            "command": "python -m cafetalk_core.training.text_head",
        },
    }
    save_head(head, config, out, config_out)
    reset_cache()
    if verbose:
        print(f"validation (same templates): action P {prec:.3f} R {rec:.3f}, emotion acc {emo_acc:.3f}, "
              f"negation acc {neg_acc:.3f}; saved {out}")
    return config


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=120)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    train(args.epochs, args.seed, args.hidden)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
