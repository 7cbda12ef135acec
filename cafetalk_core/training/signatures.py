"""Learn stage 2's action signatures from real captures (issue 24), as the paper learns stage 2.

The paper trains its control branch on curves whose action labels come from Algorithm 1. Here
the learned part is each action's co-activation signature (motion/control_signature.py):

1. Algorithm 1 (controls/binarize.py, deterministic detector) labels the TRAIN captures' frames
   (datasets/neurosync, 60 fps, no audio: nothing to drop, the signature has no audio input);
2. for each action, controls/coactivation.py measures how much every channel moves per unit of
   the action's own activation (labelled on vs off frames within each take);
3. the learned row = the hand table's weights on the action's own channels (the requested
   intensity stays exact) + the co-activations of either sign with |value| >= MIN_COACTIVATION
   elsewhere, clipped to [-1, 1]: positive ones are added (a smile lifts the cheeks), negative ones
   attenuate (a chin raise pushes the lower lip up, so mouthLowerDown falls; a look down drops the
   look up). Never on jawOpen / mouthClose / tongueOut (the lip sync's); never on the lids (the blink
   stage's; on the iPhone a closing lid reads as a look down and back, a confound), except that a
   look down lowers the upper lid up to LID_FOLLOWS_GAZE_DOWN (lid-gaze coupling: the lid follows
   the eye down; capped below half shut so it never reads as a blink); no gaze for the blink;
4. choice on the VALIDATION captures: per action found there, the row (learned or hand) whose
   pattern correlates better with the held-out takes' co-activation pattern; actions the held-out
   takes do not show keep the hand row (no evidence either way).

Run: ``python -m cafetalk_core.training.signatures`` (writes cafetalk_core/weights/control_signatures.json
and prints the table of correlations).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from .. import rig
from ..controls.coactivation import coactivation, pattern_correlation
from ..controls.vocabulary import ACTION_IDS, ACTIONS
from ..data.captures import load_neurosync
from ..motion.control_signature import SIGNATURES_FILE, SPEECH_OWNED, hand_signatures

MIN_COACTIVATION = 0.05   # co-activations smaller than this (either sign) per unit intensity are noise at 60 fps
#: A look down lowers the upper lids this far at most per unit intensity. The captures measure
#: +1.2-1.4 (the iPhone reads the lowered lid as closing); physiologically the lid follows the eye
#: down without shutting, so the learned value is capped below a blink's half height (0.5): screened
#: onto the slow lid level the blink stage keeps (at most 0.18), 0.35 gives at most 0.47.
LID_FOLLOWS_GAZE_DOWN = 0.35
LIDS = tuple(rig.indices(["eyeBlinkLeft", "eyeBlinkRight"]))
GAZE = tuple(i for i, n in enumerate(rig.ARKIT_NAMES) if n.startswith("eyeLook"))


def learned_signatures(patterns: np.ndarray) -> np.ndarray:
    """(A, 52) co-activation patterns (NaN rows: not found) -> learned signature rows (hand rows where NaN)."""
    hand = hand_signatures()
    out = hand.copy()
    for k, a in enumerate(ACTIONS):
        p = patterns[k]
        if not np.all(np.isfinite(p)):
            continue
        row = np.where(np.abs(p) >= MIN_COACTIVATION, np.clip(p, -1.0, 1.0), 0.0).astype(np.float32)
        row[list(SPEECH_OWNED)] = 0.0
        # the lids belong to the blink stage; and the iPhone reads a closing lid as a look down (a
        # blink's frames show eyeLookDown 0.44, a look down's frames eyeBlink 1.2): a measurement
        # confound, so no action learns the lids but the look down (capped: the lid follows the
        # eye), and the blink learns no gaze
        lids = list(LIDS)
        row[lids] = np.clip(row[lids], 0.0, LID_FOLLOWS_GAZE_DOWN) if a.id == "GAZE_D" else 0.0
        if a.id == "AU45":
            row[list(GAZE)] = 0.0
        own = a.channel_indices()
        row[own] = hand[k, own]
        out[k] = row
    return out


def fit(train: Sequence, val: Sequence) -> dict:
    """Learn on ``train`` takes, choose per action on ``val`` takes; the JSON card."""
    tr, tr_w = coactivation([(t.values, t.fps) for t in train])
    va, va_w = coactivation([(t.values, t.fps) for t in val])
    learned = learned_signatures(tr)
    hand = hand_signatures()
    rows, chosen = {}, []
    for k, a in enumerate(ACTION_IDS):
        r = {"train_frames": int(tr_w[k]), "val_frames": int(va_w[k])}
        if va_w[k] > 0 and tr_w[k] > 0:
            r["corr_learned"] = pattern_correlation(learned[k], va[k])
            r["corr_hand"] = pattern_correlation(hand[k], va[k])
            if r["corr_learned"] > r["corr_hand"]:
                chosen.append(a)
        rows[a] = r
    return {"format": "cafetalk.control_signatures", "version": 1,
            "source": "datasets/neurosync (train takes learn, val takes choose)",
            "train_takes": [t.name for t in train], "val_takes": [t.name for t in val],
            "min_coactivation": MIN_COACTIVATION, "actions": list(ACTION_IDS), "channels": list(rig.ARKIT_NAMES),
            "chosen": chosen, "per_action": rows,
            "learned": np.round(learned, 4).tolist(),
            "train_patterns": np.round(np.nan_to_num(tr, nan=0.0), 4).tolist(),
            "val_patterns": np.round(np.nan_to_num(va, nan=0.0), 4).tolist()}


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(description="learn the control signatures from the NeuroSync captures")
    p.add_argument("--out", default=str(SIGNATURES_FILE))
    a = p.parse_args(argv)
    card = fit(load_neurosync("train"), load_neurosync("val"))
    Path(a.out).write_text(json.dumps(card, indent=1) + "\n")
    print(f"{'action':7s} {'train fr':>8s} {'val fr':>7s} {'corr learned':>12s} {'corr hand':>9s}  shipped")
    for act, r in card["per_action"].items():
        cl, ch = r.get("corr_learned", float("nan")), r.get("corr_hand", float("nan"))
        print(f"{act:7s} {r['train_frames']:8d} {r['val_frames']:7d} {cl:12.2f} {ch:9.2f}  "
              f"{'learned' if act in card['chosen'] else 'hand'}")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
