"""Checks a caption can fail (DOMAIN.md section 6). Plain Python, no Django.

`check_caption` returns findings ``{"check": code, "message": words for an annotator,
"span": [start, end] or None}``; a span is the character range of the offending words
in the caption. Findings without a span (about the caption as a whole) come first,
then the others by position. The codes:

``empty``
    The reply is empty or only whitespace; no other check runs.
``too_short`` / ``too_long``
    Fewer than `MIN_CHARS` or more than `MAX_CHARS` characters.
``cut_off``
    The reply does not end with ``.``, ``!`` or ``?`` (a closing quote or bracket may
    follow; the span is the unfinished sentence), or the backend reported
    ``finish_reason == "length"``.
``forbidden_word``
    A hedging or meta word of the prompts (`FORBIDDEN_WORDS`), as a whole word in any
    case, with the inflections in `FORBIDDEN_FORMS`: "appears", "appearance",
    "changes", "changing", "unlikely", "transitional", "dynamics"...; and the phrase
    "color dictionary". "possible" and "disappear" are other words and pass.
``colour_word``
    A colour name (`COLOUR_WORDS`: red, green, greenish, grey, gray...), whole word.
``absent_class``
    A class named, by its term or a synonym (`CLASS_WORDS`: forest, urban, fields,
    river...), that covers fewer than 20 pixels of the patch (or none).
``dominant_missing``
    The largest class of the patch (any of them on a tie) is not named.
``region_contradiction``
    A sentence about exactly one region names a class with fewer than 20 pixels
    there, or gives a class a size ("a large portion of crop", "dominated by water")
    more than one step away from its size phrase there (DOMAIN.md 4).
``near_duplicate``
    From `near_duplicates`, across captions: nearly the same wording as another.

The region check is deliberately conservative (see `_single_region`): a sentence that
also points elsewhere (left, north, across, the rest, …) or holds a negation (no, not,
without, …) is skipped, so it misses some contradictions rather than raising false ones.
"""

import itertools
import re
import string
from collections import defaultdict
from typing import NamedTuple

import numpy as np

from captions.generation.prompts import (
    COLOUR_WORDS,
    FORBIDDEN_WORDS,
    REGION_LABELS,
    SIZE_PHRASES,
    mentionable,
    percent,
    size_level,
)
from captions.landcover import CLASS_BY_CODE, MIN_PIXELS

MIN_CHARS = 40
# The longest caption kept at all: a reviewer's edit over it is refused
# (verification/services.py) and an imported one is reported instead
# (captions/generation/caption_import.py). Far above MAX_CHARS, which only flags a
# caption.
MAX_CAPTION_CHARS = 5000
# NUL and unpaired surrogates: no database text column takes them (PostgreSQL
# refuses both) and no caption needs them; edits and imports refuse them.
UNSTORABLE_CHARACTERS = re.compile("[\x00\ud800-\udfff]")
# 300 tokens (the text prompt's max_tokens) are about 1,300 characters of English and
# the vision prompt allows 350; a reply longer than this is rambling.
MAX_CHARS = 1600

CHECK_DESCRIPTIONS: dict[str, str] = {
    "empty": "The reply is empty.",
    "too_short": f"Shorter than {MIN_CHARS} characters.",
    "too_long": f"Longer than {MAX_CHARS} characters.",
    "cut_off": "The reply stops mid-sentence or hit the token limit.",
    "forbidden_word": "Uses a hedging or meta word the prompts forbid.",
    "colour_word": "Uses a colour name; a caption names land-cover classes instead.",
    "absent_class": "Names a class that the patch does not have (or has under 20 px).",
    "dominant_missing": "Does not name the largest class of the patch.",
    "region_contradiction": "Says something about a region that its statistics deny.",
    "near_duplicate": "Nearly the same wording as another caption.",
}

# Inflections each forbidden word also catches (decided here, see the module table).
FORBIDDEN_FORMS: dict[str, tuple[str, ...]] = {
    "possibly": ("possibly",),
    "likely": ("likely", "unlikely"),
    "perhaps": ("perhaps",),
    "context": ("context", "contexts", "contextual"),
    "segmentation": ("segmentation", "segmentations"),
    "appear": (
        "appear",
        "appears",
        "appeared",
        "appearing",
        "appearance",
        "appearances",
    ),
    "change": ("change", "changes", "changed", "changing"),
    "transition": (
        "transition",
        "transitions",
        "transitioned",
        "transitioning",
        "transitional",
    ),
    "dynamic": ("dynamic", "dynamics", "dynamically"),
}
assert set(FORBIDDEN_FORMS) == set(FORBIDDEN_WORDS)

