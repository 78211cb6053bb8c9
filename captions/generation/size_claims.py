"""The words of a caption that give a class a size. Plain Python, no Django.

`size_claims` finds them ("a large portion", "about half", "12%", "mostly", "water
dominates") as `SizeClaim`s: where they are, the share in percent they claim and
where their class is named. The phrases are the shared vocabulary's
(captions/generation/vocabulary.py); size_checks.py judges the claims against the
statistics.
"""

import re
from collections.abc import Iterable
from typing import NamedTuple

from captions.generation.lexicon import Word, scan
from captions.generation.vocabulary import (
    ALL_WORDS,
    DOMINANCE_AFTER,
    DOMINANCE_BEFORE,
    DOMINANT_WORDS,
    FRACTION_PERCENTS,
    NEARLY_ALL_BAND,
    NEARLY_ALL_WORDS,
    SHARE_HEDGES,
    SHARE_PHRASES,
    SIZE_BANDS,
    SIZE_LEVEL_OF_WORD,
    SIZE_NOUNS_READ,
)


class SizeClaim(NamedTuple):
    """Words of a caption that give a class a size.

    `low`..`high` is the share they claim, in percent (both included). `reads` says
    where its class is named: "share" (a share of an area: "a large part of water",
    "water covers most of the image", "half of the top left is crop"), "whole" (the
    class follows: "is entirely forest"), "dominant_next" ("mostly forest",
    "dominated by water"), "dominant_previous" ("water dominates", "forest is the
    main class") or "dominant_subject" ("the main land cover (of the image) is
    forest"); the dominance claims claim no band.
    """

    start: int
    end: int
    low: int
    high: int
    reads: str


_SEP = r"[\s-]+"


def _alternation(phrases: Iterable[str]) -> str:
    """A regex alternation of phrases, longest first; a space matches "-" too."""
    ordered = sorted(phrases, key=len, reverse=True)
    return "|".join(_SEP.join(map(re.escape, phrase.split())) for phrase in ordered)


def _phrase_pattern(phrase: str) -> str:
    """A share phrase; one that ends in "of" ("most of") needs the "of" after it."""
    if phrase.endswith(" of"):  # or ending a clause: "water covers most."
        return _alternation([phrase.removesuffix(" of")]) + (
            r"(?=\s+of\b|\s*[,.;!?]|\s+(?:and|while|but)\b)"
        )
    return _alternation([phrase])


_PHRASE_BAND = {
    re.sub(r"\s+of$", "", phrase): band for phrase, band in SHARE_PHRASES.items()
}
_AMOUNT = (
    rf"(?:(?P<fraction>{_alternation(FRACTION_PERCENTS)})\b"
    r"|(?P<number>\d{1,3}(?:\.\d+)?)\s*(?:%|per\s*cent\b))"
)


def _claim_pattern(first: str | None) -> re.Pattern[str]:
    """The size claims that start with the word `first` (a number if None): one
    pattern a first word, so that a word is tried against its own claims only."""

    def starting(phrases: Iterable[str]) -> list[str]:
        return [phrase for phrase in phrases if phrase.split()[0] == first]

    if first is None:
        return re.compile(_AMOUNT, re.IGNORECASE)
    parts = []
    if levels := starting(SIZE_LEVEL_OF_WORD):
        parts.append(
            rf"(?P<level>{_alternation(levels)})\s+"
            rf"(?:{_alternation(SIZE_NOUNS_READ)})\b"
        )
    if nearly := starting(NEARLY_ALL_WORDS):
        parts.append(
            rf"(?P<nearly>(?:{_alternation(nearly)})\s+(?:all|the{_SEP}entire"
            rf"|the{_SEP}whole|{_alternation(ALL_WORDS)}))\b"
        )
    if phrases := starting(SHARE_PHRASES):
        parts.append(rf"(?P<phrase>{'|'.join(map(_phrase_pattern, phrases))})\b")
    if whole := starting(ALL_WORDS):
        parts.append(rf"(?P<all>{_alternation(whole)})\b")
    hedges = starting(SHARE_HEDGES)
    if hedges or starting(FRACTION_PERCENTS):
        hedge = _alternation(hedges) if hedges else "(?!)"
        parts.append(rf"(?:(?P<hedge>{hedge})\s+)?{_AMOUNT}")
    if dominated := starting(DOMINANCE_BEFORE):
        parts.append(rf"(?P<dominant_next>{_alternation(dominated)})\b")
    if dominates := starting(DOMINANCE_AFTER):
        parts.append(rf"(?P<dominates>{_alternation(dominates)})\b")
    if first in ("is", "are"):
        parts.append(rf"{first}\s+the\s+(?P<dominant>{_alternation(DOMINANT_WORDS)})\b")
    if first == "the":
        parts.append(
            rf"the\s+(?P<dominant_subject>{_alternation(DOMINANT_WORDS)})\s+"
            r"(?:land[\s-]+cover(?:\s+(?:class|type))?|class|cover|type|category)\b"
        )
    return re.compile(rf"\b(?:{'|'.join(parts)})", re.IGNORECASE)


# "the upper half", "this third": a fraction that names a part, not a share.
_PART_BEFORE_FRACTION_TEXT = """
    the this that its upper lower left right top bottom northern southern eastern
    western north south east west other first second each every
"""
_PART_BEFORE_FRACTION = frozenset(_PART_BEFORE_FRACTION_TEXT.split())
# "is entirely forest", "entirely covered by": "entirely" as a share of a class.
_BEFORE_ALL = frozenset(
    ["is", "are", "be", "been", "consists", "consist", "consisting"]
)
_AFTER_ALL = frozenset(["covered", "made", "composed", "filled", "occupied", "taken"])
_WORD_BEFORE_RE = re.compile(r"([^\W\d_]+)\W*$")
_WORD_AFTER_RE = re.compile(r"\W*([^\W\d_]+)")


