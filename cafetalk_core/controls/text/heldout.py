"""Hand-written held-out phrasings for evaluating text -> controls (never used in training).

Written apart from ``controls/text/data.py`` with other verbs and nouns (grin, beam, squint, furrow, wink,
gape, peek, ...); a test checks that none of these sentences occurs among the training
phrases. Each item: text, clip duration, expected actions -> spans (seconds), and optionally
the expected clip emotion, emotion spans, and whether the transcript below is given.
Items with ``dev=True`` (every third) may be looked at while tuning; the rest are the test
split whose figures are reported.

Expected spans follow docs/text_controls.md (e.g. "at the end" = the last quarter, a point
holds 1 s, a blink lasts 0.25 s); they are what a user would accept, not what the code emits.
"""
from __future__ import annotations

TRANSCRIPT: list[tuple[str, float, float]] = [
    ("Well", 0.1, 0.4), ("hello", 0.45, 0.9), ("there.", 0.9, 1.3), ("I", 1.8, 1.9), ("missed", 1.9, 2.3),
    ("you", 2.3, 2.5), ("so", 2.5, 2.8), ("much.", 2.8, 3.3), ("Goodbye", 3.9, 4.5), ("now.", 4.5, 4.9),
]

D = 5.0
START, MIDDLE, END, ALL = (0.0, 1.25), (1.875, 3.125), (3.75, 5.0), (0.0, 5.0)
MIDBLINK = (2.375, 2.625)

