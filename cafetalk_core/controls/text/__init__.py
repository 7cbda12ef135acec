"""Free text -> fine controls: "smile while saying 'hello', blink twice near the end".

The paper's text interface (a CLIP text detector), offline: time, count and intensity phrases
are read by rule (time.py), the text is cut into clauses (clauses.py), and each clause's words go
through all-MiniLM-L6-v2 + a small trained head (model.py) that says which actions it
names, which emotion, and whether it is negated. Every control carries the phrase and the
reason it was made, so the UI can show why. Unknown or empty text yields no controls and a
message, never an exception.

    >>> tc = text_to_controls("raise your eyebrows at 2 s and blink twice near the end", 5.0)
    >>> [(c.action, c.start_s, c.end_s) for c in tc.controls]
"""
from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

from ..coarse import EMOTION_SYNONYMS, EMOTIONS, CoarseCondition, EmotionSpan
from ..control_set import ControlSet
from ..errors import ControlError
from ..fine import FineControl, validate_fine
from .clauses import Clause, is_negated, read_clauses
from .data import EMOTION_ADVERBS, EMOTION_WORDS
from .time import DEFAULT_INTENSITY, TimeSpec, Transcript, count_from_noun, intensity_of, resolve_spans
from ..vocabulary import get_action

MAX_TEXT_CHARS = 2000
# Nearest-phrase fallback, used only when the head names no action in a clause: the clause's
# embedding must be this close (cosine) to one action's training phrase and lead every other
# action by the margin. Tuned on the dev split of heldout.py (see docs/text_controls.md).
NEAREST_MIN_COS = 0.6
NEAREST_MARGIN = 0.03
_ACTION_ID = re.compile(r"\b(au\d{1,2}|gaze_[lrud])\b")


def _emotion_lexicon() -> dict[str, str]:
    lex = {e: e for e in EMOTIONS}
    lex.update(EMOTION_SYNONYMS)
    for emo, words in EMOTION_WORDS.items():
        lex.update({w: emo for w in words})
    for emo, words in EMOTION_ADVERBS.items():
        lex.update({w: emo for w in words})
    lex.pop("down", None)   # "look down" is gaze
    return lex


_EMOTION_LEX = _emotion_lexicon()
_EMOTION_RE = re.compile(r"\b(" + "|".join(sorted(map(re.escape, _EMOTION_LEX), key=len, reverse=True)) + r")\b")


@dataclass
class TextControls:
    """What free text asked for: fine controls, emotion (clip-wide and spans), and why."""

    controls: list[FineControl] = field(default_factory=list)
    emotion: str | None = None
    emotion_intensity: float | None = None
    emotion_spans: list[EmotionSpan] = field(default_factory=list)
    matches: list[dict[str, Any]] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"fine": [c.to_dict() for c in self.controls], "emotion": self.emotion,
                "emotion_intensity": self.emotion_intensity,
                "emotion_spans": [asdict(s) for s in self.emotion_spans],
                "matches": self.matches, "messages": self.messages}

    def to_control_set(self, default_emotion: str = "neutral", default_intensity: float = 0.5) -> ControlSet:
        """The ControlSet the pipeline takes (clip emotion falls back to the given defaults)."""
        coarse = CoarseCondition(self.emotion or default_emotion,
                                 self.emotion_intensity if self.emotion else default_intensity,
                                 list(self.emotion_spans))
        return ControlSet(coarse, list(self.controls))


def _emotion_in(text: str) -> str | None:
    m = _EMOTION_RE.search(text.lower())
    if not m:
        return None
    word = m.group(1)
    return EMOTION_SYNONYMS.get(_EMOTION_LEX[word], _EMOTION_LEX[word])


def text_to_controls(text: str, duration_s: float, transcript: Transcript | None = None) -> TextControls:
    """Read controls from ``text`` for a clip of ``duration_s`` seconds.

    ``transcript``: optional word times ``[(word, start_s, end_s), ...]`` for phrases such as
    "while saying 'hello'" or "on the last word". Raises :class:`ControlError` only for a bad
    ``duration_s`` or transcript; text that names nothing gives a message instead.

    Steps: check the inputs; cut the text into clauses with their times (rules, no model);
    embed the clauses and run the head once; turn each clause into controls.
    """
    duration = _check_duration(duration_s)
    words = _check_transcript(transcript)
    out = TextControls()
    text = _readable_text(text, out.messages)
    if text is None:
        return out
    clauses = read_clauses(text, duration, words, out.messages)
    if not clauses:
        out.messages.append(f"no action recognised in {text.strip()!r}")
        return out

    from .model import embed, get_head   # torch + the embedder only when needed
    head = get_head()
    vecs = embed([c.text for c in clauses])
    act_p, emo_p, neg_p = head.predict(vecs)
    fine: list[FineControl] = []
    for i, c in enumerate(clauses):
        fine += _clause_controls(c, vecs[i], act_p[i], emo_p[i], float(neg_p[i]), head, duration, out)
    out.controls = validate_fine(fine, duration)
    return out


