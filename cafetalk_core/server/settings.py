"""Server settings: one dataclass shared by the CLI, the app factory and the tests."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServerSettings:
    """Limits and security of one server. Sizes are what a client may send, not what we allocate."""

    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None          # bearer token; required when ``host`` is not loopback
    device: str = "cpu"               # where the model runs (already resolved from 'auto')
    max_queue: int = 8                # jobs waiting; one more is answered 429
    max_audio_s: float = 300.0        # longest clip accepted
    max_upload_mb: float = 50.0       # largest request body accepted
    job_ttl_s: float = 3600.0         # finished jobs are forgotten (404) after this
    max_text_chars: int = 2000        # longest text for /v1/controls/from-text
    warmup: bool = False              # run one short generation at start so the first job is not slow
    max_batch: int = 1                # jobs sampled together (dynamic batching; cafetalk serve: 8 on a GPU)
    batch_wait_s: float = 0.02        # how long a first job waits for others to share its batch
    workers: int = 1                  # job threads: one per model replica under Ray Serve (server/ray_serve.py)

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1_000_000)

    def __post_init__(self) -> None:
        for name in ("max_queue", "max_audio_s", "max_upload_mb", "job_ttl_s", "max_text_chars"):
            value = getattr(self, name)
            if not value > 0:
                raise ValueError(f"{name} must be positive, got {value!r}")
        if not (isinstance(self.max_batch, int) and self.max_batch >= 1):
            raise ValueError(f"max_batch must be an integer >= 1, got {self.max_batch!r}")
        if not 0 <= self.batch_wait_s <= 10:
            raise ValueError(f"batch_wait_s must be in [0, 10] s, got {self.batch_wait_s!r}")