# (text, {action: [spans]}, extras) with extras: emotion, emotion_spans, transcript, duration
_ITEMS: list[tuple[str, dict, dict]] = [
    # --- smiles without the word "smile"
    ("grin", {"AU12": [ALL]}, {}),
    ("beam at the end", {"AU12": [END]}, {}),
    ("crack a grin at 2 seconds", {"AU12": [(2.0, 3.0)]}, {}),
    ("break into a broad grin near the end", {"AU12": [END]}, {}),
    ("she beams happily throughout", {"AU12": [ALL]}, {"emotion": "happy"}),
    ("grin from ear to ear for the first two seconds", {"AU12": [(0.0, 2.0)]}, {}),
    ("lips curl up into a grin in the middle", {"AU12": [MIDDLE]}, {}),
    # --- brows
    ("furrow the brow", {"AU4": [ALL]}, {}),
    ("furrow your brows from 1 to 3 s", {"AU4": [(1.0, 3.0)]}, {}),
    ("scowl at the start", {"AU4": [START]}, {}),
    ("eyebrows shoot up at 1.5 s", {"AU2": [(1.5, 2.5)]}, {}),
    ("lift both eyebrows high in surprise at the end", {"AU2": [END]}, {"emotion_spans": [("surprise", END)]}),
    ("brows go up for a moment in the middle", {"AU2": [MIDDLE]}, {}),
    ("tilt the inner eyebrows upward like a worried puppy", {"AU1": [ALL]}, {}),
    ("bring the eyebrows together in concentration", {"AU4": [ALL]}, {}),
    ("a deep scowl near the end", {"AU4": [END]}, {}),
    # --- eyes
    ("squint your eyes", {"AU7": [ALL]}, {}),
    ("squint slightly at 3 s", {"AU7": [(3.0, 4.0)]}, {}),
    ("make the eyes go big at the beginning", {"AU5": [START]}, {}),
    ("eyes pop open in shock at 2 s", {"AU5": [(2.0, 3.0)]}, {"emotion_spans": [("surprise", (2.0, 5.0))]}),
    ("stare with bulging eyes", {"AU5": [ALL]}, {}),
    ("wink at the end", {"AU45": [(4.25, 4.5)]}, {}),
    ("bat your eyelashes twice", {"AU45": [(1.125, 1.375), (3.625, 3.875)]}, {}),
    ("flutter the eyelids at 1 s", {"AU45": [(1.0, 1.25)]}, {}),
    ("lids drop shut for a split second at 4 seconds", {"AU45": [(4.0, 4.25)]}, {}),
    ("two quick blinks near the start", {"AU45": [(0.25, 0.5), (0.75, 1.0)]}, {}),
    ("blink 3 times", {"AU45": [(0.708, 0.958), (2.375, 2.625), (4.042, 4.292)]}, {}),
    # --- gaze
    ("peek to the left", {"GAZE_L": [ALL]}, {}),
    ("shift your gaze to the right at 2 s", {"GAZE_R": [(2.0, 3.0)]}, {}),
    ("eyes drift to the right side in the middle", {"GAZE_R": [MIDDLE]}, {}),
    ("stare at the ceiling", {"GAZE_U": [ALL]}, {}),
    ("gaze skyward near the end", {"GAZE_U": [END]}, {}),
    ("stare at the ground for the last second", {"GAZE_D": [(4.0, 5.0)]}, {}),
    ("avert the eyes downward at the start", {"GAZE_D": [START]}, {}),
    ("peek leftwards for half a second at 3 s", {"GAZE_L": [(3.0, 3.5)]}, {}),
    ("cast a glance toward the floor", {"GAZE_D": [ALL]}, {}),
    # --- mouth
    ("gape", {"AU26": [ALL]}, {}),
    ("let the jaw hang open at the end", {"AU26": [END]}, {}),
    ("mouth falls agape in the middle", {"AU26": [MIDDLE]}, {}),
    ("make a duck face", {"AU18": [ALL]}, {}),
    ("blow a kiss at 2 s", {"AU18": [(2.0, 3.0)]}, {}),
    ("kissy lips near the start", {"AU18": [START]}, {}),
    ("clamp the lips shut", {"AU24": [ALL]}, {}),
    ("seal your lips tightly at the end", {"AU24": [END]}, {}),
    ("mouth corners droop down", {"AU15": [ALL]}, {}),
    ("the corners of the lips sag at 3 s", {"AU15": [(3.0, 4.0)]}, {}),
    ("grimace with the lips pulled wide", {"AU20": [ALL]}, {}),
    ("crinkle your nose", {"AU9": [ALL]}, {}),
    ("scrunch up the nose at the end", {"AU9": [END]}, {}),
    ("snarl to show the upper teeth", {"AU10": [ALL]}, {}),
    ("show your top teeth at 1 s", {"AU10": [(1.0, 2.0)]}, {}),
    ("puff up the apples of the cheeks", {"AU6": [ALL]}, {}),
    ("dimples appear in the middle", {"AU14": [MIDDLE]}, {}),
    ("jut the lower lip upward", {"AU17": [ALL]}, {}),
    # --- combinations
    ("grin and squint at the end", {"AU12": [END], "AU7": [END]}, {}),
    ("beam, then stare at the ground", {"AU12": [(0.0, 2.5)], "GAZE_D": [(2.5, 5.0)]}, {}),
    ("scowl at the start and gape at the end", {"AU4": [START], "AU26": [END]}, {}),
    ("wink twice while grinning", {"AU45": [(1.125, 1.375), (3.625, 3.875)], "AU12": [ALL]}, {}),
    ("eyebrows up at 1 s, peek right at 3 s", {"AU2": [(1.0, 2.0)], "GAZE_R": [(3.0, 4.0)]}, {}),
    ("furrow the brow and clamp the lips between 2 and 4 seconds", {"AU4": [(2.0, 4.0)], "AU24": [(2.0, 4.0)]}, {}),
    ("a tiny grin with bulging eyes", {"AU12": [ALL], "AU5": [ALL]}, {}),
    # --- transcript words
    ("grin while saying 'hello'", {"AU12": [(0.45, 0.9)]}, {"transcript": True}),
    ("wink when she says goodbye", {"AU45": [(4.075, 4.325)]}, {"transcript": True}),
    ("scowl on the last word", {"AU4": [(4.5, 4.9)]}, {"transcript": True}),
    ("beam during the first sentence", {"AU12": [(0.1, 1.3)]}, {"transcript": True}),
    ("stare at the ceiling while saying 'missed you'", {"GAZE_U": [(1.9, 2.5)]}, {"transcript": True}),
    ("squint on the word 'much'", {"AU7": [(2.8, 3.3)]}, {"transcript": True}),
    ("gape during the last sentence", {"AU26": [(3.9, 4.9)]}, {"transcript": True}),
    # --- negations and distractors: no action
    ("don't grin", {}, {}),
    ("no squinting please", {}, {}),
    ("never scowl", {}, {}),
    ("grin without winking", {"AU12": [ALL]}, {}),
    ("do not gape at the end", {}, {}),
    ("the weather is lovely today", {}, {}),
    ("say it like a pirate", {}, {}),
    ("just read the line naturally", {}, {}),
    ("make him talk a bit faster", {}, {}),
    ("switch on the lights", {}, {}),
    ("qwertyuiop", {}, {}),
    # --- emotions (held-out words)
    ("look furious", {}, {"emotion": "angry"}),
    ("delighted at the end", {}, {"emotion_spans": [("happy", END)]}),
    ("terrified", {}, {"emotion": "fear"}),
    ("gloomy for the first two seconds", {}, {"emotion_spans": [("sad", (0.0, 2.0))]}),
    ("astonished", {}, {"emotion": "surprise"}),
    ("grossed out near the end", {}, {"emotion_spans": [("disgust", END)]}),
    ("scornful", {}, {"emotion": "contempt"}),
    ("seem heartbroken", {}, {"emotion": "sad"}),
    ("look thrilled", {}, {"emotion": "happy"}),
    ("be livid in the middle", {}, {"emotion_spans": [("angry", MIDDLE)]}),
    # --- intensity held-out
    ("a faint grin", {"AU12": [ALL]}, {"intensity": 0.3}),
    ("an enormous grin at the end", {"AU12": [END]}, {"intensity": 1.0}),
]


def items() -> list[dict]:
    """The held-out items as dicts (text, duration, actions, emotion, emotion_spans, transcript, dev)."""
    out = []
    for i, (text, actions, extra) in enumerate(_ITEMS):
        out.append({
            "text": text, "duration": extra.get("duration", D),
            "actions": {a: [tuple(s) for s in spans] for a, spans in actions.items()},
            "emotion": extra.get("emotion"), "emotion_spans": extra.get("emotion_spans", []),
            "transcript": TRANSCRIPT if extra.get("transcript") else None,
            "intensity": extra.get("intensity"), "dev": i % 3 == 0,
        })
    return out
