"""Time, count, intensity and transcript-word phrases in free text, found by rule.

Over 400 lines because the phrase patterns, the readers that turn matches into phrases and the
rules that resolve them to spans are one small grammar; apart, a pattern would sit far from its rule.

Why rules and not the embedding head: times are numbers and the sentence embedding blurs
numbers ("at 2 s" and "at 4 s" embed almost the same). The text is scanned for time phrases
first, each is replaced by a marker (``@T3@``) so that the clause splitter never cuts
"between 1 and 2 s" at its "and", and the embedding sees the clause without its numbers.

Resolution rules (documented in docs/text_controls.md):
- a *point* ("at 2 s") starts a hold of the requested duration, else a default length per
  action (0.25 s for a blink, 1.0 s otherwise), shifted left if it would run past the clip;
- a *region* ("near the end", "from 1 to 2 s", "while saying 'hello'") is covered whole by an
  expression, while a blink becomes one short event at the region's centre;
- a *count* ("twice") spreads that many short events evenly over the region;
- a *duration* ("for half a second") sits at the region's start, centre or end depending on
  how the region was named;
- no time at all: the whole clip for expressions and gaze, one blink in the middle.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import partial
from typing import Callable, Sequence

Transcript = list[tuple[str, float, float]]

EVENT_ACTIONS = frozenset({"AU45"})            # short by nature: a point is an event, not a hold
EVENT_LEN_S = {"AU45": 0.25}
POINT_HOLD_S = 1.0                            # "raise your eyebrows at 2 s" holds this long
COUNT_EVENT_S = 0.6                           # each of "smile twice" for a non-blink action
FREQUENT_EVERY_S = 1.5                        # "blink often" / "blink throughout": one per this
DEFAULT_INTENSITY = 0.7

_NUMWORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30,
}
_NW = "|".join(sorted(_NUMWORDS, key=len, reverse=True))
NUM_CORE = rf"(?:\d+(?:\.\d+)?|\.\d+|(?:{_NW}))(?:\s+and\s+a\s+half)?"
NUM_A = rf"(?:half\s+an?|an?\s+half|a\s+quarter(?:\s+of\s+an?)?|{NUM_CORE}|an?)"
UNIT = r"(?:milliseconds?|ms|minutes?|mins?|seconds?|secs?|s)\b"
_CLIPNOUN = r"(?:\s+of\s+the\s+(?:clip|audio|sentence|line|take|animation|speech|shot|video|recording))?"


def parse_number(text: str) -> float:
    """'2.5' 'two' 'half a' 'a' 'one and a half' 'a quarter of a' -> seconds-free number."""
    t = " ".join(text.lower().split())
    half = t.endswith(" and a half")
    t = t.removesuffix(" and a half")
    if t in ("half a", "half an", "a half"):
        return 0.5
    if t.startswith("a quarter"):
        return 0.25
    if t in ("a", "an"):
        value = 1.0
    elif t in _NUMWORDS:
        value = float(_NUMWORDS[t])
    else:
        value = float(t)
    return value + (0.5 if half else 0.0)


def to_seconds(num: str, unit: str | None) -> float:
    value = parse_number(num)
    u = (unit or "s").lower()
    if u in ("ms", "millisecond", "milliseconds"):
        return value / 1000.0
    if u.startswith("min"):
        return value * 60.0
    return value


@dataclass
class Phrase:
    """One time/count/word phrase found in the text, before clause assignment."""

    kind: str                 # point | region | duration | count | words | ordinal | intensity
    text: str                 # the words as written
    value: tuple = ()         # kind-specific numbers (seconds, count, ...)
    anchor: str = "center"    # where a duration sits in a region: start | center | end
    note: str = ""            # how it was read, for .matches


@dataclass
class TimeSpec:
    """Everything said about *when* one clause happens."""

    region: tuple[float, float] | None = None
    region_kind: str = ""     # "full" for "throughout" (blinks then repeat)
    anchor: str = "center"
    point: float | None = None
    duration: float | None = None
    count: int | None = None
    frequent: bool = False
    phrases: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def has_time(self) -> bool:
        return self.region is not None or self.point is not None or self.duration is not None

    def inherit(self, other: "TimeSpec") -> None:
        """Take *when* (not how many times) from a sibling clause: "smile and blink at 2 s"."""
        self.region, self.region_kind, self.anchor = other.region, other.region_kind, other.anchor
        self.point, self.duration = other.point, other.duration
        self.notes.append(f"time shared with {', '.join(repr(p) for p in other.phrases)}")


# ---------------------------------------------------------------- phrase patterns
_P = re.compile
_RANGE = [
    _P(rf"\b(?:from|between)\s+(?:the\s+)?(?P<a>{NUM_A})\s*(?P<ua>{UNIT})?\s*(?:mark\s+)?"
       rf"(?:to|and|until|till|through|-|–)\s*(?:the\s+)?(?P<b>{NUM_A})\s*(?P<ub>{UNIT})(?:\s+mark)?"),
    _P(rf"\b(?P<a>{NUM_CORE})\s*(?P<ua>{UNIT})?\s*(?:-|–|to)\s*(?P<b>{NUM_CORE})\s*(?P<ub>{UNIT})"),
]
_FIRST = _P(rf"\b(?:(?:for|in|during|over|within)\s+)?the\s+(?:very\s+)?first\s+(?:(?P<a>{NUM_A})\s*)?(?P<ua>{UNIT})")
_LAST = _P(rf"\b(?:(?:for|in|during|over|within)\s+)?the\s+(?:very\s+)?(?:last|final)\s+(?:(?P<a>{NUM_A})\s*)?(?P<ua>{UNIT})")
_PART = _P(rf"\b(?:(?:in|during|for|over|throughout)\s+)?the\s+(?P<which>first|second|last|final|middle)\s+"
           rf"(?P<part>half|third|quarter){_CLIPNOUN}")
_AFTER = [
    _P(rf"\b(?:after|past|from|starting\s+(?:at|from)|beginning\s+at|later\s+than)\s+(?:the\s+)?"
       rf"(?P<a>{NUM_A})\s*(?P<ua>{UNIT})(?:\s+mark)?(?:\s+(?:on|onwards|onward))?"),
    _P(rf"\b(?P<a>{NUM_A})\s*(?P<ua>{UNIT})\s+(?:on|onwards|onward)\b"),
]
_UNTIL = _P(rf"\b(?:until|till|up\s+to|before|by)\s+(?:the\s+)?(?P<a>{NUM_A})\s*(?P<ua>{UNIT})(?:\s+mark)?")
_DURATION = [
    _P(rf"\b(?:for|lasting|over)\s+(?:about\s+|around\s+|roughly\s+|just\s+|only\s+)?(?P<a>{NUM_A})\s*(?P<ua>{UNIT})(?:\s+long)?"),
    _P(rf"\b(?P<a>{NUM_CORE})[- ]?(?P<ua>seconds?|secs?)[- ]long\b"),
]
_AN_N_SECOND = _P(rf"\b(?:a|an)\s+(?P<a>{NUM_CORE}|half)[- ](?P<ua>second|sec)\b")  # "a 2-second smile"
_POINT = [
    _P(rf"\b(?:at|around|about|near|at\s+around|at\s+about|at\s+exactly|exactly\s+at|right\s+at|just\s+after|just\s+before)"
       rf"\s+(?:the\s+)?(?:(?:time|second)\s+)?(?P<a>{NUM_A})\s*(?P<ua>{UNIT})(?:\s+mark)?"),
    _P(r"\b(?:at|around)\s+(?:the\s+)?(?:time\s+|second\s+|t\s*=\s*)?(?P<a>\d+(?:\.\d+)?)\b(?!\s*(?:%|percent|times|x\b))"),
    _P(rf"\bt\s*=\s*(?P<a>\d+(?:\.\d+)?)\s*(?P<ua>{UNIT})?"),
    _P(rf"\b(?P<a>{NUM_A})\s*(?P<ua>{UNIT})\s+in\b"),
]
_REL = [
    ("start", (0.0, 0.1), _P(rf"\bat\s+the\s+very\s+(?:start|beginning)\b{_CLIPNOUN}")),
    ("end", (0.9, 1.0), _P(rf"\bat\s+the\s+very\s+end\b{_CLIPNOUN}|\bat\s+the\s+last\s+(?:second|moment)\b")),
    ("full", (0.0, 1.0), _P(
        r"\bfrom\s+(?:the\s+)?(?:start|beginning)\s+to\s+(?:the\s+)?(?:end|finish)\b|"
        r"\bthroughout\b(?:\s+the\s+(?:clip|audio|sentence|line|take|animation|speech|whole\s+thing|video))?|"
        r"\b(?:for\s+|during\s+|over\s+)?the\s+(?:whole|entire|full)\s+(?:time|clip|audio|take|thing|animation|sentence|line|speech|shot|video|duration)\b|"
        r"\ball\s+(?:the\s+)?(?:time|along|through)\b|\bcontinuously\b|\bconstantly\b|\bnon[- ]?stop\b|"
        r"\bthe\s+whole\s+way(?:\s+through)?\b|\bwhile\s+(?:speaking|talking)\b|\bthe\s+entire\s+(?:time|clip)\b")),
    ("start", (0.0, 0.25), _P(
        rf"\b(?:at|in|near|towards?|around|right\s+at|by)\s+the\s+(?:start|beginning|outset|opening|onset)\b{_CLIPNOUN}|"
        rf"\bat\s+first\b|\bearly(?:\s+on)?\b|\bright\s+away\b|\bimmediately\b|\bto\s+(?:begin|start)\s+with\b|"
        rf"\bstraight\s+away\b|\binitially\b|\bat\s+the\s+top\b")),
    ("middle", (0.375, 0.625), _P(
        rf"\b(?:in|at|near|around|towards?|about)\s+the\s+(?:very\s+)?(?:middle|center|centre|midpoint)\b{_CLIPNOUN}|"
        rf"\bhalfway(?:\s+through)?\b|\bmidway(?:\s+through)?\b|\bmid[- ](?:clip|way|sentence|speech)\b")),
    ("end", (0.75, 1.0), _P(
        rf"\b(?:at|in|near|towards?|by|around|close\s+to|right\s+at|before)\s+the\s+(?:end|ending|finish|close)\b{_CLIPNOUN}|"
        rf"\bin\s+the\s+end\b|\bat\s+last\b|\bfinally\b|\blater\s+on\b|\blate\s+in\s+the\s+(?:clip|take)\b|"
        rf"\bto\s+finish\b|\bat\s+the\s+finish\b")),
]
_COUNT = _P(rf"\b(?:(?P<once>once)|(?P<twice>twice)|(?P<thrice>thrice)|(?P<n>{_NW}|\d+)\s+times|"
            rf"(?P<couple>a\s+couple\s+(?:of\s+)?times)|(?P<few>a\s+few\s+times)|(?P<several>several\s+times)|"
            rf"(?P<freq>repeatedly|over\s+and\s+over|often|frequently|many\s+times|a\s+lot\s+of\s+times|regularly|every\s+so\s+often|now\s+and\s+then))\b")
_COUNT_NOUN = _P(r"\b(?P<n>two|three|four|five|six|\d+|a\s+couple\s+of|a\s+few|several|double|triple)\s+"
                 r"(?:quick\s+|short\s+|fast\s+|rapid\s+|little\s+)?(?P<noun>blinks|winks|glances|smiles|looks)\b")
_WORDS = [
    _P(r"\b(?:while|when|as|whilst|during)\s+(?:(?:s?he|they|i|you|we|it|the\s+(?:character|speaker|actor|person|man|woman))\s+)?"
       r"(?:says?|saying|speaks?|speaking|pronounces?|pronouncing|utters?|uttering|is\s+saying)\s+(?:the\s+words?\s+|out\s+)?"
       r"(?P<w>qtok\d+|(?!(?:and|then|but)\b)[a-z0-9'][a-z0-9' ]*?)(?=\s*(?:$|[,.;!?]|\band\b|\bthen\b|\bbut\b|@))"),
    _P(r"\b(?:on|at|during|with|for|over)\s+the\s+words?\s+(?P<w>qtok\d+|[a-z0-9']+)"),
    _P(r"\b(?:on|at|during|with|over)\s+(?P<w>qtok\d+)"),
]
_ORDINAL = _P(r"\b(?:on|at|during|for|with|over|in|while\s+saying|when\s+saying|when\s+(?:s?he|they)\s+says)\s+the\s+"
              r"(?P<ord>first|last|final|second|third)\s+(?P<unit>word|sentence|phrase|line)\b")
_PERCENT = _P(r"\b(?:at\s+|with\s+)?(?P<p>\d+(?:\.\d+)?)\s*(?:%|percent)(?:\s+(?:intensity|strength|power))?|"
              r"\b(?:intensity|strength)\s*(?:of\s+|=\s*|:\s*)?(?P<f>0?\.\d+|1(?:\.0+)?|0)\b|"
              r"\b(?:at\s+|with\s+)?(?P<half>half|full|maximum|max|minimum|low|high)\s+(?:intensity|strength|power)\b")
_QUOTE = _P(r"(?:(?<=[\s(:,])|^)[\"“‘'](?P<q>[^\"“”‘’']+?)[\"”’'](?=$|[\s,.;:!?)])")

INTENSITY_WORDS: tuple[tuple[str, float], ...] = (
    ("very slightly", 0.2), ("barely", 0.2), ("the tiniest", 0.2), ("a tiny bit", 0.2), ("hint of", 0.25),
    ("really big", 1.0), ("as much as possible", 1.0), ("extremely", 1.0), ("maximum", 1.0), ("fully", 1.0),
    ("huge", 1.0), ("massive", 1.0), ("enormous", 1.0), ("intensely", 1.0), ("intense", 1.0), ("exaggerated", 1.0),
    ("very", 0.9), ("really", 0.9), ("big", 0.9), ("broad", 0.9), ("strongly", 0.9), ("strong", 0.9), ("a lot", 0.9),
    ("hard", 0.9), ("wide", 0.85), ("clearly", 0.85), ("obviously", 0.85), ("deeply", 0.9), ("so ", 0.85),
    ("somewhat", 0.5), ("moderately", 0.5), ("medium", 0.5), ("a bit", 0.4), ("kind of", 0.45), ("mildly", 0.4),
    ("slightly", 0.3), ("a little", 0.3), ("little", 0.35), ("a touch", 0.3), ("subtle", 0.3), ("subtly", 0.3),
    ("faint", 0.25), ("faintly", 0.25), ("gently", 0.35), ("gentle", 0.35), ("soft", 0.35), ("softly", 0.35),
    ("small", 0.35), ("light", 0.35), ("lightly", 0.35), ("tiny", 0.25), ("weak", 0.3), ("quietly", 0.4),
)
_INTENSITY_RE = [(_P(rf"\b{re.escape(w.strip())}\b"), w.strip(), v) for w, v in INTENSITY_WORDS]


def protect_quotes(text: str) -> tuple[str, list[str]]:
    """Replace quoted words by ``qtok0``... so commas inside quotes do not split clauses."""
    quotes: list[str] = []

    def sub(m: re.Match) -> str:
        quotes.append(m.group("q"))
        return f"qtok{len(quotes) - 1}"

    return _QUOTE.sub(sub, text), quotes


def _rel_region(name: str, frac: tuple[float, float], duration: float) -> tuple[float, float]:
    return frac[0] * duration, frac[1] * duration


def extract_phrases(text: str, duration: float) -> tuple[str, dict[str, Phrase]]:
    """Find time, count, word and numeric-intensity phrases; return masked text + markers.

    The readers run in :func:`_phrase_readers`' order: each replaces what it finds by a marker,
    so an earlier reader wins ("from 1 to 2 s" is a range before "2 s" could be a point).
    """
    masker = _Masker()
    s = text
    for patterns, make in _phrase_readers(duration):
        for pattern in patterns:
            s = masker.mask(pattern, make, s)
    return s, masker.found


class _Masker:
    """Replaces each phrase a reader accepts by a numbered marker ``@T<n>@`` and keeps the phrase."""

    def __init__(self) -> None:
        self.found: dict[str, Phrase] = {}

    def mask(self, pattern: re.Pattern, make: Callable[[re.Match], Phrase | None], s: str) -> str:
        def sub(m: re.Match) -> str:
            phrase = make(m)
            if phrase is None:                    # the reader declined: leave the text as it is
                return m.group(0)
            key = f"@T{len(self.found)}@"
            self.found[key] = phrase
            return f" {key} "
        return pattern.sub(sub, s)


PhraseReader = Callable[[re.Match], "Phrase | None"]


def _phrase_readers(duration: float) -> list[tuple[Sequence[re.Pattern], PhraseReader]]:
    """(patterns, phrase maker) in the order they are applied; ``duration`` for relative times."""
    d = duration
    return [
        (_WORDS, _words_phrase),
        ((_ORDINAL,), _ordinal_phrase),
        (_RANGE, _range_phrase),
        ((_FIRST,), partial(_first_phrase, duration=d)),
        ((_LAST,), partial(_last_phrase, duration=d)),
        ((_PART,), partial(_part_phrase, duration=d)),
        (_AFTER, partial(_after_phrase, duration=d)),
        ((_UNTIL,), _until_phrase),
        (_DURATION, _duration_phrase),
        ((_AN_N_SECOND,), _an_n_second_phrase),
        (_POINT, _point_phrase),
        *[((pat,), partial(_relative_phrase, name=name, frac=frac, duration=d)) for name, frac, pat in _REL],
        ((_COUNT,), _count_phrase),
        ((_PERCENT,), _percent_phrase),
    ]


def _secs(m: re.Match, g: str, u: str) -> float:
    return to_seconds(m.group(g), m.groupdict().get(u))


def _words_phrase(m: re.Match) -> Phrase:
    return Phrase("words", m.group(0), (m.group("w").strip(),))


def _ordinal_phrase(m: re.Match) -> Phrase:
    return Phrase("ordinal", m.group(0), (m.group("ord"), m.group("unit")))


def _range_phrase(m: re.Match) -> Phrase | None:
    ub = m.group("ub")
    a, b = to_seconds(m.group("a"), m.group("ua") or ub), to_seconds(m.group("b"), ub)
    if b <= a:
        return None
    return Phrase("region", m.group(0), (a, b), "center", f"{a:g}-{b:g} s")


def _first_phrase(m: re.Match, duration: float) -> Phrase:
    x = to_seconds(m.group("a") or "1", m.group("ua"))
    return Phrase("region", m.group(0), (0.0, x), "start", f"first {x:g} s")


def _last_phrase(m: re.Match, duration: float) -> Phrase:
    x = to_seconds(m.group("a") or "1", m.group("ua"))
    return Phrase("region", m.group(0), (max(0.0, duration - x), duration), "end", f"last {x:g} s")


def _part_phrase(m: re.Match, duration: float) -> Phrase:
    n = {"half": 2, "third": 3, "quarter": 4}[m.group("part")]
    which = m.group("which")
    i = {"first": 0, "second": 1, "middle": (n - 1) // 2}.get(which, n - 1)
    a, b = duration * i / n, duration * (i + 1) / n
    return Phrase("region", m.group(0), (a, b), "start" if i == 0 else "end" if i == n - 1 else "center",
                  f"{which} {m.group('part')} = {a:g}-{b:g} s")


def _after_phrase(m: re.Match, duration: float) -> Phrase:
    return Phrase("region", m.group(0), (_secs(m, "a", "ua"), duration), "start", f"after {_secs(m, 'a', 'ua'):g} s")


def _until_phrase(m: re.Match) -> Phrase:
    return Phrase("region", m.group(0), (0.0, _secs(m, "a", "ua")), "end", f"until {_secs(m, 'a', 'ua'):g} s")


def _duration_phrase(m: re.Match) -> Phrase:
    return Phrase("duration", m.group(0), (_secs(m, "a", "ua"),), note=f"lasting {_secs(m, 'a', 'ua'):g} s")


def _an_n_second_phrase(m: re.Match) -> Phrase:
    x = 0.5 if m.group("a") == "half" else to_seconds(m.group("a"), "s")
    return Phrase("duration", m.group(0), (x,), note=f"lasting {x:g} s")


def _point_phrase(m: re.Match) -> Phrase:
    return Phrase("point", m.group(0), (_secs(m, "a", "ua"),), note=f"at {_secs(m, 'a', 'ua'):g} s")


def _relative_phrase(m: re.Match, name: str, frac: tuple[float, float], duration: float) -> Phrase:
    note = (f"{name} = {frac[0] * duration:g}-{frac[1] * duration:g} s" if name != "full"
            else f"full:whole clip 0-{duration:g} s")
    return Phrase("region", m.group(0), _rel_region(name, frac, duration),
                  {"start": "start", "end": "end"}.get(name, "center"), note)


def _count_phrase(m: re.Match) -> Phrase:
    if m.group("once"):
        n = 1
    elif m.group("twice"):
        n = 2
    elif m.group("thrice"):
        n = 3
    elif m.group("n"):
        n = int(_NUMWORDS.get(m.group("n"), m.group("n")) if not m.group("n").isdigit() else m.group("n"))
    elif m.group("couple"):
        n = 2
    elif m.group("few") or m.group("several"):
        n = 3
    else:
        return Phrase("count", m.group(0), (0,), note="repeated")
    return Phrase("count", m.group(0), (n,), note=f"{n} times")


def _percent_phrase(m: re.Match) -> Phrase:
    if m.group("p"):
        v = float(m.group("p")) / 100.0
    elif m.group("f"):
        v = float(m.group("f"))
    else:
        v = {"half": 0.5, "full": 1.0, "maximum": 1.0, "max": 1.0, "minimum": 0.15, "low": 0.3,
             "high": 0.9}[m.group("half")]
    return Phrase("intensity", m.group(0), (min(1.0, max(0.0, v)),), note=f"intensity {v:g}")


def count_from_noun(text: str) -> tuple[int | None, str]:
    """'two blinks' -> 2 (left in the clause text: the noun still names the action)."""
    m = _COUNT_NOUN.search(text)
    if not m:
        return None, ""
    w = " ".join(m.group("n").split())
    n = {"a couple of": 2, "a few": 3, "several": 3, "double": 2, "triple": 3}.get(w)
    if n is None:
        n = int(w) if w.isdigit() else _NUMWORDS[w]
    return n, m.group(0)


def intensity_of(text: str) -> tuple[float, str]:
    """Intensity word in a clause -> (value, word); (DEFAULT_INTENSITY, '') when none."""
    best: tuple[int, float, str] | None = None
    for pat, word, value in _INTENSITY_RE:
        m = pat.search(text)
        if m and (best is None or m.start() < best[0] or (m.start() == best[0] and len(word) > len(best[2]))):
            best = (m.start(), value, word)
    if best is None:
        return DEFAULT_INTENSITY, ""
    return best[1], best[2]


# ---------------------------------------------------------------- transcript words
def _norm_word(w: str) -> str:
    return re.sub(r"[^a-z0-9']", "", w.lower())


def match_words(query: str, transcript: Transcript) -> tuple[tuple[float, float] | None, str]:
    """Span of the first place the transcript says ``query`` (longest matching prefix of it)."""
    q = [_norm_word(w) for w in query.split() if _norm_word(w)]
    words = [_norm_word(w) for w, _, _ in transcript]
    for n in range(len(q), 0, -1):
        for i in range(len(words) - n + 1):
            if words[i:i + n] == q[:n]:
                return (float(transcript[i][1]), float(transcript[i + n - 1][2])), " ".join(q[:n])
    return None, ""


def sentences(transcript: Transcript, pause_s: float = 0.35) -> list[tuple[float, float]]:
    """Sentence spans: split after words ending in . ! ? or, without punctuation, at pauses."""
    if not transcript:
        return []
    has_punct = any(re.search(r"[.!?]$", w.strip()) for w, _, _ in transcript[:-1])
    spans: list[tuple[float, float]] = []
    start = float(transcript[0][1])
    for i, (w, _, e) in enumerate(transcript):
        last = i == len(transcript) - 1
        gap = (transcript[i + 1][1] - e) if not last else 0.0
        if last or (has_punct and re.search(r"[.!?]$", w.strip())) or (not has_punct and gap >= pause_s):
            spans.append((start, float(e)))
            if not last:
                start = float(transcript[i + 1][1])
    return spans


def ordinal_span(which: str, unit: str, transcript: Transcript) -> tuple[float, float] | None:
    items = ([(float(s), float(e)) for _, s, e in transcript] if unit == "word" else sentences(transcript))
    if not items:
        return None
    idx = {"first": 0, "second": 1, "third": 2}.get(which, len(items) - 1)
    return items[idx] if idx < len(items) else None


# ---------------------------------------------------------------- clause spec -> spans
def build_spec(phrases: list[Phrase], duration: float, transcript: Transcript | None,
               quotes: list[str], messages: list[str]) -> TimeSpec:
    """Fold one clause's phrases into a :class:`TimeSpec` (later phrases refine earlier ones)."""
    spec = TimeSpec()
    for p in phrases:
        spec.phrases.append(_unquote(p.text, quotes))
        if p.kind == "region":
            spec.region, spec.anchor = (p.value[0], p.value[1]), p.anchor
            spec.region_kind = "full" if p.note.startswith("full") else ""
            spec.notes.append(p.note)
        elif p.kind == "point":
            spec.point = p.value[0]
            spec.notes.append(p.note)
        elif p.kind == "duration":
            spec.duration = p.value[0]
            spec.notes.append(p.note)
        elif p.kind == "count":
            if p.value[0] == 0:
                spec.frequent = True
            else:
                spec.count = p.value[0]
            spec.notes.append(p.note)
        elif p.kind in ("words", "ordinal"):
            said = _unquote(p.text, quotes)
            if not transcript:
                messages.append(f"{said!r} needs a transcript with word times; none was given, so it was ignored")
                continue
            if p.kind == "words":
                query = re.sub(r"qtok(\d+)", lambda m: quotes[int(m.group(1))], p.value[0])
                span, hit = match_words(query, transcript)
                if span is None:
                    messages.append(f"the transcript never says {query!r}; {said!r} was ignored")
                    continue
                spec.notes.append(f"transcript words {hit!r} at {span[0]:g}-{span[1]:g} s")
            else:
                span = ordinal_span(p.value[0], p.value[1], transcript)
                if span is None:
                    messages.append(f"the transcript has no {p.value[0]} {p.value[1]}; {said!r} was ignored")
                    continue
                spec.notes.append(f"{p.value[0]} {p.value[1]} at {span[0]:g}-{span[1]:g} s")
            spec.region, spec.anchor, spec.region_kind = span, "center", "words"
    return spec


