"""The region check: a sentence about one region that its statistics deny.

Plain Python, no Django; `checks.check_caption` reports what this finds as
``region_contradiction``. The check is deliberately conservative (`_single_region`):
a sentence that also points elsewhere (left, north, across, the rest, …) or holds a
negation (no, not, without, …) is skipped, so it misses some contradictions rather
than raising false ones.
"""

import re
from collections.abc import Iterator

from captions.generation.lexicon import Hit, Mention, Word
from captions.generation.prompts import mentionable
from captions.generation.vocabulary import (
    REGION_LABELS,
    SIZE_LEVEL_OF_WORD,
    SIZE_NOUNS_READ,
    SIZE_PHRASES,
    exact_shares,
    percent,
    size_level,
)
from captions.landcover import CLASS_BY_CODE, MIN_PIXELS

# Words that point beyond one region, or negate: a sentence holding one is not
# checked against a single region's statistics.
_ELSEWHERE_TEXT = """
    left right top bottom upper lower north south east west northern southern eastern
    western throughout across everywhere elsewhere whole entire overall rest remaining
    other others both all half halves side sides edge edges border borders bordering
    surrounding surrounds surrounded around beyond neighbouring neighboring adjacent
    toward towards between each every regions quadrants
    no not none nothing without absent absence lack lacks lacking devoid free neither
    nor never except
"""
_ELSEWHERE_WORDS = frozenset(_ELSEWHERE_TEXT.split())
_SIZE_ALTERNATION = "|".join(
    word.replace(" ", r"[\s-]+")
    for word in sorted(SIZE_LEVEL_OF_WORD, key=len, reverse=True)
)
_SIZE_BEFORE_RE = re.compile(
    rf"\b(?P<size>{_SIZE_ALTERNATION})\s+(?:{'|'.join(SIZE_NOUNS_READ)})\s+of\s+"
    r"(?:(?!(?:and|or|but|with|while|plus|as)\b)[a-z-]+\s+){0,2}$",
    re.IGNORECASE,
)
_DOMINATED_BY_RE = re.compile(
    r"\b(?:dominated\s+by|mostly|mainly|predominantly|largely)\s+"
    r"(?:(?!(?:and|or|but|with)\b)[a-z-]+\s+)?$",
    re.IGNORECASE,
)
# Used with .match at the end of a class name ("water mostly dominates").
_DOMINATES_AFTER_RE = re.compile(r"\s+(?:[a-z-]+\s+)?dominates?\b", re.IGNORECASE)
_SENTENCE_RE = re.compile(r"[^.!?]+(?:[.!?]+|$)")
_LARGE = SIZE_PHRASES.index("large")

# A named region in a caption: (region, start, end).
_NamedRegion = tuple[str, int, int]
# What a mention gets wrong, and the span of the words that say it.
Contradiction = tuple[str, tuple[int, int]]


def region_contradictions(
    text: str,
    words: list[Word],
    hits: list[Hit],
    mentions: list[Mention],
    present: set[int],
    landcover: dict,
) -> list[Contradiction]:
    """Contradictions of one-region sentences; classes absent from the whole patch
    are left to the ``absent_class`` check (`present` are the classes it may name)."""
    found = []
    regions = landcover.get("regions", {})
    named_regions = [
        (str(region), words[first][1], words[last - 1][2])
        for kind, region, first, last in hits
        if kind == "region"
    ]
    for sentence, sentence_words, sentence_mentions, sentence_regions in _sentences(
        text, words, mentions, named_regions
    ):
        region = _single_region(sentence_regions, sentence_words)
        if region is None or region not in regions:
            continue
        entries = {e["code"]: e for e in mentionable(exact_shares(regions[region]))}
        for mention in sentence_mentions:
            if mention.code not in present:
                continue
            window = _window_start(sentence_words, mention.start, sentence.start())
            contradiction = _region_mismatch(text, window, mention, region, entries)
            if contradiction is not None:
                found.append(contradiction)
    return found


