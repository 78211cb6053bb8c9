"""A caption's words as the checks read them. Plain Python, no Django.

`scan` splits a caption into words and finds, in one pass, those that name a class,
a region, a colour or a forbidden word, each as the shared vocabulary
(captions/generation/vocabulary.py) lists them; `class_mentions` turns the class hits
into the spans a caption names a class with. The words that give a class a size are
found by size_claims.py.
"""

import re
from typing import NamedTuple, cast

from captions.generation.vocabulary import (
    CLASS_WORDS,
    COLOUR_WORDS,
    FORBIDDEN_FORMS,
    REGION_WORDS,
)

_CROP = 40


def _normalised(entries: dict[str, object]) -> dict:
    """Keys in lower case with one space between words (matching space or hyphen)."""
    return {
        re.sub(r"[\s-]+", " ", key.lower()): value for key, value in entries.items()
    }


_FORBIDDEN_BASE: dict[str, str] = _normalised(
    {
        **{form: base for base, forms in FORBIDDEN_FORMS.items() for form in forms},
        **{
            f"{colour} {dictionary}": "color dictionary"
            for colour in ("color", "colour")
            for dictionary in ("dictionary", "dictionaries")
        },
    }
)
_COLOURS: dict[str, str] = _normalised({word: word for word in COLOUR_WORDS})
CLASS_OF_WORD: dict[str, int] = _normalised(
    {word: code for code, words in CLASS_WORDS.items() for word in words}
)

# A word of a caption: (lower case, start, end). A plain tuple: captions are checked
# by the thousand and a NamedTuple per word doubles the time of the whole check.
Word = tuple[str, int, int]
# What a word or two-word phrase is: (kind, value, first word index, last + 1), kind
# one of "region", "forbidden", "colour", "class".
Hit = tuple[str, object, int, int]


class Mention(NamedTuple):
    """Words of a caption that name a class."""

    code: int
    start: int
    end: int
    words: str


_WORD_TOKEN_RE = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
# Every word or two-word phrase the checks look for, with what it is.
_LEXICON: dict[str, tuple[str, object]] = {
    **{phrase: ("region", region) for phrase, region in REGION_WORDS.items()},
    **{phrase: ("forbidden", base) for phrase, base in _FORBIDDEN_BASE.items()},
    **{phrase: ("colour", phrase) for phrase in _COLOURS},
    **{phrase: ("class", code) for phrase, code in CLASS_OF_WORD.items()},
}
_PAIR_STARTS = frozenset(phrase.split()[0] for phrase in _LEXICON if " " in phrase)


def scan(text: str) -> tuple[list[Word], list[Hit]]:
    """The words of `text` and its lexicon hits: (kind, value, first word index,
    last word index + 1); a two-word phrase wins over its first word alone."""
    lowered = text.lower()
    if len(lowered) != len(text):  # a few characters lengthen in lower case
        lowered = "".join(c.lower()[0] for c in text)
    words = [
        (match.group(), match.start(), match.end())
        for match in _WORD_TOKEN_RE.finditer(lowered)
    ]
    hits: list[Hit] = []
    index, count = 0, len(words)
    while index < count:
        word, _, word_end = words[index]
        if word in _PAIR_STARTS and index + 1 < count:
            following, following_start, _ = words[index + 1]
            pair = _LEXICON.get(f"{word} {following}")
            if pair and not text[word_end:following_start].strip(" \t\n-"):
                hits.append((*pair, index, index + 2))
                index += 2
                continue
        hit = _LEXICON.get(word)
        if hit is not None:
            hits.append((*hit, index, index + 1))
        index += 1
    return words, hits


def class_mentions(text: str, words: list[Word], hits: list[Hit]) -> list[Mention]:
    """Every naming of a class in `text`, in order.

    Neighbouring words of one class count once ("crop fields", "snow and ice" stay
    two), and "fields" followed by "of [the] <another class>" ("fields of grass")
    names only that other class.
    """
    mentions: list[Mention] = []
    for kind, code, first, last in hits:
        if kind != "class":
            continue
        if code == _CROP and words[first][0] in ("field", "fields"):
            after = [word for word, _, _ in words[last : last + 3]]
            if after[1:2] == ["the"]:
                del after[1]
            if after[:1] == ["of"] and len(after) > 1 and after[1] in CLASS_OF_WORD:
                continue
        start, end = words[first][1], words[last - 1][2]
        previous = mentions[-1] if mentions else None
        if (
            previous is not None
            and previous.code == code
            and not text[previous.end : start].strip(" -")
        ):
            mentions[-1] = previous._replace(end=end, words=text[previous.start : end])
            continue
        mentions.append(Mention(cast(int, code), start, end, text[start:end]))
    return mentions
