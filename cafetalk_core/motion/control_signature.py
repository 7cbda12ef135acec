"""Stage 2 after sampling: each fine control composed onto the sample from its action's signature.

Why a rule stage (issue 15): the paper's stage 2 learns every action from zero through a
zero-initialised adapter. On our corpus that learned only the actions it sees often (blinks,
gaze, brow raises); smile, frown, squint and every mouth action did nothing on real speech. So
each action starts from a *signature*: the ARKit channels it moves and how far at intensity 1.

Two signature tables (issue 24), both (num_actions, 52):

* ``"hand"``: the vocabulary table (controls/vocabulary.py): each action's own channels only,
  the fallback;
* ``"captures"``: learned as the paper learns stage 2: Algorithm 1 (controls/binarize.py) labels
  the real NeuroSync captures' frames, and each action's co-activation (which channels move with
  it, per unit of its own activation: controls/coactivation.py) is measured on the TRAIN takes
  (training/signatures.py writes ``weights/control_signatures.json``). Its own channels keep the
  hand weights (so the requested intensity is met exactly); the other channels are the learned
  co-activations of either sign (a real smile also lifts cheekSquint and mouthUpperUp; a real chin
  raise lowers mouthLowerDown, a look down the look up). Per action, the learned
  row is used only where it matched the held-out captures better than the hand row (the file's
  ``chosen``); elsewhere the hand row stays.

What the stage does, per frame, in curve units:

    level_a(t)  = intensity_a x ramp(box_a)(t)          # box of the span, edges ramped over ~0.1 s
    target_c(t)   = max_a level_a(t) x gate_ac(t) x max(signature_a[c], 0)
    suppress_c(t) = max_a level_a(t) x max(-signature_a[c], 0)     # negative co-activations
    kept_c(t)     = base_c(t) (1 - suppress_c(t))                 # attenuated, never raised
    out_c(t)      = 1 - (1 - kept_c(t)) (1 - target_c(t))         # "screen": never below kept or target

It runs once on the final sample, owned by the pipeline (motion/stages.py), not inside the
denoising loop: inside it the base sees x_t, which already holds the action after the first steps,
and adds it again (measured: a 0.3 smile saturated at 1.0 and leaked 0.1 outside its span). A
screen blend rather than a maximum: where the base already does the action a maximum would make
0.3, 0.6 and 0.9 look the same; the screen blend equals the target on a neutral face, keeps what
the base does, and always rises with intensity.

Speech wins where a mouth action fights a phoneme (the paper: lower-face AUs that fight the
phonemes degrade the lips). The rules, tested in tests/test_control_prior.py:

* bilabials stay closed: on frames where the base's lips are sealed *while speaking* (aperture
  ``jawOpen - mouthClose`` near 0 and voice activity on), every lip-parting channel
  (mouthUpperUp, mouthLowerDown: an upper-lip raise, or a learned smile's lip part) is gated off,
  and a jaw drop (AU26) raises mouthClose with jawOpen so the aperture stays the base's;
* no signature row touches jawOpen or mouthClose except the jaw drop's own (the aperture is the
  lip sync's);
* lip press (AU24) seals the lips in the pauses inside its span (mouthClose up to jawOpen) and
  only presses the corners while speaking: it holds the lips shut *between* words, not across them.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.ndimage import maximum_filter1d, uniform_filter1d

from .. import rig
from ..controls.vocabulary import ACTION_IDS, ACTIONS, action_index
from .blend import screen

JAW_OPEN = rig.channel_index("jawOpen")
MOUTH_CLOSE = rig.channel_index("mouthClose")
AU24, AU26 = action_index("AU24"), action_index("AU26")
SEALED_APERTURE = 0.12   # base aperture at or below this counts as (partly) sealed lips (curve units)
#: A jaw drop keeps the base's aperture where it is at most this (lips meeting or about to), and
#: less of it up to twice this. Chosen on the real-speech validation set: keeping it in proportion
#: to ``sealed`` (the rule before) opened partly sealed frames and cost 0.82 -> 0.79 closure inside
#: AU26 spans; 0.06 keeps 0.82 and opens the lips 0.32 inside the span (0.12: 0.21; before: 0.36).
JAW_DROP_KEEPS_APERTURE_BELOW = 0.06
#: Channels that part the lips: gated off where the base's lips meet while speaking.
LIP_PARTING = tuple(rig.indices(["mouthUpperUpLeft", "mouthUpperUpRight", "mouthLowerDownLeft", "mouthLowerDownRight"]))
#: Channels no co-activation may drive (the lip aperture and the tongue belong to the lip sync).
SPEECH_OWNED = tuple(rig.indices(["jawOpen", "mouthClose", "tongueOut"]))
SIGNATURES_FILE = Path(__file__).resolve().parents[1] / "weights" / "control_signatures.json"
SIGNATURE_TABLES = ("hand", "captures")
#: The shipped default: the table that matched the held-out captures' co-activations better
#: (README, docs/model.md: ``python -m cafetalk_core.training.signatures``).
DEFAULT_SIGNATURE = "captures"


def hand_signatures() -> np.ndarray:
    """(num_actions, 52): each action's own ARKit channel weights at intensity 1 (the vocabulary table)."""
    m = np.zeros((len(ACTIONS), rig.NUM_CHANNELS), np.float32)
    for k, a in enumerate(ACTIONS):
        for name, w in a.channels:
            m[k, rig.channel_index(name)] = w
    return m