def _check_duration(duration_s: Any) -> float:
    if isinstance(duration_s, bool) or not isinstance(duration_s, (int, float)) or not math.isfinite(duration_s) \
            or duration_s <= 0:
        raise ControlError("duration_s", f"must be a positive number of seconds, got {duration_s!r}")
    return float(duration_s)


def _readable_text(text: Any, messages: list[str]) -> str | None:
    """The text to read (cut to MAX_TEXT_CHARS), or None when there is none; says so in ``messages``."""
    if not isinstance(text, str) or not text.strip():
        messages.append("no text given: no controls")
        return None
    if len(text) > MAX_TEXT_CHARS:
        messages.append(f"text is {len(text)} characters; only the first {MAX_TEXT_CHARS} were read")
        text = text[:MAX_TEXT_CHARS]
    return text


def _clause_controls(c: Clause, vec: Any, act_p: Any, emo_p: Any, neg_p: float, head: Any, duration: float,
                     out: TextControls) -> list[FineControl]:
    """One clause -> its fine controls; its emotion, matches and messages go into ``out``."""
    neg_rule = is_negated(c)
    # The rule decides; the head's negation output is too eager on words it never saw
    # ("gape" read as negated), so it only counts when it is near certain.
    negated = neg_rule or neg_p >= max(head.negation_threshold, 0.97)
    emotion_word = _emotion_in(c.text)
    hits = _clause_actions(c, vec, act_p, head, try_nearest=not neg_rule and emotion_word is None)
    emotion, emotion_why, emotion_score = _clause_emotion(emotion_word, emo_p, head)
    if negated:
        what = ", ".join(h[0] for h in hits) or emotion or "nothing"
        why = "negation word" if neg_rule else f"head negation p={neg_p:.2f}"
        out.matches.append({"phrase": c.raw, "kind": "negated", "action": None, "score": round(neg_p, 3),
                            "why": f"{why}: no control made (would have been {what})"})
        out.messages.append(f"{c.raw!r} is negated: no control added")
        return []
    inten, inten_word = _clause_intensity(c)
    _count_from_noun(c.spec, c.text)
    fine = _action_controls(c, hits, inten, inten_word, duration, out)
    if emotion is not None:
        _add_emotion(c, emotion, emotion_why, emotion_score, inten if inten_word else DEFAULT_INTENSITY,
                     duration, out)
    if not hits and emotion is None and c.text.strip():
        k = int(act_p.argmax())
        out.messages.append(f"no action recognised in {c.raw!r} (closest: {head.action_ids[k]} "
                            f"p={act_p[k]:.2f})")
    return fine


def _clause_actions(c: Clause, vec: Any, act_p: Any, head: Any, try_nearest: bool) -> list[tuple[str, float, str]]:
    """(action, score, source) the clause names: the head over its thresholds, action ids written
    out ("AU12"), else (``try_nearest``) the nearest training phrase when it is close and clear."""
    from .model import nearest_phrase

    hits = [(head.action_ids[k], float(act_p[k]), "head") for k in range(len(head.action_ids))
            if act_p[k] >= head.thresholds[k]]
    for m in _ACTION_ID.finditer(c.text.lower()):
        aid = get_action(m.group(1)).id
        if aid not in [h[0] for h in hits]:
            hits.append((aid, 1.0, f"action id {m.group(1).upper()!r} named"))
    if not hits and try_nearest and c.text.strip():
        phrase, labels, cos, lead = nearest_phrase(vec, NEAREST_MARGIN)
        if cos >= NEAREST_MIN_COS and lead >= NEAREST_MARGIN:
            hits = [(a, cos, f"nearest training phrase {phrase!r} cos={cos:.2f}") for a in labels]
    return hits


def _clause_emotion(emotion_word: str | None, emo_p: Any, head: Any) -> tuple[str | None, str, float]:
    """(emotion or None, why, score): an emotion word wins, else the head when it is sure."""
    if emotion_word is not None:
        return emotion_word, "emotion word", 1.0
    k = int(emo_p.argmax())
    if k > 0 and emo_p[k] >= head.emotion_threshold:
        from .model import EMOTION_LABELS
        return EMOTION_LABELS[k], f"head p={emo_p[k]:.2f}", round(float(emo_p.max()), 3)
    return None, "emotion word", round(float(emo_p.max()), 3)


def _clause_intensity(c: Clause) -> tuple[float, str | None]:
    """Intensity from a number phrase ("at 80%"), else from a word ("slightly"), else the default."""
    inten, inten_word = intensity_of(c.text)
    num = [p for p in c.phrases if p.kind == "intensity"]
    if num:
        inten, inten_word = num[-1].value[0], num[-1].text.strip()
    return inten, inten_word


def _count_from_noun(spec: TimeSpec, text: str) -> None:
    """ "two blinks" sets the count when no count phrase did."""
    n_noun, noun_text = count_from_noun(text)
    if n_noun and spec.count is None:
        spec.count = n_noun
        spec.notes.append(f"{noun_text!r} = {n_noun} times")


