"""One synthetic training clip: speech + lip sync + emotion + blinks/gaze/brows + fine events.

The layers of one clip read in one place, in the order they are added.

Everything a clip contains is drawn from one ``numpy`` generator, so clip ``i`` of a corpus
is a pure function of ``seed + i``. Layers, all on ARKit names, combined additively and
clamped to [0, 1]:

1. lip sync from the engine's phone timings (``visemes.phones_to_curves``);
2. an emotion overlay (``EMOTION_TABLE``) scaled by intensity, with an onset ramp and slow
   variation (not a constant offset), plus emotion-dependent articulation;
3. life: blinks every 2-6 s, gaze shifts, brow raises on long (stressed) vowels;
4. random fine events from the action vocabulary (every action appears with known truth);
5. bilabial closure re-enforced last, so a smile or a jaw drop never opens a /p b m/.

Events that were performed (blinks, gaze, brow raises, fine events) are returned as
``FineControl`` s: the stage-2 labels with exact spans. Audio is augmented at write time
(speed/pitch, noise, reverb, band limit, loudness, room-tone pauses) and every choice is
recorded in ``augment``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import rig
from ..audio.augment import augment_audio, speed_perturb
from ..controls.coarse import EMOTIONS
from ..controls.fine import FineControl
from ..controls.vocabulary import ACTIONS, get_action
from ..phones import VOWELS, Phone
from .tts import SAMPLE_RATE, Speech, synthesize
from ..visemes import enforce_bilabial_closure, phones_to_curves

J = rig.INDEX

# ---------------------------------------------------------------------------------------------
# Emotion table: ARKit offsets at intensity 1 (stems expand to Left/Right), and how the
# emotion changes articulation and prosody. Sources: FACS prototypes (EMFACS) for the basic
# emotions, mapped to ARKit channels.
# ---------------------------------------------------------------------------------------------


def _lr(**weights: float) -> dict[str, float]:
    out: dict[str, float] = {}
    for k, w in weights.items():
        if k in J:
            out[k] = w
        else:
            out[f"{k}Left"] = w
            out[f"{k}Right"] = w
    return out


EMOTION_TABLE: dict[str, dict[str, float]] = {
    "neutral": {},
    "happy": _lr(mouthSmile=0.55, cheekSquint=0.4, eyeSquint=0.2, mouthDimple=0.15),       # AU6+12
    "sad": _lr(browInnerUp=0.6, mouthFrown=0.45, eyeLookDown=0.15, mouthShrugLower=0.2,
               eyeSquint=0.1),                                                                # AU1+4+15
    "angry": _lr(browDown=0.6, noseSneer=0.35, mouthPress=0.3, eyeSquint=0.3, mouthUpperUp=0.1),  # AU4+5+7+23
    "fear": _lr(browInnerUp=0.6, browOuterUp=0.35, eyeWide=0.5, mouthStretch=0.35),          # AU1+2+4+5+20
    "disgust": _lr(noseSneer=0.55, mouthUpperUp=0.35, browDown=0.3, cheekSquint=0.25,
                   mouthFrown=0.15),                                                          # AU9+10+15
    "surprise": _lr(browOuterUp=0.6, browInnerUp=0.5, eyeWide=0.6, jawOpen=0.12),            # AU1+2+5+26
    "contempt": {},  # one-sided (AU12+14 unilateral): filled per clip (side chosen at random)
}
ARTICULATION = {"neutral": 1.0, "happy": 1.1, "sad": 0.75, "angry": 1.2, "fear": 0.9,
                "disgust": 0.95, "surprise": 1.2, "contempt": 0.9}
#: Speech tempo and pitch shifts by emotion (added to the sampled rate/pitch).
PROSODY = {"neutral": (1.0, 0.0), "happy": (1.05, 0.1), "sad": (0.88, -0.12), "angry": (1.08, 0.08),
           "fear": (1.1, 0.15), "disgust": (0.95, -0.05), "surprise": (1.0, 0.15), "contempt": (0.95, -0.05)}


def emotion_offsets(emotion: str, rng: np.random.Generator) -> dict[str, float]:
    """The emotion's channel offsets at intensity 1 for one clip (contempt picks a side)."""
    if emotion not in EMOTION_TABLE:
        raise ValueError(f"emotion must be one of {EMOTIONS}, got {emotion!r}")
    if emotion == "contempt":
        side = "Left" if rng.random() < 0.5 else "Right"
        return {f"mouthSmile{side}": 0.5, f"mouthDimple{side}": 0.4, f"cheekSquint{side}": 0.15,
                "browDownLeft": 0.1, "browDownRight": 0.1}
    return EMOTION_TABLE[emotion]


