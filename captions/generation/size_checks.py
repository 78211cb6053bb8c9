"""The size check: a size given to a class that its share of the area denies. Plain
Python, no Django.

`checks.check_caption` reports what this finds as ``size_contradiction``: a size
given to a class ("a large portion of water", "water covers an extra small fraction
of the image", "mostly cropland", "about half") that the class's share of its area,
a region or the whole image, denies. The claims are size_claims.py's.

Which area a size speaks of comes from the words around it ("… of the top left",
"the image is …") or else from the sentence (sentences.py: a sentence about exactly
one region, or about the image as a whole). A claim whose region lacks the class is
a misplaced class (``region_contradiction``). The check is deliberately
conservative: a sentence that negates is not judged, a size shared by several
classes ("forest and grass cover most of it") is not judged, and a size is flagged
only when the share lies more than `SIZE_MARGIN` points outside what its words
claim. It misses some contradictions rather than raise false ones.
"""

import re

from captions.generation.lexicon import Mention
from captions.generation.sentences import (
    WHOLE,
    AreaReader,
    Contradiction,
    Sentence,
    misplaced,
    negated,
)
from captions.generation.size_claims import SizeClaim
from captions.generation.vocabulary import (
    DOMINANCE_MARGIN,
    REGION_LABELS,
    SHARE_VERBS,
    SIZE_MARGIN,
    SIZE_PHRASES,
    percent,
    recipe_percent,
    size_level,
)
from captions.landcover import CLASS_BY_CODE

