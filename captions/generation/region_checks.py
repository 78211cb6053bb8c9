"""The area checks: what a sentence says about one area, a region or the whole
image, that the area's statistics deny. Plain Python, no Django.

`checks.check_caption` reports what this finds: a class placed in a region that has
none of it as ``region_contradiction``; a size given to a class ("a large portion of
water", "water covers an extra small fraction of the image", "mostly cropland",
"about half") that its share of the area denies as ``size_contradiction``.

Which area a size speaks of comes from the words around it ("… of the top left",
"the image is …") or else from the sentence: a sentence about exactly one region, or
about the image as a whole (it says "image", "scene", "overall"… and names no region
or side). The checks are deliberately conservative: a sentence that also points
elsewhere (left, north, across, the rest, …) is not judged by one region, a sentence
that negates (no, not, without, …) is not judged at all, a size shared by several
classes ("forest and grass cover most of it") is not judged, and a size is flagged
only when the share lies more than `SIZE_MARGIN` points outside what its words claim.
They miss some contradictions rather than raise false ones.
"""

import re
from bisect import bisect_left
from collections.abc import Iterator
from typing import NamedTuple

from captions.generation.lexicon import Hit, Mention, SizeClaim, Word, size_claims
from captions.generation.prompts import mentionable
from captions.generation.vocabulary import (
    DOMINANCE_MARGIN,
    REGION_LABELS,
    SHARE_VERBS,
    SIZE_MARGIN,
    SIZE_PHRASES,
    WHOLE_IMAGE_WORDS,
    exact_shares,
    percent,
    recipe_percent,
    size_level,
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
_OF_RE = re.compile(r"\s+of\s+", re.IGNORECASE)
_FILLERS_BEFORE_CLASS_RE = re.compile(
    r"(?:(?!(?:and|or|but|with|while|plus|as|in|on|at|near|the)\b)[a-z-]+\s+){0,2}$"
    r"|(?:the\s+)$",
    re.IGNORECASE,
)
_IS_BEFORE_RE = re.compile(
    r"\s+(?:is|are)\s+(?:(?:also|still|then)\s+)?$",
    re.IGNORECASE,
)
_COPULA_AFTER_RE = re.compile(
    r"\s*,?\s*(?:is|are|was|were|consists?\s+of)\s+"
    r"(?:(?:covered|occupied|taken|made|given|composed|filled)\s+"
    r"(?:up\s+|over\s+)?(?:by|of|with|to|in)\s+)?(?:(?:the|by)\s+)?",
    re.IGNORECASE,
)
_VERB_BEFORE_RE = re.compile(
    r"(?:^|[\s,])(?:"
    + "|".join(verb.replace(" ", r"\s+") for verb in SHARE_VERBS)
    + r")\s+(?:(?:only|just|also|still|a|an|the)\s+)*$",
    re.IGNORECASE,
)
_BREAK_RE = re.compile(
    r";|\b(?:and|or|but|while|whereas|with|alongside|plus|than|beside|besides)\b",
    re.IGNORECASE,
)
_COMPOUND_RE = re.compile(r"^\s*(?:,\s*)?(?:(?:and|or|as\s+well\s+as)\s+)?$")
_NEXT_FILLERS_TEXT = """
    covered by with made up of composed occupied filled taken consisting comprised
    home to the dense open
"""
_NEXT_FILLERS = frozenset(_NEXT_FILLERS_TEXT.split())
_AFTER_DOMINANT_RE = re.compile(
    r"\s*(?:(?:land[\s-]+cover(?:\s+class)?|class|cover|type|feature|category)\b)?\s*"
    r"(?:(?:of|in|across|throughout|on)\s+)?",
    re.IGNORECASE,
)
# "forest and grass", "forest, grass": another class listed right after one.
_LISTED_NEXT_RE = re.compile(
    r"\s*(?:,\s*(?:(?:and|or)\s+)?|\s+(?:and|or|as\s+well\s+as)\s+)(?:the\s+)?",
    re.IGNORECASE,
)
# "[the main land cover] across the whole image is [forest]".
_SUBJECT_TAIL_RE = re.compile(
    r"(?:\s+(?:across|in|of|throughout|within|for)\s+)?(?P<area>)"
    r"(?:(?:the|this)\s+[^,.;!?]*?)?\s*,?\s+(?:is|are)\s+(?:the\s+)?",
    re.IGNORECASE,
)
_ONE_WORD_RE = re.compile(r"\s*|\s+[a-z]+\s+", re.IGNORECASE)

# A named region in a caption: (region, start, end).
_NamedRegion = tuple[str, int, int]
# A finding: (check, message, the span of the words that say it).
Contradiction = tuple[str, str, tuple[int, int]]


class _Sentence(NamedTuple):
    start: int
    end: int
    words: list[Word]
    mentions: list[Mention]
    regions: list[_NamedRegion]
    claims: list[SizeClaim]


def area_contradictions(
    text: str,
    words: list[Word],
    hits: list[Hit],
    mentions: list[Mention],
    present: set[int],
    landcover: dict,
) -> list[Contradiction]:
    """Positions and sizes that the statistics of their area deny; classes absent
    from the whole patch are left to the ``absent_class`` check (`present` are the
    classes it may name)."""
    named_regions = [
        (str(region), words[first][1], words[last - 1][2])
        for kind, region, first, last in hits
        if kind == "region"
    ]
    reader = _AreaReader(text, mentions, named_regions, landcover)
    found: list[Contradiction] = []
    for sentence in _sentences(text, words, mentions, named_regions):
        placed = reader.position_contradictions(sentence, present)
        found += placed
        flagged = {span for _, _, span in placed}
        found += [
            contradiction
            for contradiction in reader.size_contradictions(sentence, present)
            if contradiction[2] not in flagged
        ]
    return found


def _sentences(
    text: str,
    words: list[Word],
    mentions: list[Mention],
    named_regions: list[_NamedRegion],
) -> Iterator[_Sentence]:
    """Each sentence that names a class, with its words, class mentions, region
    names and size claims; one walk over the lists, which are in text order."""
    claims = size_claims(text, words)
    starts = {
        "word": [start for _, start, _ in words],
        "mention": [mention.start for mention in mentions],
        "region": [start for _, start, _ in named_regions],
        "claim": [claim.start for claim in claims],
    }
    first = dict.fromkeys(starts, 0)
    for sentence in _SENTENCE_RE.finditer(text):
        last = {
            name: bisect_left(positions, sentence.end(), first[name])
            for name, positions in starts.items()
        }
        if last["mention"] > first["mention"]:
            yield _Sentence(
                sentence.start(),
                sentence.end(),
                words[first["word"] : last["word"]],
                mentions[first["mention"] : last["mention"]],
                named_regions[first["region"] : last["region"]],
                claims[first["claim"] : last["claim"]],
            )
        first = last


def _single_region(text: str, sentence: _Sentence) -> str | None:
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


def _negated(sentence: _Sentence) -> bool:
    return any(
        word in _NEGATION_WORDS or (word[-1] == "t" and word.endswith(("n't", "n’t")))
        for word, _, _ in sentence.words
    )


def _about_the_whole_image(sentence: _Sentence) -> bool:
    """A sentence that names the image as a whole ("the image", "overall") and no
    region or part of it."""
    if sentence.regions:
        return False
    words = {word for word, _, _ in sentence.words}
    return bool(words & _WHOLE_WORDS) and not words & (_PART_WORDS | _NEGATION_WORDS)


class _AreaReader:
    """Reads one caption's sentences against its statistics, area by area."""

    def __init__(
        self,
        text: str,
        mentions: list[Mention],
        named_regions: list[_NamedRegion],
        landcover: dict,
    ) -> None:
        self.text = text
        self.mention_starts = [mention.start for mention in mentions]
        self.mentions = mentions
        self.mention_at = {mention.start for mention in mentions}
        self.single_regions: dict[int, str | None] = {}
        self.sentence_areas: dict[int, str | None] = {}
        self.region_at = {start: (name, end) for name, start, end in named_regions}
        self.region_ending = {end: (name, start) for name, start, end in named_regions}
        self.areas = {
            name: {e["code"]: e for e in mentionable(exact_shares(entries))}
            for name, entries in landcover.get("regions", {}).items()
        }
        self.areas[WHOLE] = {
            e["code"]: e
            for e in mentionable(exact_shares(landcover.get("overall", [])))
        }

    # --- positions --------------------------------------------------------------------

    def position_contradictions(
        self, sentence: _Sentence, present: set[int]
    ) -> list[Contradiction]:
        """Classes named in a one-region sentence that the region does not have."""
        region = self.single_region(sentence)
        if region is None or region not in self.areas:
            return []
        return [
            self.misplaced(mention, region)
            for mention in sentence.mentions
            if mention.code in present and mention.code not in self.areas[region]
        ]

    def misplaced(self, mention: Mention, region: str) -> Contradiction:
        term = CLASS_BY_CODE[mention.code].term
        return (
            "region_contradiction",
            f"{mention.words!r} is placed in the {REGION_LABELS[region]}, which has "
            f"no {term} (or under {MIN_PIXELS} pixels).",
            (mention.start, mention.end),
        )

    # --- sizes ------------------------------------------------------------------------

    def size_contradictions(
        self, sentence: _Sentence, present: set[int]
    ) -> list[Contradiction]:
        """Size claims of the sentence that their class's share of their area
        denies; a claim whose area lacks the class is a misplaced class."""
        if not sentence.claims or _negated(sentence):
            return []
        found = []
        for claim in sentence.claims:
            said = self.claimed(claim, sentence)
            if said is None or said[0].code not in present:
                continue
            mention, area = said
            entry = self.areas.get(area, {}).get(mention.code)
            if entry is None:
                if area != WHOLE and area in self.areas:
                    found.append(self.misplaced(mention, area))
                continue
            message = self.size_mismatch(claim, mention, entry, area)
            if message is not None:
                span = (min(claim.start, mention.start), max(claim.end, mention.end))
                found.append(("size_contradiction", message, span))
        return found

    def size_mismatch(
        self, claim: SizeClaim, mention: Mention, entry: dict, area: str
    ) -> str | None:
        """What is wrong with the size a claim gives the entry's class, or None."""
        entries = self.areas[area]
        label = "image" if area == WHOLE else REGION_LABELS[area]
        term = CLASS_BY_CODE[mention.code].term
        real = f"{term} covers {percent(entry['share'])}% of the {label}"
        words = self.text[min(claim.start, mention.start) : max(claim.end, mention.end)]
        if claim.reads.startswith("dominant"):
            largest = max(entries.values(), key=lambda e: e["pixels"])
            gap = recipe_percent(largest["share"]) - recipe_percent(entry["share"])
            if entry["pixels"] == largest["pixels"] or (
                gap <= DOMINANCE_MARGIN and size_level(entry["share"]) >= 2
            ):
                return None
            top = CLASS_BY_CODE[largest["code"]].term
            return (
                f"{words!r}: {real}, not the largest class there ({top} covers "
                f"{percent(largest['share'])}%)."
            )
        share = recipe_percent(entry["share"])
        if claim.low - SIZE_MARGIN <= share <= claim.high + SIZE_MARGIN:
            return None
        return f"{words!r}: {real} ({SIZE_PHRASES[size_level(entry['share'])]})."

    # --- which class and which area a claim speaks of ---------------------------------

    def claimed(
        self, claim: SizeClaim, sentence: _Sentence
    ) -> tuple[Mention, str] | None:
        """The class mention a size claim sizes and the area it sizes it in."""
        if claim.reads in ("dominant_next", "whole"):  # "mostly forest"
            mention = self.class_next(claim.end, sentence, 3)
            return self.with_area(mention, sentence, before=claim.start)
        if claim.reads == "dominant_subject":
            tail = _SUBJECT_TAIL_RE.match(self.text, claim.end, sentence.end)
            if tail is None:
                return None
            mention = self.class_after_of(tail.end(), sentence)
            return self.with_area(mention, sentence, after=tail.start("area"))
        if claim.reads == "dominant_previous":
            mention = self.class_just_before(claim.start, sentence)
            after = _AFTER_DOMINANT_RE.match(self.text, claim.end)
            return self.with_area(mention, sentence, after=after.end() if after else 0)
        return self.claimed_share(claim, sentence)

    def claimed_share(
        self, claim: SizeClaim, sentence: _Sentence
    ) -> tuple[Mention, str] | None:
        """A share: "a large part of water" (the class follows), "a large part of
        the top left is water" (the area, then the class), "water covers a large
        part (of the image)" (the class before, by a verb)."""
        of = _OF_RE.match(self.text, claim.end)
        if of is not None:
            mention = self.class_after_of(of.end(), sentence)
            if mention is not None:
                return self.with_area(mention, sentence, before=claim.start)
            area, area_end = self.area_at(of.end(), sentence)
            if area is None:
                return None
            mention = self.class_by_verb(claim.start, sentence) or (
                self.class_after_area(area_end, sentence)
            )
            if mention is None:
                return None
            return (
                (mention, area)
                if area != "sentence"
                else self.with_area(mention, sentence)
            )
        mention = self.class_by_verb(claim.start, sentence) or (
            self.class_next(claim.end, sentence, 1)
        )
        return self.with_area(mention, sentence, before=claim.start)

    def with_area(
        self,
        mention: Mention | None,
        sentence: _Sentence,
        *,
        before: int = 0,
        after: int = 0,
    ) -> tuple[Mention, str] | None:
        """The mention with its area: the one named right before `before` ("the
        top left is …") or right at `after` ("dominates the image"), else the
        sentence's."""
        if mention is None:
            return None
        area = None
        if before:
            area = self.area_before(before, sentence)
        if area is None and after:
            area = self.area_at(after, sentence)[0]
            area = None if area == "sentence" else area
        if area is None:
            area = self.sentence_area(sentence)
        return None if area is None else (mention, area)

    def sentence_area(self, sentence: _Sentence) -> str | None:
        """The area a sentence is about as a whole: one region, or the image."""
        if sentence.start not in self.sentence_areas:
            region = self.single_region(sentence)
            if region is None and _about_the_whole_image(sentence):
                region = WHOLE
            self.sentence_areas[sentence.start] = region
        return self.sentence_areas[sentence.start]

    def single_region(self, sentence: _Sentence) -> str | None:
        if sentence.start not in self.single_regions:
            self.single_regions[sentence.start] = _single_region(self.text, sentence)
        return self.single_regions[sentence.start]

    def area_at(self, position: int, sentence: _Sentence) -> tuple[str | None, int]:
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

    def area_before(self, position: int, sentence: _Sentence) -> str | None:
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

    def mentions_between(self, start: int, end: int) -> list[Mention]:
        first = bisect_left(self.mention_starts, start)
        last = bisect_left(self.mention_starts, end)
        return self.mentions[first:last]

    def class_after_of(self, position: int, sentence: _Sentence) -> Mention | None:
        """The class right after "of" ("of open water", "of dense forest")."""
        for mention in self.mentions_between(position, sentence.end):
            between = self.text[position : mention.start]
            if _FILLERS_BEFORE_CLASS_RE.fullmatch(between):
                return mention
            return None
        return None

    def class_next(
        self, position: int, sentence: _Sentence, most: int
    ) -> Mention | None:
        """The class within `most` connecting words after `position` ("mostly
        forest", "entirely covered by water"), not one of several."""
        for mention in self.mentions_between(position, sentence.end):
            between = self.text[position : mention.start].lower().split()
            if len(between) > most or not set(between) <= _NEXT_FILLERS:
                return None
            listed = _LISTED_NEXT_RE.match(self.text, mention.end)
            if listed and listed.end() in self.mention_at:
                return None  # "mostly forest and grass": the two together
            return mention
        return None

    def class_after_area(self, position: int, sentence: _Sentence) -> Mention | None:
        """The class after an area and "is" ("… of the top left is water")."""
        copula = _COPULA_AFTER_RE.match(self.text, position, sentence.end)
        if copula is None:
            return None
        return self.class_after_of(copula.end(), sentence)

    def class_just_before(self, position: int, sentence: _Sentence) -> Mention | None:
        """The class right before `position`, one word between at most ("water
        clearly dominates"), not one of several."""
        before = self.mentions_between(sentence.start, position)
        if not before:
            return None
        mention = before[-1]
        if not _ONE_WORD_RE.fullmatch(self.text[mention.end : position]):
            return None
        return None if self.compound(mention, before) else mention

    def class_by_verb(self, position: int, sentence: _Sentence) -> Mention | None:
        """The subject of a share verb just before `position` ("water covers …",
        "forest, which spans …", "covering …"): the nearest class before the verb
        in the same clause, not one of several."""
        head = self.text[sentence.start : position]
        verb = _VERB_BEFORE_RE.search(head)
        if verb is None:
            return None
        verb_start = sentence.start + verb.start()
        before = self.mentions_between(sentence.start, verb_start)
        if not before:
            return None
        mention = before[-1]
        between = self.text[mention.end : verb_start]
        if _BREAK_RE.search(between) or len(between.split()) > 12:
            return None
        return None if self.compound(mention, before) else mention

    def compound(self, mention: Mention, before: list[Mention]) -> bool:
        """Whether a mention ends a list of classes ("forest and grass")."""
        if len(before) < 2:
            return False
        previous = before[-2]
        return bool(_COMPOUND_RE.match(self.text[previous.end : mention.start]))
