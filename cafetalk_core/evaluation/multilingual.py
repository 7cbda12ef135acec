"""Speech in other languages, with exact phone times: closures and false seals per language (issue 23).

Why: the front end's recogniser is English (pocketsphinx en-us), and users speak every
language. espeak-ng speaks them with its own phoneme events (exact to the sample, as in
``data/tts.py``), so the same rules as on real speech apply: bilabial closure (and its
precision), vowel centres sealed per class, open-vowel aperture, silence at rest, jitter. The
voices are synthetic (read the figures as a check of the mouth's phonetics, not of real-voice
transfer; the held-out Mandarin FACEGOOD take gives real curves, ``--real-captures``).

The set is made once and cached (``$XDG_CACHE_HOME/cafetalk/multilingual/<key>``, in the
real-speech set layout, so ``real_speech.load_real_speech`` reads it); the key hashes the
sentences, voices, rate and espeak-ng's version, and every utterance is synthesised in a fresh
process (``synth_espeak(isolated=True)``), so the set is deterministic.

espeak-ng's mnemonics differ per language; :func:`arpabet_class_phone` maps them to an ARPAbet
phone of the right class (bilabial, open / rounded / other vowel, labiodental, other consonant,
silence) by their IPA-like letters, which is all the metrics read.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from ..files import write_json_atomic

#: Language -> (espeak-ng voice, sentences). Every sentence has bilabials and open vowels.
LANGUAGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "de": ("de", ("Mein Bruder baut am Montag ein blaues Boot.",
                  "Papa hat heute Abend Pommes mit Butter gemacht.",
                  "Im Sommer baden wir am Meer und lachen laut.",
                  "Bitte bring mir morgen das braune Buch mit.")),
    "fr": ("fr", ("Mon papa aime beaucoup la pomme bleue.",
                  "Le matin, ma mère boit un bon café au lait.",
                  "Nous partons à la plage en bateau demain.",
                  "Le beau mouton blanc mange sous le pommier.")),
    "es": ("es", ("Mi madre compra pan blanco por la mañana.",
                  "El barco bonito va por el mar a Palma.",
                  "Ampara bebe mucha agua cuando hace calor.",
                  "Ayer fuimos a la playa con mi abuelo.")),
    "it": ("it", ("Il bambino mangia una mela buona.",
                  "Mamma prepara la pasta per tutta la famiglia.",
                  "Domani andiamo al mare con la barca blu.",
                  "Il mio amico abita in una piccola casa bianca.")),
    "pt": ("pt", ("Meu pai bebe muito café pela manhã.",
                  "A minha mãe comprou bananas no mercado.",
                  "O barco passa bem perto da praia amanhã.",
                  "Cada sábado vamos ao parque para brincar.")),
    "ru": ("ru", ("Мама мыла раму и пила воду.",
                  "Папа купил большой белый батон.",
                  "Мы пойдём в парк по мосту завтра.",
                  "Бабушка варит борщ по субботам.")),
    "pl": ("pl", ("Mama kupiła babci piękne buty.",
                  "Po południu pójdziemy na plażę nad morzem.",
                  "Paweł ma bardzo miłego psa i małego kota.",
                  "Mój brat buduje most w parku.")),
}
#: Language -> validation sentences (other words, same voices): what settings are chosen on (the
#: phone-free closure threshold, ``closure_threshold.py``), so LANGUAGES stays a test set.
VAL_SENTENCES: dict[str, tuple[str, ...]] = {
    "de": ("Wir haben heute Mittag Bohnen mit Speck gegessen.",
           "Am Abend spielt meine Mama Klavier im Park."),
    "fr": ("Ma petite amie porte un beau manteau bleu.",
           "Le boulanger ouvre la boutique avant midi."),
    "es": ("Mi primo Pablo vive en una casa blanca.",
           "Mañana vamos a pasear por el campo con mamá."),
    "it": ("Mio padre beve un caffè amaro ogni mattina.",
           "La bambina porta a passeggio il suo cane bianco."),
    "pt": ("O menino bebeu o leite e comeu o pão.",
           "A minha amiga mora perto da praia em Lisboa."),
    "ru": ("Мой брат пишет письмо бабушке.",
           "Моя мама печёт блины по пятницам."),
    "pl": ("Moja babcia piecze pyszne bułki.",
           "Pan Marek pije mleko po obiedzie."),
}
SPLITS = ("test", "val")
RATE = 160   # espeak-ng words per minute: a calm reading pace
FORMAT = "cafetalk-multilingual-v1"

_OPEN = set("aAE0&VO")
_ROUNDED = set("ouUyYW")
_OTHER_VOWEL = set("eiI@3")
_MODIFIERS = "~+:#-;!'\","


def arpabet_class(symbol: str) -> tuple[str]:
    """:func:`arpabet_class_phone` as a ``data.tts`` phone mapper."""
    return (arpabet_class_phone(symbol),)


def arpabet_class_phone(symbol: str) -> str:
    """espeak-ng mnemonic (any language) -> an ARPAbet phone standing for its class.

    p/b/m -> P/B/M; f/v -> F/V; vowels by their first letter: a A E O 0 & V (open) -> AA,
    o u U y Y W (rounded) -> UW, e i I (other) -> IY, @ 3 (schwa) -> AH as ARPAbet writes the
    English schwa (AH0); pauses -> SIL; any other consonant -> T.
    """
    s = symbol.strip().lstrip("'\",%=")
    if not s or s.startswith("_") or s in ("||", "|"):
        return "SIL"
    if s.startswith("(") and s.endswith(")"):   # a language switch marker such as "(en)"
        return "SIL"
    c = s[0]
    if c in "pbm":
        return c.upper()
    if c in "fv":
        return c.upper()
    if c in _OPEN:
        return "AA"
    if c in _ROUNDED:
        return "UW"
    if c in "@3":
        return "AH"
    if c in _OTHER_VOWEL:
        return "IY"
    return "T"


def cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cafetalk" / "multilingual"


def _espeak_version() -> str:
    import ctypes
    import ctypes.util

    try:
        lib = ctypes.CDLL(ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1")
        lib.espeak_Info.restype = ctypes.c_char_p
        return (lib.espeak_Info(None) or b"").decode("latin-1")
    except OSError:
        return "unknown"


def sentences(language: str, split: str = "test") -> tuple[str, ...]:
    """The sentences of ``language`` in ``split`` ("test": LANGUAGES, "val": VAL_SENTENCES)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return LANGUAGES[language][1] if split == "test" else VAL_SENTENCES[language]


