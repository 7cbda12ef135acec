"""Typed request and response bodies of the HTTP API (pydantic), so /openapi.json is exact.

The add-on's client (stdlib urllib) reads these shapes; change them additively only.
Every error response is ``{"detail": "<field>: <what is wrong>", "field": "<field>"|null}``.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from ..audio.frontend import LANGUAGE_TAG_PATTERN, LanguageError, check_language, recogniser_understands

JobState = Literal["queued", "running", "done", "failed", "cancelled"]
FINISHED_STATES: frozenset[str] = frozenset({"done", "failed", "cancelled"})
MAX_STEPS = 200  # sampling steps a client may ask for; the model's default is <= 25


class ErrorResponse(BaseModel):
    """Every 4xx/5xx body: a sentence naming the problem, and the offending field if any."""

    detail: str = Field(description="what was wrong, starting with the field name when there is one")
    field: str | None = Field(None, description="the request field at fault, e.g. 'fine[0].end_s' or 'audio'")


class HealthResponse(BaseModel):
    ok: bool
    model_loaded: bool
    model_id: str
    device: str
    queue_depth: int = Field(description="jobs waiting (not counting the one running)")
    running: bool = Field(description="a job is being generated right now")
    version: str


class ActionInfo(BaseModel):
    id: str = Field(description="stable id used in controls JSON, e.g. 'AU12'")
    label: str = Field(description="what an artist reads, e.g. 'smile'")
    region: str = Field(description="'upper' face or 'mouth'")
    channels: list[str] = Field(description="ARKit channels the action drives")
    aliases: list[str]


class Limits(BaseModel):
    max_queue: int
    max_audio_s: float
    max_upload_mb: float
    job_ttl_s: float
    max_steps: int
    max_text_chars: int


class InfoResponse(BaseModel):
    model_id: str
    version: str = Field(description="cafetalk package version")
    device: str
    fps: float = Field(description="the model's native frame rate; results can be resampled with options.fps")
    sample_rate: int = Field(16000, description="audio is resampled to this rate, mono, whatever is uploaded")
    names: list[str] = Field(description="the ARKit-52 channel names, in the order of result values")
    emotions: list[str]
    actions: list[ActionInfo]
    default_steps: int | None = None
    default_audio_scale: float | None = None
    default_control_scale: float | None = None
    default_face_scale: float | None = Field(None, description="a on non-lip channels; null = same as audio scale")
    front_end: str | None = Field(None, description="audio features the model uses")
    phones_optional: bool = Field(False, description="the model was trained without phones too, so options.language "
                                                     "may name a language other than English")
    limits: Limits
    model: dict[str, Any] = Field(default_factory=dict, description="everything the model reports about itself")


class InpaintOptions(BaseModel):
    """Regenerate only [start_s, end_s) of an earlier take and keep the rest."""

    model_config = ConfigDict(extra="forbid")
    curves: dict[str, Any] = Field(description="the earlier take, as returned by /result (cafetalk.curves JSON)")
    start_s: float = Field(ge=0, allow_inf_nan=False)
    end_s: float = Field(gt=0, allow_inf_nan=False)


class JobOptions(BaseModel):
    """Sampling options (the form field ``options`` of POST /v1/jobs, as a JSON string)."""

    model_config = ConfigDict(extra="forbid")
    steps: int | None = Field(None, ge=1, le=MAX_STEPS, description="DDIM steps (default: the model's)")
    audio_scale: float | None = Field(None, ge=0, le=20, allow_inf_nan=False, description="CFG scale a (audio + coarse)")
    control_scale: float | None = Field(None, ge=0, le=20, allow_inf_nan=False, description="CFG scale b (fine controls)")
    face_scale: float | None = Field(None, ge=0, le=20, allow_inf_nan=False,
                                     description="CFG scale a on the channels outside lip sync (default: the model's)")
    seed: int = Field(0, ge=0, le=2**32 - 1)
    fps: float | None = Field(None, ge=1, le=240, allow_inf_nan=False, description="output frame rate (default: the model's)")
    head_motion: float | None = Field(None, ge=0, le=2, allow_inf_nan=False,
                                      description="head motion amount: 0 = still head, 1 = as learned (default), up to 2")
    language: str | None = Field(None, max_length=35, json_schema_extra={"pattern": LANGUAGE_TAG_PATTERN},
                                 description="the speech's language as a tag (en, zh, de, pt-br; default English). "
                                             "The phone recogniser knows only English: other languages are read from "
                                             "the acoustics alone, on a model with phones_optional (/v1/info); "
                                             "elsewhere they are a 422")
    inpaint: InpaintOptions | None = None

    @field_validator("language")
    @classmethod
    def _a_language_the_model_takes(cls, value: str | None, info: ValidationInfo) -> str | None:
        """The tag normalised (audio.check_language), and English unless the served model is
        ``phones_optional`` (the validation context, from its info): a 422 at submit, never a job
        that fails later. The model's own rule: ``Generator.runs_phone_free``."""
        try:
            tag = check_language(value)
        except LanguageError as exc:
            raise PydanticCustomError("language", "{message}", {"message": str(exc)}) from None
        if tag is not None and not recogniser_understands(tag) and not (info.context or {}).get("phones_optional"):
            raise PydanticCustomError("language", "{message}", {"message": (
                f"{value!r}: this server's model reads English phones and was not trained without them (/v1/info "
                "phones_optional is false); send English speech, or serve a checkpoint trained with --p-drop-phones")})
        return tag


