"""``cafetalk synth-data``: write the synthetic corpus (wav + Live Link CSV + JSON per clip).

    cafetalk synth-data --out data/synth --hours 2 --seed 0 --workers 2 --fps 30

- Deterministic: clip ``i``'s parameters come from ``seed + i`` only; the corpus is the first
  clips whose durations add up to ``--hours`` (clips past that point are removed), so the same
  command always produces the same files.
- Resumable: a clip whose JSON exists (written last, atomically) is skipped.
- Split by voice AND sentence: each clip first draws its split (80/10/10), then a sentence
  from that split's sentences (by a hash of the text) and a voice from that split's disjoint
  speaker pool. A test voice or test sentence therefore never appears in train, and no clip
  can disagree with itself.
"""
from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import soundfile as sf

from .. import rig
from ..files import write_atomic
from ..controls.coarse import EMOTIONS
from .tts import ESPEAK_BASES, ESPEAK_VARIANTS, SAMPLE_RATE, SynthesisError
from .sentences import load_sentences, sentence_hash
from .synth import ClipSpec, make_clip

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
SPLIT_WEIGHTS = (0.8, 0.1, 0.1)
#: Held-out speakers. espeak's "speaker" is the variant (the timbre); flite/festival voices
#: built from the same person share a speaker (slt, kal) so they stay on one side.
TEST_SPEAKERS = frozenset({"espeak:m6", "espeak:f4", "espeak:klatt2", "espeak:grandpa", "espeak:steph", "awb"})
VAL_SPEAKERS = frozenset({"espeak:m5", "espeak:f3", "espeak:klatt4", "espeak:Annie", "rms"})
ENGINE_WEIGHTS = {"espeak": 0.5, "flite": 0.3, "festival": 0.2}


def sentence_split(text: str) -> str:
    h = sentence_hash(text)
    return "test" if h < 0.1 else "val" if h < 0.2 else "train"


def _speaker_split(speaker: str) -> str:
    return "test" if speaker in TEST_SPEAKERS else "val" if speaker in VAL_SPEAKERS else "train"


def voice_catalogue() -> list[tuple[str, str, str]]:
    """All (engine, voice, speaker) triples."""
    out = []
    for base in ESPEAK_BASES:
        for var in ESPEAK_VARIANTS:
            out.append(("espeak", f"{base}+{var}" if var else base, f"espeak:{var or 'default'}"))
    for v, spk in (("slt", "slt"), ("kal", "kal"), ("kal16", "kal"), ("awb", "awb"), ("rms", "rms")):
        out.append(("flite", v, spk))
    for v, spk in (("slt_hts", "slt"), ("kal_diphone", "kal")):
        out.append(("festival", v, spk))
    return out


def _pools() -> tuple[dict[str, list[str]], dict[str, dict[str, list[tuple[str, str, str]]]]]:
    sentences: dict[str, list[str]] = {s: [] for s in SPLITS}
    for text in load_sentences():
        sentences[sentence_split(text)].append(text)
    voices: dict[str, dict[str, list]] = {s: {} for s in SPLITS}
    for eng, v, spk in voice_catalogue():
        voices[_speaker_split(spk)].setdefault(eng, []).append((eng, v, spk))
    return sentences, voices


_POOLS = None


def clip_spec(index: int, seed: int) -> tuple[ClipSpec, str, list[int]]:
    """Clip ``index``'s parameters from ``seed + index`` only. Returns spec, split, sentence ids."""
    global _POOLS
    if _POOLS is None:
        _POOLS = _pools()
    sentences, voices = _POOLS
    rng = np.random.default_rng([seed, index])
    split = SPLITS[int(rng.choice(3, p=SPLIT_WEIGHTS))]
    engines = [e for e in ENGINE_WEIGHTS if voices[split].get(e)]
    w = np.array([ENGINE_WEIGHTS[e] for e in engines])
    engine = engines[int(rng.choice(len(engines), p=w / w.sum()))]
    eng, voice, speaker = voices[split][engine][int(rng.integers(len(voices[split][engine])))]
    k = 1 if rng.random() < 0.7 else 2
    texts = [sentences[split][int(rng.integers(len(sentences[split])))] for _ in range(k)]
    emotion = EMOTIONS[int(rng.integers(len(EMOTIONS)))]
    intensity = 0.5 if emotion == "neutral" else float(np.round(rng.uniform(0.2, 1.0), 3))
    spec = ClipSpec(texts=texts, engine=eng, voice=voice, speaker=speaker,
                    rate=float(np.round(rng.uniform(0.8, 1.25), 3)), pitch=float(np.round(rng.uniform(0.2, 0.8), 3)),
                    emotion=emotion, intensity=intensity, seed=int(rng.integers(2**31)))
    ids = [_sentence_ids()[t] for t in texts]
    return spec, split, ids


def _sentence_ids() -> dict[str, int]:
    global _IDS
    if _IDS is None:
        _IDS = {t: i for i, t in enumerate(load_sentences())}
    return _IDS


_IDS: dict[str, int] | None = None


def clip_id(index: int) -> str:
    return f"clip{index:07d}"


