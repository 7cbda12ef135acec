"""Phones from a recogniser trained on real speech (pocketsphinx en-us), and phone features.

Why: a network fed only log-mel of synthesised speech does not transfer to recorded voices
(issue 11: 14% bilabial closure on real speech). pocketsphinx's en-us acoustic model was
trained on real speech and ships inside its PyPI wheel; its phone-loop decoding ("allphone"
search with the bundled phone bigram ``en-us-phone.lm.bin``) yields ARPAbet phones with
times, which a procedural mapping alone turns into 91% closure. The model gets those
phones as per-frame features (:func:`phone_features`), so it sees the same inputs on
synthesised training audio and on a user's recording.

Also here: forced alignment of a known transcript (:func:`align_transcript`, used to build
the real-speech evaluation set and usable for corpus audio).
"""
from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from ..files import write_json_atomic
from ..phones import BILABIALS, NUM_PHONES, PHONE_INDEX, Phone, normalize_phone
from .io import SAMPLE_RATE, AudioError, to_pcm16

PS_FRAME_RATE = 100.0  # pocketsphinx frames per second (10 ms shift)
# Phone-loop settings from pocketsphinx's own phoneme test: language weight 2, phone
# insertion penalty 0.3, wide beams (phone loops prune badly with the word-search defaults).
ALLPHONE_ARGS = dict(lw=2.0, pip=0.3, beam=1e-200, pbeam=1e-20)
# Batch cepstral mean normalisation: the mean of each whole clip, so the same audio always gives
# the same phones. pocketsphinx's default live CMN carries its estimate from one clip to the next,
# which made a second generation of the same clip differ from the first.
CMN_ARGS = dict(cmn="batch")

_local = threading.local()


def _model_path(name: str) -> str:
    from pocketsphinx import get_model_path

    return get_model_path(name)


def _phone_decoder(fresh: bool = False):
    """A phone-loop decoder, one per thread (loading costs ~0.2 s; decoders are not thread-safe)."""
    dec = None if fresh else getattr(_local, "phone_decoder", None)
    if dec is None:
        from pocketsphinx import Decoder

        dec = Decoder(allphone=_model_path("en-us/en-us-phone.lm.bin"), loglevel="FATAL", **ALLPHONE_ARGS, **CMN_ARGS)
        _local.phone_decoder = dec
    return dec


def _word_decoder():
    dec = getattr(_local, "word_decoder", None)
    if dec is None:
        from pocketsphinx import Decoder

        dec = Decoder(loglevel="FATAL", **CMN_ARGS)  # the bundled en-us acoustic model, trigram LM and CMUdict
        _local.word_decoder = dec
    return dec


def _align_decoder():
    dec = getattr(_local, "align_decoder", None)
    if dec is None:
        from pocketsphinx import Decoder

        dec = Decoder(lm=None, loglevel="FATAL", **CMN_ARGS)
        _local.align_decoder = dec
    return dec


def merge_silences(phones: Sequence[Phone]) -> list[Phone]:
    """Join adjacent SIL spans (the recogniser splits pauses into SIL + fillers)."""
    out: list[Phone] = []
    for p in phones:
        if out and p.phone == "SIL" and out[-1].phone == "SIL":
            out[-1] = Phone("SIL", out[-1].start_s, p.end_s)
        else:
            out.append(p)
    return out


def _run(decoder, pcm: np.ndarray) -> None:
    decoder.start_utt()
    decoder.process_raw(pcm.tobytes(), no_search=False, full_utt=True)
    decoder.end_utt()


RECOGNISER_MODES = ("phone-loop", "words")


def recognise_phones(wav16k: np.ndarray, mode: str = "phone-loop") -> list[Phone]:
    """ARPAbet phones with times from pocketsphinx on 16 kHz mono audio.

    ``mode="phone-loop"`` (default, ~0.07 CPU-s per audio second): allphone search with the
    phone bigram. ``mode="words"`` (~0.5 CPU-s per audio second, too slow for the 1 s budget,
    for offline batch work): word decoding with the en-us trigram LM, then forced alignment
    of the hypothesis; on the bundled real-speech set it labels 84% of speech frames with the
    aligned phone against 62% for the phone loop, and its procedural visemes close 36 of 38
    bilabials against 32 (``python -m cafetalk_core.evaluation.real_speech --recogniser words``).
    Fillers and noise (``+NSN+``, ``+SPN+``, ``SIL``) become ``SIL``; adjacent SILs merge.
    Audio shorter than 0.1 s or with no hypothesis gives one SIL over the whole clip.
    """
    if mode not in RECOGNISER_MODES:
        raise ValueError(f"mode must be one of {RECOGNISER_MODES}, got {mode!r}")
    wav16k = np.asarray(wav16k, np.float32)
    duration = len(wav16k) / SAMPLE_RATE
    if len(wav16k) < SAMPLE_RATE // 10 or not np.any(wav16k):
        return [Phone("SIL", 0.0, duration)]
    if mode == "words":
        return _recognise_words(wav16k)
    # A fresh decoder per clip: pocketsphinx's phone loop carries state from one utterance to the
    # next (batch CMN and resetting the CMN estimate did not remove it), so a reused decoder gave
    # the same clip different phones on its second pass and broke seeded reproducibility. The
    # price is ~0.2 s of model loading per clip.
    dec = _phone_decoder(fresh=True)
    _run(dec, to_pcm16(wav16k))
    phones = []
    for seg in dec.seg():
        start = seg.start_frame / PS_FRAME_RATE
        end = min((seg.end_frame + 1) / PS_FRAME_RATE, duration)
        if end > start:
            phones.append(Phone(normalize_phone(seg.word), start, end))
    if not phones:
        return [Phone("SIL", 0.0, duration)]
    return merge_silences(phones)