class JobStatus(BaseModel):
    job_id: str
    state: JobState
    progress: float = Field(ge=0, le=1, description="fraction of denoising steps done")
    error: str | None = Field(None, description="why the job failed (state 'failed')")
    created_at: float = Field(description="Unix time (s)")
    started_at: float | None = None
    finished_at: float | None = None
    duration_s: float = Field(description="duration of the uploaded audio in seconds")
    queue_position: int | None = Field(None, description="0 = next to run; null unless queued")
    cancel_requested: bool = False
    frames: int | None = Field(None, description="frames in the result (state 'done')")
    fps: float | None = Field(None, description="frame rate of the result (state 'done')")


class CurvesResponse(BaseModel):
    """A take: ``values[frame][channel]`` in the order of ``names``, frame i at i / fps seconds."""

    format: Literal["cafetalk.curves"]
    version: int
    fps: float
    names: list[str]
    frames: int
    values: list[list[float]]
    rotation_names: list[str] | None = Field(None, description="head/eye rotation columns (Live Link's 9), when the take has them")
    rotations: list[list[float]] | None = Field(None, description="rotations[frame][i] in radians, in rotation_names order")
    start_s: float | None = Field(None, description="time of frame 0 on the source's clock, when not 0")


class FineControlModel(BaseModel):
    action: str
    start_s: float
    end_s: float
    intensity: float = 1.0


class EmotionSpanModel(BaseModel):
    emotion: str
    start_s: float
    end_s: float
    intensity: float = 1.0


class TextRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, description="controls in words, e.g. 'smile from 1.2 to 2 s, blink at the end'")
    duration_s: float = Field(gt=0, allow_inf_nan=False, description="clip duration in seconds")
    transcript: list[tuple[str, float, float]] | None = Field(
        None, description="word times [[word, start_s, end_s], ...] so phrases like \"while saying 'hello'\" resolve")


class TextMatch(BaseModel):
    """Why a control (or no control) was made from a phrase; shown to the artist."""

    model_config = ConfigDict(extra="allow")
    phrase: str = Field(description="the words as written")
    kind: str | None = Field(None, description="'action', 'emotion', 'emotion_span' or 'negated'")
    action: str | None = None
    emotion: str | None = None
    score: float | None = None
    spans: list[list[float]] | None = None
    intensity: float | None = None
    why: str | None = None


class TextResponse(BaseModel):
    fine: list[FineControlModel]
    emotion: str | None = Field(None, description="clip-wide emotion named by the text, if any")
    emotion_intensity: float | None = None
    emotion_spans: list[EmotionSpanModel]
    matches: list[TextMatch] = Field(description="each phrase read, and what it became")
    messages: list[str] = Field(description="what was not understood or was adjusted")