def _action_controls(c: Clause, hits: list[tuple[str, float, str]], inten: float, inten_word: str | None,
                     duration: float, out: TextControls) -> list[FineControl]:
    """Each named action at the clause's times, with a match that says why."""
    spec = c.spec
    inten_note = f"intensity {inten:g} from {inten_word!r}" if inten_word else f"default intensity {inten:g}"
    fine: list[FineControl] = []
    for action, score, source in hits:
        spans = resolve_spans(spec, action, duration)
        time_note = "; ".join(spec.notes) or _default_time_note(action)
        for s0, s1 in spans:
            fine.append(FineControl(action, s0, s1, round(float(inten), 3)))
        out.matches.append({
            "phrase": c.raw, "kind": "action", "action": action, "score": round(score, 3),
            "spans": [[s0, s1] for s0, s1 in spans], "intensity": round(float(inten), 3),
            "why": f"{source if source != 'head' else f'head p={score:.2f}'}; {time_note}; {inten_note}"})
        if not spans:
            out.messages.append(f"{c.raw!r}: the requested time falls outside the clip (0-{duration:g} s)")
    return fine


def _add_emotion(c: Clause, emotion: str, why: str, score: float, intensity: float, duration: float,
                 out: TextControls) -> None:
    """A timed emotion becomes an emotion span; an untimed one the clip's emotion (the first wins)."""
    spec = c.spec
    span = _emotion_span(spec, duration)
    if span is not None:
        a, b = span
        out.emotion_spans.append(EmotionSpan(emotion, a, b, round(float(intensity), 3)))
        out.matches.append({"phrase": c.raw, "kind": "emotion_span", "emotion": emotion, "score": score,
                            "spans": [[a, b]], "intensity": round(float(intensity), 3),
                            "why": f"{why}; {'; '.join(spec.notes)}"})
    elif out.emotion is None:
        out.emotion, out.emotion_intensity = emotion, round(float(intensity), 3)
        out.matches.append({"phrase": c.raw, "kind": "emotion", "emotion": emotion, "score": score,
                            "intensity": round(float(intensity), 3), "why": f"{why}; whole clip"})
    else:
        out.messages.append(f"{c.raw!r}: clip emotion is already {out.emotion!r}; give a time to add "
                            f"{emotion!r} as an emotion span")


def _emotion_span(spec: TimeSpec, duration: float) -> tuple[float, float] | None:
    """An emotion is a state: "angry at 2 s" lasts from 2 s to the end; a region is kept whole;
    no time (or "throughout") makes it the clip's emotion (None)."""
    if spec.point is not None:
        a = min(max(0.0, spec.point), duration)
        b = min(duration, a + spec.duration) if spec.duration else duration
    elif spec.region is not None and spec.region_kind != "full":
        spans = resolve_spans(TimeSpec(spec.region, spec.region_kind, spec.anchor, None, spec.duration), "emotion",
                              duration)
        if not spans:
            return None
        a, b = spans[0]
    else:
        return None
    return (round(a, 4), round(b, 4)) if b - a > 1e-3 else None


def _default_time_note(action: str) -> str:
    return "no time given: one short event mid-clip" if action == "AU45" else "no time given: whole clip"


def _check_transcript(transcript: Any) -> Transcript | None:
    if transcript is None:
        return None
    if not isinstance(transcript, (list, tuple)):
        raise ControlError("transcript", f"must be a list of [word, start_s, end_s], got {type(transcript).__name__}")
    words: Transcript = []
    for i, item in enumerate(transcript):
        if isinstance(item, dict):
            item = (item.get("word"), item.get("start_s", item.get("start")), item.get("end_s", item.get("end")))
        if not isinstance(item, (list, tuple)) or len(item) != 3 or not isinstance(item[0], str):
            raise ControlError(f"transcript[{i}]", f"must be [word, start_s, end_s], got {item!r}")
        w, s, e = item
        if isinstance(s, bool) or isinstance(e, bool) or not isinstance(s, (int, float)) or not isinstance(e, (int, float)):
            raise ControlError(f"transcript[{i}]", f"times must be numbers, got {item!r}")
        if e < s:
            raise ControlError(f"transcript[{i}].end_s", f"{e} is before start_s {s}")
        words.append((w, float(s), float(e)))
    return words


def cli_controls_from_text(args) -> int:
    """``cafetalk controls-from-text "TEXT" --duration 5 [--transcript words.json]`` -> JSON on stdout."""
    transcript = None
    try:
        if args.transcript:
            with open(args.transcript, encoding="utf-8") as fh:
                transcript = json.load(fh)
            if isinstance(transcript, dict) and "words" in transcript:
                transcript = transcript["words"]
        result = text_to_controls(args.text, args.duration, transcript)
    except (OSError, json.JSONDecodeError, ControlError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result.to_dict(), indent=2))
    return 0
