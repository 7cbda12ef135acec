"""A built-in English text source: thousands of distinct, varied sentences.

No text corpus can be downloaded here (nltk data, Common Voice...), and the small PyPI
sentence packages are quotes of one register. So the sentences come from a grammar with a
large vocabulary: statements, questions, exclamations, commands, conditionals, reported
speech, lists, numbers and times, in several registers (everyday talk, instructions, news,
narration). Variety matters more than literary quality for lip sync: the goal is coverage
of English phone sequences (every ARPAbet phone in many contexts) and of prosody (commas,
question intonation, long and short sentences).

The shipped list (``sentences.txt.gz``, one sentence per line) is made by
``python -m cafetalk_core.data.sentences`` and is deterministic; ``load_sentences()`` reads it,
falling back to generating in memory if the file is missing.
"""
from __future__ import annotations

import gzip
import hashlib
import random
from functools import lru_cache
from pathlib import Path

DATA_FILE = Path(__file__).with_name("sentences.txt.gz")
DEFAULT_COUNT = 24000

NAMES = ("Anna", "Ben", "Carla", "David", "Emma", "Frank", "Grace", "Hugo", "Iris", "Jack",
         "Karen", "Leo", "Maya", "Nick", "Olivia", "Peter", "Quinn", "Rosa", "Sam", "Tara",
         "Victor", "Wendy", "Yusuf", "Zoe", "Martha", "Bob", "Priya", "Mohammed", "Chloe", "Tom",
         "Beth", "Oscar", "Ivan", "Julia", "Kevin", "Lucy", "Marcus", "Nora", "Paul", "Ruth",
         "my brother", "my sister", "the doctor", "the teacher", "our neighbour", "the captain",
         "the manager", "my grandmother", "the pilot", "the baker", "your father", "her mother")
NOUNS = ("apple", "bottle", "bridge", "book", "cabin", "camera", "candle", "car", "chair", "clock",
         "cloud", "coat", "coffee", "cookie", "desk", "dog", "door", "dragon", "drum", "engine",
         "feather", "field", "fish", "flower", "forest", "garden", "guitar", "hammer", "hat", "horse",
         "island", "jacket", "key", "kettle", "kitchen", "ladder", "lamp", "letter", "map", "market",
         "mirror", "mountain", "museum", "needle", "notebook", "ocean", "orange", "package", "painting",
         "pencil", "piano", "pillow", "planet", "pocket", "puzzle", "rabbit", "radio", "river", "robot",
         "rocket", "sandwich", "scarf", "school", "ship", "shoe", "silver spoon", "song", "station",
         "storm", "street", "suitcase", "table", "ticket", "tower", "train", "tree", "umbrella",
         "valley", "village", "violin", "wallet", "watch", "window", "wolf", "bicycle", "blanket",
         "budget", "castle", "cheese", "chimney", "compass", "costume", "cupboard", "envelope",
         "fountain", "harbour", "helmet", "journey", "lantern", "meadow", "moth", "pebble", "pumpkin",
         "quilt", "recipe", "saddle", "shovel", "thumb", "toothbrush", "tunnel", "vase", "whistle",
         "bus", "boat", "bread", "photo", "plum", "box", "bench", "beach", "moon", "mop", "map")
ADJECTIVES = ("old", "new", "big", "small", "bright", "dark", "quiet", "noisy", "heavy", "light",
              "shiny", "broken", "empty", "warm", "cold", "strange", "beautiful", "tiny", "huge",
              "yellow", "purple", "green", "blue", "red", "wooden", "plastic", "smooth", "rough",
              "famous", "secret", "ancient", "modern", "muddy", "frozen", "golden", "brave",
              "clumsy", "careful", "hungry", "sleepy", "cheerful", "gloomy", "crooked", "polished",
              "expensive", "cheap", "soft", "sharp", "thick", "thin", "fresh", "stale", "lovely")