def write_clip(out: Path, index: int, seed: int, fps: float) -> dict[str, Any]:
    """Render and write clip ``index``; returns its JSON record. Skips (reads) finished clips."""
    cid = clip_id(index)
    meta_path = out / f"{cid}.json"
    if meta_path.exists() and (out / f"{cid}.wav").exists() and (out / f"{cid}.csv").exists():
        try:
            return json.loads(meta_path.read_text())
        except json.JSONDecodeError:
            pass  # half-written by an older version: redo
    spec, split, ids = clip_spec(index, seed)
    try:
        clip = make_clip(spec, fps=fps)
    except SynthesisError as exc:
        log.warning("clip %s (%s %s): %s; skipped", cid, spec.engine, spec.voice, exc)
        return {"id": cid, "failed": str(exc), "duration_s": 0.0}
    pcm = np.clip(clip.audio, -1.0, 1.0)
    write_atomic(out / f"{cid}.wav",
                 lambda p: sf.write(str(p), pcm, SAMPLE_RATE, subtype="PCM_16", format="WAV"))
    write_atomic(out / f"{cid}.csv", lambda p: rig.write_live_link_csv(p, clip.curves, fps))
    meta = {
        "id": cid, "index": index, "seed": seed, "text": " ".join(spec.texts), "sentence_id": ids,
        "engine": spec.engine, "voice": spec.voice, "speaker": spec.speaker,
        "rate": spec.rate, "pitch": spec.pitch, "emotion": spec.emotion, "intensity": spec.intensity,
        "fps": fps, "duration_s": round(clip.duration_s, 5), "frames": int(clip.curves.shape[0]),
        "split": split,
        "phones": [{"phone": p.phone, "start_s": p.start_s, "end_s": p.end_s, "raw": r}
                   for p, r in zip(clip.phones, clip.raw)],
        "events": [e.to_dict() for e in clip.events],
        "augment": clip.augment,
    }
    write_atomic(meta_path, lambda p: p.write_text(json.dumps(meta, indent=1)))
    return meta


def _worker(args: tuple[str, int, int, float]) -> dict[str, Any]:
    out, index, seed, fps = args
    meta = write_clip(Path(out), index, seed, fps)
    return {k: meta.get(k) for k in ("id", "duration_s", "split", "engine", "failed", "emotion")} | {"index": index}


def _tasks(out: Path, seed: int, fps: float, limit: int) -> Iterator[tuple[str, int, int, float]]:
    """Finite on purpose: Pool.imap drains its task iterator eagerly in a thread."""
    for i in range(limit):
        yield (str(out), i, seed, fps)


def generate_corpus(out: str | Path, hours: float, seed: int = 0, workers: int | None = None,
                    fps: float = 30.0, progress: bool = True) -> dict[str, Any]:
    """Write clips until their durations reach ``hours``; returns the manifest."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    target = hours * 3600.0
    workers = max(1, workers or os.cpu_count() or 1)
    from tqdm import tqdm

    bar = tqdm(total=round(target, 1), unit="s", desc="synth-data", disable=not progress)
    total, records = 0.0, []
    t0 = time.time()
    if workers == 1:
        iterator = map(_worker, _tasks(out, seed, fps, int(target / 1.0) + 100))
        pool = None
    else:
        pool = mp.get_context("fork").Pool(workers)
        iterator = pool.imap(_worker, _tasks(out, seed, fps, int(target / 1.0) + 100), chunksize=1)
    try:
        for rec in iterator:
            if total >= target:
                break
            records.append(rec)
            total += rec["duration_s"] or 0.0
            bar.update(round(min(rec["duration_s"] or 0.0, target - bar.n), 3))
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
        bar.close()
    last = records[-1]["index"] if records else -1
    # determinism: clips past the target (in flight when we stopped) are removed
    for path in out.glob("clip*.*"):
        stem = path.name.split(".")[0]
        if stem[4:].isdigit() and int(stem[4:]) > last:
            path.unlink(missing_ok=True)
    for path in out.glob(".clip*.tmp"):
        path.unlink(missing_ok=True)
    ok = [r for r in records if not r.get("failed")]
    manifest = {
        "format": "cafetalk.synth-corpus", "version": 1, "seed": seed, "fps": fps, "hours": hours,
        "clips": len(ok), "failed": [r["id"] for r in records if r.get("failed")],
        "duration_s": round(sum(r["duration_s"] for r in ok), 2),
        "splits": {s: {"clips": sum(r["split"] == s for r in ok),
                       "duration_s": round(sum(r["duration_s"] for r in ok if r["split"] == s), 2)} for s in SPLITS},
        "engines": {e: sum(r["engine"] == e for r in ok) for e in ENGINE_WEIGHTS},
        "held_out_speakers": {"val": sorted(VAL_SPEAKERS), "test": sorted(TEST_SPEAKERS)},
        "wall_s": round(time.time() - t0, 1),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def cli_synth_data(args) -> int:
    """Handler of ``cafetalk synth-data``."""
    if args.hours <= 0:
        raise SystemExit(f"--hours must be positive, got {args.hours}")
    if args.fps <= 0:
        raise SystemExit(f"--fps must be positive, got {args.fps}")
    m = generate_corpus(args.out, args.hours, seed=args.seed, workers=args.workers, fps=args.fps)
    print(f"wrote {m['clips']} clips, {m['duration_s'] / 3600:.2f} h to {args.out} "
          f"(train {m['splits']['train']['clips']}, val {m['splits']['val']['clips']}, "
          f"test {m['splits']['test']['clips']}); {m['duration_s'] / max(m['wall_s'], 1e-9):.1f} s of audio per s")
    return 0