def slow_variation(n: int, fps: float, rng: np.random.Generator, depth: float = 0.25) -> np.ndarray:
    """1 + a sum of slow sines (0.1 - 0.6 Hz): expressions breathe instead of holding still."""
    t = np.arange(n) / fps
    out = np.ones(n)
    for _ in range(3):
        out += depth / 3 * np.sin(2 * np.pi * rng.uniform(0.1, 0.6) * t + rng.uniform(0, 2 * np.pi))
    return out


def emotion_envelope(n: int, fps: float, rng: np.random.Generator) -> np.ndarray:
    """Onset ramp (0.2 - 1.2 s, starting in the first 0.5 s) times slow variation, >= 0."""
    t = np.arange(n) / fps
    start, ramp = rng.uniform(0.0, 0.5), rng.uniform(0.2, 1.2)
    onset = np.clip((t - start) / ramp, 0.0, 1.0)
    onset = onset * onset * (3 - 2 * onset)  # smoothstep
    return np.clip(onset * slow_variation(n, fps, rng), 0.0, None)


def apply_emotion(values: np.ndarray, emotion: str, intensity: float, fps: float,
                  rng: np.random.Generator) -> None:
    """In place: add the emotion's offsets x intensity x envelope."""
    offsets = emotion_offsets(emotion, rng)
    if not offsets:
        return
    env = emotion_envelope(values.shape[0], fps, rng) * intensity
    for name, w in offsets.items():
        values[:, J[name]] += w * env * rng.uniform(0.85, 1.15)


# ---------------------------------------------------------------------------------------------
# Events with known truth
# ---------------------------------------------------------------------------------------------


def _trapezoid(n: int, fps: float, start: float, end: float, ramp: float) -> np.ndarray:
    """0 -> 1 over ``ramp`` s from ``start - ramp/2``, hold, 1 -> 0 ending at ``end + ramp/2``.

    The half-height points are ``start`` and ``end``: the span recorded as the label.
    """
    t = np.arange(n) / fps
    ramp = max(ramp, 1e-3)
    up = np.clip((t - (start - ramp / 2)) / ramp, 0, 1)
    down = np.clip(((end + ramp / 2) - t) / ramp, 0, 1)
    return np.minimum(up, down)


def perform(values: np.ndarray, fps: float, action: str, start: float, end: float,
            intensity: float, ramp: float, shape: np.ndarray | None = None) -> FineControl:
    """In place: add one action (its channels at weight x intensity) with ramps; returns its label."""
    a = get_action(action)
    env = _trapezoid(values.shape[0], fps, start, end, ramp) if shape is None else shape
    for name, w in a.channels:
        values[:, J[name]] += w * intensity * env
    return FineControl(a.id, round(start, 4), round(end, 4), round(float(intensity), 3))


def add_blinks(values: np.ndarray, fps: float, duration: float, rng: np.random.Generator,
               rate_scale: float = 1.0) -> list[FineControl]:
    """Blinks (AU45) every 2-6 s, 0.15-0.25 s long: fast close, slower open."""
    events = []
    t = rng.uniform(0.3, 3.0)
    n = values.shape[0]
    tt = np.arange(n) / fps
    while t < duration - 0.3:
        length = rng.uniform(0.15, 0.25)
        close = length * 0.4
        shape = np.interp(tt, [t, t + close, t + length], [0.0, 1.0, 0.0], left=0.0, right=0.0)
        shape = np.clip(shape * 1.6, 0, 1)  # a flat-ish top: the lid stays shut a few ms
        # label span = where the lid is more than half closed
        on = np.flatnonzero(shape >= 0.5)
        if on.size:
            ev = perform(values, fps, "AU45", on[0] / fps, (on[-1] + 1) / fps, 1.0, 0.0, shape)
            events.append(ev)
        t += rng.uniform(2.0, 6.0) / rate_scale
    return events


def add_gaze(values: np.ndarray, fps: float, duration: float, rng: np.random.Generator) -> list[FineControl]:
    """Gaze shifts: a saccade (~50 ms) to one side, held 0.4-1.5 s, back."""
    events = []
    t = rng.uniform(0.2, 2.5)
    while t < duration - 0.6:
        if rng.random() < 0.6:
            action = str(rng.choice(["GAZE_L", "GAZE_R", "GAZE_U", "GAZE_D"]))
            hold = rng.uniform(0.4, 1.5)
            end = min(t + hold, duration - 0.05)
            events.append(perform(values, fps, action, t, end, rng.uniform(0.5, 1.0), 0.06))
            t = end
        t += rng.uniform(1.0, 4.0)
    return events