def _normal(words: str) -> str:
    return re.sub(_SEP, " ", words.lower())


# The first word of every claim, with the pattern of the claims it starts:
# `size_claims` tries those at these words (and numbers) only, which is several times
# quicker than one pattern searched through the whole text.
_CLAIM_PHRASES = [
    phrase.split()
    for phrases in (
        SIZE_LEVEL_OF_WORD,
        NEARLY_ALL_WORDS,
        _PHRASE_BAND,  # without the "of" that "most of" needs, or a full stop
        ALL_WORDS,
        SHARE_HEDGES,
        FRACTION_PERCENTS,
        DOMINANCE_BEFORE,
        DOMINANCE_AFTER,
        ("is the", "are the"),
        (f"the {word}" for word in DOMINANT_WORDS),
    )
    for phrase in phrases
]
_CLAIMS_STARTING: dict[str | None, re.Pattern[str]] = {
    first: _claim_pattern(first)
    for first in {*(words[0] for words in _CLAIM_PHRASES), None}
}
# The words that may follow a first word that starts no one-word claim ("the"
# starts only "the majority", "the bulk"…): a cheap test before the pattern's.
_SECOND_WORDS: dict[str, frozenset[str]] = {
    first: frozenset(words[1] for words in _CLAIM_PHRASES if words[0] == first)
    for first in _CLAIMS_STARTING
    if first is not None
    and all(len(words) > 1 for words in _CLAIM_PHRASES if words[0] == first)
}
_NUMBER_RE = re.compile(r"(?<![\w.,])\d")


def size_claims(text: str, words: list[Word] | None = None) -> list[SizeClaim]:
    """Every size a caption gives, in text order (`SizeClaim`); `words` are the
    caption's from `scan`, if at hand."""
    if words is None:
        words = scan(text)[0]
    starts: list[tuple[int, str | None]] = [
        (start, word)
        for index, (word, start, _) in enumerate(words)
        if word in _CLAIMS_STARTING
        and (
            word not in _SECOND_WORDS
            or (index + 1 < len(words) and words[index + 1][0] in _SECOND_WORDS[word])
        )
    ]
    numbers = [(match.start(), None) for match in _NUMBER_RE.finditer(text)]
    if numbers:
        starts = sorted([*starts, *numbers], key=lambda start: start[0])
    claims: list[SizeClaim] = []
    end = 0
    for start, first in starts:
        if start < end:
            continue
        match = _CLAIMS_STARTING[first].match(text, start)
        if match is None:
            continue
        end = match.end()
        claim = _claim(text, match)
        if claim is not None:
            claims.append(claim)
    return claims


def _claim(text: str, match: re.Match) -> SizeClaim | None:
    start, end = match.start(), match.end()
    said: dict[str, str] = {k: v for k, v in match.groupdict().items() if v}
    if "level" in said:
        level = SIZE_LEVEL_OF_WORD[_normal(said["level"])]
        return SizeClaim(start, end, *SIZE_BANDS[level], "share")
    if "nearly" in said:
        whole = _normal(said["nearly"]).split()[-1] in ALL_WORDS
        return SizeClaim(start, end, *NEARLY_ALL_BAND, "whole" if whole else "share")
    if "phrase" in said:
        return SizeClaim(start, end, *_PHRASE_BAND[_normal(said["phrase"])], "share")
    if "all" in said:
        before, after = _word_before(text, start), _word_after(text, end)
        if before in _BEFORE_ALL or after in _AFTER_ALL:
            return SizeClaim(start, end, 100, 100, "whole")
        return None
    if "fraction" in said or "number" in said:
        return _amount_claim(text, match)
    for group in ("dominant_next", "dominant_subject"):
        if group in said:
            return SizeClaim(start, end, 0, 100, group)
    return SizeClaim(start, end, 0, 100, "dominant_previous")


def _amount_claim(text: str, match: re.Match) -> SizeClaim | None:
    """A fraction ("about half") or a percentage ("12%") and what a hedge before it
    does to it ("more than half" is 50-100%)."""
    groups = match.groupdict()
    hedge, fraction = groups.get("hedge"), groups.get("fraction")
    if fraction:
        value, slack = FRACTION_PERCENTS[_normal(fraction)], 3
        if hedge is None and _word_before(text, match.start()) in (
            _PART_BEFORE_FRACTION
        ):
            return None
    else:
        value, slack = round(float(match.group("number"))), 1
    kind = SHARE_HEDGES[_normal(hedge)] if hedge else "exactly"
    low, high = {
        "exactly": (value - slack, value + slack),
        "around": (value - 3, value + 3),
        "under": (value - 5, value),
        "over": (value, value + 5),
        "above": (value, 100),
        "below": (0, value),
    }[kind]
    return SizeClaim(match.start(), match.end(), max(low, 0), min(high, 100), "share")


def _word_before(text: str, position: int) -> str:
    found = _WORD_BEFORE_RE.search(text, max(0, position - 40), position)
    return found.group(1).lower() if found else ""


def _word_after(text: str, position: int) -> str:
    found = _WORD_AFTER_RE.match(text, position)
    return found.group(1).lower() if found else ""