def recognise_cached(wav16k: np.ndarray, cache_file: str | Path, mode: str = "phone-loop") -> list[Phone]:
    """:func:`recognise_phones`, memoised in a small JSON file keyed by the audio's hash.

    For training: the recogniser's output on each (augmented) training clip is computed once
    per clip and augmentation seed, then read back (~0.07 CPU-s per audio second saved each epoch).
    A file for different audio or another mode is recomputed and overwritten.
    """
    import hashlib
    import json

    wav = np.ascontiguousarray(np.asarray(wav16k, np.float32))
    key = f"{mode}:{hashlib.sha1(wav.tobytes()).hexdigest()}"
    path = Path(cache_file)
    if path.is_file():
        try:
            data = json.loads(path.read_text())
            if data.get("key") == key:
                return [Phone(p, float(a), float(b)) for p, a, b in data["phones"]]
        except (ValueError, KeyError, TypeError):
            pass  # a damaged cache file is recomputed
    phones = recognise_phones(wav, mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, {"key": key, "phones": [[p.phone, p.start_s, p.end_s] for p in phones]}, indent=None)
    return phones


def _recognise_words(wav16k: np.ndarray) -> list[Phone]:
    dec = _word_decoder()
    _run(dec, to_pcm16(wav16k))
    hyp = dec.hyp()
    text = hyp.hypstr.strip() if hyp is not None else ""
    if text:
        try:
            return align_transcript(wav16k, text)
        except (ValueError, AudioError):  # alignment can fail on a hypothesis it cannot fit
            pass
    return recognise_phones(wav16k, "phone-loop")


def align_transcript(wav16k: np.ndarray, text: str) -> list[Phone]:
    """Forced alignment of ``text`` (words in pocketsphinx's CMUdict) -> phones with times.

    Two passes, as pocketsphinx requires: word alignment, then phone alignment inside it.
    Raises ``ValueError`` naming the first word missing from the dictionary.
    """
    dec = _align_decoder()
    words = [w for w in text.lower().replace(",", " ").replace(".", " ").split() if w]
    if not words:
        raise ValueError(f"text has no words to align: {text!r}")
    for w in words:
        if dec.lookup_word(w) is None:
            raise ValueError(f"word {w!r} of the transcript is not in pocketsphinx's dictionary")
    pcm = to_pcm16(load_checked(wav16k))
    for attempt in (0, 1):
        try:
            dec.set_align_text(" ".join(words))
            _run(dec, pcm)
            dec.set_alignment()
            _run(dec, pcm)
            break
        except RuntimeError as exc:
            # A reused align decoder carries state from earlier utterances and sometimes fails
            # ("Failed to stop utterance processing") on text that a fresh one aligns: measured on
            # the bundled set. Retry once with a fresh decoder; a second failure is the text's.
            _local.align_decoder = None
            if attempt:
                raise AudioError(f"forced alignment failed for text {text!r} ({exc})") from exc
            dec = _align_decoder()
    alignment = dec.get_alignment()
    if alignment is None:
        raise AudioError(f"forced alignment failed for text {text!r}")
    phones = [Phone(normalize_phone(e.name), e.start / PS_FRAME_RATE, (e.start + e.duration) / PS_FRAME_RATE)
              for e in alignment.phones()]
    duration = len(pcm) / SAMPLE_RATE
    if phones and phones[0].start_s > 0:
        phones.insert(0, Phone("SIL", 0.0, phones[0].start_s))
    if phones and phones[-1].end_s < duration - 1e-3:
        phones.append(Phone("SIL", phones[-1].end_s, duration))
    return merge_silences(phones)


def load_checked(wav16k: np.ndarray) -> np.ndarray:
    wav16k = np.asarray(wav16k, np.float32)
    if wav16k.ndim != 1 or wav16k.size == 0:
        raise AudioError(f"expected non-empty 1-D 16 kHz audio, got shape {wav16k.shape}")
    return wav16k


