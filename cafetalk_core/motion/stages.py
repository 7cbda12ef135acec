"""The stages after sampling, in order: smoothing (with the closure stage's bilabials), the
controls' signature stage, saccades, blinks.

Order matters: smoothing first (it would soften the requested levels if it came after the
signature stage), then the signature stage (so a requested smile peaks at exactly its intensity x
signature), then saccades (which keep away from requested gaze), then the blink stage (which must
know the AU45 spans so requested blinks win, sees the saccades as gaze shifts that may trigger a
blink, and keeps the lid level other controls set: a look down lowers the lids, issue 24). Each
stage is on or off per checkpoint (``ModelConfig.finish_motion``, ``control_prior``,
``blink_stage``: the eye stages, blinks and saccades).
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ..controls.fine import FineControl
from .blend import unscreen
from .blinks import BLINK, add_spontaneous_blinks
from .finish import FinishConfig, finish_lips_and_face
from .saccades import add_saccades


def after_sampling(values: np.ndarray, fps: float, *, speech: np.ndarray, fine: np.ndarray,
                   fine_controls: Sequence[FineControl], emotion_labels: Sequence[str], seed: int,
                   finish: bool, blinks: bool,
                   prior: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None,
                   closure_prob: np.ndarray | None = None, closure_threshold: float | None = None,
                   closure_dip_db: float | None = None, loudness: np.ndarray | None = None) -> np.ndarray:
    """(frames, 52) sampled curves -> the take's curves (still unclipped).

    ``closure_prob`` (the closure stage's, model/closure.py) lets the smoothing open long sealed
    stretches where it hears no bilabial (motion/finish.py, rule 5). Rule 4, closing the bilabials
    it hears where the probability exceeds ``closure_threshold`` (and, with ``closure_dip_db``, the
    ``loudness`` dips), is off unless a threshold is given: the pipeline passes the ones recorded
    with the detector for its input (with phones or phone-free).
    """
    out = np.asarray(values, np.float32)
    if finish:
        cfg = FinishConfig(detector_threshold=closure_threshold, detector_dip_db=closure_dip_db)
        out = finish_lips_and_face(out, fps, cfg, closure_prob=closure_prob,
                                   speech=None if closure_prob is None else speech, loudness=loudness)
    control_lid = None
    if prior is not None and np.any(fine > 0):
        before = out
        out = prior(out, fine, speech)
        # the level the controls screen-blended onto the lids: after = screen(before, level)
        control_lid = unscreen(out[:, BLINK].mean(axis=1), before[:, BLINK].mean(axis=1))
    if blinks:
        gaze = [(c.start_s, c.end_s) for c in fine_controls if c.action.startswith("GAZE_")]
        out = add_saccades(out, fps, seed=seed, requested=gaze)
        requested = [(c.start_s, c.end_s) for c in fine_controls if c.action == "AU45"]
        out = add_spontaneous_blinks(out, fps, speech, seed=seed, emotion=list(emotion_labels), requested=requested,
                                     control_lid=control_lid)
    return out
