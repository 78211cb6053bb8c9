"""The area checks: what a sentence says about one area, a region or the whole
image, that the area's statistics deny. Plain Python, no Django.

`area_contradictions` is what `checks.check_caption` calls. It reads the caption
sentence by sentence (sentences.py) and runs two checks on each: the placement
check here, a class placed in a region that has none of it
(``region_contradiction``), and the size check of size_checks.py
(``size_contradiction``). A sentence is judged by one region only when it is about
exactly that region: one that also points elsewhere (left, north, across, the
rest, …) or negates (no, not, without, …) is not judged. The checks miss some
contradictions rather than raise false ones.
"""

from captions.generation.lexicon import Hit, Mention, Word
from captions.generation.sentences import (
    AreaReader,
    Contradiction,
    Sentence,
    caption_sentences,
    misplaced,
    named_regions,
)
from captions.generation.size_checks import size_contradictions


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
    classes it may name). A size claim that only repeats a misplaced class already
    found is not reported twice."""
    regions = named_regions(words, hits)
    reader = AreaReader(text, mentions, regions, landcover)
    found: list[Contradiction] = []
    for sentence in caption_sentences(text, words, mentions, regions):
        placed = position_contradictions(reader, sentence, present)
        found += placed
        flagged = {span for _, _, span in placed}
        found += [
            contradiction
            for contradiction in size_contradictions(reader, sentence, present)
            if contradiction[2] not in flagged
        ]
    return found


def position_contradictions(
    reader: AreaReader, sentence: Sentence, present: set[int]
) -> list[Contradiction]:
    """Classes named in a one-region sentence that the region does not have."""
    region = reader.single_region(sentence)
    if region is None or region not in reader.areas:
        return []
    return [
        misplaced(mention, region)
        for mention in sentence.mentions
        if mention.code in present and mention.code not in reader.areas[region]
    ]
