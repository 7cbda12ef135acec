"""Free text -> fine controls: "smile while saying 'hello', blink twice near the end".

The paper's text interface (a CLIP text detector), offline: time, count and intensity phrases
are read by rule (text_time.py), the text is cut into clauses, and each clause's words go
through all-MiniLM-L6-v2 + a small trained head (text_model.py) that says which actions it
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
from .data import EMOTION_ADVERBS, EMOTION_WORDS
from .time import (DEFAULT_INTENSITY, Phrase, TimeSpec, Transcript, build_spec, count_from_noun,
                        extract_phrases, intensity_of, protect_quotes, resolve_spans)
from ..vocabulary import get_action

MAX_TEXT_CHARS = 2000
# Nearest-phrase fallback, used only when the head names no action in a clause: the clause's
# embedding must be this close (cosine) to one action's training phrase and lead every other
# action by the margin. Tuned on the dev split of text_heldout.py (see docs/text_controls.md).
NEAREST_MIN_COS = 0.6
NEAREST_MARGIN = 0.03
_SEGMENT = re.compile(r"(\s*(?:[.;!?\n]+|,\s*(?:and\s+)?then\b|,|\band\s+then\b|\bthen\b|\bafter\s+that\b|"
                      r"\bafterwards\b|\bfollowed\s+by\b|\blater\b)\s*)")
_SEQUENTIAL = re.compile(r"then|after|followed|later")
_SUBCLAUSE = re.compile(r"(\s*\b(?:and|while|whilst|with|plus|also|as\s+well\s+as|along\s+with|but|or|nor|without|"
                        r"and\s+also)\b\s*)")
_NEGATION = re.compile(r"\b(?:don'?t|do\s+not|does\s+not|doesn'?t|did\s+not|never|no|not|stop|avoid|without|"
                       r"refrain|quit|shouldn'?t|should\s+not|mustn'?t|must\s+not|cannot|can'?t|nor|neither|"
                       r"isn'?t|won'?t|lose\s+the|drop\s+the)\b")
_MARKER = re.compile(r"@T\d+@")
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


@dataclass
class _Clause:
    text: str                       # clause words, markers removed (what the embedder sees)
    raw: str                        # clause as written (quotes restored), for matches
    phrases: list[Phrase]
    segment: int
    negated_by_joiner: bool = False
    spec: TimeSpec | None = None


def _normalise(text: str) -> str:
    t = text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    return " ".join(t.split())


def _split(masked: str, found: dict[str, Phrase], quotes: list[str]) -> tuple[list[_Clause], list[bool]]:
    """Clauses of the masked text, and per segment whether it follows a "then"."""
    parts = _SEGMENT.split(masked)
    clauses: list[_Clause] = []
    seq_flags: list[bool] = []
    seg = -1
    sequential_next = False
    for i, part in enumerate(parts):
        if i % 2 == 1:                                           # a separator
            sequential_next = sequential_next or bool(_SEQUENTIAL.search(part))
            continue
        if not part.strip():
            continue
        seg += 1
        seq_flags.append(sequential_next)
        sequential_next = False
        subs = _SUBCLAUSE.split(part)
        negate_next = False
        for j, sub in enumerate(subs):
            if j % 2 == 1:
                joiner = sub.strip()
                negate_next = joiner == "without" or (joiner in ("or", "nor") and clauses and clauses[-1].segment == seg
                                                      and _is_negated_text(clauses[-1]))
                continue
            markers = _MARKER.findall(sub)
            words = " ".join(_MARKER.sub(" ", sub).split())
            raw = " ".join(re.sub(r"@T\d+@", lambda m: found[m.group(0)].text, sub).split())
            raw = re.sub(r"qtok(\d+)", lambda m: repr(quotes[int(m.group(1))]), raw)
            text = re.sub(r"qtok(\d+)", lambda m: quotes[int(m.group(1))], words)
            clauses.append(_Clause(text, raw, [found[m] for m in markers], seg, negate_next))
            negate_next = False
    return clauses, seq_flags


def _is_negated_text(c: _Clause) -> bool:
    return c.negated_by_joiner or bool(_NEGATION.search(c.text))


def _attach_orphan_times(clauses: list[_Clause]) -> list[_Clause]:
    """A clause that is only a time ("smile, at 2 s") gives its time to its neighbour."""
    kept: list[_Clause] = []
    for c in clauses:
        if c.text.strip(" -") or not c.phrases:
            kept.append(c)
            continue
        if kept and not any(p.kind not in ("count", "intensity") for p in kept[-1].phrases):
            kept[-1].phrases.extend(c.phrases)
            kept[-1].raw += ", " + c.raw
        else:
            kept.append(c)                                       # merged into the next clause below
    out: list[_Clause] = []
    carry: list[Phrase] = []
    carry_raw = ""
    for c in kept:
        if not c.text.strip(" -"):
            carry.extend(c.phrases)
            carry_raw += c.raw + " "
            continue
        if carry:
            c.phrases = carry + c.phrases
            c.raw = carry_raw + c.raw
            carry, carry_raw = [], ""
        out.append(c)
    return out


def _share_times(clauses: list[_Clause], seq_flags: list[bool], duration: float) -> None:
    """Within a segment, a clause without a time takes its sibling's ("smile and blink at 2 s");
    a chain of timeless segments joined by "then" splits the clip in order."""
    by_seg: dict[int, list[_Clause]] = {}
    for c in clauses:
        by_seg.setdefault(c.segment, []).append(c)
    for group in by_seg.values():
        for k, c in enumerate(group):
            if c.spec.has_time:
                continue
            later = [g for g in group[k + 1:] if g.spec.has_time]
            earlier = [g for g in group[:k] if g.spec.has_time]
            if later or earlier:
                c.spec.inherit((later or earlier[::-1])[0].spec)
    segs = sorted(by_seg)
    chains: list[list[int]] = []
    for s in segs:
        if chains and seq_flags[s]:
            chains[-1].append(s)
        else:
            chains.append([s])
    for chain in chains:
        if len(chain) < 2 or any(c.spec.has_time for s in chain for c in by_seg[s]):
            continue
        n = len(chain)
        for i, s in enumerate(chain):
            for c in by_seg[s]:
                c.spec.region, c.spec.anchor = (duration * i / n, duration * (i + 1) / n), "center"
                c.spec.notes.append(f"step {i + 1} of {n} in a 'then' sequence")


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
    """
    if isinstance(duration_s, bool) or not isinstance(duration_s, (int, float)) or not math.isfinite(duration_s) \
            or duration_s <= 0:
        raise ControlError("duration_s", f"must be a positive number of seconds, got {duration_s!r}")
    duration = float(duration_s)
    words = _check_transcript(transcript)
    out = TextControls()
    if not isinstance(text, str) or not text.strip():
        out.messages.append("no text given: no controls")
        return out
    if len(text) > MAX_TEXT_CHARS:
        out.messages.append(f"text is {len(text)} characters; only the first {MAX_TEXT_CHARS} were read")
        text = text[:MAX_TEXT_CHARS]

    quoted, quotes = protect_quotes(_normalise(text))
    masked, found = extract_phrases(quoted.lower(), duration)
    clauses, seq_flags = _split(masked, found, quotes)
    clauses = _attach_orphan_times(clauses)
    for c in clauses:
        c.spec = build_spec(c.phrases, duration, words, quotes, out.messages)
    _share_times(clauses, seq_flags, duration)
    if not clauses:
        out.messages.append(f"no action recognised in {text.strip()!r}")
        return out

    from .model import embed, get_head, nearest_phrase   # torch + the embedder only when needed
    head = get_head()
    vecs = embed([c.text for c in clauses])
    act_p, emo_p, neg_p = head.predict(vecs)

    fine: list[FineControl] = []
    for i, c in enumerate(clauses):
        spec = c.spec
        neg_rule = _is_negated_text(c)
        # The rule decides; the head's negation output is too eager on words it never saw
        # ("gape" read as negated), so it only counts when it is near certain.
        negated = neg_rule or float(neg_p[i]) >= max(head.negation_threshold, 0.97)
        hits = [(head.action_ids[k], float(act_p[i, k]), "head") for k in range(len(head.action_ids))
                if act_p[i, k] >= head.thresholds[k]]
        for m in _ACTION_ID.finditer(c.text.lower()):
            aid = get_action(m.group(1)).id
            if aid not in [h[0] for h in hits]:
                hits.append((aid, 1.0, f"action id {m.group(1).upper()!r} named"))
        emotion = _emotion_in(c.text)
        if not hits and not neg_rule and emotion is None and c.text.strip():
            phrase, labels, cos, lead = nearest_phrase(vecs[i], NEAREST_MARGIN)
            if cos >= NEAREST_MIN_COS and lead >= NEAREST_MARGIN:
                hits = [(a, cos, f"nearest training phrase {phrase!r} cos={cos:.2f}") for a in labels]
        emotion_why = "emotion word"
        if emotion is None:
            k = int(emo_p[i].argmax())
            if k > 0 and emo_p[i, k] >= head.emotion_threshold:
                from .model import EMOTION_LABELS
                emotion, emotion_why = EMOTION_LABELS[k], f"head p={emo_p[i, k]:.2f}"
        if negated:
            what = ", ".join(h[0] for h in hits) or emotion or "nothing"
            why = "negation word" if neg_rule else f"head negation p={neg_p[i]:.2f}"
            out.matches.append({"phrase": c.raw, "kind": "negated", "action": None, "score": round(float(neg_p[i]), 3),
                                "why": f"{why}: no control made (would have been {what})"})
            out.messages.append(f"{c.raw!r} is negated: no control added")
            continue
        inten, inten_word = intensity_of(c.text)
        num = [p for p in c.phrases if p.kind == "intensity"]
        if num:
            inten, inten_word = num[-1].value[0], num[-1].text.strip()
        n_noun, noun_text = count_from_noun(c.text)
        if n_noun and spec.count is None:
            spec.count = n_noun
            spec.notes.append(f"{noun_text!r} = {n_noun} times")
        inten_note = f"intensity {inten:g} from {inten_word!r}" if inten_word else f"default intensity {inten:g}"
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
        if emotion is not None:
            e_int = inten if inten_word else DEFAULT_INTENSITY
            span = _emotion_span(spec, duration)
            if span is not None:
                a, b = span
                out.emotion_spans.append(EmotionSpan(emotion, a, b, round(float(e_int), 3)))
                out.matches.append({"phrase": c.raw, "kind": "emotion_span", "emotion": emotion,
                                    "score": 1.0 if emotion_why == "emotion word" else round(float(emo_p[i].max()), 3),
                                    "spans": [[a, b]], "intensity": round(float(e_int), 3),
                                    "why": f"{emotion_why}; {'; '.join(spec.notes)}"})
            elif out.emotion is None:
                out.emotion, out.emotion_intensity = emotion, round(float(e_int), 3)
                out.matches.append({"phrase": c.raw, "kind": "emotion", "emotion": emotion,
                                    "score": 1.0 if emotion_why == "emotion word" else round(float(emo_p[i].max()), 3),
                                    "intensity": round(float(e_int), 3), "why": f"{emotion_why}; whole clip"})
            else:
                out.messages.append(f"{c.raw!r}: clip emotion is already {out.emotion!r}; give a time to add "
                                    f"{emotion!r} as an emotion span")
        if not hits and emotion is None and c.text.strip():
            k = int(act_p[i].argmax())
            out.messages.append(f"no action recognised in {c.raw!r} (closest: {head.action_ids[k]} "
                                f"p={act_p[i, k]:.2f})")
    out.controls = validate_fine(fine, duration)
    return out


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
