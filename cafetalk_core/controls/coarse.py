"""Coarse control: one emotion label + intensity for the clip, optionally varying over time.

MEAD's 8 emotions. Intensity is a number in [0, 1] (MEAD's three levels map to 1/3, 2/3, 1)
and stays ordinal in the model (a learned embedding scaled by it). Emotion spans override the
clip's base emotion on their frames, so an emotion can change inside a take.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import ControlError
from .fine import _number, checked_span, span_frames

EMOTIONS: tuple[str, ...] = ("neutral", "happy", "sad", "angry", "fear", "disgust", "surprise", "contempt")
NUM_EMOTIONS = len(EMOTIONS)
EMOTION_SYNONYMS: dict[str, str] = {
    "calm": "neutral", "joy": "happy", "joyful": "happy", "glad": "happy", "cheerful": "happy",
    "fearful": "fear", "afraid": "fear", "scared": "fear", "surprised": "surprise",
    "disgusted": "disgust", "anger": "angry", "mad": "angry", "sadness": "sad", "unhappy": "sad",
    "contemptuous": "contempt", "happiness": "happy",
}


def emotion_index(label: str, field_name: str = "emotion") -> int:
    if not isinstance(label, str):
        raise ControlError(field_name, f"must be a string, got {label!r}")
    key = EMOTION_SYNONYMS.get(label.strip().lower(), label.strip().lower())
    if key not in EMOTIONS:
        raise ControlError(field_name, f"unknown emotion {label!r}; known: {', '.join(EMOTIONS)}")
    return EMOTIONS.index(key)


@dataclass(frozen=True)
class EmotionSpan:
    emotion: str
    start_s: float
    end_s: float
    intensity: float = 1.0


@dataclass
class CoarseCondition:
    """Clip emotion + intensity, and optional time spans with another emotion."""

    emotion: str = "neutral"
    intensity: float = 0.5
    spans: list[EmotionSpan] = field(default_factory=list)

    def validate(self, duration_s: float | None = None) -> "CoarseCondition":
        emo = EMOTIONS[emotion_index(self.emotion)]
        inten = _number(self.intensity, "intensity")
        if not 0 <= inten <= 1:
            raise ControlError("intensity", f"must be in [0, 1], got {inten}")
        spans = []
        for i, s in enumerate(self.spans):
            f = f"emotion_spans[{i}]"
            e = EMOTIONS[emotion_index(s.emotion, f"{f}.emotion")]
            a, b, k = checked_span(s.start_s, s.end_s, s.intensity, duration_s, f)
            spans.append(EmotionSpan(e, a, b, k))
        return CoarseCondition(emo, inten, spans)

    def rasterize(self, num_frames: int, fps: float) -> tuple[np.ndarray, np.ndarray]:
        """Per frame: emotion index (frames,) int64 and intensity (frames,) float32.

        Later spans win where spans overlap.
        """
        ids = np.full(num_frames, emotion_index(self.emotion), np.int64)
        inten = np.full(num_frames, float(self.intensity), np.float32)
        for s in self.spans:
            a, b = span_frames(s.start_s, s.end_s, fps, num_frames)
            ids[a:b] = emotion_index(s.emotion)
            inten[a:b] = s.intensity
        return ids, inten

    def to_dict(self) -> dict[str, Any]:
        return {"emotion": self.emotion, "intensity": self.intensity,
                "emotion_spans": [s.__dict__.copy() for s in self.spans]}