# ---------------------------------------------------------------------------------------------
# Phone features per motion frame
# ---------------------------------------------------------------------------------------------

CONTEXT_S = 0.06  # the wide occupancy window reaches +-60 ms: lips move ahead of the sound
BILABIAL_HORIZON_S = 0.3  # time-to/since bilabial saturates here
EXTRA_NAMES = ("to_next_bilabial", "since_bilabial", "phone_progress", "phone_duration")
PHONE_FEATURE_DIM = 2 * NUM_PHONES + len(EXTRA_NAMES)


def _occupancy(phones: Sequence[Phone], num_frames: int, fps: float, half_s: float) -> np.ndarray:
    """(num_frames, NUM_PHONES): share of [t - half_s, t + half_s] each phone covers (rows sum <= 1)."""
    occ = np.zeros((num_frames, NUM_PHONES), np.float32)
    t = np.arange(num_frames) / fps
    for p in phones:
        a = max(0, int(math.floor((p.start_s - half_s) * fps)))
        b = min(num_frames, int(math.ceil((p.end_s + half_s) * fps)) + 1)
        if b <= a:
            continue
        tt = t[a:b]
        overlap = np.minimum(p.end_s, tt + half_s) - np.maximum(p.start_s, tt - half_s)
        occ[a:b, PHONE_INDEX.get(p.phone, 0)] += np.maximum(overlap, 0.0) / (2 * half_s)
    return np.minimum(occ, 1.0)


def phone_features(phones: Sequence[Phone], num_frames: int, fps: float) -> np.ndarray:
    """(num_frames, PHONE_FEATURE_DIM) float32 features of a phone sequence at the motion rate.

    Columns: occupancy of each ARPAbet phone in the frame's own window (+-half a frame), the
    same in a +-60 ms context window (anticipation and carry-over), then
    ``to_next_bilabial`` / ``since_bilabial`` (seconds / 0.3, clipped to 1: a ramp the model
    can close the lips on even when the recogniser's bilabial is a frame off),
    ``phone_progress`` (0 at the phone's start, 1 at its end) and ``phone_duration`` (s / 0.3).
    Frames outside every phone read as silence.
    """
    if num_frames < 0 or not fps > 0:
        raise ValueError(f"num_frames must be >= 0 and fps > 0, got num_frames={num_frames}, fps={fps}")
    phones = sorted((Phone(normalize_phone(p.phone), float(p.start_s), float(p.end_s)) for p in phones),
                    key=lambda p: p.start_s)
    cur = _occupancy(phones, num_frames, fps, 0.5 / fps)
    ctx = _occupancy(phones, num_frames, fps, max(CONTEXT_S, 0.5 / fps))
    for occ in (cur, ctx):  # uncovered time is silence
        occ[:, PHONE_INDEX["SIL"]] += np.clip(1.0 - occ.sum(axis=1), 0.0, 1.0)
    extras = np.ones((num_frames, len(EXTRA_NAMES)), np.float32)
    extras[:, 2:] = 0.0
    t = np.arange(num_frames) / fps
    bil = [p for p in phones if p.phone in BILABIALS]
    if bil:
        starts = np.array([p.start_s for p in bil])
        ends = np.array([p.end_s for p in bil])
        i = np.searchsorted(starts, t, side="left")  # next bilabial starting at or after t
        nxt = np.where(i < len(starts), starts[np.minimum(i, len(starts) - 1)] - t, np.inf)
        inside = np.zeros(num_frames, bool)
        for s, e in zip(starts, ends):
            inside |= (t >= s) & (t < e)
        j = np.searchsorted(ends, t, side="right") - 1  # last bilabial ending at or before t
        since = np.where(j >= 0, t - ends[np.maximum(j, 0)], np.inf)
        nxt[inside] = 0.0
        since[inside] = 0.0
        extras[:, 0] = np.clip(nxt / BILABIAL_HORIZON_S, 0.0, 1.0)
        extras[:, 1] = np.clip(since / BILABIAL_HORIZON_S, 0.0, 1.0)
    if phones:
        starts = np.array([p.start_s for p in phones])
        ends = np.array([p.end_s for p in phones])
        k = np.clip(np.searchsorted(starts, t, side="right") - 1, 0, len(phones) - 1)
        within = (t >= starts[k]) & (t < ends[k])
        dur = np.maximum(ends[k] - starts[k], 1e-6)
        extras[:, 2] = np.where(within, np.clip((t - starts[k]) / dur, 0.0, 1.0), 0.0)
        extras[:, 3] = np.where(within, np.clip(dur / BILABIAL_HORIZON_S, 0.0, 1.0), 0.0)
    return np.concatenate([cur, ctx, extras], axis=1).astype(np.float32)
