"""Generator: speech audio + controls -> ARKit-52 curves. The one entry point of the model.

The server, the CLI (``cafetalk generate``), the evaluation and the add-on tests all call
:meth:`Generator.generate`. It does, in order: load audio (16 kHz mono) -> validate controls
against the clip -> front-end features at the model's frame rate -> windowed DDIM sampling
with mask-based CFG (any length; windows overlap by 1 s, each window's start is inpainted from
the previous window and the overlap is crossfaded) -> optional inpainting of a time span of an
existing take -> clamp to [0, 1] -> the after-sampling stages (motion/: smoothing that keeps
the model's closures and shuts nothing it left open, the controls' signature prior, blinks) -> head and eye rotations
(the head stage) -> resample to the requested fps -> the take's own frames pasted outside an
inpainted span. Over 400 lines because it is that one path end to end, with the validation of
every argument a caller can pass; the stages themselves live in their own modules (``model/windows.py``,
``model/diffusion.py``, ``model/runtime.py``, ``motion/``).
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from . import rig
from .audio import (SAMPLE_RATE, LanguageError, build_front_end, load_audio, phone_free_features,
                    recogniser_understands)
from .controls import ACTIONS, EMOTIONS, ControlSet, check_head_motion, rasterize_fine, span_frames
from .curves import BlendshapeCurves
from .generation import GenerationCancelled
from .model.checkpoint import build_model, load_checkpoint
from .model.config import preset as model_preset
from .model.denoiser import Conditions, Denoiser, randomize_zero_init
from .model.diffusion import (CFGDenoiser, DDIMScheduler, InpaintDenoiser, SchedulerConfig, channel_scales,
                              sample_ddim)
from .model.closure import CLOSURE_DIR, ClosureDetector, load_closure
from .model.head import HEAD_DIR, HeadStage, head_features, head_features_from
from .model.runtime import configure_threads, resolve_device
from .model.windows import crossfade_into, windows
from .motion.control_signature import DEFAULT_SIGNATURE, compose_controls
from .motion.eyes import eye_rotations
from .motion.stages import after_sampling

__all__ = ["Generator", "PreparedJob", "load_generator", "GenerationCancelled", "DEFAULT_CHECKPOINT", "SAMPLE_RATE", "load_audio", "cli_generate"]

DEFAULT_CHECKPOINT = Path(__file__).parent / "weights" / "default"
MAX_AUDIO_S = 600.0          # the pipeline's own limit; the server may set a lower one
WINDOW_OVERLAP_S = 1.0       # overlap between sampling windows (crossfaded, inpainted)
INPAINT_BLEND_S = 0.1        # crossfade inside an inpainted span's borders
WAV2VEC2_PATH_ENV = "CAFETALK_WAV2VEC2_PATH"   # the Wav2Vec2 folder for checkpoints that name none


# ---------------------------------------------------------------------------------------------
class Generator:
    """A loaded model + its front end. Thread-compatible: one ``generate`` at a time per instance."""

    def __init__(self, checkpoint: str | Path | None = None, device: str = "cpu", *,
                 threads: int | str | None = "auto", front_end_options: dict[str, Any] | None = None) -> None:
        """Load ``checkpoint`` (default: the shipped model) onto ``device`` ('cpu', 'cuda', 'auto').

        ``threads`` sets torch's CPU thread count for the process (``model.runtime.configure_threads``:
        "auto" is the measured fast path, None leaves torch alone). The front end is rebuilt from
        the checkpoint's ``front_end`` config; ``front_end_options`` override its entries (e.g.
        ``{"model_path": ...}`` for a Wav2Vec2 folder that moved). A relative ``model_path`` is
        taken relative to the checkpoint folder, so a checkpoint can carry its front end inside;
        a wav2vec2-v1 checkpoint that names none (older ones kept only the id) takes the folder
        from the ``CAFETALK_WAV2VEC2_PATH`` environment variable, or is a ValueError saying so.
        """
        path = Path(checkpoint) if checkpoint is not None else DEFAULT_CHECKPOINT
        if checkpoint is None and not (path / "config.json").is_file():
            raise FileNotFoundError(f"no shipped checkpoint at {str(path)!r} (none is trained yet); "
                                    "pass a checkpoint folder with --checkpoint")
        configure_threads(threads)
        dev = resolve_device(device)
        ck = load_checkpoint(path, dev)
        fe_config = {"id": ck.config.front_end, **ck.front_end, **(front_end_options or {})}
        if fe_config["id"] == "wav2vec2-v1" and not fe_config.get("model_path"):
            if not os.environ.get(WAV2VEC2_PATH_ENV):
                raise ValueError(f"checkpoint {str(path)!r} uses the wav2vec2-v1 front end but names no model_path: "
                                 f"pass front_end_options={{'model_path': DIR}} or set {WAV2VEC2_PATH_ENV}=DIR")
            fe_config["model_path"] = os.environ[WAV2VEC2_PATH_ENV]
        if fe_config.get("model_path") and not Path(fe_config["model_path"]).is_absolute():
            fe_config["model_path"] = str(path / fe_config["model_path"])
        self._setup(ck.model, fe_config["id"], ck.model_id(), dev, build_front_end(**fe_config))
        self.checkpoint_path = path
        head_dir = path / HEAD_DIR
        self.head = HeadStage.load(head_dir, dev) if (head_dir / "config.json").is_file() else None
        closure_dir = path / CLOSURE_DIR
        if (closure_dir / "config.json").is_file():
            self.closure = load_closure(closure_dir, dev)
            if self.closure.front_end != self.front_end.id or self.closure.audio_dim != int(self.front_end.dim):
                raise ValueError(f"{closure_dir}: the closure stage was trained on {self.closure.front_end!r} "
                                 f"({self.closure.audio_dim}-d), the model runs {self.front_end.id!r} ({self.front_end.dim}-d)")

    @classmethod
    def random(cls, preset: str = "tiny", seed: int = 0, front_end: str = "logmel-v1",
               device: str = "cpu", stage: int = 2, threads: int | str | None = "auto",
               front_end_options: dict[str, Any] | None = None) -> "Generator":
        """A randomly initialised model (tests, servers before training exists). Outputs are noise-like
        but shaped, seeded and reproducible; zero-initialised layers get small random values.
        ``front_end_options`` go to ``audio.build_front_end`` (``{"model_path": ...}`` for wav2vec2-v1)."""
        configure_threads(threads)
        fe = build_front_end(front_end, **(front_end_options or {}))
        torch.manual_seed(seed)
        model = build_model(model_preset(preset, audio_dim=int(fe.dim), front_end=fe.id), stage=stage)
        randomize_zero_init(model, std=0.05, seed=seed)
        self = cls.__new__(cls)
        self._setup(model, fe.id, f"random-{preset}-seed{seed}", resolve_device(device), fe)
        self.checkpoint_path = None
        return self

    @classmethod
    def from_model(cls, model: Denoiser, device: str = "cpu", model_id: str = "in-memory",
                   front_end: Any = None) -> "Generator":
        """Wrap a model being trained (evaluation during training); threads are left as they are."""
        self = cls.__new__(cls)
        self._setup(model, model.cfg.front_end, model_id, resolve_device(device), front_end)
        self.checkpoint_path = None
        return self

    def _setup(self, model: Denoiser, front_end_id: str, model_id: str, device: torch.device,
               front_end: Any = None) -> None:
        self.head: HeadStage | None = None   # the head stage, when the checkpoint has one
        self.closure: ClosureDetector | None = None   # the closure stage, when the checkpoint has one
        self.model = model.to(device).eval()
        self.cfg = model.cfg
        self.device = device
        self.model_id = model_id
        self.front_end = front_end or build_front_end(front_end_id)
        if self.front_end.id != front_end_id:
            raise ValueError(f"front end {self.front_end.id!r} given for a model trained on {front_end_id!r}")
        if int(self.front_end.dim) != self.cfg.audio_dim:
            raise ValueError(f"front end {front_end_id!r} gives {self.front_end.dim}-d features, "
                             f"the model expects audio_dim={self.cfg.audio_dim}")
        self.max_audio_s = MAX_AUDIO_S
        #: the fine controls' signature table ("captures": learned from real captures, "hand": the vocabulary's)
        self.signature = DEFAULT_SIGNATURE

    def save(self, directory: str | Path, **meta: Any) -> Path:
        """Write the model as a checkpoint folder with its front end's full config (for wav2vec2-v1:
        the ``model_path`` of the local Wav2Vec2 folder), so ``Generator(directory)`` rebuilds both."""
        from .model.checkpoint import save_checkpoint

        return save_checkpoint(directory, self.model, front_end=self.front_end.config(), **meta)

    # -- facts for the server / add-on ---------------------------------------------------------
    @property
    def info(self) -> dict[str, Any]:
        c = self.cfg
        return {
            "model_id": self.model_id, "fps": c.fps, "arkit_names": list(rig.ARKIT_NAMES),
            "emotions": list(EMOTIONS),
            "actions": [{"id": a.id, "label": a.label, "region": a.region} for a in ACTIONS],
            "default_steps": c.default_steps, "default_audio_scale": c.default_audio_scale,
            "default_face_scale": c.default_face_scale,
            "default_control_scale": c.default_control_scale, "cfg_fine_reference": c.cfg_fine_reference,
            "phone_free_steps": c.phone_free_steps, "phone_free_audio_scale": c.phone_free_audio_scale,
            "phone_free_aperture_gain": c.phone_free_aperture_gain,
            "styles": list(c.style_names), "default_style": c.default_style, "phone_free_style": c.phone_free_style,
            "front_end": self.front_end.id,
            "max_audio_s": self.max_audio_s, "fine_controls": self.model.control is not None,
            "head_motion": self.head is not None, "closure_stage": self.closure is not None,
            "phones_optional": bool(c.phones_optional),   # speech in other languages (generate(language=...))
            "window_s": c.max_frames / c.fps, "device": str(self.device),
        }

    def runs_phone_free(self, language: str | None) -> bool:
        """Whether speech in ``language`` runs on phone-free features (any language but English).
        LanguageError (a ValueError) for a malformed tag, and for another language on a checkpoint
        not trained without phones (``phones_optional``); the CLI asks before it generates. A front
        end that reads no phones (``logmel-v1``, ``wav2vec2-v1``) hears every language alike: False."""
        phone_free = not recogniser_understands(language)
        if not getattr(self.front_end, "uses_phones", False):
            return False
        if phone_free and not self.cfg.phones_optional:
            raise LanguageError(f"language {language!r}: this checkpoint ({self.model_id}) reads English phones and "
                                "was not trained without them; use English speech or a checkpoint trained with "
                                "--p-drop-phones")
        return phone_free

    def default_steps(self, phone_free: bool) -> int:
        """DDIM steps when the caller gives none: the phone-free default for speech read from the
        acoustics alone where the checkpoint has one (model/config.py), else ``default_steps``."""
        c = self.cfg
        return int(c.phone_free_steps if phone_free and c.phone_free_steps is not None else c.default_steps)

    def default_audio_scale(self, phone_free: bool) -> float:
        """The audio guidance a when the caller gives none (as :meth:`default_steps`)."""
        c = self.cfg
        return float(c.phone_free_audio_scale if phone_free and c.phone_free_audio_scale is not None
                     else c.default_audio_scale)

    def aperture_gain(self, phone_free: bool) -> float:
        """The factor on the sampled lip aperture pair (``rig.APERTURE_PAIR``): ``phone_free_aperture_gain``
        for phone-free speech where set, else 1."""
        g = self.cfg.phone_free_aperture_gain
        return float(g) if phone_free and g is not None else 1.0

    def style_for(self, phone_free: bool) -> str | None:
        """The style a job gets when the caller names none: ``phone_free_style`` for phone-free
        speech where set, else ``default_style``; None on a checkpoint without style tokens."""
        c = self.cfg
        if not c.style_names:
            return None
        name = c.phone_free_style if phone_free and c.phone_free_style is not None else c.default_style
        if name is None:
            raise ValueError(f"{self.model_id}: style tokens {list(c.style_names)} but no default_style")
        return name

    def style_index(self, style: str | None, phone_free: bool) -> int | None:
        """``style`` (default :meth:`style_for`) as the token index the model reads."""
        names = self.cfg.style_names
        if style is not None and style not in names:
            raise ValueError(f"style {style!r}: this checkpoint has "
                             f"{'the styles ' + ', '.join(names) if names else 'no style tokens'}")
        name = style if style is not None else self.style_for(phone_free)
        return None if name is None else names.index(name)

    # -- generation ------------------------------------------------------------------------------
    def generate(self, audio: str | Path | bytes | np.ndarray, controls: ControlSet | None = None, *,
                 sample_rate: int | None = None, steps: int | None = None, audio_scale: float | None = None,
                 control_scale: float | None = None, face_scale: float | None = None, seed: int = 0,
                 fps: float | None = None,
                 inpaint: tuple[BlendshapeCurves, float, float] | None = None,
                 head_motion: float = 1.0, language: str | None = None, style: str | None = None,
                 progress: Callable[[float], None] | None = None,
                 cancel: Callable[[], bool] | None = None) -> BlendshapeCurves:
        """Curves for ``audio`` (path, bytes or float array at ``sample_rate``, default 16 kHz).

        With a head stage in the checkpoint (``head/``), the curves carry head and eye rotations
        (``rotations``, Live Link's 9 columns); ``head_motion`` scales the head's (0 = still head,
        1 = as learned, up to 2) outside the controls' head spans, which set their own amount
        (``controls/head.py``: later spans win, ramps at the borders); the eyes' rotations follow
        the gaze channels.

        ``audio_scale`` is the audio guidance a on the lip-sync channels, ``face_scale`` on the
        others (default: the checkpoint's ``default_face_scale``, else the same as ``audio_scale``).
        ``inpaint=(take, start_s, end_s)`` regenerates only that span of ``take``: the result is at
        ``fps`` (default: the take's own rate) and every frame outside the span is the take's,
        bit for bit (the take resampled to ``fps`` first when ``fps`` differs from the take's);
        inside, the new motion crossfades from the take over INPAINT_BLEND_S at each border. A
        span reaching past the clip is clamped to it; one starting at or past the end is a
        ValueError. Raises ControlError for bad controls, GenerationCancelled
        when ``cancel()`` turns True (checked before every denoising step).

        ``language`` (a tag such as ``en``, ``zh``, ``de``; default English) says what the speech
        is. The phone recogniser knows only English: for any other language the phone columns are
        left out (``audio.phone_free_features``) and the mouth is read from the acoustics alone;
        the closure stage runs only where its detector was trained without phones too
        (model/closure.py), else it is skipped. Only a checkpoint trained for it
        (``phones_optional``) accepts another language; others raise ValueError.

        ``steps`` and ``audio_scale`` default to the checkpoint's, for phone-free speech to its
        phone-free defaults where it has them (:meth:`default_steps`). ``style`` names the training
        source whose style token the sample gets, on a checkpoint with style tokens (default:
        :meth:`style_for`); a name the checkpoint lacks is a ValueError.

        The three phases are public so batch engines can spread them (``cafetalk_core/batch``):
        :meth:`prepare` (audio and controls -> features; CPU, numpy only, picklable), then
        :meth:`sample_batch` (the model, several jobs in one batch), then :meth:`finish`.
        """
        job = self.prepare(audio, controls, sample_rate=sample_rate, steps=steps, audio_scale=audio_scale,
                           control_scale=control_scale, face_scale=face_scale, seed=seed, fps=fps,
                           inpaint=inpaint, head_motion=head_motion, language=language, style=style)
        out = self.sample_batch([job], progress=progress, cancel=cancel)[0]
        return self.finish(job, out)

    def generate_batch(self, requests: list[dict[str, Any]],
                       progress: list[Callable[[float], None] | None] | None = None,
                       cancel: list[Callable[[], bool] | None] | None = None) -> list[BlendshapeCurves | Exception]:
        """Several generations in one batch (the server's dynamic batching): ``requests`` are the
        keyword arguments of :meth:`generate` (``audio``, ``controls``, ``seed``, ...), one dict per
        job. Returns, per job, its curves or the exception that stopped it (a bad job never fails
        the others). Each job keeps its seed: the curves equal ``generate(**request)`` up to float
        rounding. ``progress[i]`` gets the batch's progress; sampling stops (GenerationCancelled
        for the jobs cancelled) only when every job's ``cancel[i]()`` is True, and a job cancelled
        while the others go on gets GenerationCancelled instead of its curves."""
        progress = progress or [None] * len(requests)
        cancel = cancel or [None] * len(requests)
        results: list[BlendshapeCurves | Exception | None] = [None] * len(requests)
        prepared: list[tuple[int, PreparedJob]] = []
        for i, req in enumerate(requests):
            try:
                prepared.append((i, self.prepare(**req)))
            except Exception as exc:  # noqa: BLE001 - reported on its own job
                results[i] = exc
        live = [i for i, _ in prepared]

        def report(fraction: float) -> None:
            for i in live:
                if progress[i] is not None:
                    progress[i](fraction)

        def all_cancelled() -> bool:
            return all(cancel[i] is not None and cancel[i]() for i in live)

        try:
            outs = self.sample_batch([job for _, job in prepared], progress=report, cancel=all_cancelled)
        except Exception as exc:  # noqa: BLE001 - the batch failed: one at a time, so the error lands on its job
            if isinstance(exc, GenerationCancelled):
                outs = [exc] * len(prepared)
            else:
                outs = []
                for i, job in prepared:
                    try:
                        outs.append(self.sample_batch([job], progress=progress[i], cancel=cancel[i])[0])
                    except Exception as inner:  # noqa: BLE001
                        outs.append(inner)
        for (i, job), out in zip(prepared, outs):
            if isinstance(out, Exception):
                results[i] = out
            elif cancel[i] is not None and cancel[i]():
                results[i] = GenerationCancelled("cancelled while the rest of its batch ran")
            else:
                try:
                    results[i] = self.finish(job, out)
                except Exception as exc:  # noqa: BLE001
                    results[i] = exc
        return results   # type: ignore[return-value]

    def prepare(self, audio: str | Path | bytes | np.ndarray, controls: ControlSet | None = None, *,
                sample_rate: int | None = None, steps: int | None = None, audio_scale: float | None = None,
                control_scale: float | None = None, face_scale: float | None = None, seed: int = 0,
                fps: float | None = None, inpaint: tuple[BlendshapeCurves, float, float] | None = None,
                head_motion: float = 1.0, language: str | None = None,
                style: str | None = None) -> "PreparedJob":
        """Everything before the model (arguments as :meth:`generate`): validation, audio, front end,
        rasterised controls, the inpainting mask, voice activity. The front end is the expensive
        part on a CPU (the phone recogniser), which is why batch engines run this in a process pool
        while the model samples the jobs before (``batch/local.py``)."""
        cfg = self.cfg
        phone_free = self.runs_phone_free(language)
        steps = int(steps if steps is not None else self.default_steps(phone_free))
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        a_scale = float(self.default_audio_scale(phone_free) if audio_scale is None else audio_scale)
        style_index = self.style_index(style, phone_free)
        f_scale = face_scale if face_scale is not None else cfg.default_face_scale
        for name, value in (("audio_scale", a_scale), ("face_scale", f_scale)):
            if value is not None and not (math.isfinite(float(value)) and float(value) >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")
        scales = channel_scales(a_scale, None if f_scale is None else float(f_scale))
        b_scale = float(cfg.default_control_scale if control_scale is None else control_scale)
        if fps is not None and not (fps > 0 and math.isfinite(fps)):
            raise ValueError(f"fps must be positive, got {fps}")
        head_motion = check_head_motion(head_motion)
        wav = load_audio(audio, sample_rate)
        duration = len(wav) / SAMPLE_RATE
        if duration <= 0:
            raise ValueError("audio is empty (0 samples)")
        if duration > self.max_audio_s:
            raise ValueError(f"audio is {duration:.1f} s, longer than the limit of {self.max_audio_s:.0f} s")
        controls = (controls or ControlSet()).validated(duration)
        n = max(1, int(round(duration * cfg.fps)))

        feats = (phone_free_features(self.front_end, wav, n, cfg.fps) if phone_free
                 else np.asarray(self.front_end.features(wav, n, cfg.fps), np.float32))      # (N, A)
        if feats.shape != (n, cfg.audio_dim):
            raise RuntimeError(f"front end returned {feats.shape}, expected {(n, cfg.audio_dim)}")
        emotion, intensity = controls.coarse.rasterize(n, cfg.fps)
        fine = rasterize_fine(controls.fine, n, cfg.fps)

        known_vals = np.zeros((n, rig.NUM_CHANNELS), np.float32)
        user_known = np.zeros(n, bool)
        take, span = None, None
        if inpaint is not None:
            take, start_s, end_s = inpaint
            start_s, end_s = _inpaint_span(float(start_s), float(end_s), duration)
            span = (start_s, end_s)
            take = take.in_arkit_order()
            # the take at the model's rate only conditions the sampler; the frames returned
            # outside the span are the take's own (see _paste_take)
            at_model_fps = take.resample(cfg.fps) if abs(take.fps - cfg.fps) > 1e-9 else take
            m = min(n, at_model_fps.num_frames)
            known_vals[:m] = at_model_fps.values[:m]
            a, b = span_frames(start_s, end_s, cfg.fps, n)
            user_known[:m] = True
            user_known[a:b] = False
        # voice activity once, for the motion stages and the head stage (none of it for a checkpoint without them)
        speech = self.speech_activity(feats, wav) if self._uses_speech else np.ones(n, np.float32)
        return PreparedJob(wav=wav, duration_s=duration, feats=feats, emotion=emotion, intensity=intensity, fine=fine,
                           known_vals=known_vals, user_known=user_known, speech=speech, controls=controls, take=take,
                           span=span, steps=steps, audio_scale=scales if isinstance(scales, float) else scales.numpy(),
                           control_scale=b_scale, seed=int(seed), fps=None if fps is None else float(fps),
                           head_motion=head_motion, phone_free=phone_free, style=style_index)

    def finish(self, job: "PreparedJob", sampled: np.ndarray) -> BlendshapeCurves:
        """Everything after the model for one job: clamp, the after-sampling stages, head and eyes,
        the output rate, the take pasted outside an inpainted span."""
        cfg = self.cfg
        n = job.feats.shape[0]
        sampled = rig.scale_aperture(sampled, self.aperture_gain(job.phone_free))
        # clamp first: the stages smooth and blend curves, and a clamp after them would put kinks back
        out = self._after_sampling(np.clip(sampled, 0.0, 1.0), job.feats, job.speech, job.controls, job.fine,
                                   job.emotion, job.control_scale, job.seed, job.phone_free)
        out = np.where(job.user_known[:, None], job.known_vals, np.clip(out, 0.0, 1.0))
        head_amount = job.controls.head_amount(n, cfg.fps, job.head_motion)
        rotations = self._rotations(out, job.feats, job.wav, job.speech, job.emotion, job.intensity, head_amount, job.seed)
        take = job.take
        out_fps = job.fps if job.fps is not None else (take.fps if take is not None else cfg.fps)
        curves = BlendshapeCurves(out, cfg.fps, rotations=rotations)
        if abs(out_fps - cfg.fps) > 1e-9:   # frames at i / fps covering the audio: round(duration x fps)
            curves = curves.resample(out_fps, num_frames=max(1, int(round(job.duration_s * out_fps))))
        if take is not None:
            curves = _paste_take(curves, take, *job.span)
        return curves

    def _rotations(self, values: np.ndarray, feats: np.ndarray, wav: np.ndarray, speech: np.ndarray, emotion: np.ndarray,
                   intensity: np.ndarray, head_amount: np.ndarray, seed: int) -> np.ndarray | None:
        """(frames, 9) head (the head stage x the (frames,) ``head_amount``) + eyes (from gaze); None
        without a head stage. The head stage is not sampled when every frame's amount is 0."""
        if self.head is None:
            return None
        n = values.shape[0]
        head = np.zeros((n, 3), np.float32)
        if (head_amount > 0).any():
            hf = head_features_from(self.front_end, feats)
            if hf is None:
                hf = head_features(wav, n, self.cfg.fps, vad=speech)
            head = self.head.sample(hf, emotion, intensity, seed=seed) * head_amount[:, None]
        return np.concatenate([head, eye_rotations(values)], axis=1).astype(np.float32)

    @property
    def _uses_speech(self) -> bool:
        cfg = self.cfg
        return bool(cfg.blink_stage or self.head is not None or (self.closure is not None and cfg.finish_motion)
                    or self._uses_signature)

    @property
    def _uses_signature(self) -> bool:
        """Whether the fine controls go through the signature stage after sampling (motion/control_signature.py)."""
        return bool(self.cfg.control_prior and self.model.control is not None)

    def loudness(self, feats: np.ndarray) -> np.ndarray:
        """(frames,) the front end's loudness column (the closure stage's loudness gate reads it)."""
        slices = getattr(self.front_end, "slices", {})
        if "loudness" not in slices:
            raise ValueError(f"front end {self.front_end.id!r} has no loudness column; the closure stage's "
                             "loudness gate (dip_db) needs one")
        return np.asarray(feats[:, slices["loudness"]], np.float32)[:, 0]

    def speech_activity(self, feats: np.ndarray, wav: np.ndarray) -> np.ndarray:
        """(frames,) voice activity: the front end's VAD column when it has one, else the VAD itself."""
        slices = getattr(self.front_end, "slices", {})
        if "vad" in slices:
            return np.asarray(feats[:, slices["vad"]], np.float32)[:, 0]
        from .audio.vad import voice_activity

        return np.asarray(voice_activity(wav, feats.shape[0], self.cfg.fps), np.float32)

    def _after_sampling(self, out: np.ndarray, feats: np.ndarray, speech: np.ndarray, controls: ControlSet,
                        fine: np.ndarray, emotion: np.ndarray, b_scale: float, seed: int,
                        phone_free: bool = False) -> np.ndarray:
        """Smoothing, the signature stage of the fine controls, blinks (motion/stages.py). On phone-free
        features the closure stage runs only if its detector was trained for them (``phones_optional``).
        It shuts the lips where it hears a bilabial (rule 4) only at a threshold recorded with the
        detector for this input, gated by the loudness dip recorded with it (``ClosureDetector.rule4``)."""
        cfg = self.cfg
        uses_signature = self._uses_signature
        if not (cfg.finish_motion or cfg.blink_stage or uses_signature):
            return out
        table = self.signature

        def prior(values: np.ndarray, grid: np.ndarray, act: np.ndarray) -> np.ndarray:
            composed = compose_controls(values, grid, act, cfg.fps, ramp_s=cfg.control_ramp_s, signature=table)
            return (values + b_scale * (composed - values)).astype(np.float32)

        labels = [EMOTIONS[i] if 0 <= i < len(EMOTIONS) else "neutral" for i in np.unique(emotion)]
        hears = self.closure is not None and cfg.finish_motion and (not phone_free or self.closure.phones_optional)
        closure_prob = self.closure.probability(feats) if hears else None
        threshold, dip_db = self.closure.rule4(phone_free) if hears else (None, None)
        loud = self.loudness(feats) if threshold is not None and dip_db is not None else None
        return after_sampling(out, cfg.fps, speech=speech, fine=fine, fine_controls=controls.fine,
                              emotion_labels=labels, seed=seed, finish=cfg.finish_motion,
                              blinks=cfg.blink_stage, prior=prior if uses_signature else None,
                              closure_prob=closure_prob, closure_threshold=threshold, closure_dip_db=dip_db,
                              loudness=loud)

    def _windows(self, n: int) -> list[tuple[int, int]]:
        """[start, end) windows of max_frames covering n frames, overlapping >= WINDOW_OVERLAP_S."""
        return windows(n, self.cfg.max_frames, int(round(WINDOW_OVERLAP_S * self.cfg.fps)))

    @torch.inference_mode()
    def sample_batch(self, jobs: list["PreparedJob"], progress: Callable[[float], None] | None = None,
                     cancel: Callable[[], bool] | None = None) -> list[np.ndarray]:
        """Sample several prepared jobs together; (frames, 52) curves per job, before the stages.

        Each job keeps its own noise (a CPU ``torch.Generator`` seeded with its seed, drawn in the
        same order as alone: window noise, then the inpainting noise of each step), so a job
        sampled in a batch equals the job sampled alone up to float rounding (batched matmuls;
        tests/test_batch.py measures it). Windows are sampled in waves: wave k holds window k of
        every job that has one (window k of a clip is inpainted from window k-1, so a clip's
        own windows cannot share a batch). Rows of different lengths are padded and masked
        (``Conditions.valid``). Jobs are grouped by step count and CFG branches; ``progress``
        and ``cancel`` apply to the whole call.
        """
        if not jobs:
            return []
        groups: dict[tuple, list[int]] = {}
        for i, job in enumerate(jobs):
            groups.setdefault((job.steps, self._needs_none(job)), []).append(i)
        outs: list[np.ndarray | None] = [None] * len(jobs)
        total = sum(len(self._windows(jobs[i].feats.shape[0])) * jobs[i].steps for i in range(len(jobs)))
        done = [0]

        def tick(n_steps: int) -> None:
            done[0] += n_steps
            if progress is not None:
                progress(min(1.0, done[0] / total))

        if cancel is not None and cancel():
            raise GenerationCancelled("cancelled before sampling started")
        for (steps, _), idx in groups.items():
            for i, out in zip(idx, self._sample_group([jobs[i] for i in idx], steps, tick, cancel)):
                outs[i] = out
        return outs   # type: ignore[return-value]

    def _needs_none(self, job: "PreparedJob") -> bool:
        """Whether the job's CFG needs the unconditional branch (as CFGDenoiser decides it)."""
        control = self.model.control
        uses_fine = control is not None and control.has_adapter and bool((job.fine > 0).any())
        return not (bool(np.all(np.asarray(job.audio_scale) == 1.0))
                    and (not uses_fine or self.cfg.cfg_fine_reference == "audio_coarse"))

    def _sample_group(self, jobs: list["PreparedJob"], steps: int, tick: Callable[[int], None],
                      cancel: Callable[[], bool] | None) -> list[np.ndarray]:
        dev, model, cfg = self.device, self.model, self.cfg
        plans = [self._windows(job.feats.shape[0]) for job in jobs]
        gens = [torch.Generator().manual_seed(job.seed) for job in jobs]   # CPU: same noise on CPU and CUDA
        outs = [np.zeros((job.feats.shape[0], rig.NUM_CHANNELS), np.float32) for job in jobs]
        done_until = [0] * len(jobs)
        t = lambda a, dtype=torch.float32: torch.as_tensor(np.stack(a), dtype=dtype, device=dev)  # noqa: E731
        for w in range(max(len(p) for p in plans)):
            rows = [r for r in range(len(jobs)) if w < len(plans[r])]
            spans = [plans[r][w] for r in rows]
            lengths = [e - s for s, e in spans]
            width = max(lengths)
            pad = lambda a, L: np.concatenate([a, np.zeros((width - L,) + a.shape[1:], a.dtype)]) if L < width else a  # noqa: E731
            valid = np.stack([np.arange(width) < L for L in lengths])
            fines = [pad(jobs[r].fine[s:e], L) for r, (s, e), L in zip(rows, spans, lengths)]
            any_fine = any(f.any() for f in fines)
            cond = Conditions(t([pad(jobs[r].feats[s:e], L) for r, (s, e), L in zip(rows, spans, lengths)]),
                              t([pad(jobs[r].emotion[s:e], L) for r, (s, e), L in zip(rows, spans, lengths)], torch.long),
                              t([pad(jobs[r].intensity[s:e], L) for r, (s, e), L in zip(rows, spans, lengths)]),
                              fine=t(fines) if any_fine else None,
                              valid=torch.as_tensor(valid, device=dev) if len(rows) > 1 and min(lengths) < width else None,
                              style=None if model.style is None else t([jobs[r].style for r in rows], torch.long))
            a_scale = _row_scales([jobs[r].audio_scale for r in rows])
            b_scale = _row_scales([jobs[r].control_scale for r in rows])
            denoiser = CFGDenoiser(model, cond, a_scale, b_scale, cfg.cfg_fine_reference)
            # known frames: the user's (inpainting) and those the previous window already made
            known_vals = np.zeros((len(rows), width, rig.NUM_CHANNELS), np.float32)
            known_mask = np.zeros((len(rows), width), bool)
            for k, (r, (s, e)) in enumerate(zip(rows, spans)):
                mask = jobs[r].user_known[s:e].copy()
                # the take's frames into the sample's scale (finish() applies the gain after sampling)
                vals = rig.scale_aperture(jobs[r].known_vals[s:e], 1.0 / self.aperture_gain(jobs[r].phone_free))
                prev = np.arange(s, e) < done_until[r]
                vals[prev & ~mask] = outs[r][s:e][prev & ~mask]
                known_vals[k, :e - s], known_mask[k, :e - s] = vals, mask | prev
            x = torch.zeros((len(rows), width, rig.NUM_CHANNELS))
            for k, (r, L) in enumerate(zip(rows, lengths)):
                x[k, :L] = torch.randn((1, L, rig.NUM_CHANNELS), generator=gens[r])[0]
            x = x.to(dev)
            sched = DDIMScheduler(SchedulerConfig(cfg.num_train_timesteps, cfg.beta_schedule, prediction=cfg.prediction))
            sched.set_timesteps(steps)
            inpainting = known_mask.any(axis=1)
            if inpainting.any():
                denoiser = InpaintDenoiser(denoiser, sched, model.normalize(torch.as_tensor(known_vals, device=dev)),
                                           torch.as_tensor(known_mask, device=dev)[..., None],
                                           generator=[gens[r] if inpainting[k] else None for k, r in enumerate(rows)],
                                           lengths=lengths)
            last_window = all(w + 1 >= len(p) for p in plans)

            def callback(info: dict, _rows: int = len(rows)) -> None:
                tick(_rows)
                if cancel is not None and info["i"] + 1 < steps and cancel():
                    raise GenerationCancelled(f"cancelled at step {info['i'] + 1} of {steps} in window {w + 1}")

            x0 = sample_ddim(denoiser, x, sched, callback=callback)
            res = model.denormalize(x0).float().cpu().numpy()
            for k, (r, (s, e)) in enumerate(zip(rows, spans)):
                # the overlap with the previous window fades
                done_until[r] = crossfade_into(outs[r], res[k, :e - s], s, done_until[r])
            if cancel is not None and not last_window and cancel():
                raise GenerationCancelled(f"cancelled after window {w + 1}")
        return outs


def _row_scales(values: list[float | np.ndarray]) -> float | torch.Tensor:
    """One guidance scale per batch row: a float when every row has the same scalar (the common
    case stays scalar, as ``channel_scales``), else a (B, 1, C) or (B, 1, 1) tensor."""
    if all(isinstance(v, float) for v in values) and len(set(values)) == 1:
        return float(values[0])
    arrays = [np.broadcast_to(np.asarray(v, np.float32), (rig.NUM_CHANNELS,)) for v in values]
    return torch.as_tensor(np.stack(arrays))[:, None, :]


@dataclass
class PreparedJob:
    """One generation after :meth:`Generator.prepare`: numpy arrays and plain values (picklable, so a
    process pool or a Ray worker can make it). Frames are at the model's rate."""

    wav: np.ndarray                  # (samples,) 16 kHz mono
    duration_s: float
    feats: np.ndarray                # (N, audio_dim) front-end features
    emotion: np.ndarray              # (N,) emotion ids
    intensity: np.ndarray            # (N,)
    fine: np.ndarray                 # (N, num_actions) rasterised fine controls
    known_vals: np.ndarray           # (N, 52) the take's frames (inpainting), zeros elsewhere
    user_known: np.ndarray           # (N,) bool: frames kept from the take
    speech: np.ndarray               # (N,) voice activity
    controls: ControlSet
    take: BlendshapeCurves | None
    span: tuple[float, float] | None
    steps: int
    audio_scale: float | np.ndarray  # a (scalar or one per channel)
    control_scale: float             # b
    seed: int
    fps: float | None                # output rate (None: the model's, or the take's)
    head_motion: float
    phone_free: bool = False         # features without phone columns (speech in another language)
    style: int | None = None         # style token index (a model with style tokens), else None


def load_generator(checkpoint: str | Path | None, device: str, random_model: bool = False,
                   threads: int | str | None = "auto") -> Generator:
    """The generator a server, a batch engine or a Ray replica runs: the checkpoint (default: the
    shipped model), or the untrained tiny model (``--random-model``: tests and CI)."""
    if random_model:
        return Generator.random(preset="tiny", seed=0, device=device, threads=threads)
    return Generator(checkpoint, device=device, threads=threads)


def _inpaint_span(start_s: float, end_s: float, duration_s: float) -> tuple[float, float]:
    """The span clamped to the clip; ValueError naming the bound when it cannot be used."""
    if not (math.isfinite(start_s) and math.isfinite(end_s) and 0 <= start_s < end_s):
        raise ValueError(f"inpaint span must satisfy 0 <= start_s < end_s, got ({start_s}, {end_s})")
    if start_s >= duration_s:
        raise ValueError(f"inpaint start_s {start_s} s is at or past the end of the clip ({duration_s:.3f} s)")
    return start_s, min(end_s, duration_s)


def _paste_take(generated: BlendshapeCurves, take: BlendshapeCurves, start_s: float, end_s: float) -> BlendshapeCurves:
    """``generated`` with every frame outside [start_s, end_s) copied from ``take`` (at the output rate).

    Weights and head/eye rotations (none when the take has none: a take without head motion
    stays without). Frames the take does not have (it is shorter than the clip) stay generated.
    """
    fps = generated.fps
    source = take if abs(take.fps - fps) <= 1e-9 else take.resample(fps)
    n = generated.num_frames
    m = min(n, source.num_frames)
    known = np.zeros(n, bool)
    known[:m] = True
    a, b = span_frames(start_s, end_s, fps, n)
    known[a:b] = False
    blend = max(1, int(round(INPAINT_BLEND_S * fps)))

    def paste(new: np.ndarray, old: np.ndarray) -> np.ndarray:
        old_full = np.zeros_like(new)
        old_full[:m] = old[:m]
        return _blend_span(new, old_full, known, (a, b), blend)

    values = paste(generated.values, source.values)
    rotations = None   # the take's rotations outside the span; none when the take has none
    if source.rotations is not None:
        take_rot = np.zeros((n, source.rotations.shape[1]), np.float32)
        take_rot[:m] = source.rotations[:m]
        rotations = paste(generated.rotations if generated.rotations is not None else take_rot, source.rotations)
    return generated._with(values, rotations)


def _blend_span(gen: np.ndarray, take: np.ndarray, known: np.ndarray, span: tuple[int, int], blend: int) -> np.ndarray:
    """Take outside the span exactly; inside, crossfade from the take over ``blend`` frames at each border."""
    out = np.where(known[:, None], take, gen)
    a, b = span
    n = len(gen)
    for i in range(a, b):
        d_left = i - a if a > 0 and known[a - 1] else blend
        d_right = b - 1 - i if b < n and known[b] else blend
        d = min(d_left, d_right)
        if d < blend:
            w = (d + 1) / (blend + 1)
            out[i] = (1 - w) * take[i] + w * gen[i]
    return out


# ---------------------------------------------------------------------------------------------
def _controls_from_args(args: Any, duration_s: float | None) -> ControlSet:
    import sys

    base = ControlSet.from_json(Path(args.controls_json).read_text()) if getattr(args, "controls_json", None) else None
    messages: list[str] = []
    plain = () if base is not None else (args.emotion, args.intensity, args.control)   # a controls file replaces them
    cs = build_controls(*plain, text=getattr(args, "text", None), duration_s=duration_s, base=base, messages=messages)
    for msg in messages:
        print(f"--text: {msg}", file=sys.stderr)
    return cs


def build_controls(emotion: str = "neutral", intensity: float = 0.5, specs: list[str] | tuple[str, ...] = (),
                   text: str | None = None, duration_s: float | None = None, *, base: ControlSet | None = None,
                   messages: list[str] | None = None) -> ControlSet:
    """Controls from the command line's pieces (``cafetalk generate``, the rows of ``cafetalk batch``):
    ``base`` (a controls JSON) or emotion + intensity + ``ACTION:START-END[:INTENSITY]`` specs, then
    free ``text`` read by controls/text (an explicit emotion wins over the text's); the text's
    reading ("read as {...}") and its messages (phrases it could not place) are appended to ``messages``."""
    from .controls import CoarseCondition, parse_control_spec

    cs = base if base is not None else ControlSet(CoarseCondition(emotion, intensity), [parse_control_spec(s) for s in specs])
    if text:
        from .controls.text import text_to_controls
        tc = text_to_controls(text, duration_s=duration_s)
        if messages is not None:   # what controls-from-text prints, then what it could not place
            messages.append(f"read as {json.dumps(tc.to_dict())}")
            messages.extend(tc.messages)
        coarse = cs.coarse
        if tc.emotion and coarse.emotion == "neutral":     # an explicit --emotion wins over the text
            coarse = CoarseCondition(tc.emotion, tc.emotion_intensity if tc.emotion_intensity is not None else coarse.intensity,
                            list(coarse.spans))
        coarse = CoarseCondition(coarse.emotion, coarse.intensity, list(coarse.spans) + list(tc.emotion_spans))
        cs = ControlSet(coarse, list(cs.fine) + list(tc.controls), list(cs.head_spans))
    return cs


def cli_generate(args: Any) -> int:
    """``cafetalk generate AUDIO --out take.csv [--emotion ...] [--control ...]``."""
    import sys

    from tqdm import tqdm

    from .controls import ControlError

    from .audio import AudioError, check_language

    language = getattr(args, "language", None)
    try:   # the audio, the controls and the language tag are checked before the model loads and the bar starts
        check_language(language)
        wav = load_audio(args.audio)
        controls = _controls_from_args(args, len(wav) / SAMPLE_RATE).validated(len(wav) / SAMPLE_RATE)
    except (AudioError, LanguageError) as exc:
        print(f"cafetalk generate: error: {exc}", file=sys.stderr)
        return 2
    except ControlError as exc:
        print(f"cafetalk generate: bad control: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:   # a --controls-json file that cannot be read
        where = f"--controls-json {args.controls_json}: " if args.controls_json else ""
        print(f"cafetalk generate: error: {where}{exc}", file=sys.stderr)
        return 2
    try:
        gen = Generator(args.checkpoint, device=args.device)
    except FileNotFoundError as exc:
        print(f"cafetalk generate: {exc}", file=sys.stderr)
        return 2
    try:   # another language on a checkpoint that reads English phones: said before any work is done
        gen.runs_phone_free(language)
    except LanguageError as exc:
        print(f"cafetalk generate: error: {exc}", file=sys.stderr)
        return 2
    try:
        bar = tqdm(total=100, desc="generating", unit="%", leave=False)

        def progress(p: float) -> None:
            bar.update(int(round(p * 100)) - bar.n)

        curves = gen.generate(wav, controls, steps=args.steps, audio_scale=args.audio_scale,
                              control_scale=args.control_scale, seed=args.seed, fps=args.fps,
                              head_motion=args.head_motion, language=language, progress=progress)
        bar.close()
    except ControlError as exc:
        print(f"cafetalk generate: bad control: {exc}", file=sys.stderr)
        return 2
    curves.save(args.out)
    print(f"wrote {args.out}: {curves.num_frames} frames at {curves.fps:g} fps ({curves.duration_s:.2f} s)")
    return 0