_OF_RE = re.compile(r"\s+of\s+", re.IGNORECASE)
_FILLERS_BEFORE_CLASS_RE = re.compile(
    r"(?:(?!(?:and|or|but|with|while|plus|as|in|on|at|near|the)\b)[a-z-]+\s+){0,2}$"
    r"|(?:the\s+)$",
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


def size_contradictions(
    reader: AreaReader, sentence: Sentence, present: set[int]
) -> list[Contradiction]:
    """Size claims of the sentence that their class's share of their area denies;
    a claim whose area lacks the class is a misplaced class. Classes absent from
    the whole patch (not in `present`) are left to the ``absent_class`` check."""
    if not sentence.claims or negated(sentence):
        return []
    claims = _ClaimReader(reader, sentence)
    found = []
    for claim in sentence.claims:
        said = claims.claimed(claim)
        if said is None or said[0].code not in present:
            continue
        mention, area = said
        entry = reader.areas.get(area, {}).get(mention.code)
        if entry is None:
            if area != WHOLE and area in reader.areas:
                found.append(misplaced(mention, area))
            continue
        message = _size_mismatch(reader, claim, mention, entry, area)
        if message is not None:
            span = (min(claim.start, mention.start), max(claim.end, mention.end))
            found.append(("size_contradiction", message, span))
    return found


def _size_mismatch(
    reader: AreaReader, claim: SizeClaim, mention: Mention, entry: dict, area: str
) -> str | None:
    """What is wrong with the size a claim gives the entry's class, or None."""
    entries = reader.areas[area]
    label = "image" if area == WHOLE else REGION_LABELS[area]
    term = CLASS_BY_CODE[mention.code].term
    real = f"{term} covers {percent(entry['share'])}% of the {label}"
    words = reader.text[min(claim.start, mention.start) : max(claim.end, mention.end)]
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


class _ClaimReader:
    """Reads which class mention each size claim of one sentence sizes, and in
    which area."""

    def __init__(self, reader: AreaReader, sentence: Sentence) -> None:
        self.reader = reader
        self.text = reader.text
        self.sentence = sentence

    def claimed(self, claim: SizeClaim) -> tuple[Mention, str] | None:
        """The class mention a size claim sizes and the area it sizes it in."""
        if claim.reads in ("dominant_next", "whole"):  # "mostly forest"
            mention = self.class_next(claim.end, 3)
            return self.with_area(mention, before=claim.start)
        if claim.reads == "dominant_subject":
            tail = _SUBJECT_TAIL_RE.match(self.text, claim.end, self.sentence.end)
            if tail is None:
                return None
            mention = self.class_after_of(tail.end())
            return self.with_area(mention, after=tail.start("area"))
        if claim.reads == "dominant_previous":
            mention = self.class_just_before(claim.start)
            after = _AFTER_DOMINANT_RE.match(self.text, claim.end)
            return self.with_area(mention, after=after.end() if after else 0)
        return self.claimed_share(claim)

    def claimed_share(self, claim: SizeClaim) -> tuple[Mention, str] | None:
        """A share: "a large part of water" (the class follows), "a large part of
        the top left is water" (the area, then the class), "water covers a large
        part (of the image)" (the class before, by a verb)."""
        of = _OF_RE.match(self.text, claim.end)
        if of is not None:
            mention = self.class_after_of(of.end())
            if mention is not None:
                return self.with_area(mention, before=claim.start)
            area, area_end = self.reader.area_at(of.end(), self.sentence)
            if area is None:
                return None
            mention = self.class_by_verb(claim.start) or (
                self.class_after_area(area_end)
            )
            if mention is None:
                return None
            return (mention, area) if area != "sentence" else self.with_area(mention)
        mention = self.class_by_verb(claim.start) or self.class_next(claim.end, 1)
        return self.with_area(mention, before=claim.start)

    def with_area(
        self, mention: Mention | None, *, before: int = 0, after: int = 0
    ) -> tuple[Mention, str] | None:
        """The mention with its area: the one named right before `before` ("the
        top left is …") or right at `after` ("dominates the image"), else the
        sentence's."""
        if mention is None:
            return None
        area = None
        if before:
            area = self.reader.area_before(before, self.sentence)
        if area is None and after:
            area = self.reader.area_at(after, self.sentence)[0]
            area = None if area == "sentence" else area
        if area is None:
            area = self.reader.sentence_area(self.sentence)
        return None if area is None else (mention, area)

    def class_after_of(self, position: int) -> Mention | None:
        """The class right after "of" ("of open water", "of dense forest")."""
        for mention in self.reader.mentions_between(position, self.sentence.end):
            between = self.text[position : mention.start]
            if _FILLERS_BEFORE_CLASS_RE.fullmatch(between):
                return mention
            return None
        return None

    def class_next(self, position: int, most: int) -> Mention | None:
        """The class within `most` connecting words after `position` ("mostly
        forest", "entirely covered by water"), not one of several."""
        for mention in self.reader.mentions_between(position, self.sentence.end):
            between = self.text[position : mention.start].lower().split()
            if len(between) > most or not set(between) <= _NEXT_FILLERS:
                return None
            listed = _LISTED_NEXT_RE.match(self.text, mention.end)
            if listed and listed.end() in self.reader.mention_at:
                return None  # "mostly forest and grass": the two together
            return mention
        return None

    def class_after_area(self, position: int) -> Mention | None:
        """The class after an area and "is" ("… of the top left is water")."""
        copula = _COPULA_AFTER_RE.match(self.text, position, self.sentence.end)
        if copula is None:
            return None
        return self.class_after_of(copula.end())

    def class_just_before(self, position: int) -> Mention | None:
        """The class right before `position`, one word between at most ("water
        clearly dominates"), not one of several."""
        before = self.reader.mentions_between(self.sentence.start, position)
        if not before:
            return None
        mention = before[-1]
        if not _ONE_WORD_RE.fullmatch(self.text[mention.end : position]):
            return None
        return None if self.compound(mention, before) else mention

    def class_by_verb(self, position: int) -> Mention | None:
        """The subject of a share verb just before `position` ("water covers …",
        "forest, which spans …", "covering …"): the nearest class before the verb
        in the same clause, not one of several."""
        start = self.sentence.start
        verb = _VERB_BEFORE_RE.search(self.text[start:position])
        if verb is None:
            return None
        verb_start = start + verb.start()
        before = self.reader.mentions_between(start, verb_start)
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
