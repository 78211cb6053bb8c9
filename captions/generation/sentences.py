"""A caption's sentences and the areas they speak of, as the area checks read them.
Plain Python, no Django.

The placement check (region_checks.py) and the size check (size_checks.py) both
read a caption sentence by sentence (`caption_sentences`) and judge what a sentence
says by the statistics of one area: a region, or the whole image (`WHOLE`).
`AreaReader` holds those statistics and finds the area a sentence, or the words at
a position, speak of. A sentence about exactly one region is judged by it; one that
also points elsewhere (left, north, across, the rest, …) or negates (no, not,
without, …) is not. `misplaced` is the finding both checks report for a class put in
a region that has none of it.
"""

import re
from bisect import bisect_left
from collections.abc import Iterator
from typing import NamedTuple

from captions.generation.lexicon import Hit, Mention, Word
from captions.generation.prompts import mentionable
from captions.generation.size_claims import SizeClaim, size_claims
from captions.generation.vocabulary import (
    REGION_LABELS,
    WHOLE_IMAGE_WORDS,
    exact_shares,
)
from captions.landcover import CLASS_BY_CODE, MIN_PIXELS

# The area key of the whole image (the others are REGION_NAMES).
WHOLE = "whole"
# Words that point beyond one region: a sentence holding one is not judged by a
# single region's statistics.
_ELSEWHERE_WORDS_TEXT = """
    left right top bottom upper lower north south east west northern southern
    eastern western throughout across everywhere elsewhere whole entire overall rest
    remaining other others both all half halves side sides edge edges border borders
    bordering surrounding surrounds surrounded around beyond neighbouring
    neighboring adjacent toward towards between each every regions quadrants image
    scene picture landscape
"""
_ELSEWHERE_WORDS = frozenset(_ELSEWHERE_WORDS_TEXT.split())
# Negations: a sentence holding one is not judged (its statements are inverted).
_NEGATION_WORDS_TEXT = """
    no not none nothing without absent absence lack lacks lacking devoid free
    neither nor never except
"""
_NEGATION_WORDS = frozenset(_NEGATION_WORDS_TEXT.split())
_ELSEWHERE_OR_NEGATED = _ELSEWHERE_WORDS | _NEGATION_WORDS
# Words that put a sentence about the whole image on one part of it.
_PART_WORDS_TEXT = """
    left right top bottom upper lower north south east west northern southern
    eastern western side sides edge edges border borders corner corners rest
    remaining
"""
_PART_WORDS = frozenset(_PART_WORDS_TEXT.split())
_WHOLE_WORDS = frozenset(WHOLE_IMAGE_WORDS)
_SENTENCE_RE = re.compile(r"[^.!?]+(?:[.!?]+|$)")
_WHOLE_AREA_RE = re.compile(
    r"(?:(?:the|this|its)\s+)?(?:(?:whole|entire|full)\s+)?"
    r"(?:mapped\s+(?:area|part\s+of\s+the\s+image)|image|scene|patch|picture|tile"
    r"|map|landscape)\b",
    re.IGNORECASE,
)
_SAME_AREA_RE = re.compile(r"(?:(?:the|this)\s+)?(?:area|region|it)\b", re.IGNORECASE)
_AREA_NOUN = r"(?:corner|quarter|quadrant|part|section|region|area|half)"
_REGION_SUFFIX_RE = re.compile(
    rf"(?:[\s-]+{_AREA_NOUN})?(?:\s+of\s+the\s+(?:image|scene|patch))?",
    re.IGNORECASE,
)
# "the top left and the top right": an area that is not one region.
_MORE_AREAS_RE = re.compile(
    r"\s*(?:,|and|or|as\s+well\s+as)\s+(?:the\s+)?(?:[a-z-]+\s+)?"
    r"(?:left|right|top|bottom|upper|lower|middle|centre|center|half|side)\b",
    re.IGNORECASE,
)
_DETERMINER_RE = re.compile(r"(?:the|this|its)\s+", re.IGNORECASE)
# "the top left and [the top right]": a region listed after another area.
_AREA_LISTED_BEFORE_RE = re.compile(
    r"\b(?:left|right|middle|centre|center|half|side|corner|quarter|region)"
    r"\s*(?:,|and|or)\s+(?:the\s+)?$",
    re.IGNORECASE,
)
_IS_BEFORE_RE = re.compile(
    r"\s+(?:is|are)\s+(?:(?:also|still|then)\s+)?$",
    re.IGNORECASE,
)

