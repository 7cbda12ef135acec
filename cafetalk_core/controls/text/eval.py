"""Evaluate text -> controls on the hand-written held-out set: ``python -m cafetalk_core.controls.text.eval``.

Figures (per split: test, dev, all):
- action precision / recall / F1, micro over (sentence, action) pairs;
- span IoU: time IoU between the union of predicted and expected spans of an action, averaged
  over correctly detected actions ("IoU detected") and over all expected actions with a miss
  counting 0 ("IoU all");
- emotion accuracy over the sentences that expect one (clip emotion or an emotion span of the
  right label), and emotion false alarms on sentences that expect none;
- wrong-action rate on negations and distractors (sentences that expect no action).
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from . import text_to_controls
from .heldout import items as heldout_items


def _union_mask(spans: list[tuple[float, float]], duration: float, step: float = 0.01) -> np.ndarray:
    t = np.arange(0.0, duration, step) + step / 2
    m = np.zeros_like(t, dtype=bool)
    for a, b in spans:
        m |= (t >= a) & (t < b)
    return m


def span_iou(pred: list[tuple[float, float]], true: list[tuple[float, float]], duration: float) -> float:
    p, q = _union_mask(pred, duration), _union_mask(true, duration)
    union = (p | q).sum()
    return float((p & q).sum() / union) if union else 1.0


def evaluate(split: str = "test", verbose: bool = False) -> dict:
    """Run every held-out item of ``split`` ("test", "dev" or "all") and return the figures."""
    rows = [it for it in heldout_items() if split == "all" or it["dev"] == (split == "dev")]
    tp = fp = fn = 0
    ious_detected: list[float] = []
    ious_all: list[float] = []
    emo_total = emo_right = emo_false = emo_none_items = 0
    empty_items = empty_wrong = 0
    inten_err: list[float] = []
    failures: list[dict] = []
    t0 = time.time()
    for it in rows:
        res = text_to_controls(it["text"], it["duration"], it["transcript"])
        pred: dict[str, list[tuple[float, float]]] = {}
        for c in res.controls:
            pred.setdefault(c.action, []).append((c.start_s, c.end_s))
        truth = it["actions"]
        hit = set(pred) & set(truth)
        tp += len(hit)
        fp += len(set(pred) - set(truth))
        fn += len(set(truth) - set(pred))
        for a in truth:
            iou = span_iou(pred[a], truth[a], it["duration"]) if a in pred else 0.0
            ious_all.append(iou)
            if a in pred:
                ious_detected.append(iou)
        if not truth:
            empty_items += 1
            empty_wrong += bool(pred)
        want_emotions = ({it["emotion"]} if it["emotion"] else set()) | {e for e, _ in it["emotion_spans"]}
        got_emotions = ({res.emotion} if res.emotion else set()) | {s.emotion for s in res.emotion_spans}
        if want_emotions:
            emo_total += 1
            emo_right += want_emotions <= got_emotions
        else:
            emo_none_items += 1
            emo_false += bool(got_emotions)
        if it["intensity"] is not None and res.controls:
            inten_err.append(abs(res.controls[0].intensity - it["intensity"]))
        if set(pred) != set(truth) or (want_emotions and not want_emotions <= got_emotions):
            failures.append({"text": it["text"], "expected": sorted(truth), "got": sorted(pred),
                             "emotion_expected": sorted(want_emotions), "emotion_got": sorted(got_emotions)})
    prec = tp / max(1, tp + fp)
    rec = tp / max(1, tp + fn)
    f1 = 2 * prec * rec / max(1e-9, prec + rec)
    report = {
        "split": split, "sentences": len(rows), "expected_actions": tp + fn,
        "action_precision": round(prec, 3), "action_recall": round(rec, 3), "action_f1": round(f1, 3),
        "span_iou_detected": round(float(np.mean(ious_detected)), 3) if ious_detected else None,
        "span_iou_all": round(float(np.mean(ious_all)), 3) if ious_all else None,
        "emotion_accuracy": round(emo_right / emo_total, 3) if emo_total else None, "emotion_sentences": emo_total,
        "emotion_false_alarm_rate": round(emo_false / emo_none_items, 3) if emo_none_items else None,
        "no_action_sentences": empty_items,
        "no_action_wrongly_acted": empty_wrong,
        "intensity_mean_abs_error": round(float(np.mean(inten_err)), 3) if inten_err else None,
        "seconds": round(time.time() - t0, 2),
        "failures": failures,
    }
    if verbose:
        print_report(report)
    return report


def print_report(r: dict) -> None:
    print(f"held-out split {r['split']!r}: {r['sentences']} sentences, {r['expected_actions']} expected actions")
    print(f"  actions   P {r['action_precision']:.3f}  R {r['action_recall']:.3f}  F1 {r['action_f1']:.3f}")
    print(f"  span IoU  detected {r['span_iou_detected']}  all {r['span_iou_all']}")
    print(f"  emotion   accuracy {r['emotion_accuracy']} on {r['emotion_sentences']}, "
          f"false alarms {r['emotion_false_alarm_rate']}")
    print(f"  no-action sentences acted on: {r['no_action_wrongly_acted']} / {r['no_action_sentences']}")
    print(f"  intensity mean abs error {r['intensity_mean_abs_error']}   ({r['seconds']} s)")
    for f in r["failures"]:
        print(f"  miss: {f['text']!r}: expected {f['expected']} {f['emotion_expected']}, "
              f"got {f['got']} {f['emotion_got']}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--split", choices=("test", "dev", "all"), default="test")
    p.add_argument("--json", default=None, help="also write the report here")
    args = p.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    report = evaluate(args.split, verbose=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