@lru_cache(maxsize=4)
def _load_table(path: str) -> tuple[np.ndarray, tuple[str, ...]]:
    meta = json.loads(Path(path).read_text())
    if list(meta.get("actions", [])) != list(ACTION_IDS) or list(meta.get("channels", [])) != list(rig.ARKIT_NAMES):
        raise ValueError(f"{path}: actions/channels differ from this version's vocabulary and rig")
    table = hand_signatures()
    chosen = tuple(meta["chosen"])
    learned = np.asarray(meta["learned"], np.float32)
    for a in chosen:
        table[ACTION_IDS.index(a)] = learned[ACTION_IDS.index(a)]
    return table, chosen


def signature_table(name: str = DEFAULT_SIGNATURE, path: str | Path = SIGNATURES_FILE) -> np.ndarray:
    """(num_actions, 52) signature table by name: "hand" or "captures" (learned rows where chosen)."""
    if name == "hand":
        return hand_signatures()
    if name == "captures":
        return _load_table(str(path))[0].copy()
    raise ValueError(f"signature must be one of {SIGNATURE_TABLES}, got {name!r}")


def ramp_kernel_frames(ramp_s: float, fps: float) -> int:
    """Odd moving-average width that turns a span's box into a trapezoid with half height at its edges."""
    return 2 * int(round(max(0.0, ramp_s) * fps / 2.0)) + 1


def envelope(grid: np.ndarray, kernel: int) -> np.ndarray:
    """(T, A) box grid -> the same with its edges ramped (a centred moving average, zeros beyond the clip)."""
    if kernel <= 1:
        return grid
    return uniform_filter1d(grid, kernel, axis=0, mode="constant", cval=0.0)


def compose_controls(base: np.ndarray, fine: np.ndarray, speech: np.ndarray, fps: float, *,
                     ramp_s: float = 0.1, signature: np.ndarray | str = DEFAULT_SIGNATURE) -> np.ndarray:
    """(T, 52) sample + (T, A) rasterised controls in [0, 1] + (T,) voice activity -> composed (T, 52)."""
    base = np.asarray(base, np.float32)
    sig = signature_table(signature) if isinstance(signature, str) else np.asarray(signature, np.float32)
    if sig.shape != (len(ACTIONS), rig.NUM_CHANNELS):
        raise ValueError(f"signature must be ({len(ACTIONS)}, {rig.NUM_CHANNELS}), got {sig.shape}")
    fine = np.asarray(fine, np.float32)
    speech = np.asarray(speech, np.float32)
    kernel = ramp_kernel_frames(ramp_s, fps)
    level = envelope(fine, kernel)                                               # (T, A)
    unit = envelope((fine > 0).astype(np.float32), kernel)                       # (T, A) 0..1
    aperture = base[:, JAW_OPEN] - base[:, MOUTH_CLOSE]
    sealed = np.clip(1.0 - aperture / SEALED_APERTURE, 0.0, 1.0)
    bilabial = sealed * speech                                                   # (T,)
    contrib = level[:, :, None] * np.maximum(sig, 0.0)[None]                     # (T, A, 52)
    lip = list(LIP_PARTING)
    contrib[:, :, lip] *= (1.0 - bilabial)[:, None, None]
    target = contrib.max(axis=1)                                                 # (T, 52)
    suppress = (level[:, :, None] * np.maximum(-sig, 0.0)[None]).max(axis=1)    # (T, 52)
    kept = np.where(suppress > 0, base * (1.0 - suppress), base)
    kept01 = np.clip(kept, 0.0, 1.0)
    out = np.where(target > 0, screen(kept01, target), kept).astype(np.float32)
    jaw = out[:, JAW_OPEN]
    # AU26 keeps closures: where the base's lips (nearly) meet while speaking (or within 0.15 s of
    # speech: the VAD lags at word edges), mouthClose rises as the jaw drops so the aperture stays
    # the base's (fully up to JAW_DROP_KEEPS_APERTURE_BELOW, fading to nothing at twice it);
    # AU24 seals the pauses inside its span
    edge = ramp_kernel_frames(0.3, fps)
    near_speech = maximum_filter1d(speech, edge, mode="constant", cval=0.0)
    keep = unit[:, AU26] * near_speech * np.clip(2.0 - aperture / JAW_DROP_KEEPS_APERTURE_BELOW, 0.0, 1.0)
    keep_aperture = np.where(keep > 0, base[:, MOUTH_CLOSE] + keep * (jaw - base[:, JAW_OPEN]), 0.0)
    close = np.maximum(keep_aperture, unit[:, AU24] * (1.0 - speech) * jaw)
    mc = out[:, MOUTH_CLOSE]
    out[:, MOUTH_CLOSE] = np.where(close > 0, np.maximum(mc, np.minimum(close, jaw)), mc)
    return out