# A named region in a caption: (region, start, end).
NamedRegion = tuple[str, int, int]
# A finding: (check, message, the span of the words that say it).
Contradiction = tuple[str, str, tuple[int, int]]


class Sentence(NamedTuple):
    """A sentence of a caption with what it holds, each in text order."""

    start: int
    end: int
    words: list[Word]
    mentions: list[Mention]
    regions: list[NamedRegion]
    claims: list[SizeClaim]


def named_regions(words: list[Word], hits: list[Hit]) -> list[NamedRegion]:
    """The regions a caption names (its lexicon hits of kind "region")."""
    return [
        (str(region), words[first][1], words[last - 1][2])
        for kind, region, first, last in hits
        if kind == "region"
    ]


def caption_sentences(
    text: str,
    words: list[Word],
    mentions: list[Mention],
    regions: list[NamedRegion],
) -> Iterator[Sentence]:
    """Each sentence that names a class, with its words, class mentions, region
    names and size claims; one walk over the lists, which are in text order."""
    claims = size_claims(text, words)
    starts = {
        "word": [start for _, start, _ in words],
        "mention": [mention.start for mention in mentions],
        "region": [start for _, start, _ in regions],
        "claim": [claim.start for claim in claims],
    }
    first = dict.fromkeys(starts, 0)
    for sentence in _SENTENCE_RE.finditer(text):
        last = {
            name: bisect_left(positions, sentence.end(), first[name])
            for name, positions in starts.items()
        }
        if last["mention"] > first["mention"]:
            yield Sentence(
                sentence.start(),
                sentence.end(),
                words[first["word"] : last["word"]],
                mentions[first["mention"] : last["mention"]],
                regions[first["region"] : last["region"]],
                claims[first["claim"] : last["claim"]],
            )
        first = last


def negated(sentence: Sentence) -> bool:
    """Whether a sentence holds a negation (no, not, without, isn't, …)."""
    return any(
        word in _NEGATION_WORDS or (word[-1] == "t" and word.endswith(("n't", "n’t")))
        for word, _, _ in sentence.words
    )


def _single_region(text: str, sentence: Sentence) -> str | None:
    """The one region a sentence is about, or None if it names none, several, or
    also points elsewhere or negates (then the statistics of one region cannot judge
    it). Words of a region ("the middle of the image") or of a size claim ("about
    half", "almost the whole") point nowhere."""
    found = sentence.regions
    if not found or any(name != found[0][0] for name, _, _ in found):
        return None
    away = [word_start for word, word_start, _ in sentence.words if _points_away(word)]
    if not away:
        return found[0][0]
    ignored = [(claim.start, claim.end) for claim in sentence.claims]
    for _, start, end in found:
        suffix = _REGION_SUFFIX_RE.match(text, end)
        ignored.append((start, suffix.end() if suffix else end))
    for word_start in away:
        if not any(start <= word_start < end for start, end in ignored):
            return None
    return found[0][0]


def _points_away(word: str) -> bool:
    return word in _ELSEWHERE_OR_NEGATED or (
        word[-1] == "t" and word.endswith(("n't", "n’t"))
    )


def _about_the_whole_image(sentence: Sentence) -> bool:
    """A sentence that names the image as a whole ("the image", "overall") and no
    region or part of it."""
    if sentence.regions:
        return False
    words = {word for word, _, _ in sentence.words}
    return bool(words & _WHOLE_WORDS) and not words & (_PART_WORDS | _NEGATION_WORDS)