def _sentences(
    text: str,
    words: list[Word],
    mentions: list[Mention],
    named_regions: list[_NamedRegion],
) -> Iterator[tuple[re.Match, list[Word], list[Mention], list[_NamedRegion]]]:
    """Each sentence that names a class, with its words, class mentions and region
    names; one walk over the three lists, which are in text order."""
    word_index = mention_index = region_index = 0
    for sentence in _SENTENCE_RE.finditer(text):
        end = sentence.end()
        first_word = word_index
        while word_index < len(words) and words[word_index][1] < end:
            word_index += 1
        first_mention = mention_index
        while mention_index < len(mentions) and mentions[mention_index].start < end:
            mention_index += 1
        first_region = region_index
        while (
            region_index < len(named_regions) and named_regions[region_index][1] < end
        ):
            region_index += 1
        if first_mention == mention_index:
            continue
        yield (
            sentence,
            words[first_word:word_index],
            mentions[first_mention:mention_index],
            named_regions[first_region:region_index],
        )


def _single_region(found: list[_NamedRegion], words: list[Word]) -> str | None:
    """The one region a sentence is about, or None if it names none, several, or
    also points elsewhere or negates (then the statistics of one region cannot judge
    it). `found` are the sentence's region names, `words` its words."""
    if not found or any(name != found[0][0] for name, _, _ in found):
        return None
    for word, word_start, _ in words:
        if (word in _ELSEWHERE_WORDS or word.endswith(("n't", "n’t"))) and not any(
            start <= word_start < end for _, start, end in found
        ):
            return None
    return found[0][0]


def _window_start(words: list[Word], position: int, sentence_start: int) -> int:
    """Where the eight words of the sentence before `position` start: size phrases
    are looked for there only, which keeps the check linear in the caption's length."""
    before = [start for _, start, end in words if end <= position]
    return before[-8] if len(before) >= 8 else sentence_start


def _region_mismatch(
    text: str,
    window: int,
    mention: Mention,
    region: str,
    entries: dict[int, dict],
) -> Contradiction | None:
    """What a class mention in a one-region sentence gets wrong, and its span in
    `text`; size words are looked for from `window` on."""
    label, term = REGION_LABELS[region], CLASS_BY_CODE[mention.code].term
    entry = entries.get(mention.code)
    if entry is None:
        return (
            f"{mention.words!r} is placed in the {label}, which has no {term} "
            f"(or under {MIN_PIXELS} pixels).",
            (mention.start, mention.end),
        )
    real_text = f"{term} covers {percent(entry['fraction'])}% of the {label}"
    return _size_mismatch(text, window, mention, entry, real_text) or (
        _dominance_mismatch(text, window, mention, entries, real_text)
    )


def _size_mismatch(
    text: str, window: int, mention: Mention, entry: dict, real_text: str
) -> Contradiction | None:
    """A size word before the class ("a large portion of crop") more than one level
    away from the class's size level in the region."""
    real = size_level(entry["share"])
    sized = _SIZE_BEFORE_RE.search(text[window : mention.start])
    if sized is None:
        return None
    claimed = SIZE_LEVEL_OF_WORD[re.sub(r"[\s-]+", " ", sized.group("size").lower())]
    if abs(claimed - real) <= 1:
        return None
    return (
        f"{text[window + sized.start() : mention.end]!r}: {real_text} "
        f"({SIZE_PHRASES[real]}).",
        (window + sized.start(), mention.end),
    )


def _dominance_mismatch(
    text: str,
    window: int,
    mention: Mention,
    entries: dict[int, dict],
    real_text: str,
) -> Contradiction | None:
    """ "Dominated by water", "water dominates" of a class that is neither the
    largest in the region nor within one level of large."""
    entry = entries[mention.code]
    largest = max(e["pixels"] for e in entries.values())
    if entry["pixels"] == largest or _LARGE - size_level(entry["share"]) <= 1:
        return None
    dominated = _DOMINATED_BY_RE.search(text[window : mention.start])
    if dominated is not None:
        return (
            f"{text[window + dominated.start() : mention.end]!r}: {real_text}, "
            "not the largest class there.",
            (window + dominated.start(), mention.end),
        )
    dominates = _DOMINATES_AFTER_RE.match(text, mention.end)
    if dominates is not None:
        return (
            f"{text[mention.start : dominates.end()]!r}: {real_text}, "
            "not the largest class there.",
            (mention.start, dominates.end()),
        )
    return None
