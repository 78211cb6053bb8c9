"""The offline writer's word choices: class names, places, sizes, lists. No Django.

One `Words` per caption holds the seeded random generator and what it said last, so
that a caption varies its wording (not the same name of a class twice in a row, not
the same size noun three times) and repeats exactly for the same seed.
"""

import random
from typing import NamedTuple

from captions.generation.vocabulary import (
    exact_shares,
    percent,
    size_level,
    with_article,
)
from captions.landcover import MIN_PIXELS
from captions.llm.offline_phrases import (
    FRACTION_WORDS,
    NAMES,
    PAIRS,
    PLAIN_SIZES,
    REGION_PHRASES,
    SIZES,
    TRIPLES,
)


class Share(NamedTuple):
    """One class in one area: its share and DOMAIN.md size level (0 = extra small)."""

    code: int
    fraction: float
    p: int
    level: int


def shares(entries: list[dict]) -> list[Share]:
    """The classes of a statistics list that a caption may name (20 pixels or more)."""
    return [
        Share(code, fraction, percent(fraction), size_level(share))
        for code, fraction, share, pixels in (
            (e["code"], e["fraction"], e["share"], e["pixels"])
            for e in exact_shares(entries)
        )
        if pixels >= MIN_PIXELS
    ]


def capitalise(sentence: str) -> str:
    return sentence[:1].upper() + sentence[1:]


class Words:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.last_name: dict[int, str] = {}
        self.recent_nouns: list[str] = []

    def name(self, code: int) -> tuple[str, bool]:
        """A name of the class, (text, plural), avoiding the one used just before."""
        options = NAMES[code]
        index = self.rng.randrange(len(options))
        if options[index][0] == self.last_name.get(code):
            index = (index + 1) % len(options)
        self.last_name[code] = options[index][0]
        return options[index]

    def region(self, region: str) -> str:
        return self.rng.choice(REGION_PHRASES[region])

    def size_np(self, share: Share) -> str:
        """'a large portion of forest': a size phrase of the share's level."""
        name = self.name(share.code)[0]
        if self.rng.random() < 0.12:
            return f"{self.rng.choice(PLAIN_SIZES[share.level])} {name}"
        size, nouns = self.rng.choice(SIZES[share.level])
        return f"{with_article(size)} {self.noun(nouns)} of {name}"

    def size_np_head(self, share: Share) -> str:
        """'a large portion': a size phrase of the share's level, without the class."""
        size, nouns = self.rng.choice(SIZES[share.level])
        return f"{with_article(size)} {self.noun(nouns[:3])}"

    def noun(self, nouns: tuple[str, ...]) -> str:
        """One of `nouns`, avoiding the last three used so that a list varies."""
        fresh = [noun for noun in nouns if noun not in self.recent_nouns] or nouns
        noun = self.rng.choice(fresh)
        self.recent_nouns = [*self.recent_nouns[-2:], noun]
        return noun

    def quantity(self, share: Share, largest: bool) -> str:
        """How much of a region a share takes, as an object: 'about two thirds'."""
        options = [self.size_np_head(share), *self.fractions(share.p)]
        proportion = self.proportion(share, largest)
        if proportion:
            options.append(proportion)
        return self.rng.choice(options)

    def fractions(self, p: int) -> list[str]:
        """'just under a third', 'about half': the fractions within 2% of `p`."""
        rng = self.rng
        options = []
        for anchor, words in FRACTION_WORDS:
            if abs(p - anchor) <= 2:
                if p < anchor:
                    hedge = rng.choice(("just under", "almost", "nearly"))
                elif p > anchor:
                    hedge = rng.choice(("just over", "a little more than"))
                else:
                    hedge = rng.choice(("about", "roughly", "around"))
                options.append(f"{hedge} {words}")
        return options

    def proportion(self, share: Share, largest: bool) -> str:
        """'more than half', 'less than a tenth', 'the largest share'... or "" when
        none of them fits."""
        rng = self.rng
        if share.fraction > 0.5 and share.level == 3:
            return rng.choice(("more than half", "the greater part", "the bulk"))
        if share.p >= 90:
            return rng.choice(("nearly the entire area", "almost the whole area"))
        if share.level == 4:
            return "well over three quarters"
        if share.fraction < 0.1:
            return "less than a tenth"
        if largest:
            return "the largest share"
        return ""

    def join(self, parts: list[str], plain: bool = False) -> str:
        """'a, b and c', in one of several ways; `plain` keeps to 'and'."""
        if len(parts) == 1:
            return parts[0]
        if plain:
            return ", ".join(parts[:-1]) + " and " + parts[-1]
        if len(parts) == 2:
            return self.rng.choice(PAIRS).format(*parts)
        return self.rng.choice(TRIPLES).format(*parts)
