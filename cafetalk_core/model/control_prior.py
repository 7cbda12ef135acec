"""The signature prior of stage 2: each fine control starts from its known ARKit signature.

Why (issue 15): the paper's stage 2 learns every action from zero through a zero-initialised
adapter. On our corpus that learned only the actions it sees often (blinks, gaze, brow raises);
smile, frown, squint and every mouth action did nothing on real speech, and 21 actions in a
few thousand CPU steps leave each rare action few examples. Lip sync on real voices only came
once stage 1 started from a known procedural prior and learned a correction of it (the viseme
skip, ``Denoiser.prior_skip``). The same holds here: the vocabulary table
(controls/vocabulary.py) *is* each action's signature, so the x0 prediction of the controlled
branch G_acf is the base prediction plus the signature of every requested action, scaled by its
intensity, with the corpus's own ramps; the adapter (control_branch.py), when present, learns
what is left (co-activations, timing against speech).

What the prior does, per frame, in curve units (then back to model space):

    level_a(t)  = intensity_a x ramp(box_a)(t)          # box of the span, edges ramped over ~0.1 s
    target_c(t) = max_a level_a(t) x signature_a[c]     # the action's channels at the asked intensity
    out_c(t)    = 1 - (1 - base_c(t)) (1 - target_c(t))  # "screen": never lowers what the base does

The prior runs once, on the final sample (the pipeline's after-sampling stages), not inside the
denoising loop: inside it the base sees x_t, which already holds the action after the first
steps, and adds it again (measured: a 0.3 smile saturated at 1.0 and leaked 0.1 outside its
span). A screen blend rather than a maximum: where the base already does the action (brows that
rise on stressed words) a maximum would make 0.3, 0.6 and 0.9 look the same; the screen blend
equals the target on a neutral face, keeps what the base does, and always rises with intensity.

Speech wins where a mouth action fights a phoneme (the paper: lower-face AUs that fight the
phonemes degrade the lips). The rules, tested in tests/test_control_prior.py:

* bilabials stay closed: on frames where the base's lips are sealed *while speaking* (aperture
  ``jawOpen - mouthClose`` near 0 and voice activity on), a jaw drop (AU26) raises mouthClose with
  jawOpen so the aperture stays the base's, and an upper-lip raise (AU10) is suppressed;
* lip press (AU24) seals the lips in the pauses inside its span (mouthClose up to jawOpen) and
  only presses the corners while speaking: it holds the lips shut *between* words, not across them;
* smile, stretch, dimple, frown, pucker, chin raise are added on their own channels, which never
  open or close the lips, so a smile on "boom" still closes on the b and rounds on the oo.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .. import rig
from ..controls.vocabulary import ACTIONS, action_index

JAW_OPEN = rig.channel_index("jawOpen")
MOUTH_CLOSE = rig.channel_index("mouthClose")
AU10, AU24, AU26 = action_index("AU10"), action_index("AU24"), action_index("AU26")
SEALED_APERTURE = 0.12   # base aperture at or below this counts as (partly) sealed lips (curve units)


def signature_matrix() -> torch.Tensor:
    """(num_actions, 52): each action's ARKit channel weights at intensity 1 (the vocabulary table)."""
    m = torch.zeros(len(ACTIONS), rig.NUM_CHANNELS)
    for k, a in enumerate(ACTIONS):
        for name, w in a.channels:
            m[k, rig.channel_index(name)] = w
    return m


def ramp_kernel_frames(ramp_s: float, fps: float) -> int:
    """Odd moving-average width that turns a span's box into a trapezoid with half height at its edges."""
    return 2 * int(round(max(0.0, ramp_s) * fps / 2.0)) + 1


class ControlPrior(nn.Module):
    """Composes fine controls onto a base x0 prediction (curve units); no learned weights."""

    def __init__(self, ramp_s: float, fps: float) -> None:
        super().__init__()
        self.register_buffer("signature", signature_matrix(), persistent=False)
        self.kernel = ramp_kernel_frames(ramp_s, fps)
        self.edge = ramp_kernel_frames(0.3, fps)   # a bilabial at a word's edge is still speech (VAD lags)

    def envelope(self, grid: torch.Tensor) -> torch.Tensor:
        """(B, T, A) box grid -> the same, edges ramped (trapezoid; values stay inside [0, max])."""
        if self.kernel <= 1:
            return grid
        x = grid.transpose(1, 2)                                                   # (B, A, T)
        x = F.avg_pool1d(F.pad(x, (self.kernel // 2, self.kernel // 2)), self.kernel, stride=1)
        return x.transpose(1, 2)

    def forward(self, base: torch.Tensor, fine: torch.Tensor, speech: torch.Tensor) -> torch.Tensor:
        # base (B, T, 52) curve units; fine (B, T, A) intensities in [0, 1]; speech (B, T) in [0, 1]
        fine = fine.to(base.dtype)
        level = self.envelope(fine)                                               # (B, T, A)
        unit = self.envelope((fine > 0).to(base.dtype))                           # (B, T, A) 0..1
        speech = speech.to(base.dtype)
        aperture = base[..., JAW_OPEN] - base[..., MOUTH_CLOSE]
        sealed = (1.0 - aperture / SEALED_APERTURE).clamp(0.0, 1.0)
        bilabial = sealed * speech                                                # (B, T)
        gate = torch.ones_like(level)
        gate[..., AU10] = 1.0 - bilabial
        sig = self.signature.to(device=base.device, dtype=base.dtype)              # (A, 52)
        target = ((level * gate)[..., :, None] * sig).amax(dim=-2)                # (B, T, 52)
        base01 = base.clamp(0.0, 1.0)
        out = torch.where(target > 0, 1.0 - (1.0 - base01) * (1.0 - target), base)
        jaw = out[..., JAW_OPEN]
        # AU26 keeps closures: where the base's lips (nearly) meet while speaking (or within 0.15 s of
        # speech: the VAD lags at word edges), mouthClose follows the dropped jaw so the aperture stays
        # the base's; AU24 seals the pauses inside its span
        near_speech = F.max_pool1d(speech[:, None], self.edge, stride=1, padding=self.edge // 2)[:, 0]
        keep_aperture = unit[..., AU26] * sealed * near_speech * (jaw - aperture.clamp_min(0.0))
        close = torch.maximum(keep_aperture, unit[..., AU24] * (1.0 - speech) * jaw)
        out = out.clone()
        mc = out[..., MOUTH_CLOSE]
        out[..., MOUTH_CLOSE] = torch.where(close > 0, torch.maximum(mc, torch.minimum(close, jaw)), mc)
        return out