def stressed_vowels(phones: list[Phone], k: int, rng: np.random.Generator) -> list[Phone]:
    """Up to ``k`` of the longest vowels (a duration proxy for lexical stress), in time order."""
    vowels = [p for p in phones if p.phone in VOWELS and p.end_s - p.start_s > 0.06]
    vowels.sort(key=lambda p: -(p.end_s - p.start_s) * rng.uniform(0.8, 1.2))
    return sorted(vowels[:k], key=lambda p: p.start_s)


def add_brow_raises(values: np.ndarray, fps: float, phones: list[Phone], rng: np.random.Generator,
                    duration: float) -> list[FineControl]:
    """Brow raises (AU2, sometimes AU1+2) on a few stressed syllables."""
    events: list[FineControl] = []
    k = int(rng.integers(0, 3))
    last_end = -1.0
    for p in stressed_vowels(phones, k, rng):
        start = max(0.05, p.start_s - 0.08)
        end = min(duration - 0.05, start + rng.uniform(0.3, 0.7))
        if start <= last_end + 0.2 or end <= start + 0.1:
            continue
        inten = rng.uniform(0.5, 0.95)
        events.append(perform(values, fps, "AU2", start, end, inten, 0.12))
        if rng.random() < 0.4:
            events.append(perform(values, fps, "AU1", start, end, inten * rng.uniform(0.7, 1.0), 0.12))
        last_end = end
    return events


def add_fine_events(values: np.ndarray, fps: float, duration: float, rng: np.random.Generator,
                    count: int, speech_span: tuple[float, float] | None = None) -> list[FineControl]:
    """``count`` random actions from the whole vocabulary, 0.4 - 2 s long, with ramps.

    Mouth actions are placed inside ``speech_span`` (first to last spoken phone): the
    stage-1 model never sees fine labels, and a jaw drop in a pause would teach it that
    silent mouths open at random.
    """
    events = []
    for _ in range(count):
        a = ACTIONS[int(rng.integers(0, len(ACTIONS)))]
        lo, hi = (0.1, duration - 0.1)
        if a.region == "mouth" and speech_span is not None:
            lo, hi = max(lo, speech_span[0]), min(hi, speech_span[1])
        length = min(rng.uniform(0.4, 2.0), max(0.3, (hi - lo) * 0.8), duration * 0.6)
        start = rng.uniform(lo, max(lo + 0.01, hi - length))
        events.append(perform(values, fps, a.id, start, start + length, rng.uniform(0.5, 1.0),
                              rng.uniform(0.08, 0.25)))
    return events


# ---------------------------------------------------------------------------------------------
# Audio augmentation
# ---------------------------------------------------------------------------------------------


# One augmentation for the whole project: audio/augment.py (speed_perturb, augment_audio).


# ---------------------------------------------------------------------------------------------
# A clip
# ---------------------------------------------------------------------------------------------


@dataclass
class ClipSpec:
    """Everything that decides one clip (drawn by the corpus writer from seed + i)."""

    texts: list[str]
    engine: str
    voice: str
    speaker: str
    rate: float = 1.0
    pitch: float = 0.5
    emotion: str = "neutral"
    intensity: float = 0.5
    seed: int = 0


@dataclass
class Clip:
    audio: np.ndarray                 # 16 kHz mono float32
    curves: np.ndarray                # (frames, 52) float32 in [0, 1]
    fps: float
    phones: list[Phone]
    raw: list[str]
    events: list[FineControl]
    augment: dict = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return len(self.audio) / SAMPLE_RATE


def _shift(phones: list[Phone], offset: float, scale: float = 1.0) -> list[Phone]:
    return [Phone(p.phone, round(p.start_s * scale + offset, 5), round(p.end_s * scale + offset, 5)) for p in phones]


def _append_silence(phones: list[Phone], raws: list[str], start: float, end: float) -> None:
    if end <= start:
        return
    if phones and phones[-1].phone == "SIL":
        phones[-1] = Phone("SIL", phones[-1].start_s, round(end, 5))
    else:
        phones.append(Phone("SIL", round(start, 5), round(end, 5)))
        raws.append("")


