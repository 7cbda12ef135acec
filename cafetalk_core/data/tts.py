"""Speech with exact phone timings, taken from the TTS engines themselves.

Over 400 lines because the three engines belong together: each reports its segments in its own
format, and the mapping of all of them to one ARPAbet timeline is this module's one job.

The corpus needs phone spans that match the audio to the sample, not guesses from text
length, so each engine reports its own segmentation:

- espeak-ng through libespeak-ng (ctypes): synchronous mode with phoneme events; each
  event of type 7 carries the phoneme mnemonic and its start sample (22,050 Hz).
- flite (``-psdur``): prints ``phone:end_time`` for every segment.
- festival (``utt.save.segs``): writes each segment's end time (HTS SLT voice, KAL diphone).

Every engine's symbols are mapped to ARPAbet (``cafetalk_core.phones``); the raw symbol is
kept next to it so the corpus JSON stays auditable. Audio comes back as 16 kHz mono float32.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import pickle
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..audio.io import SAMPLE_RATE, AudioError, load_audio, resample
from ..phones import Phone, normalize_phone


@dataclass
class Speech:
    """One synthesised utterance: audio (16 kHz float32) + phones (ARPAbet) + raw symbols."""

    audio: np.ndarray
    phones: list[Phone]
    raw: list[str]
    engine: str
    voice: str
    words: list[tuple[float, float]] = field(default_factory=list)  # word spans, where known

    @property
    def duration_s(self) -> float:
        return len(self.audio) / SAMPLE_RATE


class SynthesisError(RuntimeError):
    """An engine failed or returned no phones; the message names the engine and voice."""


# ---------------------------------------------------------------------------------------------
# Symbol maps -> ARPAbet. A symbol may map to two phones (r-coloured vowels, syllabic L);
# the span is then split 60/40.
# ---------------------------------------------------------------------------------------------

ESPEAK_TO_ARPABET: dict[str, tuple[str, ...]] = {
    # vowels (en, en-us, en-gb-x-rp and the regional voices)
    "a": ("AE",), "a#": ("AH",), "aa": ("AE",), "A:": ("AA",), "A": ("AA",), "A@": ("AA", "R"),
    "A#": ("AA",), "aI": ("AY",), "aI@": ("AY", "ER"), "aI3": ("AY", "ER"), "aU": ("AW",),
    "aU@": ("AW", "ER"), "@": ("AH",), "@2": ("AH",), "@5": ("AH",), "@L": ("AH", "L"),
    "@-": ("AH",), "3": ("ER",), "3:": ("ER",), "@r": ("ER",), "0": ("AA",), "0#": ("AA",),
    "e": ("EH",), "e#": ("EH",), "E": ("EH",), "E2": ("EH",), "e@": ("EH", "R"), "eI": ("EY",),
    "eI#": ("EY",), "i": ("IY",), "i:": ("IY",), "i@": ("IH", "R"), "i@3": ("IH", "R"),
    "I": ("IH",), "I2": ("IH",), "I#": ("IH",), "i#": ("IH",), "O": ("AO",), "O:": ("AO",),
    "O@": ("AO", "R"), "o@": ("AO", "R"), "OI": ("OY",), "oU": ("OW",), "oU#": ("OW",),
    "@U": ("OW",), "o": ("OW",), "u:": ("UW",), "u": ("UW",), "U": ("UH",), "U@": ("UH", "R"),
    "V": ("AH",), "aI2": ("AY",), "u@": ("UW", "ER"), "IR": ("IH", "R"), "VR": ("ER",),
    "3:r": ("ER",), "0@": ("AO", "R"),
    # consonants
    "p": ("P",), "b": ("B",), "t": ("T",), "d": ("D",), "k": ("K",), "g": ("G",),
    "f": ("F",), "v": ("V",), "T": ("TH",), "D": ("DH",), "s": ("S",), "z": ("Z",),
    "S": ("SH",), "Z": ("ZH",), "h": ("HH",), "x": ("HH",), "m": ("M",), "n": ("N",),
    "N": ("NG",), "l": ("L",), "L": ("L",), "l/": ("L",), "l/2": ("L",), "r": ("R",),
    "r-": ("R",), "*": ("D",), "w": ("W",), "W": ("W",), "j": ("Y",), "tS": ("CH",), "dZ": ("JH",),
    "t#": ("T",), "d#": ("D",), "?": ("T",), "n-": ("N",), "m-": ("M",), "z#": ("Z",),
    "z/2": ("Z",), "s2": ("S",), "t2": ("T",), "d2": ("D",), "k2": ("K",), "r/": ("R",),
    "C": ("HH",), "X": ("HH",), "h#": ("HH",),
}


def espeak_to_arpabet(symbol: str) -> tuple[str, ...]:
    """espeak-ng mnemonic -> ARPAbet phones; pauses (``_``, ``_:``, ``_!``...) -> SIL."""
    s = symbol.strip()
    if not s or s.startswith("_") or s in ("||", "|", "%"):
        return ("SIL",)
    s = s.lstrip("'\",%=")  # stress marks, if a build emits them
    if s in ESPEAK_TO_ARPABET:
        return ESPEAK_TO_ARPABET[s]
    for cut in (s.rstrip("0123456789#"), s.rstrip(":"), s[:2], s[:1]):
        if cut in ESPEAK_TO_ARPABET:
            return ESPEAK_TO_ARPABET[cut]
    return ("SIL",)


FESTIVAL_EXTRA: dict[str, str] = {
    "pau": "SIL", "h#": "SIL", "brth": "SIL", "ssil": "SIL", "sil": "SIL",
    "ax": "AH", "axr": "ER", "ix": "IH", "dx": "D", "nx": "N", "el": "L", "em": "M", "en": "N",
    "hv": "HH", "ux": "UW", "q": "T", "@": "AH",
}
_TWO_PHONE = {"el": ("AH", "L"), "em": ("AH", "M"), "en": ("AH", "N")}


def festival_to_arpabet(symbol: str) -> tuple[str, ...]:
    """flite/festival (lower-case ARPAbet with ``pau``, ``ax``, ``dx``...) -> ARPAbet."""
    s = symbol.strip().lower()
    if s in _TWO_PHONE:
        return _TWO_PHONE[s]
    if s in FESTIVAL_EXTRA:
        return (FESTIVAL_EXTRA[s],)
    return (normalize_phone(s),)


def _expand(raw: list[tuple[str, float, float]], mapper) -> tuple[list[Phone], list[str]]:
    """(symbol, start, end) -> ARPAbet phones; merges adjacent SILs, splits two-phone symbols."""
    phones: list[Phone] = []
    raws: list[str] = []
    for sym, a, b in raw:
        if b <= a:
            continue
        mapped = mapper(sym)
        if len(mapped) == 1:
            spans = [(mapped[0], a, b)]
        else:
            cut = a + 0.6 * (b - a)
            spans = [(mapped[0], a, cut), (mapped[1], cut, b)]
        for ph, s, e in spans:
            if phones and ph == "SIL" and phones[-1].phone == "SIL":
                phones[-1] = Phone("SIL", phones[-1].start_s, e)
                raws[-1] = raws[-1] + "+" + sym
                continue
            phones.append(Phone(ph, round(s, 5), round(e, 5)))
            raws.append(sym)
    return phones, raws


def _pad_silence(phones: list[Phone], raws: list[str], duration: float) -> None:
    """Make the phones tile [0, duration]: SIL before the first and after the last phone."""
    if not phones:
        phones.append(Phone("SIL", 0.0, duration))
        raws.append("")
        return
    if phones[0].start_s > 1e-4:
        if phones[0].phone == "SIL":
            phones[0] = Phone("SIL", 0.0, phones[0].end_s)
        else:
            phones.insert(0, Phone("SIL", 0.0, phones[0].start_s))
            raws.insert(0, "")
    last = phones[-1]
    if last.end_s < duration - 1e-4:
        if last.phone == "SIL":
            phones[-1] = Phone("SIL", last.start_s, round(duration, 5))
        else:
            phones.append(Phone("SIL", last.end_s, round(duration, 5)))
            raws.append("")
    elif last.end_s > duration:
        phones[-1] = Phone(last.phone, last.start_s, round(duration, 5))


# ---------------------------------------------------------------------------------------------
# espeak-ng (libespeak-ng through ctypes)
# ---------------------------------------------------------------------------------------------

ESPEAK_BASES: tuple[str, ...] = (
    "en-us", "en", "en-gb-x-rp", "en-gb-scotland", "en-029", "en-us-nyc", "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
)
#: Variant timbres (espeak-ng-data/voices/!v); the variant is the "speaker" for splits.
ESPEAK_VARIANTS: tuple[str, ...] = (
    "", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "croak",
    "klatt", "klatt2", "klatt3", "klatt4", "Andy", "Annie", "aunty", "boris", "david", "ed",
    "edward", "grandma", "grandpa", "john", "linda", "max", "michel", "norbert", "paul",
    "quincy", "rob", "steph", "travis", "victor", "zac", "belinda", "benjamin", "caleb",
)

_EV_PHONEME, _EV_WORD, _EV_LIST_TERMINATED = 7, 1, 0


class _EspeakEvent(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int), ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p), ("id", ctypes.c_char * 8),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.POINTER(_EspeakEvent))


class _Espeak:
    """One libespeak-ng per process (the library is global state; re-initialised after fork)."""

    def __init__(self) -> None:
        name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        try:
            self.lib = ctypes.CDLL(name)
        except OSError as exc:
            raise SynthesisError(f"espeak-ng: cannot load {name!r} ({exc}); apt-get install libespeak-ng1") from None
        # AUDIO_OUTPUT_SYNCHRONOUS = 2, espeakINITIALIZE_PHONEME_EVENTS = 0x0001
        self.rate = int(self.lib.espeak_Initialize(2, 0, None, 0x0001))
        if self.rate <= 0:
            raise SynthesisError(f"espeak-ng: espeak_Initialize failed ({self.rate})")
        self.chunks: list[np.ndarray] = []
        self.events: list[tuple[int, int, str]] = []
        self._cb = _CALLBACK(self._on_audio)  # keep a reference: ctypes would free it
        self.lib.espeak_SetSynthCallback(self._cb)
        self.pid = os.getpid()

    def _on_audio(self, wav, num, events) -> int:
        if num > 0:
            self.chunks.append(np.ctypeslib.as_array(wav, (num,)).astype(np.float32) / 32768.0)
        i = 0
        while events[i].type != _EV_LIST_TERMINATED:
            ev = events[i]
            if ev.type == _EV_PHONEME:
                self.events.append((_EV_PHONEME, ev.sample, bytes(ev.id).split(b"\0")[0].decode("latin-1")))
            elif ev.type == _EV_WORD:
                self.events.append((_EV_WORD, ev.sample, str(ev.length)))
            i += 1
        return 0

    def synth(self, text: str, voice: str, rate: int, pitch: int, pitch_range: int) -> tuple[np.ndarray, list]:
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise SynthesisError(f"espeak-ng: unknown voice {voice!r}")
        for param, value in ((1, rate), (3, pitch), (4, pitch_range)):  # RATE, PITCH, RANGE
            self.lib.espeak_SetParameter(param, int(value), 0)
        self.chunks, self.events = [], []
        data = text.encode("utf-8")
        # flags: espeakCHARS_UTF8 (1) | espeakENDPAUSE (0x1000)
        err = self.lib.espeak_Synth(data, len(data) + 1, 0, 0, 0, 0x1 | 0x1000, None, None)
        self.lib.espeak_Synchronize()
        if err != 0:
            raise SynthesisError(f"espeak-ng: espeak_Synth returned {err} for voice {voice!r}")
        audio = np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.float32)
        return audio, list(self.events)


_ESPEAK: _Espeak | None = None


def _espeak() -> _Espeak:
    global _ESPEAK
    if _ESPEAK is None or _ESPEAK.pid != os.getpid():
        _ESPEAK = _Espeak()
    return _ESPEAK


def _in_fresh_process(fn, *args):
    """Run ``fn(*args)`` in a forked child that has never touched libespeak-ng.

    libespeak-ng keeps state between utterances (pitch flutter phase, noise generator), so
    the same text comes out a few samples different depending on what was said before. A
    corpus clip must be a function of its seed only, so each utterance gets a fresh library
    (fork + init costs ~30 ms).
    """
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.close(r)
            try:
                ctypes.CDLL(None).srand(0)
                payload = pickle.dumps(("ok", fn(*args)))
            except BaseException as exc:  # noqa: BLE001 - sent back to the parent
                payload = pickle.dumps(("err", f"{type(exc).__name__}: {exc}"))
            with os.fdopen(w, "wb") as fh:
                fh.write(payload)
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as fh:
        data = fh.read()
    os.waitpid(pid, 0)
    if not data:
        raise SynthesisError("espeak-ng: the synthesis process died")
    status, value = pickle.loads(data)
    if status != "ok":
        raise SynthesisError(value)
    return value


def _espeak_raw(text: str, voice: str, rate: int, pitch: int, pitch_range: int):
    eng = _espeak()
    audio, events = eng.synth(text, voice, rate, pitch, pitch_range)
    return audio, events, eng.rate


def synth_espeak(text: str, voice: str = "en-us", rate: int = 175, pitch: int = 50,
                 pitch_range: int = 50, isolated: bool = True,
                 mapper: Callable[[str], tuple[str, ...]] | None = None) -> Speech:
    """espeak-ng speech with the library's own phoneme events (exact to the sample).

    ``mapper`` turns a mnemonic into ARPAbet phones (default :func:`espeak_to_arpabet`, made for
    the English voices; the multilingual evaluation passes its own, by phone class).

    ``isolated=True`` synthesises in a fresh forked process so the result depends only on the
    arguments (see ``_in_fresh_process``); ``False`` is faster and reuses this process's library.
    """
    if isolated and hasattr(os, "fork"):
        audio, events, sr = _in_fresh_process(_espeak_raw, text, voice, rate, pitch, pitch_range)
    else:
        audio, events, sr = _espeak_raw(text, voice, rate, pitch, pitch_range)
    if len(audio) == 0:
        raise SynthesisError(f"espeak-ng: no audio for voice {voice!r}")
    total = len(audio) / sr
    ph_events = [(s / sr, sym) for t, s, sym in events if t == _EV_PHONEME]
    raw = []
    for k, (t0, sym) in enumerate(ph_events):
        t1 = ph_events[k + 1][0] if k + 1 < len(ph_events) else total
        raw.append((sym, t0, min(t1, total)))
    phones, raws = _expand(raw, mapper or espeak_to_arpabet)
    _pad_silence(phones, raws, total)
    word_starts = sorted(s / sr for t, s, _ in events if t == _EV_WORD)
    words = [(a, b) for a, b in zip(word_starts, word_starts[1:] + [total])]
    return Speech(resample(audio, sr), phones, raws, "espeak", voice, words)


# ---------------------------------------------------------------------------------------------
# flite and festival (subprocesses)
# ---------------------------------------------------------------------------------------------

FLITE_VOICES: tuple[str, ...] = ("slt", "kal", "kal16", "awb", "rms")
FESTIVAL_VOICES: dict[str, str] = {"slt_hts": "voice_cmu_us_slt_arctic_hts", "kal_diphone": "voice_kal_diphone"}


def _read_wav(path: Path, engine: str) -> np.ndarray:
    try:
        return load_audio(path)
    except AudioError as exc:
        raise SynthesisError(f"{engine}: unusable output wav ({exc})") from None


def _segments_from_ends(ends: list[tuple[str, float]]) -> list[tuple[str, float, float]]:
    out, t = [], 0.0
    for sym, e in ends:
        out.append((sym, t, e))
        t = max(t, e)
    return out


def synth_flite(text: str, voice: str = "slt", duration_stretch: float = 1.0,
                f0_mean: float | None = None) -> Speech:
    """flite speech; ``-psdur`` prints every segment as ``phone:end_time``."""
    if voice not in FLITE_VOICES:
        raise SynthesisError(f"flite: unknown voice {voice!r}; known: {FLITE_VOICES}")
    if shutil.which("flite") is None:
        raise SynthesisError("flite: not installed (apt-get install flite)")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "out.wav"
        cmd = ["flite", "-t", text, "-voice", voice, "-psdur", "-o", str(wav),
               "--setf", f"duration_stretch={duration_stretch:.3f}"]
        if f0_mean is not None:
            cmd += ["--setf", f"int_f0_target_mean={f0_mean:.1f}"]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if res.returncode != 0:
            raise SynthesisError(f"flite: voice {voice!r} failed: {res.stderr.strip()[:200]}")
        audio = _read_wav(wav, "flite")
    ends = []
    for tok in res.stdout.split():
        sym, _, end = tok.rpartition(":")
        try:
            ends.append((sym, float(end)))
        except ValueError:
            continue
    if not ends:
        raise SynthesisError(f"flite: no phone timings from voice {voice!r}")
    phones, raws = _expand(_segments_from_ends(ends), festival_to_arpabet)
    _pad_silence(phones, raws, len(audio) / SAMPLE_RATE)
    return Speech(audio, phones, raws, "flite", voice)


def _scheme_string(text: str) -> str:
    return '"' + text.replace("\\", " ").replace('"', "'") + '"'


def synth_festival(text: str, voice: str = "slt_hts", duration_stretch: float = 1.0) -> Speech:
    """festival speech; ``utt.save.segs`` writes every segment's end time."""
    if voice not in FESTIVAL_VOICES:
        raise SynthesisError(f"festival: unknown voice {voice!r}; known: {list(FESTIVAL_VOICES)}")
    if shutil.which("festival") is None:
        raise SynthesisError("festival: not installed (apt-get install festival festvox-us-slt-hts)")
    with tempfile.TemporaryDirectory() as tmp:
        wav, segs, script = Path(tmp) / "out.wav", Path(tmp) / "out.segs", Path(tmp) / "run.scm"
        script.write_text(
            f"({FESTIVAL_VOICES[voice]})\n"
            f"(Parameter.set 'Duration_Stretch {duration_stretch:.3f})\n"
            f"(set! utt (SynthText {_scheme_string(text)}))\n"
            f'(utt.save.wave utt "{wav}" \'riff)\n'
            f'(utt.save.segs utt "{segs}")\n', encoding="utf-8")
        res = subprocess.run(["festival", "-b", str(script)], capture_output=True, text=True, timeout=120)
        if res.returncode != 0 or not wav.exists() or not segs.exists():
            raise SynthesisError(f"festival: voice {voice!r} failed: {(res.stderr or res.stdout).strip()[:200]}")
        audio = _read_wav(wav, "festival")
        ends = []
        for line in segs.read_text(encoding="latin-1").splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] != "#":
                try:
                    ends.append((parts[2], float(parts[0])))
                except ValueError:
                    continue
    if not ends:
        raise SynthesisError(f"festival: no segments from voice {voice!r}")
    phones, raws = _expand(_segments_from_ends(ends), festival_to_arpabet)
    _pad_silence(phones, raws, len(audio) / SAMPLE_RATE)
    return Speech(audio, phones, raws, "festival", voice)


def synthesize(text: str, engine: str, voice: str, rate: float = 1.0, pitch: float = 0.5) -> Speech:
    """One entry point: ``rate`` is a tempo factor (1 = engine default), ``pitch`` in [0, 1].

    espeak: rate -> words per minute (175 * rate), pitch -> 0..100. flite: rate -> duration
    stretch 1/rate, pitch -> f0 mean 80..220 Hz. festival: rate -> duration stretch; pitch is
    left to the corpus writer's resampling augmentation (the HTS voice has no simple knob).
    """
    if engine == "espeak":
        return synth_espeak(text, voice, rate=int(round(175 * rate)), pitch=int(round(100 * pitch)),
                            pitch_range=50)
    if engine == "flite":
        return synth_flite(text, voice, duration_stretch=1.0 / rate, f0_mean=80 + 140 * pitch)
    if engine == "festival":
        return synth_festival(text, voice, duration_stretch=1.0 / rate)
    raise SynthesisError(f"unknown engine {engine!r}; known: espeak, flite, festival")
