"""Stage 2 of Cafe-Talk: a ControlNet-style adapter for time-spanned fine controls.

Paper (section 3.2): the fine condition (per-frame AU sets) feeds an adapter of FiLM
self-attention blocks whose outputs pass zero-initialised layers into the frozen base, so at
the start of stage 2 the model is exactly the stage-1 model and learning only adds control.

Here: the rasterised controls (B, T, num_actions) in [0, 1] (controls/fine.py
``rasterize_fine``; intensity as the value) are embedded to ``control_width``. Adapter block k
reads the base's hidden state after base block k (down-projected, so it knows x_t and the
audio), runs FiLM-modulated self-attention + MLP (FiLM from the same per-frame timestep +
coarse vector that drives the base's AdaLN) and adds ``zero_out[k](h_ctrl)`` to the base's
hidden state. The paper uses a zero-initialised convolution; a zero-initialised linear layer
per frame is the same thing with kernel size 1 (docs/model.md).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig
from .denoiser import MLP, Attention, modulate, sinusoidal


class AdapterBlock(nn.Module):
    """FiLM self-attention + MLP over the control stream (B, T, Wc)."""

    def __init__(self, width: int, ctrl_width: int, heads: int) -> None:
        super().__init__()
        self.from_base = nn.Linear(width, ctrl_width)
        self.norm1 = nn.LayerNorm(ctrl_width, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(ctrl_width, heads)
        self.norm2 = nn.LayerNorm(ctrl_width, elementwise_affine=False, eps=1e-6)
        self.mlp = MLP(ctrl_width, 2)
        self.film = nn.Linear(width, 4 * ctrl_width)
        self.zero_out = nn.Linear(ctrl_width, width)

    def forward(self, h_ctrl: torch.Tensor, h_base: torch.Tensor, cond: torch.Tensor,
                mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        # h_ctrl (B, T, Wc), h_base (B, T, W), cond (B, T, W) -> new h_ctrl, delta for the base (B, T, W);
        # mask (B, 1, 1, T) bool: the padding of a sampling batch (Conditions.valid)
        g1, b1, g2, b2 = self.film(F.silu(cond)).chunk(4, dim=-1)
        h = h_ctrl + self.from_base(h_base)
        h = h + self.attn(modulate(self.norm1(h), b1, g1), mask=mask)
        h = h + self.mlp(modulate(self.norm2(h), b2, g2))
        return h, self.zero_out(h)


class ControlBranch(nn.Module):
    """Stage 2's learned adapter (``cfg.control_adapter``); without one the branch only marks that the
    model takes fine controls, which the signature stage after sampling composes
    (motion/control_signature.py, owned by the pipeline, ``cfg.control_prior``)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        wc = cfg.control_width
        heads = max(1, min(cfg.heads, wc // 32)) if wc >= 32 else 1
        self.has_adapter = bool(cfg.control_adapter)
        self.num_blocks = cfg.num_control_blocks if self.has_adapter else 0
        self.inp = nn.Sequential(nn.Linear(cfg.num_actions, wc), nn.SiLU(), nn.Linear(wc, wc)) if self.has_adapter else None
        self.blocks = nn.ModuleList(AdapterBlock(cfg.width, wc, heads) for _ in range(self.num_blocks))
        self.width = wc
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        for blk in self.blocks:   # the zero layers: stage 2 starts as exactly stage 1
            nn.init.zeros_(blk.zero_out.weight)
            nn.init.zeros_(blk.zero_out.bias)

    def start(self, fine: torch.Tensor) -> torch.Tensor:
        """(B, T, num_actions) controls -> initial control stream (B, T, Wc)."""
        pos = sinusoidal(torch.arange(fine.shape[1], device=fine.device), self.width)
        return self.inp(fine.float()) + pos


def attach_control(model: nn.Module) -> ControlBranch:
    """Add a fresh stage-2 branch to a stage-1 ``Denoiser`` (zero outputs: same predictions)."""
    model.control = ControlBranch(model.cfg).to(next(model.parameters()).device)
    return model.control
