"""The recogniser run once over a whole training folder before training (``--precompute-workers``).

Why apart from the dataset: it is a batch job over files (a process pool), while the dataset reads
the cache it leaves (``<id>.recog.json``, written by :func:`.dataset.recognised_phones`).
"""
from __future__ import annotations

import logging
import multiprocessing as mp
from pathlib import Path

from .dataset import FrontEnd, recognised_phones
from .records import BadClip, ClipRecord, scan

log = logging.getLogger(__name__)

_PRECOMPUTE_FE: FrontEnd | None = None


def _precompute_one(rec: ClipRecord) -> str | None:
    try:
        recognised_phones(rec, _PRECOMPUTE_FE)
        return None
    except BadClip as exc:
        return str(exc)


def precompute(root: str | Path | list, front_end: FrontEnd, workers: int = 1) -> int:
    """Run the recogniser once over every clip (cached next to the wav); returns the count done."""
    global _PRECOMPUTE_FE
    records = scan(root)
    _PRECOMPUTE_FE = front_end
    if workers > 1:
        with mp.get_context("fork").Pool(workers) as pool:
            errors = pool.map(_precompute_one, records, chunksize=4)
    else:
        errors = [_precompute_one(r) for r in records]
    for e in errors:
        if e:
            log.warning("%s; skipped", e)
    return sum(e is None for e in errors)