def _unquote(text: str, quotes: list[str]) -> str:
    return re.sub(r"qtok(\d+)", lambda m: repr(quotes[int(m.group(1))]) if int(m.group(1)) < len(quotes) else m.group(0), text)


def resolve_spans(spec: TimeSpec, action: str, duration: float) -> list[tuple[float, float]]:
    """Clip-clamped spans for one action under ``spec`` (rules in the module docstring)."""
    event = action in EVENT_ACTIONS
    ev_len = EVENT_LEN_S.get(action, COUNT_EVENT_S)
    a, b = spec.region if spec.region is not None else (0.0, duration)
    a, b = max(0.0, min(a, duration)), max(0.0, min(b, duration))
    if b - a < 1e-3:
        a, b = max(0.0, b - ev_len), b
    n = spec.count
    if n is None and (spec.frequent or (event and spec.region_kind == "full")):
        n = max(2, round((b - a) / FREQUENT_EVERY_S))
    spans: list[tuple[float, float]]
    if spec.point is not None:
        length = spec.duration or (EVENT_LEN_S.get(action, POINT_HOLD_S))
        length = min(length, duration)
        reps = n or 1
        gap = max(0.15, length * 0.5)
        spans = []
        t = spec.point
        for _ in range(reps):
            s0 = max(0.0, min(t, duration - length))
            spans.append((s0, s0 + length))
            t = s0 + length + gap
    elif n:
        n = max(1, min(n, 50))
        step = (b - a) / n
        length = min(spec.duration or ev_len, step * 0.8)
        spans = [(a + (i + 0.5) * step - length / 2, a + (i + 0.5) * step + length / 2) for i in range(n)]
    elif spec.duration is not None:
        d = min(spec.duration, b - a) if spec.region is not None else min(spec.duration, duration)
        if spec.anchor == "start":
            spans = [(a, a + d)]
        elif spec.anchor == "end":
            spans = [(b - d, b)]
        else:
            mid = (a + b) / 2
            spans = [(mid - d / 2, mid + d / 2)]
    elif event:
        mid = (a + b) / 2
        spans = [(mid - ev_len / 2, mid + ev_len / 2)]
    else:
        spans = [(a, b)]
    out = []
    for s0, s1 in spans:
        s0, s1 = max(0.0, s0), min(duration, s1)
        if s1 - s0 > 1e-3:
            out.append((round(s0, 4), round(s1, 4)))
    return out