def misplaced(mention: Mention, region: str) -> Contradiction:
    """The ``region_contradiction`` of a class put in a region that lacks it."""
    term = CLASS_BY_CODE[mention.code].term
    return (
        "region_contradiction",
        f"{mention.words!r} is placed in the {REGION_LABELS[region]}, which has "
        f"no {term} (or under {MIN_PIXELS} pixels).",
        (mention.start, mention.end),
    )


class AreaReader:
    """One caption's text, class mentions and statistics, area by area: `areas`
    maps each region (and `WHOLE`) to its mentionable classes by code."""

    def __init__(
        self,
        text: str,
        mentions: list[Mention],
        regions: list[NamedRegion],
        landcover: dict,
    ) -> None:
        self.text = text
        self.mention_starts = [mention.start for mention in mentions]
        self.mentions = mentions
        self.mention_at = {mention.start for mention in mentions}
        self.single_regions: dict[int, str | None] = {}
        self.sentence_areas: dict[int, str | None] = {}
        self.region_at = {start: (name, end) for name, start, end in regions}
        self.region_ending = {end: (name, start) for name, start, end in regions}
        self.areas = {
            name: {e["code"]: e for e in mentionable(exact_shares(entries))}
            for name, entries in landcover.get("regions", {}).items()
        }
        self.areas[WHOLE] = {
            e["code"]: e
            for e in mentionable(exact_shares(landcover.get("overall", [])))
        }

    def single_region(self, sentence: Sentence) -> str | None:
        """The one region a sentence is about (`_single_region`), once a sentence."""
        if sentence.start not in self.single_regions:
            self.single_regions[sentence.start] = _single_region(self.text, sentence)
        return self.single_regions[sentence.start]

    def sentence_area(self, sentence: Sentence) -> str | None:
        """The area a sentence is about as a whole: one region, or the image."""
        if sentence.start not in self.sentence_areas:
            region = self.single_region(sentence)
            if region is None and _about_the_whole_image(sentence):
                region = WHOLE
            self.sentence_areas[sentence.start] = region
        return self.sentence_areas[sentence.start]

    def mentions_between(self, start: int, end: int) -> list[Mention]:
        first = bisect_left(self.mention_starts, start)
        last = bisect_left(self.mention_starts, end)
        return self.mentions[first:last]

    def area_at(self, position: int, sentence: Sentence) -> tuple[str | None, int]:
        """The area named at `position` ("the top left", "the image"), where it
        ends; "sentence" for "the area" or "it", None for anything else."""
        text = self.text
        skipped = _DETERMINER_RE.match(text, position)
        start = skipped.end() if skipped else position
        if start in self.region_at:
            region, end = self.region_at[start]
            suffix = _REGION_SUFFIX_RE.match(text, end)
            end = suffix.end() if suffix else end
            if _MORE_AREAS_RE.match(text, end, sentence.end):
                return None, end
            return region, end
        whole = _WHOLE_AREA_RE.match(text, position, sentence.end)
        if whole is not None:
            return WHOLE, whole.end()
        same = _SAME_AREA_RE.match(text, position, sentence.end)
        if same is not None:
            return "sentence", same.end()
        return None, position

    def area_before(self, position: int, sentence: Sentence) -> str | None:
        """The area a sentence's subject names before "is" at `position` ("the top
        left is mostly forest", "the whole image is dominated by water")."""
        head = self.text[sentence.start : position]
        copula = _IS_BEFORE_RE.search(head)
        if copula is None:
            return None
        head = head[: copula.start()]
        head = re.sub(r"(?:\s+of\s+the\s+(?:image|scene|patch))$", "", head, flags=re.I)
        head = re.sub(rf"[\s-]+{_AREA_NOUN}$", "", head, flags=re.I)
        ending = self.region_ending.get(sentence.start + len(head))
        if ending is not None:
            region, start = ending
            listed = _AREA_LISTED_BEFORE_RE.search(self.text, sentence.start, start)
            return None if listed else region
        if re.search(
            r"\b(?:the|this|whole|entire)\s+(?:image|scene|patch|picture|tile|map"
            r"|landscape|mapped\s+area)$",
            head,
            re.I,
        ):
            return WHOLE
        return None
