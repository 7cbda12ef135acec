"""Noise schedule, DDIM scheduler + sampler, mask-based CFG, and the training losses.

Style after diffusers' ``DDIMScheduler`` (a small object: typed config, ``set_timesteps``,
``step``) and k-diffusion's samplers (a short function with a per-step ``callback``).

Choices (docs/model.md):
* x0 prediction, as the paper: the network's output is the clean curve, so losses on the
  curve itself (mouth-weighted MSE, velocity) are direct, and the prediction stays well
  posed at the highest noise level where epsilon prediction degenerates.
* Cosine beta schedule (Nichol & Dhariwal 2021, arXiv 2102.09672): 52-channel curves are a
  low-dimensional signal that a linear schedule destroys within the first third of the
  steps; the cosine schedule spreads the signal-to-noise ratio evenly, which matters most
  when sampling with ~12 DDIM steps.
* "Trailing" timestep spacing (Lin et al. 2024, arXiv 2305.08891) so the first sampling step
  starts at the last training timestep (pure noise), not ~T/n below it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F

from ..controls.vocabulary import ACTIONS
from ..rig import LIP_SYNC_NAMES, NUM_CHANNELS, indices
from .denoiser import Conditions, Denoiser


# ---------------------------------------------------------------------------------------------
# schedule + scheduler
def betas_for(schedule: str, num_steps: int) -> torch.Tensor:
    if schedule == "cosine":
        s = 0.008
        f = lambda t: math.cos((t / num_steps + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
        b = [min(1 - f(i + 1) / f(i), 0.999) for i in range(num_steps)]
        return torch.tensor(b, dtype=torch.float64)
    if schedule == "linear":
        return torch.linspace(1e-4, 0.02, num_steps, dtype=torch.float64)
    raise ValueError(f"beta_schedule must be 'cosine' or 'linear', got {schedule!r}")


@dataclass(frozen=True)
class SchedulerConfig:
    num_train_timesteps: int = 1000
    beta_schedule: str = "cosine"
    eta: float = 0.0                # 0 = deterministic DDIM; 1 = DDPM-like ancestral noise
    prediction: str = "x0"          # or "epsilon"


@dataclass
class DDIMStepOutput:
    prev_sample: torch.Tensor            # x_{t-1}
    pred_original_sample: torch.Tensor   # x0 estimate at this step


class DDIMScheduler:
    """DDIM (Song et al. 2021, arXiv 2010.02502) over a cosine/linear schedule."""

    def __init__(self, config: SchedulerConfig | None = None, **kwargs: Any) -> None:
        self.config = config or SchedulerConfig(**kwargs)
        if self.config.prediction not in ("x0", "epsilon"):
            raise ValueError(f"prediction must be 'x0' or 'epsilon', got {self.config.prediction!r}")
        self.betas = betas_for(self.config.beta_schedule, self.config.num_train_timesteps)
        self.alphas_cumprod = torch.cumprod(1.0 - self.betas, dim=0)   # \bar{alpha}_t
        self.timesteps: torch.Tensor | None = None
        self._index = 0

    # -- training side -------------------------------------------------------------------------
    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor | int) -> torch.Tensor:
        """q(x_t | x0) = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps  (DDPM eq. 4). t (B,) or int."""
        # index on the CPU in float64, then cast: works on devices without float64 (MPS)
        ab = self.alphas_cumprod[torch.as_tensor(t).long().cpu()].to(x0.dtype).to(x0.device)
        while ab.dim() < x0.dim():
            ab = ab[..., None]
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    # -- sampling side -------------------------------------------------------------------------
    def set_timesteps(self, num_inference_steps: int) -> None:
        n, total = int(num_inference_steps), self.config.num_train_timesteps
        if not 1 <= n <= total:
            raise ValueError(f"num_inference_steps must be in [1, {total}], got {num_inference_steps}")
        # trailing spacing: t_i = round(T (n - i) / n) - 1 for i = 0..n-1, in integers so there are
        # exactly n of them, from T-1 down to round(T/n) - 1 >= 0 (strictly decreasing, as T/n >= 1)
        i = torch.arange(n, dtype=torch.long)
        self.timesteps = (2 * total * (n - i) + n) // (2 * n) - 1
        self._index = 0

    def _prev_t(self) -> int:
        i = self._index
        return int(self.timesteps[i + 1]) if i + 1 < len(self.timesteps) else -1

    def step(self, model_output: torch.Tensor, t: int | torch.Tensor, sample: torch.Tensor,
             generator: torch.Generator | None = None) -> DDIMStepOutput:
        """One reverse step x_t -> x_{t-1}. Must be called with the timesteps in order."""
        if self.timesteps is None:
            raise ValueError("call set_timesteps(n) before step()")
        if self._index >= len(self.timesteps):
            raise ValueError(f"step() called {self._index + 1} times, but set_timesteps gave {len(self.timesteps)} steps")
        t = int(t)
        expected = int(self.timesteps[self._index])
        if t != expected:
            raise ValueError(f"step() got t={t}, expected t={expected} (step {self._index} of {len(self.timesteps)})")
        prev_t = self._prev_t()
        ab_t = float(self.alphas_cumprod[t])
        ab_prev = float(self.alphas_cumprod[prev_t]) if prev_t >= 0 else 1.0
        # 1. x0 and epsilon from the model output (DDIM eq. 9 / 12: x_t = sqrt(ab) x0 + sqrt(1-ab) eps)
        if self.config.prediction == "x0":
            x0 = model_output
            eps = (sample - math.sqrt(ab_t) * x0) / math.sqrt(max(1 - ab_t, 1e-12))
        else:
            eps = model_output
            x0 = (sample - math.sqrt(1 - ab_t) * eps) / math.sqrt(ab_t)
        # 2. sigma_t (DDIM eq. 16): eta * sqrt((1-ab_prev)/(1-ab_t)) * sqrt(1 - ab_t/ab_prev)
        sigma = self.config.eta * math.sqrt(max((1 - ab_prev) / max(1 - ab_t, 1e-12), 0.0)) \
            * math.sqrt(max(1 - ab_t / ab_prev, 0.0))
        # 3. "direction pointing to x_t" (DDIM eq. 12, middle term)
        direction = math.sqrt(max(1 - ab_prev - sigma ** 2, 0.0)) * eps
        # 4. x_{t-1} = sqrt(ab_prev) x0 + direction + sigma z  (DDIM eq. 12)
        prev = math.sqrt(ab_prev) * x0 + direction
        if sigma > 0:
            z = torch.randn(sample.shape, generator=generator, dtype=sample.dtype, device="cpu").to(sample.device)
            prev = prev + sigma * z
        self._index += 1
        return DDIMStepOutput(prev, x0)


# ---------------------------------------------------------------------------------------------
# sampler
def sample_ddim(model_fn: Callable[..., torch.Tensor], x: torch.Tensor, scheduler: DDIMScheduler,
                extra_args: dict | None = None, callback: Callable[[dict], None] | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Run the scheduler's timesteps from noise ``x``; returns the final x0 estimate.

    k-diffusion's one sampler contract: ``model_fn(x, t, **extra_args)`` returns the
    prediction; ``callback`` receives ``{"i", "x", "denoised", "t"}`` after every step
    (progress, cancel). Guidance and inpainting are wrappers around ``model_fn``
    (:class:`CFGDenoiser`, :class:`InpaintDenoiser`), never options of the sampler.
    ``generator`` feeds the scheduler's noise when eta > 0.
    """
    extra_args = extra_args or {}
    if scheduler.timesteps is None:
        raise ValueError("call scheduler.set_timesteps(n) before sample_ddim")
    denoised = x
    for i, t in enumerate(scheduler.timesteps.tolist()):
        denoised = model_fn(x, t, **extra_args)
        x = scheduler.step(denoised, t, x, generator=generator).prev_sample
        if callback is not None:
            callback({"i": i, "x": x, "denoised": denoised, "t": t})
    return denoised


