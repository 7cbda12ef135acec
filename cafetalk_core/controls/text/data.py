"""Training phrases for the text -> action head, generated from small per-action word lists.

Why generated: there is no public corpus of "animator instructions -> facial action units",
so the project writes one. Each action gets imperative phrases, noun phrases and gerunds; the
generator combines them with carrier templates, intensity words, combinations ("smile and look
left"), negations ("don't smile", "no blinking" -> no action) and distractor sentences that
name no action. The held-out evaluation set (``controls/text/heldout.py``) is written separately with
*other* verbs and nouns (``HELDOUT_ONLY_WORDS`` below never occur here; a test checks it), so
its scores measure how far the sentence embedding carries the head beyond these templates.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from ..coarse import EMOTIONS

# Words kept out of every training phrase so the held-out set can test synonyms honestly.
HELDOUT_ONLY_WORDS: tuple[str, ...] = (
    "grin", "beam", "furrow", "squint", "gape", "agape", "wink", "bat ", "flutter", "peek",
    "ceiling", "ground", "duck", "kiss", "smirk", "scowl", "snarl", "crinkle", "scrunch",
    "furious", "delighted", "terrified", "gloomy", "astonished", "scornful", "grossed",
)


@dataclass(frozen=True)
class ActionWords:
    """How people ask for one action: imperatives ("raise your brows"), nouns, gerunds."""

    imperatives: tuple[str, ...]
    nouns: tuple[str, ...]
    gerunds: tuple[str, ...]


ACTION_WORDS: dict[str, ActionWords] = {
    "AU1": ActionWords(
        ("raise the inner brows", "lift the inner corners of the eyebrows", "pull the inner eyebrows up",
         "raise the middle of your brows", "make worried eyebrows", "lift the inner brow"),
        ("an inner brow raise", "inner brows up", "worried eyebrows", "a raised inner brow"),
        ("raising the inner brows", "lifting the inner eyebrows")),
    "AU2": ActionWords(
        ("raise your eyebrows", "lift your brows", "raise the eyebrows", "arch your eyebrows",
         "put your eyebrows up", "raise the outer brows", "lift the eyebrows high"),
        ("raised eyebrows", "an eyebrow raise", "brows up", "arched brows", "eyebrows up", "a brow lift"),
        ("raising the eyebrows", "lifting the brows", "arching the eyebrows")),
    "AU4": ActionWords(
        ("pinch the brows together", "make angry brows", "lower your brows", "pull the eyebrows down", "knit your brows", "draw the brows together",
         "frown", "bring the eyebrows down", "lower the eyebrows"),
        ("brows pulled together", "angry eyebrows", "lowered brows", "a frown", "knitted brows", "brows down", "a brow lower", "frowning brows"),
        ("frowning", "lowering the brows", "knitting the eyebrows")),
    "AU5": ActionWords(
        ("make big eyes", "open the eyes in shock", "widen your eyes", "open your eyes wide", "open the eyes wide", "make the eyes wide",
         "raise the upper eyelids", "go wide-eyed"),
        ("big eyes", "eyes opened wide", "wide eyes", "wide open eyes", "eyes wide open", "widened eyes", "a wide-eyed look"),
        ("widening the eyes", "opening the eyes wide")),
    "AU6": ActionWords(
        ("raise your cheeks", "lift the cheeks", "push the cheeks up", "puff the cheeks upward",
         "bunch up the cheeks"),
        ("raised cheeks", "cheeks up", "a cheek raise", "lifted cheeks"),
        ("raising the cheeks", "lifting the cheeks")),
    "AU7": ActionWords(
        ("tense your eyes", "make the eyes tight", "narrow your eyes", "tighten your eyelids", "tense the lids", "narrow the eyes",
         "tighten the eyes", "make the eyes narrow"),
        ("tense eyes", "tightened eyes", "narrowed eyes", "tight eyelids", "tense eyelids", "a lid tightener", "narrow eyes"),
        ("narrowing the eyes", "tightening the eyelids")),
    "AU9": ActionWords(
        ("wrinkle your nose", "wrinkle the nose", "screw up your nose", "pull the nose up",
         "make a nose wrinkle"),
        ("a wrinkled nose", "a nose wrinkle", "nose wrinkles"),
        ("wrinkling the nose", "screwing up the nose")),
    "AU10": ActionWords(
        ("raise the upper lip", "lift the top lip", "curl the upper lip", "pull the upper lip up",
         "bare the upper teeth", "raise your top lip"),
        ("a raised upper lip", "an upper lip raise", "a curled upper lip", "lifted top lip"),
        ("raising the upper lip", "curling the upper lip")),
    "AU12": ActionWords(
        ("smile", "give a smile", "pull the lip corners up", "turn up the corners of the mouth",
         "put on a smile", "make a smile", "show a smile"),
        ("a smile", "a happy smile", "smiles", "a warm smile", "a little smile", "upturned mouth corners"),
        ("smiling", "pulling the lip corners up")),
    "AU14": ActionWords(
        ("show your dimples", "dimple", "tighten the corners of the mouth", "press the mouth corners in",
         "make dimples"),
        ("dimples", "a dimple", "dimpled cheeks", "tight mouth corners"),
        ("dimpling", "showing dimples")),
    "AU15": ActionWords(
        ("let the mouth corners go down", "make an unhappy mouth", "pull the mouth corners down", "turn the corners of the mouth down", "frown",
         "turn the lips down", "lower the lip corners", "make a downturned mouth"),
        ("down-turned lips", "an unhappy mouth", "a downturned mouth", "a frown", "down-turned lip corners", "lowered mouth corners",
         "a sad mouth"),
        ("frowning", "pulling the mouth corners down")),
    "AU17": ActionWords(
        ("push the lower lip up", "raise the chin boss", "push your chin up", "tense the chin",
         "press the chin up"),
        ("a chin raise", "a raised chin boss", "a wrinkled chin", "a pushed up lower lip"),
        ("pushing the lower lip up", "raising the chin boss")),
    "AU18": ActionWords(
        ("make an o shape with the lips", "push the lips out", "pucker your lips", "purse the lips", "pucker up", "push the lips forward", "round your lips",
         "make a pucker"),
        ("lips in an o shape", "pouting lips pushed out", "puckered lips", "a pucker", "pursed lips", "rounded lips pushed forward"),
        ("puckering the lips", "pursing the lips")),
    "AU20": ActionWords(
        ("stretch your lips", "pull the lips sideways", "stretch the mouth wide sideways",
         "pull the lip corners sideways", "stretch the lips horizontally"),
        ("stretched lips", "a lip stretch", "lips pulled sideways", "a stretched mouth"),
        ("stretching the lips", "pulling the lips sideways")),
    "AU24": ActionWords(
        ("keep the mouth shut tight", "press the mouth closed", "press your lips together", "press the lips together", "tighten your lips", "squeeze the lips together",
         "compress your lips", "keep the lips pressed"),
        ("lips pressed shut", "pressed lips", "a lip press", "tight lips", "lips pressed together", "compressed lips"),
        ("pressing the lips together", "tightening the lips")),
    "AU26": ActionWords(
        ("let the mouth fall open", "hang the mouth open", "open your mouth", "drop the jaw", "let the jaw drop", "open the mouth wide", "drop your jaw",
         "lower the jaw"),
        ("a wide open mouth", "an open-mouthed look", "an open mouth", "a jaw drop", "a dropped jaw", "mouth open", "jaw open", "an open jaw"),
        ("opening the mouth", "dropping the jaw")),
    "AU45": ActionWords(
        ("close your eyes quickly", "eyelids close and open", "blink", "blink your eyes", "close the eyes briefly", "do a blink", "shut the eyes for an instant",
         "close and open the eyes quickly"),
        ("a quick eye closure", "a blink", "blinks", "an eye blink", "a quick blink", "eyeblinks"),
        ("blinking", "closing the eyes briefly")),
    "GAZE_L": ActionWords(
        ("move your gaze to the left", "direct the eyes left", "look left", "look to the left", "glance left", "turn your eyes to the left", "look towards the left",
         "move the eyes left", "eyes to the left"),
        ("a gaze to the left", "eyes moving left", "a look to the left", "a glance left", "eyes left", "leftward gaze", "a left glance"),
        ("looking left", "glancing to the left")),
    "GAZE_R": ActionWords(
        ("move your gaze to the right", "direct the eyes right", "look right", "look to the right", "glance right", "turn your eyes to the right", "look towards the right",
         "move the eyes right", "eyes to the right"),
        ("a gaze to the right", "eyes moving right", "a look to the right", "a glance right", "eyes right", "rightward gaze", "a right glance"),
        ("looking right", "glancing to the right")),
    "GAZE_U": ActionWords(
        ("move your gaze up", "look up at the sky", "look up", "look upward", "glance up", "raise the eyes", "look towards the sky", "turn the eyes up",
         "roll the eyes up"),
        ("a gaze upward", "eyes turned up", "an upward glance", "eyes up", "an upward gaze", "a look up"),
        ("looking up", "glancing upward")),
    "GAZE_D": ActionWords(
        ("move your gaze down", "look down at the floor", "look down", "look downward", "glance down", "lower your eyes", "look at the floor", "turn the eyes down",
         "look at your feet"),
        ("a gaze downward", "eyes turned down", "a downward glance", "eyes down", "a downward gaze", "a look down", "lowered eyes"),
        ("looking down", "glancing downward")),
}

# "frown" is both a brow lowerer and a lip-corner depressor in ordinary English: multi-label.
MULTI_LABEL: dict[str, tuple[str, ...]] = {"frown": ("AU4", "AU15"), "a frown": ("AU4", "AU15"),
                                          "frowning": ("AU4", "AU15")}

EMOTION_WORDS: dict[str, tuple[str, ...]] = {
    "neutral": ("neutral", "calm", "expressionless", "relaxed"),
    "happy": ("happy", "joyful", "cheerful", "glad", "pleased"),
    "sad": ("sad", "unhappy", "sorrowful", "miserable", "upset"),
    "angry": ("angry", "mad", "annoyed", "irritated", "enraged"),
    "fear": ("afraid", "scared", "frightened", "fearful", "nervous"),
    "disgust": ("disgusted", "revolted", "repulsed", "sickened"),
    "surprise": ("surprised", "shocked", "amazed", "startled"),
    "contempt": ("contemptuous", "disdainful", "dismissive", "condescending"),
}
EMOTION_ADVERBS: dict[str, tuple[str, ...]] = {
    "happy": ("happily", "cheerfully", "joyfully"), "sad": ("sadly", "sorrowfully"),
    "angry": ("angrily", "irritably"), "fear": ("fearfully", "nervously"),
    "disgust": ("with disgust",), "surprise": ("in surprise", "with surprise"),
    "contempt": ("contemptuously", "with disdain"), "neutral": ("calmly", "neutrally"),
}

INTENSITY_WORDS = ("", "", "", "slightly", "a little", "a bit", "very", "really", "strongly", "gently",
                   "extremely", "subtly", "a lot")
NEGATIONS_IMP = ("don't {}", "do not {}", "never {}", "please don't {}", "you should not {}", "no need to {}")
NEGATIONS_GER = ("no {}", "stop {}", "avoid {}", "without {}", "no more {}", "quit {}")
NEGATIONS_NOUN = ("no {}", "without {}", "not {}", "never {}", "avoid {}")
CARRIERS_IMP = ("{}", "{}", "please {}", "{} please", "make her {}", "have him {}", "the character should {}",
                "I want her to {}", "let the character {}", "he should {}", "she needs to {}", "can you {}",
                "try to {}", "{} now", "now {}")
CARRIERS_NOUN = ("{}", "add {}", "give me {}", "with {}", "I want {}", "put {} here", "{} please",
                 "make {}", "insert {}", "some {}")
CARRIERS_GER = ("{}", "keep {}", "start {}", "she is {}", "he keeps {}", "{} a bit")
DISTRACTORS = (
    "hello there", "say the line clearly", "speak slowly", "the clip is five seconds long", "nothing special",
    "use the default settings", "render the animation", "make it look good", "do whatever you think",
    "thank you", "the audio starts late", "keep the head still", "talk normally", "just speak", "ok",
    "the quick brown fox", "read the script", "good morning everyone", "export to blender", "make it faster",
    "this is a test", "lip sync only", "no changes", "nothing", "default", "whatever", "asdf qwerty",
    "increase the volume", "the character is a robot", "use a deep voice", "it is raining outside",
    "save the file", "I like pizza", "the camera moves", "turn the head", "nod your head", "shake the head",
    "breathe", "move your hands", "walk forward", "wave your hand", "sit down", "the end",
    "we are done", "generate again", "another take", "keep it natural", "same as before",
)


def _label(phrase: str, action: str) -> tuple[str, ...]:
    return MULTI_LABEL.get(phrase, (action,))


def generate_examples(seed: int = 0) -> list[tuple[str, set[str], str | None, bool]]:
    """``(text, action ids, emotion or None, negated)`` rows for training the head."""
    rng = random.Random(seed)
    rows: list[tuple[str, set[str], str | None, bool]] = []

    def add(text: str, actions: set[str], emotion: str | None = None, negated: bool = False) -> None:
        rows.append((" ".join(text.split()), actions, emotion, negated))

    for action, words in ACTION_WORDS.items():
        for imp in words.imperatives:
            labels = set(_label(imp, action))
            for carrier in CARRIERS_IMP:
                add(carrier.format(imp), labels)
            for _ in range(4):
                w = rng.choice(INTENSITY_WORDS)
                add(f"{imp} {w}" if rng.random() < 0.5 else f"{w} {imp}", labels)
            for neg in NEGATIONS_IMP:
                add(neg.format(imp), set(), negated=True)
        for noun in words.nouns:
            labels = set(_label(noun, action))
            for carrier in CARRIERS_NOUN:
                add(carrier.format(noun), labels)
            for neg in NEGATIONS_NOUN:
                add(neg.format(noun.removeprefix("a ").removeprefix("an ")), set(), negated=True)
        for ger in words.gerunds:
            labels = set(_label(ger, action))
            for carrier in CARRIERS_GER:
                add(carrier.format(ger), labels)
            for neg in NEGATIONS_GER:
                add(neg.format(ger), set(), negated=True)

    # Combinations, in case clause splitting leaves two actions in one clause.
    ids = list(ACTION_WORDS)
    for _ in range(900):
        a, b = rng.sample(ids, 2)
        pa = rng.choice(ACTION_WORDS[a].imperatives)
        pb = rng.choice(ACTION_WORDS[b].imperatives + ACTION_WORDS[b].nouns)
        joiner = rng.choice((" and ", " while you ", " with ", " plus ", " as you "))
        if joiner in (" while you ", " as you "):
            pb = rng.choice(ACTION_WORDS[b].imperatives)
        add(pa + joiner + pb, set(_label(pa, a)) | set(_label(pb, b)))
    # Action + negated action in one clause: the positive one stays.
    for _ in range(250):
        a, b = rng.sample(ids, 2)
        pa = rng.choice(ACTION_WORDS[a].imperatives)
        gb = rng.choice(ACTION_WORDS[b].gerunds)
        add(f"{pa} without {gb}", set(_label(pa, a)))

    for emo in EMOTIONS:
        adjs = EMOTION_WORDS[emo]
        for adj in adjs:
            for carrier in ("look {}", "be {}", "{}", "a {} face", "seem {}", "act {}", "she looks {}",
                            "feel {}", "make her {}", "{} expression", "very {}", "a bit {}", "sound {}",
                            "get {}", "become {}"):
                add(carrier.format(adj), set(), emo)
            add(f"don't look {adj}", set(), None, True)
            add(f"not {adj}", set(), None, True)
        for adv in EMOTION_ADVERBS.get(emo, ()):
            for carrier in ("{}", "speak {}", "say it {}", "talk {}", "react {}"):
                add(carrier.format(adv), set(), emo)
        for noun in ({"happy": "joy", "sad": "sadness", "angry": "anger", "fear": "fear", "disgust": "disgust",
                      "surprise": "surprise", "contempt": "contempt", "neutral": "no emotion"}[emo],):
            for carrier in ("with {}", "full of {}", "show {}", "express {}"):
                add(carrier.format(noun), set(), emo if noun != "no emotion" else "neutral")
    # An action said with an emotion keeps the action; the emotion head learns the adjective.
    for _ in range(300):
        a = rng.choice(ids)
        emo = rng.choice(EMOTIONS[1:])
        pa = rng.choice(ACTION_WORDS[a].imperatives)
        add(f"{pa} {rng.choice(EMOTION_ADVERBS[emo])}", set(_label(pa, a)), emo)

    for d in DISTRACTORS:
        for carrier in ("{}", "please {}", "{} please", "{} now"):
            add(carrier.format(d), set())
    rng.shuffle(rows)
    return rows
