"""Head motion with known truth for the synthetic corpus (the head stage learns from it).

No capture of head motion exists for our synthetic voices, so, as for the face, the corpus gets
head motion by documented rules drawn from what is known of talking heads (Hadar et al. 1983:
head movement concentrates on stressed syllables and phrase boundaries and stops in pauses;
Busso et al. 2007: emotion shifts posture and amplitude). Angles in radians, Live Link's
convention as documented in docs/model.md: yaw positive to the subject's left, pitch positive
down (a nod goes down first), roll positive towards the subject's left shoulder.

Per clip (``rng`` seeded by the clip), over frames at ``fps``:

1. posture: an emotion offset x intensity (sad: head lowered ~7 deg; surprise: raised ~5 deg;
   fear: raised and turned slightly away; angry: lowered ~3 deg; happy: raised ~2 deg with a
   slight tilt; disgust: turned away ~3 deg);
2. phrase poses: at each phrase start (speech after a pause >= 0.2 s, or the first word), and
   every 1.2-2.5 s inside a long phrase, a new yaw/pitch/roll pose (normal, ~4 / 1.5 / 2 deg)
   reached in ~0.4 s and held;
3. accents: on up to one stressed (long) vowel per ~0.8 s of speech a nod (pitch pulse,
   3-6 deg, raised cosine of 0.4 s) with a small turn (+-1.5 deg);
4. sway during speech: low-passed noise (~0.6 Hz), ~1 deg, that fades out in pauses;
5. in pauses the head settles: the motion is low-passed harder there (stillness in pauses).

Amplitude (``AMPLITUDE``) scales with emotion arousal (angry, fear, surprise, happy x1.3; sad x0.6).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.ndimage import gaussian_filter1d

from ..phones import Phone

VOWELS = {"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"}
DEG = np.pi / 180.0
#: (yaw, pitch, roll) posture per emotion at intensity 1, degrees
POSTURE = {"neutral": (0.0, 0.0, 0.0), "happy": (0.0, -2.0, 1.5), "sad": (0.0, 7.0, -1.0),
           "angry": (0.0, 3.0, 0.0), "fear": (2.0, -3.0, 0.0), "disgust": (-3.0, 1.0, -1.0),
           "surprise": (0.0, -5.0, 0.0), "contempt": (2.0, -1.0, 2.0)}
AROUSAL = {"angry": 1.3, "fear": 1.3, "surprise": 1.3, "happy": 1.3, "sad": 0.6}
PAUSE_S = 0.2
#: Overall motion scale: puts the standard deviation while talking at ~2 deg (a few degrees,
#: as measured on talking-head captures), not a still head and not a wobble.
AMPLITUDE = 1.6


def speech_mask(phones: Sequence[Phone], num_frames: int, fps: float) -> np.ndarray:
    """(frames,) bool: inside a non-silence phone."""
    m = np.zeros(num_frames, bool)
    for p in phones:
        if p.phone != "SIL":
            m[max(0, int(p.start_s * fps)):min(num_frames, int(np.ceil(p.end_s * fps)))] = True
    return m


def _phrase_starts(phones: Sequence[Phone]) -> list[float]:
    starts, prev_end = [], None
    for p in phones:
        if p.phone == "SIL":
            continue
        if prev_end is None or p.start_s - prev_end >= PAUSE_S:
            starts.append(p.start_s)
        prev_end = p.end_s
    return starts


def _pose_times(phones: Sequence[Phone], rng: np.random.Generator) -> list[float]:
    """Phrase starts, plus a pose shift every 1.2-2.5 s of continuous speech."""
    starts = _phrase_starts(phones)
    ends = [p.end_s for p in phones if p.phone != "SIL"]
    out = []
    for k, s in enumerate(starts):
        stop = starts[k + 1] if k + 1 < len(starts) else (max(ends) if ends else s)
        t = s
        while t < stop - 0.3:
            out.append(t)
            t += rng.uniform(1.2, 2.5)
    return out


def _accents(phones: Sequence[Phone], rng: np.random.Generator) -> list[float]:
    vowels = [p for p in phones if p.phone in VOWELS and p.end_s - p.start_s > 0.07]
    spoken = sum(p.end_s - p.start_s for p in phones if p.phone != "SIL")
    k = int(round(spoken / 0.8 * rng.uniform(0.6, 1.0)))
    vowels.sort(key=lambda p: -(p.end_s - p.start_s) * rng.uniform(0.8, 1.2))
    return sorted(p.start_s for p in vowels[:k])


def _pulse(t: np.ndarray, centre: float, width: float) -> np.ndarray:
    x = (t - centre) / width
    return np.where(np.abs(x) < 1, 0.5 * (1 + np.cos(np.pi * x)), 0.0)


def head_truth(phones: Sequence[Phone], num_frames: int, fps: float, emotion: str, intensity: float,
               rng: np.random.Generator) -> np.ndarray:
    """(frames, 3) head yaw, pitch, roll in radians for one corpus clip (see the module docstring)."""
    n = int(num_frames)
    t = np.arange(n) / fps
    speech = speech_mask(phones, n, fps)
    amp = AMPLITUDE * (1.0 + (AROUSAL.get(emotion, 1.0) - 1.0) * float(intensity))
    out = np.zeros((n, 3))
    # 2. phrase poses, eased in over ~0.4 s
    pose = np.zeros((n, 3))
    current = np.zeros(3)
    for s in _pose_times(phones, rng):
        target = np.array([rng.normal(0, 4.0), rng.normal(0, 1.5), rng.normal(0, 2.0)]) * amp * DEG
        step = np.clip((t - s) / 0.4, 0, 1)[:, None]
        pose = np.where((t >= s)[:, None], current + step * (target - current), pose)
        current = target
    out += pose
    # 3. accents: nods with a small turn
    for a in _accents(phones, rng):
        c = a + 0.05
        out[:, 1] += rng.uniform(3.0, 6.0) * amp * DEG * _pulse(t, c, 0.2)
        out[:, 0] += rng.normal(0, 1.5) * amp * DEG * _pulse(t, c, 0.25)
    # 4. sway during speech, faded in pauses
    gate = gaussian_filter1d(speech.astype(float), 0.15 * fps, mode="nearest")
    sway = gaussian_filter1d(rng.normal(0, 1, (n, 3)), 0.25 * fps, axis=0, mode="nearest")
    sway /= max(1e-6, float(sway.std()))
    out += sway * (1.0 * amp * DEG) * gate[:, None]
    # 5. settle in pauses: low-pass harder where nobody speaks
    calm = gaussian_filter1d(out, 0.3 * fps, axis=0, mode="nearest")
    out = gate[:, None] * out + (1 - gate[:, None]) * calm
    # 1. posture
    out += np.array(POSTURE.get(emotion, POSTURE["neutral"])) * float(intensity) * DEG
    return out.astype(np.float32)
