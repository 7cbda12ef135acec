"""ControlSet: everything a generation is conditioned on, and its JSON form.

The same JSON travels from the add-on to the server and from the CLI to the pipeline:
``{"emotion": "happy", "intensity": 0.7,
   "emotion_spans": [{"emotion": "sad", "start_s": 2, "end_s": 3, "intensity": 0.5}],
   "fine": [{"action": "AU12", "start_s": 1.2, "end_s": 2.0, "intensity": 0.8}],
   "head_spans": [{"start_s": 2.0, "end_s": 3.0, "amount": 0}]}``
Every key is optional; unknown keys are refused so a typo never passes silently. The clip's own
head-motion amount is not here but a ``generate`` option (``head_motion``), as it always was:
``head_spans`` set another amount on their frames (controls/head.py).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .coarse import CoarseCondition, EmotionSpan
from .errors import ControlError
from .fine import FineControl, _number, fine_from_dict, validate_fine
from .head import HeadSpan, head_amount, head_span_from_dict, validate_head_spans

_KEYS = {"emotion", "intensity", "emotion_spans", "fine", "head_spans"}


@dataclass
class ControlSet:
    coarse: CoarseCondition = field(default_factory=CoarseCondition)
    fine: list[FineControl] = field(default_factory=list)
    head_spans: list[HeadSpan] = field(default_factory=list)

    def validated(self, duration_s: float | None = None) -> "ControlSet":
        """Canonical copy (action ids, merged spans), or :class:`ControlError` naming the field."""
        return ControlSet(self.coarse.validate(duration_s), validate_fine(self.fine, duration_s),
                          validate_head_spans(self.head_spans, duration_s))

    def head_amount(self, num_frames: int, fps: float, base_amount: float) -> np.ndarray:
        """(frames,) float32: ``base_amount`` (the clip's head_motion) outside the head spans, theirs inside."""
        return head_amount(self.head_spans, num_frames, fps, base_amount)

    def to_dict(self) -> dict[str, Any]:
        return {**self.coarse.to_dict(), "fine": [c.to_dict() for c in self.fine],
                "head_spans": [s.to_dict() for s in self.head_spans]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: Any) -> "ControlSet":
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise ControlError("controls", f"must be a JSON object, got {type(data).__name__}")
        unknown = set(data) - _KEYS
        if unknown:
            raise ControlError("controls", f"unknown keys {sorted(unknown)}; allowed: {sorted(_KEYS)}")
        spans_raw = data.get("emotion_spans", []) or []
        fine_raw = data.get("fine", []) or []
        head_raw = data.get("head_spans", []) or []
        for name, raw in (("emotion_spans", spans_raw), ("fine", fine_raw), ("head_spans", head_raw)):
            if not isinstance(raw, list):
                raise ControlError(name, "must be a list")
        spans = []
        for i, s in enumerate(spans_raw):
            f = f"emotion_spans[{i}]"
            if not isinstance(s, dict) or not {"emotion", "start_s", "end_s"} <= set(s):
                raise ControlError(f, "must be an object with emotion, start_s, end_s[, intensity]")
            spans.append(EmotionSpan(s["emotion"], _number(s["start_s"], f"{f}.start_s"),
                                     _number(s["end_s"], f"{f}.end_s"), _number(s.get("intensity", 1.0), f"{f}.intensity")))
        coarse = CoarseCondition(data.get("emotion", "neutral"),
                                 _number(data.get("intensity", 0.5), "intensity"), spans)
        fine = [fine_from_dict(c, f"fine[{i}]") for i, c in enumerate(fine_raw)]
        head = [head_span_from_dict(s, f"head_spans[{i}]") for i, s in enumerate(head_raw)]
        return cls(coarse, fine, head)

    @classmethod
    def from_json(cls, text: str) -> "ControlSet":
        try:
            data = json.loads(text) if text and text.strip() else {}
        except json.JSONDecodeError as exc:
            raise ControlError("controls", f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
        return cls.from_dict(data)
