"""Stage 1 of Cafe-Talk: a diffusion transformer (DiT) over blendshape frames.

Paper: Cafe-Talk, ICLR 2025 (arXiv 2503.14517), section 3. The network sees the noisy curves
x_t (B, T, 52) and predicts the clean curves x0. Conditions:

* audio features (B, T, audio_dim), already at the motion frame rate, enter every block by
  cross-attention under a near-diagonal alignment mask (frame i sees audio frames i-w..i+w);
* the coarse condition (emotion id + ordinal intensity) and the diffusion timestep enter by
  AdaLN modulation, per frame, so the emotion may change inside a clip.

Deviation (docs/model.md): the AdaLN parameters are computed once per forward from the
per-frame condition and shared by all blocks plus a learned per-block offset table
("adaLN-single", PixArt-alpha, arXiv 2310.00426) instead of one MLP per block as in DiT. Per-frame
modulation with one MLP per block would cost as much as the blocks themselves on CPU.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..rig import LIP_SYNC_NAMES, indices
from .config import ModelConfig

LIP_SYNC_INDICES = indices(LIP_SYNC_NAMES)


def sinusoidal(x: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Transformer sinusoidal embedding of positions/timesteps x (...,) -> (..., dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=x.device, dtype=torch.float32) / half)
    args = x.float()[..., None] * freqs
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return F.pad(emb, (0, dim % 2))


def alignment_mask(num_frames: int, num_audio: int, window: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """(T, Ta) bool, True where motion frame i may attend audio frame j: |i - j| <= window.

    Audio features are at the motion frame rate, so the diagonal is the alignment; the paper's
    near-diagonal mask keeps lip sync local (a frame cannot copy the mouth shape of a word 2 s away).
    """
    i = torch.arange(num_frames, device=device)[:, None]
    j = torch.arange(num_audio, device=device)[None, :]
    return (i - j).abs() <= window


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale) + shift


class Attention(nn.Module):
    """Multi-head attention; self-attention when ``kv`` is None. Shapes (B, T, C)."""

    def __init__(self, width: int, heads: int, cross: bool = False, dropout: float = 0.0) -> None:
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.q = nn.Linear(width, width)
        self.kv = nn.Linear(width, 2 * width)
        self.out = nn.Linear(width, width)
        self.cross = cross

    def split(self, t: torch.Tensor) -> torch.Tensor:
        b, n, c = t.shape
        return t.view(b, n, self.heads, c // self.heads).transpose(1, 2)  # (B, H, N, C/H)

    def project_kv(self, ctx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        k, v = self.kv(ctx).chunk(2, dim=-1)
        return self.split(k), self.split(v)

    def forward(self, x: torch.Tensor, kv: tuple[torch.Tensor, torch.Tensor] | None = None,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        b, n, c = x.shape
        q = self.split(self.q(x))
        k, v = kv if kv is not None else self.project_kv(x)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(b, n, c))


class MLP(nn.Module):
    def __init__(self, width: int, mult: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.fc = nn.Linear(width, width * mult)
        self.proj = nn.Linear(width * mult, width)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.proj(F.gelu(self.fc(x))))  # exact GELU: 3x faster than tanh on CPU


class DiTBlock(nn.Module):
    """AdaLN self-attention -> AdaLN cross-attention to audio -> AdaLN MLP, each gated (adaLN-Zero)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        w = cfg.width
        self.norm1 = nn.LayerNorm(w, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(w, cfg.heads, dropout=cfg.dropout)
        self.norm2 = nn.LayerNorm(w, elementwise_affine=False, eps=1e-6)
        self.cross = Attention(w, cfg.heads, cross=True, dropout=cfg.dropout)
        self.norm3 = nn.LayerNorm(w, elementwise_affine=False, eps=1e-6)
        self.mlp = MLP(w, cfg.ff_mult, cfg.dropout)
        # adaLN-single: per-block learned offsets added to the shared per-frame modulation
        self.mod_table = nn.Parameter(torch.zeros(9, w))

    def forward(self, x: torch.Tensor, mod: torch.Tensor, audio_kv: tuple[torch.Tensor, torch.Tensor],
                cross_mask: torch.Tensor, self_mask: torch.Tensor | None = None) -> torch.Tensor:
        # x (B, T, W); mod (B, T, 9, W)
        m = (mod + self.mod_table).unbind(dim=2)
        x = x + m[2] * self.attn(modulate(self.norm1(x), m[0], m[1]), mask=self_mask)
        x = x + m[5] * self.cross(modulate(self.norm2(x), m[3], m[4]), kv=audio_kv, mask=cross_mask)
        x = x + m[8] * self.mlp(modulate(self.norm3(x), m[6], m[7]))
        return x


@dataclass
class Conditions:
    """What a forward pass is conditioned on (one row per batch item).

    audio: (B, T, audio_dim) front-end features; audio_keep: (B,) bool, False -> the learned null
    audio token (CFG's "no audio"); emotion: (B, T) int64, ``num_emotions`` = null; intensity:
    (B, T) float (0 with the null emotion); fine: (B, T, num_actions) rasterised controls in [0, 1]
    or None; fine_rows: the batch rows the stage-2 branch applies to (None = all rows when
    ``fine`` is given). ``fine`` then has as many rows as ``fine_rows`` selects.
    """

    audio: torch.Tensor
    emotion: torch.Tensor
    intensity: torch.Tensor
    audio_keep: torch.Tensor | None = None
    fine: torch.Tensor | None = None
    fine_rows: slice | None = None
    frame_mask: torch.Tensor | None = None   # (B, T) bool, False = padding (training only)
    # (B, T) bool, False = padding added at sampling to batch clips of different lengths: masked
    # everywhere a frame sees its neighbours (audio convs, self- and cross-attention, the adapter),
    # so each row samples as its own unpadded run would (pipeline.Generator.sample_batch).
    # Training keeps ``frame_mask`` (self-attention only) so trained checkpoints behave as before.
    valid: torch.Tensor | None = None
    # (B,) int64 style token per row (an index into ``cfg.style_names``); None on a model without
    # tokens. Not a CFG condition: every branch of a row gets the same token.
    style: torch.Tensor | None = None


@dataclass
class EncodedConditions:
    """Step-independent work done once per sampling run: audio K/V per block, coarse embedding."""

    audio_kv: list[tuple[torch.Tensor, torch.Tensor]]
    coarse: torch.Tensor              # (U, W) embeddings of the U distinct (row, emotion, intensity)
    coarse_row: torch.Tensor          # (U,) batch row of each distinct condition
    coarse_index: torch.Tensor        # (B, T) index into U per frame
    cross_mask: torch.Tensor          # (T, Ta) bool
    self_mask: torch.Tensor | None    # (B, 1, 1, T) bool or None
    fine: torch.Tensor | None         # (Bf, T, num_actions)
    fine_rows: slice | None
    prior: torch.Tensor | None = None  # (B, T, 52) normalised prior-skip term (0 where audio is dropped)
    adapter_mask: torch.Tensor | None = None  # (B, 1, 1, T) bool: the adapter's self-attention mask (sampling padding)


class AudioEncoder(nn.Module):
    """Front-end features -> width, with a little local context (convs), run once per generation."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.inp = nn.Linear(cfg.audio_dim, cfg.width)
        self.convs = nn.ModuleList(nn.Conv1d(cfg.width, cfg.width, 5, padding=2) for _ in range(cfg.audio_conv_layers))
        self.norm = nn.LayerNorm(cfg.width)

    def forward(self, feats: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        # valid (B, T) bool: padded frames are zeroed before every conv, as the conv's own zero padding
        keep = None if valid is None else valid[..., None].to(feats.dtype)
        h = self.inp(feats)                                   # (B, T, W)
        for conv in self.convs:
            if keep is not None:
                h = h * keep
            h = h + F.gelu(conv(h.transpose(1, 2)).transpose(1, 2))
        return self.norm(h)


class CoarseEmbedding(nn.Module):
    """Emotion embedding + intensity * learned vector (ordinal: doubling intensity doubles the offset).

    The paper embeds the emotion *word* with CLIP so synonyms work; we map synonyms to MEAD's 8
    labels in controls/coarse.py and learn one vector per label (docs/model.md).
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.null_id = cfg.num_emotions
        self.emotion = nn.Embedding(cfg.num_emotions + 1, cfg.width)
        self.intensity = nn.Parameter(torch.randn(cfg.width) * 0.02)
        self.proj = nn.Sequential(nn.Linear(cfg.width, cfg.width), nn.SiLU(), nn.Linear(cfg.width, cfg.width))

    def forward(self, emotion: torch.Tensor, intensity: torch.Tensor) -> torch.Tensor:
        # emotion (B, T) int64, intensity (B, T) -> (B, T, W)
        return self.proj(self.emotion(emotion) + intensity[..., None].float() * self.intensity)


class Denoiser(nn.Module):
    """The stage-1 DiT; ``control`` (stage 2, control_branch.py) is attached after construction."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.inp = nn.Linear(cfg.num_channels, w)
        self.t_embed = nn.Sequential(nn.Linear(w, w), nn.SiLU(), nn.Linear(w, w))
        self.coarse = CoarseEmbedding(cfg)
        self.style = nn.Embedding(len(cfg.style_names), w) if cfg.style_names else None   # zero-init: see add_styles
        self.audio = AudioEncoder(cfg)
        self.null_audio = nn.Parameter(torch.randn(w) * 0.02)
        self.mod = nn.Sequential(nn.SiLU(), nn.Linear(w, 9 * w))
        self.blocks = nn.ModuleList(DiTBlock(cfg) for _ in range(cfg.depth))
        self.final_norm = nn.LayerNorm(w, elementwise_affine=False, eps=1e-6)
        self.final_mod = nn.Sequential(nn.SiLU(), nn.Linear(w, 2 * w))
        self.out = nn.Linear(w, cfg.num_channels)
        # data normalisation: curves in [0, 1] -> model space; training/denoiser.py may set per-channel stats
        self.register_buffer("data_mean", torch.full((cfg.num_channels,), 0.5))
        self.register_buffer("data_std", torch.full((cfg.num_channels,), 0.5))
        self.control = None  # ControlBranch or None
        # Viseme-prior skip (our addition, docs/model.md): when the front end carries the
        # procedural lip sync of the recognised phones (28 jaw/mouth/tongue columns starting at
        # ``prior_offset``), an identity-initialised linear map adds it to the x0 prediction,
        # so the untrained model already is the recogniser -> visemes baseline and the DiT
        # learns the correction (emotion, coarticulation, recogniser errors).
        self.prior_skip = nn.Linear(len(LIP_SYNC_INDICES), len(LIP_SYNC_INDICES)) if cfg.prior_offset >= 0 else None
        self.reset_parameters()

    # -- init --------------------------------------------------------------------------------
    def reset_parameters(self) -> None:
        """DiT's init: xavier linears, adaLN-Zero (gates and output start at zero)."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.coarse.emotion.weight, std=0.02)
        for lin in (self.mod[1], self.final_mod[1], self.out):
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)
        if self.style is not None:
            nn.init.zeros_(self.style.weight)
        if self.prior_skip is not None:
            nn.init.eye_(self.prior_skip.weight)
            nn.init.zeros_(self.prior_skip.bias)

    def set_data_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Per-channel normalisation from the training corpus (std floored so silent channels stay sane)."""
        self.data_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.data_std.copy_(torch.as_tensor(std, dtype=torch.float32).clamp_min(0.05))

    def normalize(self, curves: torch.Tensor) -> torch.Tensor:
        return (curves - self.data_mean) / self.data_std

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.data_std + self.data_mean

    # -- conditioning --------------------------------------------------------------------------
    def encode(self, cond: Conditions) -> EncodedConditions:
        """Everything that does not depend on x_t or t: computed once per sampling run."""
        audio = self.audio(cond.audio, cond.valid)                                  # (B, Ta, W)
        if cond.audio_keep is not None:
            keep = cond.audio_keep.to(audio.device).view(-1, 1, 1)
            audio = torch.where(keep, audio, self.null_audio.to(audio.dtype).expand_as(audio))
        kv = [blk.cross.project_kv(audio) for blk in self.blocks]
        t, ta = cond.emotion.shape[1], audio.shape[1]
        self_mask = None
        if cond.frame_mask is not None:
            self_mask = cond.frame_mask[:, None, None, :].bool()
        cross_mask = alignment_mask(t, ta, self.cfg.attn_window, audio.device)        # (T, Ta)
        adapter_mask = None
        if cond.valid is not None:   # sampling padding: padded keys are never seen by real frames;
            valid = cond.valid.bool()   # padded query rows see every frame (finite, and unused)
            self_mask = adapter_mask = valid[:, None, None, :]
            cross_mask = ((cross_mask[None] & valid[:, None, :]) | ~valid[:, :, None])[:, None]   # (B, 1, T, Ta)
        # The coarse condition is usually constant over a clip: embed and modulate only its
        # distinct values per row and gather them per frame (saves ~20% of a step on CPU).
        b = cond.emotion.shape[0]
        row = torch.arange(b, device=cond.emotion.device)[:, None].expand(b, t)
        key = torch.stack([row.double(), cond.emotion.double(), cond.intensity.double()], dim=-1).reshape(-1, 3)
        uniq, inverse = torch.unique(key, dim=0, return_inverse=True)
        coarse = self.coarse(uniq[:, 1].long(), uniq[:, 2].float())
        if self.style is not None:
            if cond.style is None:
                raise ValueError(f"this model has style tokens {list(self.cfg.style_names)}: give Conditions.style")
            coarse = coarse + self.style(cond.style.to(coarse.device))[uniq[:, 0].long()]
        return EncodedConditions(kv, coarse, uniq[:, 0].long(), inverse.view(b, t), cross_mask,
                                 self_mask, cond.fine, cond.fine_rows, self.prior_term(cond), adapter_mask)

    def prior_term(self, cond: Conditions) -> torch.Tensor | None:
        """(B, T, 52) normalised viseme-prior skip, zero on rows whose audio is dropped (CFG)."""
        if self.prior_skip is None:
            return None
        k = len(LIP_SYNC_INDICES)
        prior = cond.audio[..., self.cfg.prior_offset:self.cfg.prior_offset + k].float()   # (B, T, 28) raw weights
        lip = torch.tensor(LIP_SYNC_INDICES, device=prior.device)
        term = torch.zeros(*prior.shape[:2], self.cfg.num_channels, device=prior.device, dtype=prior.dtype)
        term[..., lip] = (self.prior_skip(prior) - self.data_mean[lip]) / self.data_std[lip]
        if cond.audio_keep is not None:
            term = term * cond.audio_keep.to(term.device).view(-1, 1, 1).to(term.dtype)
        return term

    # -- forward -------------------------------------------------------------------------------
    def denoise(self, x: torch.Tensor, t: torch.Tensor, enc: EncodedConditions) -> torch.Tensor:
        """x_t (B, T, 52) in model space, t (B,) or scalar -> prediction (B, T, 52) (x0 by default)."""
        b, n, _ = x.shape
        t = torch.as_tensor(t, device=x.device).expand(b) if torch.as_tensor(t).dim() == 0 else t.to(x.device)
        temb = self.t_embed(sinusoidal(t, self.cfg.width))                           # (B, W)
        c_u = enc.coarse + temb[enc.coarse_row]                                      # (U, W)
        c = c_u[enc.coarse_index]                                                    # (B, T, W)
        mod = self.mod(c_u)[enc.coarse_index].view(b, n, 9, self.cfg.width)          # (B, T, 9, W)
        pos = sinusoidal(torch.arange(n, device=x.device), self.cfg.width)           # (T, W)
        h = self.inp(x) + pos
        use_control = self.control is not None and enc.fine is not None
        adapter = use_control and self.control.has_adapter
        rows = enc.fine_rows if enc.fine_rows is not None else slice(None)
        if adapter:
            h_ctrl = self.control.start(enc.fine)
        for k, blk in enumerate(self.blocks):
            h = blk(h, mod, enc.audio_kv[k], enc.cross_mask, enc.self_mask)
            if adapter and k < self.control.num_blocks:
                amask = enc.adapter_mask[rows] if enc.adapter_mask is not None else None
                h_ctrl, delta = self.control.blocks[k](h_ctrl, h[rows], c[rows], amask)
                if enc.fine_rows is None:
                    h = h + delta
                else:
                    h = torch.cat([h[: rows.start], h[rows] + delta, h[rows.stop:]], dim=0)
        shift, scale = self.final_mod(c_u)[enc.coarse_index].chunk(2, dim=-1)
        out = self.out(modulate(self.final_norm(h), shift, scale))
        if enc.prior is not None:
            out = out + enc.prior
        return out

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: Conditions) -> torch.Tensor:
        return self.denoise(x, t, self.encode(cond))


def add_styles(model: Denoiser, names: tuple[str, ...]) -> None:
    """Give a trained model style tokens for ``names`` (zero vectors: its outputs do not change
    until training moves them); the model config's ``style_names`` is set to match."""
    if model.style is not None:
        raise ValueError(f"the model already has style tokens {list(model.cfg.style_names)}")
    if not names:
        raise ValueError("add_styles needs at least one style name")
    model.cfg.style_names = tuple(names)
    model.style = nn.Embedding(len(names), model.cfg.width).to(model.data_mean.device)
    nn.init.zeros_(model.style.weight)


def randomize_zero_init(model: nn.Module, std: float = 0.02, seed: int = 0, include_control: bool = True) -> None:
    """Give zero-initialised layers small random values so an untrained model is not constant.

    Only for ``Generator.random`` (integration before training exists): with adaLN-Zero the
    untrained DiT outputs exactly zero, which would hide bugs in windowing, CFG and inpainting.
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if not include_control and name.startswith("control."):
                continue
            if p.dim() >= 1 and torch.count_nonzero(p) == 0:
                p.copy_(torch.randn(p.shape, generator=g) * std)