# The words that name each class, as whole words in any case; "built-up" also matches
# "built up". Compounds such as "mangrove forest" or "grass fields" name one class,
# and "developed area" or "open water" are one span.
CLASS_WORDS: dict[int, tuple[str, ...]] = {
    code: tuple(words.split())
    for code, words in {
        10: "tree trees forest forests forested woods woodland woodlands wooded "
        "rainforest rainforests tree-cover",
        20: "shrub shrubs shrubland shrublands shrubbery bush bushes bushland scrub "
        "scrubland",
        30: "grass grasses grassland grasslands grassy meadow meadows pasture pastures "
        "grass-field grass-fields grassy-field grassy-fields",
        40: "crop crops cropland croplands farmland farmlands field fields "
        "agricultural agriculture cultivated arable agricultural-land "
        "cultivated-land",
        50: "developed urban built-up building buildings settlement settlements town "
        "towns city cities village villages residential developed-area "
        "developed-areas developed-land urban-area urban-areas urban-land",
        60: "bare barren rock rocks rocky bare-land bare-ground bare-soil barren-land",
        70: "snow snowy ice icy glacier glaciers glacial snowfield snowfields "
        "snow-field snow-fields icefield icefields ice-field ice-fields snow-cover",
        80: "water waters river rivers lake lakes sea seas pond ponds reservoir "
        "reservoirs open-water surface-water water-body water-bodies",
        90: "wetland wetlands marsh marshes marshland marshlands marshy swamp swamps "
        "swampy bog bogs",
        95: "mangrove mangroves mangrove-forest mangrove-forests",
        100: "moss mosses lichen lichens",
    }.items()
}


def _vocabulary(entries: dict[str, object]) -> dict:
    """Keys in lower case with one space between words (matching space or hyphen)."""
    return {
        re.sub(r"[\s-]+", " ", key.lower()): value for key, value in entries.items()
    }


_FORBIDDEN_BASE: dict[str, str] = _vocabulary(
    {
        **{form: base for base, forms in FORBIDDEN_FORMS.items() for form in forms},
        **{
            f"{colour} {dictionary}": "color dictionary"
            for colour in ("color", "colour")
            for dictionary in ("dictionary", "dictionaries")
        },
    }
)
_COLOURS: dict[str, str] = _vocabulary({word: word for word in COLOUR_WORDS})
_CLASS_OF_WORD: dict[str, int] = _vocabulary(
    {word: code for code, words in CLASS_WORDS.items() for word in words}
)