def set_key(languages: tuple[str, ...], split: str = "test") -> str:
    table = {lang: (LANGUAGES[lang][0], sentences(lang, split)) for lang in languages}
    blob = json.dumps([FORMAT, RATE, _espeak_version(), table], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def check_languages(languages: list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    langs = tuple(languages) if languages else tuple(LANGUAGES)
    unknown = [lang for lang in langs if lang not in LANGUAGES]
    if unknown:
        raise ValueError(f"--languages: unknown {unknown}; known: {', '.join(LANGUAGES)}")
    return langs


def build_set(languages: list[str] | tuple[str, ...] | None = None, root: str | Path | None = None,
              split: str = "test") -> Path:
    """The cached set's folder (clips.json + wav files), synthesised when missing; ``split`` "val"
    speaks the validation sentences."""
    import soundfile as sf

    from ..data.tts import synth_espeak

    langs = check_languages(languages)
    folder = Path(root) if root is not None else cache_root() / set_key(langs, split)
    manifest = folder / "clips.json"
    if manifest.is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    clips = []
    for lang in langs:
        voice = LANGUAGES[lang][0]
        for k, text in enumerate(sentences(lang, split)):
            speech = synth_espeak(text, voice=voice, rate=RATE, isolated=True, mapper=arpabet_class)
            cid = f"{lang}_{k:02d}"
            sf.write(folder / f"{cid}.wav", np.asarray(speech.audio, np.float32), 16000, subtype="PCM_16")
            phones = [[p.phone, p.start_s, p.end_s] for p in speech.phones]
            clips.append({"id": cid, "wav": f"{cid}.wav", "text": text, "speaker": f"espeak-ng {voice}",
                          "language": lang, "alignment": "espeak-ng phoneme events (exact)",
                          "raw": list(speech.raw), "phones": phones})
    write_json_atomic(manifest, clips, indent=1, ensure_ascii=False)
    return folder


def language_of(clip_id: str) -> str:
    return clip_id.split("_")[0]