VERBS_PAST = ("bought", "found", "lost", "painted", "fixed", "opened", "closed", "carried", "dropped",
              "borrowed", "moved", "washed", "sold", "built", "broke", "cleaned", "hid", "threw",
              "caught", "pushed", "pulled", "wrapped", "measured", "forgot", "remembered", "packed",
              "noticed", "visited", "watched", "followed", "ordered", "photographed", "polished",
              "repaired", "delivered", "described", "examined", "explored", "shared", "weighed")
VERBS_BASE = ("buy", "find", "lose", "paint", "fix", "open", "close", "carry", "drop", "borrow",
              "move", "wash", "sell", "build", "clean", "hide", "throw", "catch", "push", "pull",
              "wrap", "measure", "pack", "notice", "visit", "watch", "follow", "order", "repair",
              "deliver", "describe", "examine", "explore", "share", "weigh", "bring", "check", "keep")
INTRANSITIVE = ("laughed", "waited", "smiled", "shouted", "whispered", "slept", "arrived", "left",
                "danced", "sang", "cried", "jumped", "paused", "froze", "shivered", "stumbled",
                "disappeared", "agreed", "complained", "hurried", "wandered", "listened", "sighed")
ADVERBS = ("quickly", "slowly", "carefully", "suddenly", "quietly", "happily", "badly", "gently",
           "loudly", "early", "late", "twice", "again", "finally", "almost", "barely", "proudly",
           "nervously", "calmly", "eagerly", "politely", "secretly", "honestly", "easily")
PLACES = ("in the kitchen", "at the station", "near the river", "behind the house", "on the roof",
          "under the bridge", "in the garden", "at the market", "by the window", "in the car",
          "at school", "at the office", "in the park", "on the beach", "in the forest",
          "at the museum", "in the basement", "upstairs", "across the street", "at the airport",
          "in Boston", "in Paris", "in Tokyo", "in the village", "on the boat", "at the hospital",
          "behind the barn", "in the library", "at the bus stop", "on the mountain")
TIMES = ("yesterday", "this morning", "last night", "on Monday", "on Tuesday", "on Wednesday",
         "on Thursday", "on Friday", "at the weekend", "in July", "in December", "before lunch",
         "after dinner", "at midnight", "at dawn", "every morning", "last summer", "next week",
         "an hour ago", "at half past seven", "at noon", "tomorrow", "in the spring", "at nine")
FEELINGS = ("happy", "tired", "worried", "excited", "surprised", "angry", "bored", "proud",
            "nervous", "relieved", "confused", "lonely", "grateful", "afraid", "jealous", "calm")
NUMBERS = ("two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
           "twelve", "fifteen", "twenty", "thirty", "forty", "fifty", "a hundred", "a dozen")
CONNECT = ("but", "and", "so", "because", "although", "while", "until", "since", "before", "after")
OPENERS = ("Well,", "Honestly,", "Look,", "Listen,", "Of course,", "Actually,", "Oh,", "Luckily,",
           "Sadly,", "Meanwhile,", "In fact,", "By the way,", "To be fair,", "Right,", "Okay,")
WEATHER = ("raining", "snowing", "freezing", "sunny", "windy", "foggy", "boiling hot", "cloudy")


def _np(r: random.Random, plural: bool = False) -> str:
    noun = r.choice(NOUNS)
    if plural:
        noun = noun + ("es" if noun.endswith(("s", "sh", "ch", "x")) else "s")
        return f"{r.choice(NUMBERS)} {r.choice(ADJECTIVES)} {noun}" if r.random() < 0.5 else f"the {noun}"
    det = r.choice(("the", "a", "my", "your", "our", "their", "this", "that"))
    adj = r.choice(ADJECTIVES) + " " if r.random() < 0.6 else ""
    if det == "a" and (adj or noun)[0] in "aeiou":
        det = "an"
    return f"{det} {adj}{noun}"


def _clause(r: random.Random) -> str:
    who = r.choice(NAMES)
    k = r.randrange(5)
    if k == 0:
        return f"{who} {r.choice(VERBS_PAST)} {_np(r, r.random() < 0.3)} {r.choice(PLACES)}"
    if k == 1:
        return f"{who} {r.choice(INTRANSITIVE)} {r.choice(ADVERBS)}"
    if k == 2:
        return f"{who} {r.choice(VERBS_PAST)} {_np(r)} {r.choice(TIMES)}"
    if k == 3:
        return f"{who} felt {r.choice(FEELINGS)} {r.choice(TIMES)}"
    return f"{who} {r.choice(ADVERBS)} {r.choice(VERBS_PAST)} {_np(r)}"