_SIDES = ("left", "right")
# How a caption names a region: "top left", "upper-left", "north-western", "centre"...
_REGION_WORDS: dict[str, str] = {
    **{f"{top} {side}": f"top_{side}" for top in ("top", "upper") for side in _SIDES},
    **{
        f"{bottom} {side}": f"bottom_{side}"
        for bottom in ("bottom", "lower")
        for side in _SIDES
    },
    **{
        f"{north}{joint}{compass}{suffix}": f"{vertical}_{side}"
        for north, vertical in (("north", "top"), ("south", "bottom"))
        for compass, side in (("west", "left"), ("east", "right"))
        for joint in ("", " ")
        for suffix in ("", "ern")
    },
    **dict.fromkeys(("middle", "centre", "center", "central", "centrally"), "middle"),
}
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
_SIZE_WORDS: dict[str, int] = {
    "extra small": 0,
    "very small": 0,
    "tiny": 0,
    "small": 1,
    "minor": 1,
    "modest": 1,
    "medium": 2,
    "moderate": 2,
    "large": 3,
    "substantial": 3,
    "considerable": 3,
    "major": 3,
    "extra large": 4,
    "very large": 4,
    "vast": 4,
    "huge": 4,
    "overwhelming": 4,
}
_SIZE_ALTERNATION = "|".join(
    word.replace(" ", r"[\s-]+") for word in sorted(_SIZE_WORDS, key=len, reverse=True)
)
_SIZE_NOUNS = (
    "fraction|part|portion|amount|quantity|proportion|share|area|areas|section|expanse"
    "|extent|coverage|patch|patches"
)
_SIZE_BEFORE_RE = re.compile(
    rf"\b(?P<size>{_SIZE_ALTERNATION})\s+(?:{_SIZE_NOUNS})\s+of\s+"
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
_ENDS_SENTENCE_RE = re.compile(r"[.!?][\"'”’)\]]*$")
_LARGE = SIZE_PHRASES.index("large")
_CROP = 40


def _finding(check: str, message: str, span: tuple[int, int] | None = None) -> dict:
    return {"check": check, "message": message, "span": list(span) if span else None}


def check_caption(
    text: str, landcover: dict, *, finish_reason: str | None = None
) -> list[dict]:
    """The checks of DOMAIN.md 6 but near duplicates, on one caption (module docstring).

    `landcover` is the patch's statistics (DOMAIN.md 4); `finish_reason` is what the
    backend reported, "length" meaning the reply hit the token limit.
    """
    if not text.strip():
        return [_finding("empty", "The reply is empty.")]
    words, hits = _scan(text)
    mentions = _class_mentions(text, words, hits)
    present = {e["code"] for e in mentionable(landcover.get("overall", []))}
    findings = [
        *_length_findings(text),
        *_cut_off_findings(text, finish_reason),
        *_forbidden_findings(text, words, hits),
        *_colour_findings(text, words, hits),
        *_absent_findings(mentions, present, landcover),
        *_dominant_findings(mentions, landcover),
        *_region_findings(text, words, hits, mentions, present, landcover),
    ]
    return sorted(findings, key=_position)


def _position(finding: dict) -> tuple[int, int, int]:
    span = finding["span"]
    return (0, 0, 0) if span is None else (1, span[0], span[1])


def _length_findings(text: str) -> list[dict]:
    length = len(text.strip())
    if length < MIN_CHARS:
        return [
            _finding(
                "too_short",
                f"Only {length} characters; a caption needs at least {MIN_CHARS}.",
            )
        ]
    if length > MAX_CHARS:
        return [
            _finding(
                "too_long",
                f"{length:,} characters; a caption should stay within {MAX_CHARS:,}.",
            )
        ]
    return []


def _cut_off_findings(text: str, finish_reason: str | None) -> list[dict]:
    stripped = text.rstrip()
    if _ENDS_SENTENCE_RE.search(stripped):
        if finish_reason == "length":
            return [
                _finding(
                    "cut_off",
                    "The model stopped at its token limit; the end may be missing.",
                )
            ]
        return []
    last_end = max(stripped.rfind(mark) for mark in ".!?") + 1
    start = len(stripped) - len(stripped[last_end:].lstrip())
    return [
        _finding(
            "cut_off",
            "The reply stops mid-sentence.",
            (start, len(stripped)),
        )
    ]


# A word of a caption: (lower case, start, end). A plain tuple: captions are checked
# by the thousand and a NamedTuple per word doubles the time of the whole check.
_Word = tuple[str, int, int]


class Mention(NamedTuple):
    """Words of a caption that name a class."""

    code: int
    start: int
    end: int
    words: str


_WORD_TOKEN_RE = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
# Every word or two-word phrase the checks look for, with what it is.
_LEXICON: dict[str, tuple[str, object]] = {
    **{phrase: ("region", region) for phrase, region in _REGION_WORDS.items()},
    **{phrase: ("forbidden", base) for phrase, base in _FORBIDDEN_BASE.items()},
    **{phrase: ("colour", phrase) for phrase in _COLOURS},
    **{phrase: ("class", code) for phrase, code in _CLASS_OF_WORD.items()},
}
_PAIR_STARTS = frozenset(phrase.split()[0] for phrase in _LEXICON if " " in phrase)


def _scan(text: str) -> tuple[list[_Word], list[tuple[str, object, int, int]]]:
    """The words of `text` and its lexicon hits: (kind, value, first word index,
    last word index + 1); a two-word phrase wins over its first word alone."""
    lowered = text.lower()
    if len(lowered) != len(text):  # a few characters lengthen in lower case
        lowered = "".join(c.lower()[0] for c in text)
    words = [
        (match.group(), match.start(), match.end())
        for match in _WORD_TOKEN_RE.finditer(lowered)
    ]
    hits: list[tuple[str, object, int, int]] = []
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


def _forbidden_findings(text: str, words: list[_Word], hits: list) -> list[dict]:
    findings = []
    for kind, base, first, last in hits:
        if kind != "forbidden":
            continue
        start, end = words[first][1], words[last - 1][2]
        said = text[start:end]
        why = "" if base == said.lower() else f" (a form of {base!r})"
        findings.append(
            _finding(
                "forbidden_word",
                f"{said!r}{why} is a hedging or meta word that captions must not use.",
                (start, end),
            )
        )
    return findings


def _colour_findings(text: str, words: list[_Word], hits: list) -> list[dict]:
    return [
        _finding(
            "colour_word",
            f"{text[words[first][1] : words[first][2]]!r} is a colour; name the "
            "land-cover class instead.",
            (words[first][1], words[first][2]),
        )
        for kind, _, first, _ in hits
        if kind == "colour"
    ]


def _class_mentions(text: str, words: list[_Word], hits: list) -> list[Mention]:
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
            if after[:1] == ["of"] and len(after) > 1 and after[1] in _CLASS_OF_WORD:
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
        mentions.append(Mention(code, start, end, text[start:end]))
    return mentions


def _overall_pixels(landcover: dict, code: int) -> int:
    return next(
        (e["pixels"] for e in landcover.get("overall", []) if e["code"] == code), 0
    )


def _absent_findings(
    mentions: list[Mention], present: set[int], landcover: dict
) -> list[dict]:
    findings = []
    for mention in mentions:
        if mention.code in present:
            continue
        term = CLASS_BY_CODE[mention.code].term
        pixels = _overall_pixels(landcover, mention.code)
        amount = (
            "which is not in this patch"
            if not pixels
            else f"which covers only {pixels} pixels here, too few to mention"
        )
        findings.append(
            _finding(
                "absent_class",
                f"{mention.words!r} names {term}, {amount}.",
                (mention.start, mention.end),
            )
        )
    return findings


def _dominant_findings(mentions: list[Mention], landcover: dict) -> list[dict]:
    overall = mentionable(landcover.get("overall", []))
    if not overall:
        return []
    largest = [e for e in overall if e["pixels"] == overall[0]["pixels"]]
    named = {mention.code for mention in mentions}
    if any(e["code"] in named for e in largest):
        return []
    top = largest[0]
    return [
        _finding(
            "dominant_missing",
            f"The largest class, {top['name']} ({percent(top['fraction'])}% of the "
            "patch), is not named.",
        )
    ]


def _single_region(found: list[tuple[str, int, int]], words: list[_Word]) -> str | None:
    """The one region a sentence is about, or None if it names none, several, or
    also points elsewhere or negates (then the statistics of one region cannot judge
    it). `found` are the sentence's region names (region, start, end), `words` its
    words."""
    if not found or any(name != found[0][0] for name, _, _ in found):
        return None
    for word, word_start, _ in words:
        if (word in _ELSEWHERE_WORDS or word.endswith(("n't", "n’t"))) and not any(
            start <= word_start < end for _, start, end in found
        ):
            return None
    return found[0][0]


def _region_findings(
    text: str,
    words: list[_Word],
    hits: list,
    mentions: list[Mention],
    present: set[int],
    landcover: dict,
) -> list[dict]:
    """Contradictions of one-region sentences; classes absent from the whole patch
    are left to `absent_class`."""
    findings = []
    regions = landcover.get("regions", {})
    named_regions = [
        (region, words[first][1], words[last - 1][2])
        for kind, region, first, last in hits
        if kind == "region"
    ]
    word_index = mention_index = region_index = 0
    for sentence_match in _SENTENCE_RE.finditer(text):
        end = sentence_match.end()
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
        sentence_words = words[first_word:word_index]
        region = _single_region(
            named_regions[first_region:region_index], sentence_words
        )
        if region is None or region not in regions:
            continue
        entries = {e["code"]: e for e in mentionable(regions[region])}
        for mention in mentions[first_mention:mention_index]:
            if mention.code not in present:
                continue
            window = _window_start(
                sentence_words, mention.start, sentence_match.start()
            )
            finding = _region_mismatch(text, window, mention, region, entries)
            if finding is not None:
                findings.append(_finding("region_contradiction", *finding))
    return findings


def _window_start(words: list[_Word], position: int, sentence_start: int) -> int:
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
) -> tuple[str, tuple[int, int]] | None:
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
    real = size_level(entry["fraction"])
    real_text = f"{term} covers {percent(entry['fraction'])}% of the {label}"
    before = text[window : mention.start]
    sized = _SIZE_BEFORE_RE.search(before)
    if sized is not None:
        claimed = _SIZE_WORDS[re.sub(r"[\s-]+", " ", sized.group("size").lower())]
        if abs(claimed - real) > 1:
            return (
                f"{text[window + sized.start() : mention.end]!r}: {real_text} "
                f"({SIZE_PHRASES[real]}).",
                (window + sized.start(), mention.end),
            )
    largest = max(e["pixels"] for e in entries.values())
    if entry["pixels"] == largest or _LARGE - real <= 1:
        return None
    dominated = _DOMINATED_BY_RE.search(before)
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