class InpaintDenoiser:
    """Inpainting as a denoiser wrapper: the known frames, noised to the current level, replace
    those of ``x`` before every call of the wrapped denoiser (RePaint-lite, Lugmayr et al. 2022
    without resampling), so the new frames are generated consistent with them.

    ``known`` is broadcastable to x; ``known_mask`` True = keep. Outside the mask the
    prediction depends only on the new frames' own trajectory, as in the sampler-side version
    this replaces. ``generator`` draws the forward noise (CPU, so CPU and CUDA agree).

    A batch of clips (``pipeline.Generator.sample_batch``) passes one generator per row (None for
    a row with nothing known: it draws nothing, as that clip alone would not inpaint) and each
    row's unpadded ``lengths``: row r draws a (1, lengths[r], C) tensor, the noise it would draw alone.
    """

    def __init__(self, inner: Callable[..., torch.Tensor], scheduler: DDIMScheduler, known: torch.Tensor,
                 known_mask: torch.Tensor, generator: torch.Generator | list[torch.Generator | None] | None = None,
                 lengths: list[int] | None = None) -> None:
        self.inner, self.scheduler, self.known, self.known_mask = inner, scheduler, known, known_mask
        if isinstance(generator, list) and (lengths is None or len(lengths) != len(generator)):
            raise ValueError(f"one length per row's generator: got {len(generator)} generators and lengths={lengths}")
        self.generator, self.lengths = generator, lengths

    def _noise(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(self.generator, list):
            return torch.randn(x.shape, generator=self.generator, dtype=x.dtype, device="cpu").to(x.device)
        noise = torch.zeros(x.shape, dtype=x.dtype)
        for r, (gen, length) in enumerate(zip(self.generator, self.lengths)):
            if gen is not None:
                noise[r, :length] = torch.randn((1, length) + tuple(x.shape[2:]), generator=gen, dtype=x.dtype)[0]
        return noise.to(x.device)

    def __call__(self, x: torch.Tensor, t: int, **extra_args: Any) -> torch.Tensor:
        x = torch.where(self.known_mask, self.scheduler.add_noise(self.known, self._noise(x), t), x)
        return self.inner(x, t, **extra_args)


def cfg_combine(g_none: torch.Tensor | None, g_ac: torch.Tensor, g_acf: torch.Tensor | None,
                audio_scale: float | torch.Tensor, control_scale: float, z: torch.Tensor | None,
                fine_reference: str = "none") -> torch.Tensor:
    """Mask-based CFG (Cafe-Talk eq. for M0):

    M0 = G_none + a (G_audio,coarse - G_none) + b Z (G_audio,coarse,fine - G_none)

    with Z (B, T, 1) the frames covered by fine controls. Without fine controls the last term
    is 0. ``fine_reference="audio_coarse"`` (our option, not the paper's) takes the fine term
    against G_audio,coarse instead, so covered frames are not guided (a + b) times towards the
    audio. ``g_none`` may be None when a = 1 and no term needs it. ``audio_scale`` may be a
    (C,) tensor: one a per channel (see :func:`channel_scales`).
    """
    if fine_reference not in ("none", "audio_coarse"):
        raise ValueError(f"fine_reference must be 'none' or 'audio_coarse', got {fine_reference!r}")
    out = g_ac if g_none is None else g_none + audio_scale * (g_ac - g_none)
    if g_acf is not None and z is not None:
        ref = g_ac if fine_reference == "audio_coarse" else g_none
        out = out + control_scale * z * (g_acf - ref)
    return out


def channel_scales(lip_scale: float, face_scale: float | None) -> float | torch.Tensor:
    """a per channel: ``lip_scale`` on jaw, mouth and tongue, ``face_scale`` on the rest.

    A plain float when both agree (or ``face_scale`` is None), so the common case stays scalar.
    """
    if face_scale is None or float(face_scale) == float(lip_scale):
        return float(lip_scale)
    scales = torch.full((NUM_CHANNELS,), float(face_scale))
    scales[list(indices(LIP_SYNC_NAMES))] = float(lip_scale)
    return scales


def _is_one(scale: float | torch.Tensor) -> bool:
    return bool(torch.all(torch.as_tensor(scale) == 1.0))


class CFGDenoiser:
    """Batches the CFG branches (none / audio+coarse / audio+coarse+fine) into one forward.

    ``cond`` holds the full conditions for B rows. The batch holds only the branches the
    formula needs: G_none is skipped when a = 1 and no fine term refers to it (halves the
    cost of a plain generation); G_acf only when fine controls are given and the model has
    the stage-2 branch, which then runs on those rows only. Conditions are encoded once.
    """

    def __init__(self, model: Denoiser, cond: Conditions, audio_scale: float | torch.Tensor,
                 control_scale: float | torch.Tensor, fine_reference: str = "none") -> None:
        # a batch of several clips may carry one scale per row: audio_scale (B, 1, C) or (B, 1, 1),
        # control_scale (B, 1, 1); padded rows of different lengths come with cond.valid
        self.model = model
        if isinstance(audio_scale, torch.Tensor):
            audio_scale = audio_scale.to(device=cond.audio.device, dtype=cond.audio.dtype)
        if isinstance(control_scale, torch.Tensor):
            control_scale = control_scale.to(device=cond.audio.device, dtype=cond.audio.dtype)
        self.audio_scale, self.control_scale, self.fine_reference = audio_scale, control_scale, fine_reference
        b = cond.audio.shape[0]
        self.b = b
        # Without a learned adapter the fine controls act only through the signature prior, which
        # the sampler's caller applies to the final sample (motion/control_signature.py): no G_acf branch.
        use_fine = (cond.fine is not None and model.control is not None and model.control.has_adapter
                    and bool((cond.fine > 0).any()))
        self.z = (cond.fine > 0).any(dim=-1, keepdim=True).to(cond.audio.dtype) if use_fine else None
        self.use_none = not (_is_one(audio_scale) and (not use_fine or fine_reference == "audio_coarse"))
        self.use_fine = use_fine
        kinds = (["none"] if self.use_none else []) + ["ac"] + (["acf"] if use_fine else [])
        null_emotion = torch.full_like(cond.emotion, model.cfg.num_emotions)
        keep = torch.ones(b, dtype=torch.bool, device=cond.audio.device)
        n = len(kinds)
        batched = Conditions(
            audio=cond.audio.repeat(n, 1, 1),
            emotion=torch.cat([null_emotion if k == "none" else cond.emotion for k in kinds]),
            intensity=torch.cat([torch.zeros_like(cond.intensity) if k == "none" else cond.intensity for k in kinds]),
            audio_keep=torch.cat([~keep if k == "none" else keep for k in kinds]),
            fine=cond.fine if use_fine else None,
            fine_rows=slice((n - 1) * b, n * b) if use_fine else None,
            valid=cond.valid.repeat(n, 1) if cond.valid is not None else None,
            style=cond.style.repeat(n) if cond.style is not None else None,
        )
        self.n = n
        self.encoded = model.encode(batched)

    def __call__(self, x: torch.Tensor, t: int) -> torch.Tensor:
        out = self.model.denoise(x.repeat(self.n, 1, 1), torch.full((self.n * self.b,), t, device=x.device), self.encoded)
        parts = list(out.split(self.b))
        g_none = parts.pop(0) if self.use_none else None
        g_ac = parts.pop(0)
        g_acf = parts.pop(0) if self.use_fine else None
        return cfg_combine(g_none, g_ac, g_acf, self.audio_scale, self.control_scale, self.z, self.fine_reference)


# ---------------------------------------------------------------------------------------------
# training losses
MOUTH_INDICES = indices(LIP_SYNC_NAMES)


def action_channel_matrix(device: torch.device | str = "cpu") -> torch.Tensor:
    """(num_actions, 52) 1 where an action drives a channel (for the swap-label loss mask)."""
    m = torch.zeros(len(ACTIONS), NUM_CHANNELS)
    for k, a in enumerate(ACTIONS):
        m[k, a.channel_indices()] = 1.0
    return m.to(device)


def drop_controls(fine: torch.Tensor, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Drop each control span (one action's contiguous run of frames: the paper's AU
    "triplet" of action, start, end) with probability ``p``, so partial control sets are the
    norm at training time and a user can give one control without the others."""
    if p <= 0:
        return fine
    on = fine > 0                                                          # (B, T, A)
    starts = on & ~F.pad(on, (0, 0, 1, 0))[:, :-1]                         # run starts
    run_id = torch.cumsum(starts.long(), dim=1)                            # run index per (b, a)
    max_runs = int(run_id.max()) + 1 if run_id.numel() else 1
    keep = torch.rand((fine.shape[0], max_runs, fine.shape[2]), generator=generator) >= p
    keep_frame = torch.gather(keep.to(fine.device), 1, run_id)
    return fine * (keep_frame & on)


def diffusion_loss(model: Denoiser, scheduler: DDIMScheduler, batch: dict[str, torch.Tensor], *,
                   stage: int = 1, p_drop_audio: float = 0.2, p_drop_coarse: float = 0.2,
                   p_swap: float = 0.0, p_drop_controls: float = 0.8, mouth_weight: float = 2.0,
                   velocity_weight: float = 1.0, high_t_share: float = 0.0,
                   generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """The simple loss on x0 (Cafe-Talk / MDM style) with condition dropout and swap-label batches.

    ``batch``: ``curves`` (B, T, 52) in [0, 1]; ``audio`` (B, T, audio_dim); ``emotion`` (B, T)
    int64; ``intensity`` (B, T); optional ``fine`` (B, T, num_actions) rasterised controls
    (stage 2), ``mask`` (B, T) valid frames and ``channel_mask`` (B, 52) the channels each
    row's truth animates (a real capture mapped from another rig knows only some). Returns (loss, logs).

    * Audio and coarse are dropped independently with p = 0.2 (classifier-free guidance).
    * Stage 2: each control span is dropped with ``p_drop_controls`` (paper: ~80%).
    * Swap-label rows (``p_swap``, stage 2): the emotion is replaced by a different one while
      fine controls and ground truth stay; their loss covers only the frames and channels the
      remaining controls drive: L = || Z_ctrl * (M - M_hat') || (paper section 3.3).
    * ``high_t_share`` of the rows draw t from the top tenth of the schedule instead of all of it:
      there the input carries almost nothing of x0, so the prediction is the audio's regression,
      which is all a 1-step sample is (the phone-free default; docs/training.md).
    """
    core: Denoiser = getattr(model, "module", model)     # DDP wraps the model; attributes live on .module
    device = batch["curves"].device
    curves = batch["curves"]
    b, n, c = curves.shape
    rand = lambda *shape: torch.rand(shape, generator=generator).to(device)  # noqa: E731
    x0 = core.normalize(curves)
    t = torch.randint(0, scheduler.config.num_train_timesteps, (b,), generator=generator).to(device)
    if high_t_share > 0:
        top = scheduler.config.num_train_timesteps
        high = torch.randint(top - top // 10, top, (b,), generator=generator).to(device)
        t = torch.where(rand(b) < high_t_share, high, t)
    noise = torch.randn(x0.shape, generator=generator).to(device)
    x_t = scheduler.add_noise(x0, noise, t)

    emotion, intensity = batch["emotion"].clone(), batch["intensity"].clone().float()
    fine = batch.get("fine") if stage == 2 else None
    swap = torch.zeros(b, dtype=torch.bool, device=device)
    if fine is not None:
        fine = drop_controls(fine.float(), p_drop_controls, generator)
        if p_swap > 0:
            swap = (rand(b) < p_swap) & (fine > 0).flatten(1).any(dim=1)
            if swap.any():
                offset = torch.randint(1, core.cfg.num_emotions, (b,), generator=generator).to(device)
                emotion = torch.where(swap[:, None], (emotion + offset[:, None]) % core.cfg.num_emotions, emotion)
    drop_coarse = (rand(b) < p_drop_coarse) & ~swap
    emotion = torch.where(drop_coarse[:, None], torch.full_like(emotion, core.cfg.num_emotions), emotion)
    intensity = torch.where(drop_coarse[:, None], torch.zeros_like(intensity), intensity)
    audio_keep = rand(b) >= p_drop_audio
    cond = Conditions(batch["audio"], emotion, intensity, audio_keep=audio_keep, fine=fine,
                      frame_mask=batch.get("mask"), style=batch.get("style") if core.style is not None else None)
    pred = model(x_t, t, cond)
    if core.cfg.prediction == "epsilon":   # turn into x0 for the curve losses
        ab = scheduler.alphas_cumprod[t.cpu()].float().to(device).view(-1, 1, 1)
        pred = (x_t - (1 - ab).sqrt() * pred) / ab.sqrt()

    w = torch.ones(c, device=device)
    w[MOUTH_INDICES] = mouth_weight
    valid = batch.get("mask")
    valid = torch.ones(b, n, device=device) if valid is None else valid.float()
    weight = valid[..., None] * w                                              # (B, T, 52)
    if batch.get("channel_mask") is not None:
        weight = weight * batch["channel_mask"].float()[:, None, :]
    if swap.any():
        z_ctrl = ((fine > 0).float() @ action_channel_matrix(device)).clamp(max=1.0)   # (B, T, 52)
        weight = torch.where(swap[:, None, None], weight * z_ctrl, weight)
    err = (pred - x0) ** 2
    loss_x0 = (err * weight).sum() / weight.sum().clamp_min(1.0)
    loss = loss_x0
    logs = {"loss_x0": float(loss_x0.detach())}
    if velocity_weight > 0 and n > 1:
        wv = torch.minimum(weight[:, 1:], weight[:, :-1])
        verr = ((pred[:, 1:] - pred[:, :-1]) - (x0[:, 1:] - x0[:, :-1])) ** 2
        loss_vel = (verr * wv).sum() / wv.sum().clamp_min(1.0)
        loss = loss + velocity_weight * loss_vel
        logs["loss_vel"] = float(loss_vel.detach())
    logs["loss"] = float(loss.detach())
    logs["swap_rows"] = float(swap.sum())
    return loss, logs
