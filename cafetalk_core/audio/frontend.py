"""Audio front ends: 16 kHz speech -> per-motion-frame features, the model's audio input.

The contract every front end keeps (the dataset and the model rely on nothing else):

- ``id``: a stable string stored in checkpoints; a checkpoint only runs with the same id.
- ``dim``: the feature width.
- ``features(wav16k, num_frames, fps, phones=None) -> (num_frames, dim) float32``; row ``i``
  describes the audio around ``i / fps`` seconds, exactly ``num_frames`` rows.
- ``uses_phones``: whether ``phones`` matters. At training time the dataset passes the
  synthesiser's true phones through :func:`perturb_phones` (or the recogniser's output);
  at inference ``phones=None`` and the front end runs the recogniser itself.

Front ends:

- ``phonetic-mel-v1`` (default, :class:`PhoneticMelFrontEnd`): pocketsphinx phones (a
  recogniser trained on real speech) + log-mel + loudness + voice activity.
- ``logmel-v1`` (:class:`LogMelFrontEnd`): log-mel only; kept to measure against (issue 11:
  it does not transfer from synthesised to real speech).
- ``wav2vec2-v1`` (:class:`Wav2Vec2FrontEnd`): the paper's choice, frozen Wav2Vec2 hidden
  states through ``transformers`` from a local folder (never downloaded).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from ..phones import Phone
from ..rig import LIP_SYNC_NAMES, indices

LIP_SYNC_INDICES = indices(LIP_SYNC_NAMES)
from .io import AudioError
from .mel import N_MELS, log_mel, loudness, pool_to_frames
from .phonetic import PHONE_FEATURE_DIM, RECOGNISER_MODES, phone_features, recognise_phones
from .vad import VAD_BACKENDS, voice_activity


@runtime_checkable
class FrontEnd(Protocol):
    id: str
    dim: int
    uses_phones: bool

    def features(self, wav16k: np.ndarray, num_frames: int, fps: float,
                 phones: Sequence[Phone] | None = None) -> np.ndarray: ...

    def config(self) -> dict: ...


def _check(wav16k: np.ndarray, num_frames: int, fps: float) -> np.ndarray:
    wav = np.asarray(wav16k, np.float32)
    if wav.ndim != 1 or wav.size == 0:
        raise AudioError(f"wav16k must be non-empty 1-D 16 kHz audio, got shape {wav.shape}")
    if not isinstance(num_frames, (int, np.integer)) or num_frames < 0:
        raise ValueError(f"num_frames must be a non-negative int, got {num_frames!r}")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps!r}")
    return wav


class LogMelFrontEnd:
    """80-band log-mel, gain-normalised per clip (see :mod:`.mel`)."""

    id = "logmel-v1"
    dim = N_MELS
    uses_phones = False

    def features(self, wav16k: np.ndarray, num_frames: int, fps: float,
                 phones: Sequence[Phone] | None = None) -> np.ndarray:
        return log_mel(_check(wav16k, num_frames, fps), int(num_frames), fps)

    def config(self) -> dict:
        return {"id": self.id}


class PhoneticMelFrontEnd:
    """Recogniser phones + log-mel + loudness + voice activity, concatenated in that order.

    ``slices`` names the column groups so a model can drop a group (e.g. phones) as a
    condition-dropout or ablation. ``recogniser`` is an inference-time choice that does not
    change the features' meaning (so not the id): ``"phone-loop"`` (default, fast) or
    ``"words"`` (more accurate phones, ~9x slower; for offline batch work). ``vad`` picks
    the voice-activity backend (``"webrtc"`` default, ``"silero"`` optional, see :mod:`.vad`);
    it changes the VAD column's values, so train and run a checkpoint with the same one (it is
    in ``config()``).
    """

    id = "phonetic-mel-v1"
    dim = PHONE_FEATURE_DIM + N_MELS + 2
    uses_phones = True
    slices = {
        "phones": slice(0, PHONE_FEATURE_DIM),
        "mel": slice(PHONE_FEATURE_DIM, PHONE_FEATURE_DIM + N_MELS),
        "loudness": slice(PHONE_FEATURE_DIM + N_MELS, PHONE_FEATURE_DIM + N_MELS + 1),
        "vad": slice(PHONE_FEATURE_DIM + N_MELS + 1, PHONE_FEATURE_DIM + N_MELS + 2),
    }

    def __init__(self, recogniser: str = "phone-loop", vad: str = "webrtc"):
        if recogniser not in RECOGNISER_MODES:
            raise ValueError(f"recogniser must be one of {RECOGNISER_MODES}, got {recogniser!r}")
        if vad not in VAD_BACKENDS:
            raise ValueError(f"vad must be one of {VAD_BACKENDS}, got {vad!r}")
        self.recogniser = recogniser
        self.vad = vad

    def recognise(self, wav16k: np.ndarray) -> list[Phone]:
        """ARPAbet phones with times from pocketsphinx (see :mod:`.phonetic`)."""
        return recognise_phones(np.asarray(wav16k, np.float32), self.recogniser)

    def phone_columns(self, phones: Sequence[Phone], num_frames: int, fps: float) -> np.ndarray:
        """The phone-dependent columns alone (training recomputes only these per sample)."""
        return phone_features(phones, int(num_frames), fps)

    def features(self, wav16k: np.ndarray, num_frames: int, fps: float,
                 phones: Sequence[Phone] | None = None) -> np.ndarray:
        wav = _check(wav16k, num_frames, fps)
        n = int(num_frames)
        if phones is None:
            phones = self.recognise(wav)
        return np.concatenate([
            self.phone_columns(phones, n, fps),
            log_mel(wav, n, fps),
            loudness(wav, n, fps)[:, None],
            voice_activity(wav, n, fps, backend=self.vad)[:, None],
        ], axis=1).astype(np.float32)

    def config(self) -> dict:
        return {"id": self.id, "recogniser": self.recogniser, "vad": self.vad}


class Wav2Vec2FrontEnd:
    """Frozen Wav2Vec2 hidden states (the paper uses XLS-R-300M) from a LOCAL folder.

    ``model_path`` is a folder written by ``save_pretrained`` (config.json + weights);
    ``transformers`` loads it with ``local_files_only=True`` so nothing is downloaded.
    ``layer`` picks the hidden state (-1 = last). Features are at 50 Hz (20 ms hop, first
    frame centred at 12.5 ms) and pooled to the motion rate.
    """

    id = "wav2vec2-v1"
    uses_phones = False
    HOP_S = 0.02
    OFFSET_S = 0.0125

    def __init__(self, model_path: str | Path, layer: int = -1, device: str = "cpu"):
        path = Path(model_path)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"model_path must be a local Wav2Vec2 folder with config.json, got {str(path)!r}")
        import torch
        from transformers import Wav2Vec2Model

        self.model_path = str(path)
        self.layer = int(layer)
        self.device = torch.device(device)
        self.model = Wav2Vec2Model.from_pretrained(str(path), local_files_only=True).to(self.device).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.dim = int(self.model.config.hidden_size)

    def features(self, wav16k: np.ndarray, num_frames: int, fps: float,
                 phones: Sequence[Phone] | None = None) -> np.ndarray:
        import torch

        wav = _check(wav16k, num_frames, fps)
        if len(wav) < 400:  # the conv stack needs one 25 ms receptive field
            wav = np.pad(wav, (0, 400 - len(wav)))
        x = (wav - wav.mean()) / np.sqrt(wav.var() + 1e-7)  # Wav2Vec2FeatureExtractor's normalisation
        with torch.inference_mode():
            out = self.model(torch.from_numpy(x)[None].to(self.device), output_hidden_states=True)
        hidden = out.hidden_states[self.layer][0].float().cpu().numpy()  # (T, H) at 50 Hz
        return pool_to_frames(hidden, self.HOP_S, int(num_frames), fps, offset_s=self.OFFSET_S)

    def config(self) -> dict:
        return {"id": self.id, "model_path": self.model_path, "layer": self.layer}


class PhoneticVisemeFrontEnd(PhoneticMelFrontEnd):
    """``phonetic-mel-v1`` plus a procedural viseme prior rendered from the same phones.

    The recogniser's phones are turned into mouth curves by the corpus's own coarticulated
    phone -> viseme rules (``visemes.phones_to_curves``, deterministic) and given to the
    network as 28 extra input columns (jaw, mouth, tongue). The network then learns a
    correction of a lip-sync that already closes on recognised bilabials, instead of
    discovering closure timing from phone posteriors alone: a few thousand CPU steps suffice
    where the plain phonetic front end left the lips open. Column order: phone-dependent
    columns first (phones, prior), then acoustics (mel, loudness, VAD).
    """

    id = "phonetic-viseme-mel-v1"
    PRIOR_CHANNELS = LIP_SYNC_INDICES
    dim = PHONE_FEATURE_DIM + len(LIP_SYNC_INDICES) + N_MELS + 2
    uses_phones = True
    _p = PHONE_FEATURE_DIM + len(LIP_SYNC_INDICES)
    slices = {
        "phones": slice(0, _p),            # every phone-dependent column (phones + prior)
        "phone_features": slice(0, PHONE_FEATURE_DIM),
        "prior": slice(PHONE_FEATURE_DIM, _p),
        "mel": slice(_p, _p + N_MELS),
        "loudness": slice(_p + N_MELS, _p + N_MELS + 1),
        "vad": slice(_p + N_MELS + 1, _p + N_MELS + 2),
    }

    def phone_columns(self, phones: Sequence[Phone], num_frames: int, fps: float) -> np.ndarray:
        """The phone-dependent columns alone (training recomputes only these per sample)."""
        from ..visemes import phones_to_curves

        prior = phones_to_curves(list(phones), int(num_frames), fps)[:, self.PRIOR_CHANNELS]
        return np.concatenate([phone_features(phones, int(num_frames), fps), prior], axis=1).astype(np.float32)


FRONT_ENDS = {
    PhoneticMelFrontEnd.id: PhoneticMelFrontEnd,
    PhoneticVisemeFrontEnd.id: PhoneticVisemeFrontEnd,
    LogMelFrontEnd.id: LogMelFrontEnd,
    Wav2Vec2FrontEnd.id: Wav2Vec2FrontEnd,
}
DEFAULT_FRONT_END = PhoneticMelFrontEnd.id


def build_front_end(name: str | None = None, **kw) -> FrontEnd:
    """A front end by id (``phonetic-mel-v1``, ``logmel-v1``, ``wav2vec2-v1`` + ``model_path``).

    ``build_front_end(**fe.config())`` rebuilds a front end from its config (``id`` names it);
    no name at all gives the default, ``phonetic-mel-v1``.
    """
    config_id = kw.pop("id", None)
    name = name or config_id or DEFAULT_FRONT_END
    if name not in FRONT_ENDS:
        raise ValueError(f"front end must be one of {sorted(FRONT_ENDS)}, got {name!r}")
    cls = FRONT_ENDS[name]
    if cls is Wav2Vec2FrontEnd:
        if "model_path" not in kw:
            raise ValueError("front end 'wav2vec2-v1' needs model_path=<local folder>")
        return cls(**kw)
    if cls in (PhoneticMelFrontEnd, PhoneticVisemeFrontEnd):
        unknown = sorted(set(kw) - {"recogniser", "vad"})
        if unknown:
            raise ValueError(f"front end {name!r} takes only recogniser= and vad=, got {unknown}")
        return cls(**kw)
    if kw:
        raise ValueError(f"front end {name!r} takes no options, got {sorted(kw)}")
    return cls()


# -- speech the recogniser does not know ---------------------------------------------------------
RECOGNISER_LANGUAGE = "en"   # pocketsphinx's bundled acoustic model (en-us)
#: A language tag as every entry point takes it (the server's schema publishes this pattern): a BCP 47
#: / espeak-ng primary subtag of 2-3 letters, then subtags (``en``, ``en-us``, ``zh``, ``cmn``, ``pt_BR``).
#: A word such as ``english`` is refused rather than taken for some other language.
LANGUAGE_TAG_PATTERN = r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})*$"
_LANGUAGE_TAG = re.compile(LANGUAGE_TAG_PATTERN)


class LanguageError(ValueError):
    """A language the product cannot take: a malformed tag, or a language other than English for a
    checkpoint not trained without phones. The CLI prints it in one line (exit 2), the server
    answers 422, a batch reports it on its line."""

    field = "language"


def check_language(language: str | None) -> str | None:
    """``language`` as a normalised tag (lower case, ``-`` between subtags), ``None`` staying None
    (the default: English). LanguageError naming the value for anything that is not a tag."""
    if language is None:
        return None
    if not isinstance(language, str) or not _LANGUAGE_TAG.match(language.strip()):
        raise LanguageError(f"language must be a tag such as 'en', 'zh' or 'pt-br' (2-3 letters, then "
                            f"-subtags), got {language!r}")
    return language.strip().lower().replace("_", "-")


def recogniser_understands(language: str | None) -> bool:
    """Whether the phone recogniser's output means anything for speech in ``language``.

    ``None`` is the recogniser's own language (the product's default). Tags follow BCP 47 /
    espeak-ng (``en``, ``en-us``, ``zh``, ``cmn``, ``de``...); only English ones qualify. A
    malformed tag (empty, ``english``) is a LanguageError (a ValueError).
    """
    tag = check_language(language)
    return tag is None or tag.split("-")[0] == RECOGNISER_LANGUAGE


def phone_free_features(front_end: FrontEnd, wav16k: np.ndarray, num_frames: int, fps: float) -> np.ndarray:
    """Features with every phone-dependent column zero (phones and viseme prior): the acoustic
    input alone, for speech whose phones the English recogniser would get wrong.

    Why zeros: a model trained with these columns zeroed on a share of its samples
    (``CurvesDataset(p_drop_phones=...)``, and always on takes in other languages) learns to read
    the mouth from log-mel, loudness and voice activity when they are absent. The recogniser is
    not run at all. Only front ends with a ``phones`` column group qualify.
    """
    return drop_phone_columns(front_end, front_end.features(wav16k, num_frames, fps, phones=[]))


def drop_phone_columns(front_end: FrontEnd, feats: np.ndarray) -> np.ndarray:
    """A float32 copy of ``feats`` with the front end's phone-dependent columns (its ``phones`` slice)
    zero; ValueError for a front end without them. The one place that knows which columns go."""
    cols = getattr(front_end, "slices", {}).get("phones")
    if cols is None:
        raise ValueError(f"front end {front_end.id!r} has no phone columns to drop")
    out = np.array(feats, np.float32)
    out[:, cols] = 0.0
    return out