def speak(spec: ClipSpec, rng: np.random.Generator) -> tuple[np.ndarray, list[Phone], list[str], dict]:
    """Speech for all of the clip's sentences, with leading/trailing silence and pauses."""
    rate_mul, pitch_add = PROSODY[spec.emotion]
    rate = spec.rate * (1 + (rate_mul - 1) * spec.intensity)
    pitch = float(np.clip(spec.pitch + pitch_add * spec.intensity, 0.0, 1.0))
    lead = float(rng.uniform(0.1, 1.0))
    trail = float(rng.uniform(0.2, 1.0))
    pieces: list[np.ndarray] = [np.zeros(int(lead * SAMPLE_RATE), np.float32)]
    phones: list[Phone] = [Phone("SIL", 0.0, round(lead, 5))]
    raws: list[str] = [""]
    t = lead
    pauses = []
    for k, text in enumerate(spec.texts):
        sp: Speech = synthesize(text, spec.engine, spec.voice, rate=rate, pitch=pitch)
        audio = sp.audio / (np.abs(sp.audio).max() + 1e-9) * 0.7
        for p, r in zip(_shift(sp.phones, t), sp.raw):
            if p.phone == "SIL":
                _append_silence(phones, raws, p.start_s, p.end_s)
                if r:
                    raws[-1] = r
            else:
                phones.append(p)
                raws.append(r)
        pieces.append(audio)
        t += len(audio) / SAMPLE_RATE
        if k + 1 < len(spec.texts):
            pause = float(rng.uniform(0.3, 1.5))
            pauses.append(round(pause, 3))
            pieces.append(np.zeros(int(pause * SAMPLE_RATE), np.float32))
            _append_silence(phones, raws, t, t + int(pause * SAMPLE_RATE) / SAMPLE_RATE)
            t += int(pause * SAMPLE_RATE) / SAMPLE_RATE
    pieces.append(np.zeros(int(trail * SAMPLE_RATE), np.float32))
    audio = np.concatenate(pieces)
    _append_silence(phones, raws, t, len(audio) / SAMPLE_RATE)
    info = {"lead_s": round(lead, 3), "trail_s": round(trail, 3), "pauses_s": pauses,
            "engine_rate": round(rate, 3), "engine_pitch": round(pitch, 3)}
    return audio, phones, raws, info


def speech_rms(audio: np.ndarray, phones: list[Phone]) -> float:
    """RMS of the audio inside non-silent phones."""
    mask = np.zeros(len(audio), bool)
    for p in phones:
        if p.phone != "SIL":
            mask[int(p.start_s * SAMPLE_RATE):int(p.end_s * SAMPLE_RATE)] = True
    return float(np.sqrt(np.mean(audio[mask] ** 2))) if mask.any() else float(np.sqrt(np.mean(audio ** 2)))


def make_clip(spec: ClipSpec, fps: float = 30.0, augment: bool = True,
              fine_events: int | None = None) -> Clip:
    """Render one clip. Deterministic in ``spec`` (its ``seed`` drives every random choice)."""
    rng = np.random.default_rng(spec.seed)
    audio, phones, raws, info = speak(spec, rng)
    # speed/pitch perturbation by resampling (exact: phone times scale with it)
    if augment and rng.random() < 0.5:
        factor = float(rng.uniform(0.9, 1.1))
        audio, scale = speed_perturb(audio, factor)
        phones = _shift(phones, 0.0, scale)
        info["speed"] = round(factor, 4)
    duration = len(audio) / SAMPLE_RATE
    if phones:
        last = phones[-1]
        phones[-1] = Phone(last.phone, last.start_s, round(duration, 5))
    n = max(1, int(round(duration * fps)))

    articulation = ARTICULATION[spec.emotion] ** spec.intensity * rng.uniform(0.8, 1.2)
    values = phones_to_curves(phones, n, fps, rng=rng, articulation=articulation).astype(np.float64)
    apply_emotion(values, spec.emotion, spec.intensity, fps, rng)
    events: list[FineControl] = []
    blink_rate = {"fear": 1.5, "angry": 1.2, "sad": 0.8}.get(spec.emotion, 1.0)
    events += add_blinks(values, fps, duration, rng, blink_rate)
    events += add_gaze(values, fps, duration, rng)
    events += add_brow_raises(values, fps, phones, rng, duration)
    count = int(rng.integers(0, 4)) if fine_events is None else fine_events
    spoken = [p for p in phones if p.phone != "SIL"]
    span = (spoken[0].start_s, spoken[-1].end_s) if spoken else None
    events += add_fine_events(values, fps, duration, rng, count, span)
    values = np.clip(values, 0.0, 1.0).astype(np.float32)
    enforce_bilabial_closure(values, phones, fps)
    events.sort(key=lambda e: (e.start_s, e.action))

    if augment:
        audio, aug = augment_audio(audio, rng, speech_rms(audio, phones))
        info.update(aug)
    info["articulation"] = round(float(articulation), 3)
    return Clip(audio.astype(np.float32), values, fps, phones, raws, events, info)