def _cap(s: str) -> str:
    return s[0].upper() + s[1:]


def make_sentence(r: random.Random) -> str:
    """One sentence from one of many frames (statement, question, command...)."""
    k = r.randrange(16)
    if k <= 2:
        s = _cap(_clause(r)) + "."
    elif k == 3:
        s = f"{_cap(_clause(r))}, {r.choice(CONNECT)} {_clause(r)}."
    elif k == 4:
        s = f"Did {r.choice(NAMES)} really {r.choice(VERBS_BASE)} {_np(r)} {r.choice(TIMES)}?"
    elif k == 5:
        s = f"{r.choice(('Where', 'When', 'Why', 'How'))} did {r.choice(NAMES)} {r.choice(VERBS_BASE)} {_np(r)}?"
    elif k == 6:
        s = f"Please {r.choice(VERBS_BASE)} {_np(r)} {r.choice(PLACES)}{r.choice(('.', ', thank you.', ' before ' + r.choice(NAMES) + ' gets back.'))}"
    elif k == 7:
        s = f"If it is {r.choice(WEATHER)} {r.choice(TIMES)}, we will {r.choice(VERBS_BASE)} {_np(r)} {r.choice(PLACES)}."
    elif k == 8:
        s = f"{r.choice(NAMES).capitalize()} said that {_clause(r)}."
    elif k == 9:
        s = f"What a {r.choice(ADJECTIVES)} {r.choice(NOUNS)} that was!"
    elif k == 10:
        s = f"{r.choice(OPENERS)} {_clause(r)}."
    elif k == 11:
        a, b, c = r.sample(NOUNS, 3)
        s = f"We need {a}, {b}{r.choice(('', 's'))} and {r.choice(ADJECTIVES)} {c}{r.choice(('', 's'))} for the trip."
    elif k == 12:
        s = f"The {r.choice(NOUNS)} costs {r.choice(NUMBERS)} dollars and {r.choice(NUMBERS)} cents."
    elif k == 13:
        s = f"I can't believe {_clause(r)}!"
    elif k == 14:
        s = f"Have you ever seen {_np(r)} {r.choice(PLACES)}?"
    else:
        s = f"It was {r.choice(WEATHER)} {r.choice(TIMES)}, so {_clause(r)}."
    s = _cap(s.replace("  ", " "))
    return s


def generate_sentences(count: int = DEFAULT_COUNT, seed: int = 1234) -> list[str]:
    """``count`` distinct sentences, deterministic under ``seed``."""
    r = random.Random(seed)
    seen: dict[str, None] = {}
    tries = 0
    while len(seen) < count:
        tries += 1
        if tries > count * 50:
            raise RuntimeError(f"grammar too small for {count} distinct sentences")
        seen.setdefault(make_sentence(r), None)
    return list(seen)


@lru_cache(maxsize=1)
def load_sentences() -> tuple[str, ...]:
    """The shipped sentences (or, if the data file is missing, the same list generated)."""
    if DATA_FILE.exists():
        with gzip.open(DATA_FILE, "rt", encoding="utf-8") as fh:
            lines = tuple(line.strip() for line in fh if line.strip())
        if lines:
            return lines
    return tuple(generate_sentences())


def sentence_hash(text: str) -> float:
    """A stable number in [0, 1) from the sentence text (used for the train/val/test split)."""
    return int(hashlib.sha1(text.encode("utf-8")).hexdigest()[:8], 16) / 2**32


def main() -> None:
    sentences = generate_sentences()
    with gzip.open(DATA_FILE, "wt", encoding="utf-8", compresslevel=9) as fh:
        fh.write("\n".join(sentences) + "\n")
    print(f"wrote {len(sentences)} sentences to {DATA_FILE}")


if __name__ == "__main__":
    main()
