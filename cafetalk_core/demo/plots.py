"""Pictures a person can look at: the main curves of a take, and a contact sheet of frames.

matplotlib (Agg, no display) is imported inside the functions so ``import cafetalk_core`` stays
light; both functions write a PNG and return its path.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..curves import BlendshapeCurves
from ..phones import BILABIALS, OPEN_VOWELS, Phone

#: (label, channels averaged, colour): what shows lip sync, emotion and liveliness at a glance.
MAIN_CURVES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("jawOpen", ("jawOpen",), "#d62728"),
    ("mouthClose", ("mouthClose",), "#1f77b4"),
    ("mouthFunnel", ("mouthFunnel",), "#9467bd"),
    ("mouthPucker", ("mouthPucker",), "#8c564b"),
    ("mouthSmileLeft", ("mouthSmileLeft",), "#2ca02c"),
    ("mouthSmileRight", ("mouthSmileRight",), "#98df8a"),
    ("eyeBlinkLeft", ("eyeBlinkLeft",), "#7f7f7f"),
    ("eyeBlinkRight", ("eyeBlinkRight",), "#c7c7c7"),
    ("browInnerUp", ("browInnerUp",), "#ff7f0e"),
    ("browDown (L+R)/2", ("browDownLeft", "browDownRight"), "#bcbd22"),
    ("browOuterUp (L+R)/2", ("browOuterUpLeft", "browOuterUpRight"), "#17becf"),
)
_PANELS = (("mouth", MAIN_CURVES[:6]), ("eyes and brows", MAIN_CURVES[6:]))


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _phone_colour(phone: str) -> str:
    if phone in BILABIALS:
        return "#1f77b4"
    if phone in OPEN_VOWELS:
        return "#d62728"
    return "#555555"


def plot_curves(curves: BlendshapeCurves, path: str | Path, fine: Sequence[dict[str, Any]] = (),
                emotion_spans: Sequence[dict[str, Any]] = (), phones: Sequence[Phone] = (),
                title: str = "") -> Path:
    """Mouth and eye/brow curves over time, fine-control spans shaded and labelled, phones on top.

    ``fine`` / ``emotion_spans`` are ControlSet JSON lists (``{"action", "start_s", "end_s",
    "intensity"}``); ``phones`` are drawn as labels (bilabials blue, open vowels red).
    """
    plt = _pyplot()
    path = Path(path)
    t = np.arange(curves.num_frames) / curves.fps
    fig, axes = plt.subplots(len(_PANELS), 1, figsize=(11, 6.2), sharex=True)
    spans = [(c["start_s"], c["end_s"], f"{c['action']} {c.get('intensity', 1):.1f}", "#ffd54f") for c in fine]
    spans += [(c["start_s"], c["end_s"], f"{c['emotion']} {c.get('intensity', 1):.1f}", "#b3e5fc") for c in emotion_spans]
    for ax, (panel, rows) in zip(axes, _PANELS):
        for k, (a, b, label, colour) in enumerate(spans):
            ax.axvspan(a, b, color=colour, alpha=0.35, lw=0)
            ax.text((a + b) / 2, 1.02 - 0.08 * (k % 3), label, ha="center", va="top", fontsize=7,
                    transform=ax.get_xaxis_transform())
        for label, names, colour in rows:
            present = [n for n in names if n.lower() in {m.lower() for m in curves.names}]
            if not present:
                continue
            y = np.mean([curves.channel(n) for n in present], axis=0)
            ax.plot(t, y, color=colour, lw=1.4, label=label)
        ax.set_ylim(-0.02, 1.05)
        ax.set_ylabel(f"{panel}\n(weight)")
        ax.grid(alpha=0.25)
        ax.legend(loc="upper right", fontsize=7, ncol=3, framealpha=0.8)
    if phones:
        ax0 = axes[0]
        for p in phones:
            if p.phone == "SIL":
                continue
            mid = 0.5 * (p.start_s + p.end_s)
            ax0.text(mid, 1.04, p.phone, ha="center", va="bottom", fontsize=6, color=_phone_colour(p.phone),
                     transform=ax0.get_xaxis_transform(), rotation=90)
            if p.phone in BILABIALS:
                for ax in axes[:1]:
                    ax.axvline(mid, color="#1f77b4", lw=0.6, ls=":")
    axes[-1].set_xlabel("time (s)")
    axes[-1].set_xlim(0, max(t[-1] if len(t) else 0, 1e-3))
    fig.suptitle(title or f"CafeTalk take: {curves.num_frames} frames at {curves.fps:g} fps", fontsize=10, y=0.995)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def contact_sheet(items: Sequence[tuple[str | Path, str, str]], path: str | Path, cols: int = 6,
                  title: str = "") -> Path:
    """A grid of rendered frames; each item is ``(png_path, label, colour)`` (label under the image)."""
    plt = _pyplot()
    path = Path(path)
    if not items:
        raise ValueError("contact_sheet: items is empty (no frames to show)")
    cols = max(1, min(cols, len(items)))
    rows = (len(items) + cols - 1) // cols
    first = plt.imread(str(items[0][0]))
    aspect = first.shape[0] / first.shape[1]
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.2 * aspect * rows + 0.5), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (png, label, colour) in zip(axes.ravel(), items):
        ax.imshow(plt.imread(str(png)))
        ax.set_title(label, fontsize=9, color=colour, pad=2)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
