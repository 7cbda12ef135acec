"""The contract between a curve generator and its callers (the server's job queue, the CLI).

:class:`CurveGenerator` is what the server needs from a model: ``info`` (facts for
``/health`` and the add-on), ``max_audio_s`` and ``generate``. ``pipeline.Generator``
satisfies it, and so does the tests' stand-in. A generator that also has ``generate_batch``
(``pipeline.Generator``, ``server/ray_serve.RemoteGenerator``) gets the server's dynamic batching. :class:`GenerationCancelled` is the one
exception that means "the caller's ``cancel()`` said stop", matched by type, not by name.
This module never imports torch, so the server can import it while serving requests.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np

    from .controls import ControlSet
    from .curves import BlendshapeCurves


class GenerationCancelled(Exception):
    """Raised from inside sampling when the ``cancel`` predicate returned True."""


@runtime_checkable
class CurveGenerator(Protocol):
    """Speech audio + controls -> ARKit-52 curves (see ``pipeline.Generator.generate``)."""

    max_audio_s: float

    @property
    def info(self) -> dict[str, Any]:
        """model_id, fps, arkit_names, emotions, actions, default_* settings, window_s, device, and
        ``phones_optional`` (whether ``language`` may name a language other than English)."""
        ...

    def generate(self, audio: str | Path | bytes | np.ndarray, controls: ControlSet | None = None, *,
                 sample_rate: int | None = None, steps: int | None = None, audio_scale: float | None = None,
                 control_scale: float | None = None, face_scale: float | None = None, seed: int = 0,
                 fps: float | None = None,
                 inpaint: tuple[BlendshapeCurves, float, float] | None = None,
                 head_motion: float = 1.0, language: str | None = None, style: str | None = None,
                 progress: Callable[[float], None] | None = None,
                 cancel: Callable[[], bool] | None = None) -> BlendshapeCurves:
        ...