# --- Near duplicates ---------------------------------------------------------------

SHINGLE_WORDS = 3
_PERMUTATIONS = 128
_SIGNATURE_CHUNK = 20_000  # shingles per numpy batch: 128 x 20,000 x 8 B = 20 MB
# Punctuation becomes a space: str.translate + split is 3x faster than a regex here.
_PUNCTUATION_TO_SPACE = str.maketrans(
    dict.fromkeys(string.punctuation + "’‘“”–—…«»", " ")
)
_PAD = (1 << 32) - 1  # word id that pads a caption of fewer than three words


def _random_odd_uint64(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(0, 1 << 63, size=shape, dtype=np.uint64) * np.uint64(2) + 1


# Fixed seeds: the same captions always give the same candidates.
_HASH_RNG = np.random.default_rng(20240215)
_GRAM_WEIGHTS = _random_odd_uint64(_HASH_RNG, (3,))
_HASH_A = _random_odd_uint64(_HASH_RNG, (_PERMUTATIONS, 1))
_HASH_B = _random_odd_uint64(_HASH_RNG, (_PERMUTATIONS, 1))
_BAND_WEIGHTS = _random_odd_uint64(_HASH_RNG, (_PERMUTATIONS,))


def caption_words(text: str) -> list[str]:
    """The words near-duplicate detection compares: lower case, no punctuation."""
    return text.lower().translate(_PUNCTUATION_TO_SPACE).split()


def text_similarity(first: str, second: str) -> float:
    """Jaccard index of the word 3-grams of two captions (1.0 for the same words)."""
    first_grams, second_grams = (
        _grams(caption_words(first)),
        _grams(caption_words(second)),
    )
    if not first_grams and not second_grams:
        return 1.0
    return len(first_grams & second_grams) / len(first_grams | second_grams)


def _grams(words: list[str]) -> set[tuple[str, ...]]:
    if 0 < len(words) < SHINGLE_WORDS:
        return {tuple(words)}
    return {
        tuple(words[i : i + SHINGLE_WORDS])
        for i in range(len(words) - SHINGLE_WORDS + 1)
    }


def _bands_for(threshold: float) -> tuple[int, int]:
    """(bands, rows) of the LSH: the largest rows whose S-curve midpoint,
    (1/bands)**(1/rows), sits at least 0.1 below `threshold`, so that pairs at the
    threshold become candidates almost surely (99.99% at 0.9)."""
    for rows in (16, 8, 4, 2, 1):
        bands = _PERMUTATIONS // rows
        if (1 / bands) ** (1 / rows) <= threshold - 0.1:
            return bands, rows
    return _PERMUTATIONS, 1


def _shingle_hashes(texts: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
    """32-bit hashes of every caption's word 3-grams, concatenated, and where each
    caption's hashes start (plus the end). `texts` are the captions' words; each
    caption needs at least one."""
    vocabulary: defaultdict[str, int] = defaultdict(itertools.count().__next__)
    ids: list[int] = []
    lengths = []
    for words in texts:
        ids.extend(map(vocabulary.__getitem__, words))
        padding = max(0, SHINGLE_WORDS - len(words))
        ids.extend([_PAD] * padding)
        lengths.append(len(words) + padding)
    flat = np.array(ids, dtype=np.uint64)
    with np.errstate(over="ignore"):  # multiply-shift hashing wraps around on purpose
        grams = (
            flat[:-2] * _GRAM_WEIGHTS[0]
            + flat[1:-1] * _GRAM_WEIGHTS[1]
            + flat[2:] * _GRAM_WEIGHTS[2]
        ) >> np.uint64(32)
    word_starts = np.concatenate(([0], np.cumsum(lengths)))
    gram_counts = np.array(lengths) - (SHINGLE_WORDS - 1)
    # Keep the 3-grams that start inside a caption and end inside the same one.
    keep = np.ones(len(grams), dtype=bool)
    for offset in range(1, SHINGLE_WORDS):
        crossing = word_starts[1:-1] - offset
        keep[crossing[crossing >= 0]] = False
    gram_starts = np.concatenate(([0], np.cumsum(gram_counts)))
    return grams[keep], gram_starts


def _minhash_signatures(hashes: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """(captions, _PERMUTATIONS) MinHash signatures, by multiply-shift hashing."""
    count = len(starts) - 1
    signatures = np.empty((count, _PERMUTATIONS), dtype=np.uint64)
    first = 0
    while first < count:
        last = int(np.searchsorted(starts, starts[first] + _SIGNATURE_CHUNK, "right"))
        last = min(max(last - 1, first + 1), count)
        values = hashes[starts[first] : starts[last]]
        with np.errstate(over="ignore"):
            hashed = (_HASH_A * values + _HASH_B) >> np.uint64(32)
        offsets = starts[first:last] - starts[first]
        signatures[first:last] = np.minimum.reduceat(hashed, offsets, axis=1).T
        first = last
    return signatures


def near_duplicates(texts: dict[int, str], threshold: float = 0.9) -> dict[int, int]:
    """Captions whose wording nearly repeats an earlier one: {id: id it repeats}.

    Similarity is `text_similarity`, the Jaccard index of word 3-grams (lower case,
    punctuation ignored). A caption is a near duplicate when it reaches `threshold`
    with a caption of a smaller id, and maps to the smallest such id. One changed word
    in a caption of n words keeps about (n - 5) / (n + 1): over 0.9 from about 60
    words on, which ChatEarthNet captions exceed.

    Candidates come from MinHash LSH (128 hashes in bands), then each is verified
    exactly, smallest id first, stopping at the first match. Time is O(total words)
    for the signatures (vectorised) plus O(candidates) verifications: 20,000 captions
    take a few seconds. Only a large group of captions that are all similar yet just
    under the threshold to one another degrades towards quadratic. Captions without
    words are ignored.
    """
    words = {i: caption_words(text) for i, text in texts.items()}
    ids = sorted(i for i, caption in words.items() if caption)
    if len(ids) < 2:
        return {}
    hashes, starts = _shingle_hashes([words[i] for i in ids])
    bands, rows = _bands_for(threshold)
    signatures = _minhash_signatures(hashes, starts)
    with np.errstate(over="ignore"):
        band_keys = (
            (signatures * _BAND_WEIGHTS).reshape(len(ids), bands, rows).sum(axis=2)
        ).tolist()
    buckets: list[dict[int, list[int]]] = [{} for _ in range(bands)]
    gram_sets: dict[int, frozenset[int]] = {}

    def grams_of(position: int) -> frozenset[int]:
        if position not in gram_sets:
            grams = hashes[starts[position] : starts[position + 1]].tolist()
            gram_sets[position] = frozenset(grams)
        return gram_sets[position]

    duplicates: dict[int, int] = {}
    for position, keys in enumerate(band_keys):
        candidates: set[int] = set()
        for bucket, key in zip(buckets, keys, strict=True):
            earlier = bucket.setdefault(key, [])
            candidates.update(earlier)
            earlier.append(position)
        for candidate in sorted(candidates):
            mine, theirs = grams_of(position), grams_of(candidate)
            if len(mine & theirs) >= threshold * len(mine | theirs):
                duplicates[ids[position]] = ids[candidate]
                break
    return duplicates


def near_duplicate_finding(other_id: int) -> dict:
    """The finding that records a `near_duplicates` result on the later caption."""
    return _finding(
        "near_duplicate", f"Nearly the same wording as caption {other_id}.", None
    )
