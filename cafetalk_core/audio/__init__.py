"""Audio: loading, front ends (phonetic + log-mel + VAD; log-mel; Wav2Vec2), augmentation.

A package rather than DESIGN.md's single ``audio.py``: the front end grew a recogniser, a
VAD and augmentation, each with its own job (see docs/audio.md). Importing it does not
import torch or transformers; only :class:`Wav2Vec2FrontEnd` does, when built.
"""
from ..phones import Phone
from .augment import augment_audio, perturb_phones
from .frontend import (DEFAULT_FRONT_END, FRONT_ENDS, LANGUAGE_TAG_PATTERN, RECOGNISER_LANGUAGE, FrontEnd,
                       LanguageError, LogMelFrontEnd, PhoneticMelFrontEnd, Wav2Vec2FrontEnd, build_front_end,
                       check_language, phone_free_features, recogniser_understands)
from .io import SAMPLE_RATE, AudioError, load_audio
from .phonetic import align_transcript, phone_features, recognise_cached, recognise_phones

__all__ = [
    "SAMPLE_RATE", "AudioError", "load_audio", "Phone", "perturb_phones", "augment_audio",
    "FrontEnd", "PhoneticMelFrontEnd", "LogMelFrontEnd", "Wav2Vec2FrontEnd", "build_front_end",
    "DEFAULT_FRONT_END", "FRONT_ENDS", "RECOGNISER_LANGUAGE", "LANGUAGE_TAG_PATTERN", "LanguageError", "check_language",
    "recogniser_understands", "phone_free_features",
    "recognise_phones", "recognise_cached", "align_transcript", "phone_features",
]
