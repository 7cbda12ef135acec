"""Free text -> clauses with their times: the rule half of text_to_controls (no model).

Quotes are protected, time phrases are masked (``time.extract_phrases``), the text is cut into
segments (". ; then after that") and clauses ("and while with but"), a clause that is only a
time gives it to its neighbour, each clause gets its :class:`TimeSpec`, and clauses without a
time share their sibling's (or split the clip when joined by "then").
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .time import Phrase, TimeSpec, Transcript, build_spec, extract_phrases, protect_quotes

_SEGMENT = re.compile(r"(\s*(?:[.;!?\n]+|,\s*(?:and\s+)?then\b|,|\band\s+then\b|\bthen\b|\bafter\s+that\b|"
                      r"\bafterwards\b|\bfollowed\s+by\b|\blater\b)\s*)")
_SEQUENTIAL = re.compile(r"then|after|followed|later")
_SUBCLAUSE = re.compile(r"(\s*\b(?:and|while|whilst|with|plus|also|as\s+well\s+as|along\s+with|but|or|nor|without|"
                        r"and\s+also)\b\s*)")
_NEGATION = re.compile(r"\b(?:don'?t|do\s+not|does\s+not|doesn'?t|did\s+not|never|no|not|stop|avoid|without|"
                       r"refrain|quit|shouldn'?t|should\s+not|mustn'?t|must\s+not|cannot|can'?t|nor|neither|"
                       r"isn'?t|won'?t|lose\s+the|drop\s+the)\b")
_MARKER = re.compile(r"@T\d+@")


@dataclass
class Clause:
    """One clause: the words the embedder sees, the text as written, and its time phrases."""
    text: str                       # clause words, markers removed (what the embedder sees)
    raw: str                        # clause as written (quotes restored), for matches
    phrases: list[Phrase]
    segment: int
    negated_by_joiner: bool = False
    spec: TimeSpec | None = None


def _normalise(text: str) -> str:
    t = text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    return " ".join(t.split())


def _split(masked: str, found: dict[str, Phrase], quotes: list[str]) -> tuple[list[Clause], list[bool]]:
    """Clauses of the masked text, and per segment whether it follows a "then"."""
    parts = _SEGMENT.split(masked)
    clauses: list[Clause] = []
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
                                                      and is_negated(clauses[-1]))
                continue
            markers = _MARKER.findall(sub)
            words = " ".join(_MARKER.sub(" ", sub).split())
            raw = " ".join(re.sub(r"@T\d+@", lambda m: found[m.group(0)].text, sub).split())
            raw = re.sub(r"qtok(\d+)", lambda m: repr(quotes[int(m.group(1))]), raw)
            text = re.sub(r"qtok(\d+)", lambda m: quotes[int(m.group(1))], words)
            clauses.append(Clause(text, raw, [found[m] for m in markers], seg, negate_next))
            negate_next = False
    return clauses, seq_flags


def is_negated(c: Clause) -> bool:
    return c.negated_by_joiner or bool(_NEGATION.search(c.text))


def _attach_orphan_times(clauses: list[Clause]) -> list[Clause]:
    """A clause that is only a time ("smile, at 2 s") gives its time to its neighbour."""
    kept: list[Clause] = []
    for c in clauses:
        if c.text.strip(" -") or not c.phrases:
            kept.append(c)
            continue
        if kept and not any(p.kind not in ("count", "intensity") for p in kept[-1].phrases):
            kept[-1].phrases.extend(c.phrases)
            kept[-1].raw += ", " + c.raw
        else:
            kept.append(c)                                       # merged into the next clause below
    out: list[Clause] = []
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


def _share_times(clauses: list[Clause], seq_flags: list[bool], duration: float) -> None:
    """Within a segment, a clause without a time takes its sibling's ("smile and blink at 2 s");
    a chain of timeless segments joined by "then" splits the clip in order."""
    by_seg: dict[int, list[Clause]] = {}
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


def read_clauses(text: str, duration: float, words: Transcript | None, messages: list[str]) -> list[Clause]:
    """The rule half: quotes protected, time phrases masked, clauses cut, each clause's TimeSpec
    built, and times shared between clauses that lack one."""
    quoted, quotes = protect_quotes(_normalise(text))
    masked, found = extract_phrases(quoted.lower(), duration)
    clauses, seq_flags = _split(masked, found, quotes)
    clauses = _attach_orphan_times(clauses)
    for c in clauses:
        c.spec = build_spec(c.phrases, duration, words, quotes, messages)
    _share_times(clauses, seq_flags, duration)
    return clauses
