"""The phone set shared by the corpus, the audio front end and the evaluation: ARPAbet.

pocketsphinx's en-us acoustic model, CMUdict and festival/flite all speak ARPAbet, so it is
the lingua franca; espeak-ng's own symbols are mapped to it in ``data/tts.py``.
Stress digits are dropped; ``SIL`` is silence or a pause.
"""
from __future__ import annotations

from dataclasses import dataclass

ARPABET: tuple[str, ...] = (
    "SIL",
    "AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW",
    "B", "CH", "D", "DH", "F", "G", "HH", "JH", "K", "L", "M", "N", "NG", "P", "R", "S", "SH",
    "T", "TH", "V", "W", "Y", "Z", "ZH",
)
PHONE_INDEX: dict[str, int] = {p: i for i, p in enumerate(ARPABET)}
NUM_PHONES = len(ARPABET)

VOWELS = frozenset({"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"})
OPEN_VOWELS = frozenset({"AA", "AE", "AH", "AO", "AW", "AY", "EH"})
BILABIALS = frozenset({"P", "B", "M"})
LABIODENTALS = frozenset({"F", "V"})


def normalize_phone(symbol: str) -> str:
    """``AH0`` -> ``AH``; pocketsphinx's ``+NSN+``/``sil``/``<sil>`` etc. -> ``SIL``; unknown -> ``SIL``."""
    s = symbol.strip().upper().rstrip("012")
    return s if s in PHONE_INDEX else "SIL"


@dataclass(frozen=True)
class Phone:
    """One phone with its time span in seconds."""

    phone: str
    start_s: float
    end_s: float
