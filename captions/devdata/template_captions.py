"""Captions in ChatEarthNet's manner, for the planted-error set. Plain Python, no
Django.

`TemplateWriter` writes a caption region by region, as ChatEarthNet's captions go: a
sentence on the whole image, one on each region (top left, top right, bottom left,
bottom right, middle), a theme. It says sizes in many ways (size phrases, fractions,
percentages, "most of", "mostly", "dominates"), every one true to the statistics.
For planted_errors.py it can also write the same caption with one size wrong by at
least `WRONG_BY` points, or with the dominant class left out, and nothing else
changed: each sentence has its own seeded generator.
"""

import random
from collections.abc import Callable

from captions.generation.prompts import mentionable
from captions.generation.vocabulary import (
    FRACTION_PERCENTS,
    SIZE_BANDS,
    SIZE_NOUNS,
    SIZE_PHRASES,
    SIZE_WORDS,
    exact_shares,
    percent,
    size_level,
    with_article,
)
from captions.landcover import CODES, REGION_NAMES
from captions.llm.offline_phrases import NAMES, SHARE_VERBS, SINGLE_THEMES
from captions.llm.offline_words import capitalise

# A planted size lies at least this many points outside what its words claim.
WRONG_BY = 10


def off_by(p: int, band: tuple[int, int]) -> bool:
    """Whether a share of `p` percent lies `WRONG_BY` points or more outside `band`."""
    return p < band[0] - WRONG_BY or p > band[1] + WRONG_BY


def agree(plural: bool, singular_verb: str, plural_verb: str) -> str:
    """The verb that agrees with a class name ("forest covers", "trees cover")."""
    return plural_verb if plural else singular_verb


# --- Sizes, true and wrong ------------------------------------------------------------


def _level_phrase(rng: random.Random, level: int) -> str:
    """'a large portion': mostly the recipe's phrase, now and then a synonym."""
    word = rng.choice(SIZE_WORDS[level]) if rng.random() < 0.3 else SIZE_PHRASES[level]
    return f"{with_article(word)} {rng.choice((*SIZE_NOUNS, 'share', 'proportion'))}"


# The fractions these captions give, (percent, words) in rising order.
_FRACTIONS: tuple[tuple[int, str], ...] = tuple(
    (FRACTION_PERCENTS[words], words)
    for words in (
        "a tenth",
        "a fifth",
        "a quarter",
        "a third",
        "half",
        "two thirds",
        "three quarters",
    )
)


def _true_amounts(rng: random.Random, p: int, level: int) -> list[str]:
    """Ways to say how much a share of `p` percent is: a size phrase (most often),
    a fraction, a percentage, "most of", "nearly all", "less than a tenth"."""
    options = [_level_phrase(rng, level)] * 4
    options += [
        f"{rng.choice(('about', 'roughly', 'around'))} {words}"
        for anchor, words in _FRACTIONS
        if abs(p - anchor) <= 2
    ]
    options.append(rng.choice((f"about {p}%", f"{p}%", f"roughly {p} percent")))
    if p >= 56:
        options.append(rng.choice(("more than half", "most")))
    if p >= 93:
        options.append("nearly all")
    if p <= 7:
        options.append("less than a tenth")
    return options


def _wrong_amount(rng: random.Random, p: int) -> str:
    """A size `WRONG_BY` points or more off `p` percent, said in one of the ways of
    `_true_amounts`."""
    options = [
        _level_phrase(rng, level) for level in range(5) if off_by(p, SIZE_BANDS[level])
    ]
    options += [
        f"about {words}" for anchor, words in _FRACTIONS if abs(p - anchor) >= 15
    ]
    if p < 50 - WRONG_BY:
        options.append(rng.choice(("more than half", "most", "nearly all")))
    if p > 10 + WRONG_BY:
        options.append("less than a tenth")
    far = [q for q in range(2, 99) if abs(q - p) >= 18]
    options.append(rng.choice((f"about {rng.choice(far)}%", f"{rng.choice(far)}%")))
    return rng.choice(options)


class _Entry:
    """A class in one area: its code and share, and the name the caption gives it."""

    def __init__(self, code: int, share: float, name: tuple[str, bool]) -> None:
        self.code = code
        self.p = percent(share)
        self.level = size_level(share)
        self.name, self.plural = name


class _Amounts:
    """The sizes of one sentence, asked for in turn. Number `wrong_at` is planted
    wrong from the `wrong` generator, after the sentence's own generator drew the
    true one, so the rest of the sentence stays word for word the same."""

    def __init__(
        self, rng: random.Random, wrong: random.Random | None = None, wrong_at: int = -1
    ) -> None:
        self.rng = rng
        self.wrong = wrong
        self.wrong_at = wrong_at
        self.asked = 0
        self.planted = False

    def _plants_now(self) -> bool:
        self.asked += 1
        return self.wrong is not None and self.asked - 1 == self.wrong_at

    def phrase(self, entry: _Entry) -> str:
        """'a large portion': a size phrase of the entry's level."""
        true = _level_phrase(self.rng, entry.level)
        if not self._plants_now() or self.wrong is None:
            return true
        self.planted = True
        far = [level for level in range(5) if off_by(entry.p, SIZE_BANDS[level])]
        return _level_phrase(self.wrong, self.wrong.choice(far))

    def amount(self, entry: _Entry) -> str:
        """How much, in one of the ways of `_true_amounts`."""
        true = self.rng.choice(_true_amounts(self.rng, entry.p, entry.level))
        if not self._plants_now() or self.wrong is None:
            return true
        self.planted = True
        return _wrong_amount(self.wrong, entry.p)

    def leader(self, first: _Entry, second: _Entry | None) -> tuple[_Entry, _Entry]:
        """The class said to dominate and the one after it; planted, the second
        (when it trails by 20 points or more) is said to dominate instead."""
        if not self._plants_now() or second is None or first.p - second.p < 20:
            return first, second or first
        self.planted = True
        return second, first


# --- Captions in ChatEarthNet's manner ------------------------------------------------

_TEMPLATE_REGIONS: dict[str, tuple[str, ...]] = {
    "top_left": ("top left", "top-left corner", "upper left", "top left region"),
    "top_right": ("top right", "top-right corner", "upper right", "top right region"),
    "bottom_left": (
        "bottom left",
        "bottom-left corner",
        "lower left",
        "bottom left region",
    ),
    "bottom_right": (
        "bottom right",
        "bottom-right corner",
        "lower right",
        "bottom right region",
    ),
    "middle": ("middle", "centre", "central area", "middle region"),
}
_SentenceWriter = Callable[[_Amounts], str | None]


class TemplateWriter:
    """A caption in ChatEarthNet's manner: a sentence on the whole image, one a
    region (top left, top right, bottom left, bottom right, middle), a theme. Each
    sentence has its own seeded generator, so a planted size (`wrong`) or the
    dominant class left out (`omit`) changes only what it must."""

    def __init__(
        self,
        landcover: dict,
        seed: int,
        *,
        wrong: random.Random | None = None,
        omit: bool = False,
    ) -> None:
        self.seed = seed
        self.wrong = wrong
        self.omit = omit
        names = random.Random(seed)
        self.names = {code: names.choice(NAMES[code]) for code in CODES}
        self.overall = self.entries(landcover["overall"])
        self.regions = {
            region: self.entries(landcover["regions"][region])
            for region in REGION_NAMES
        }
        self.left_out = self.overall[0].code if omit and self.overall else None

    def entries(self, statistics: list[dict]) -> list[_Entry]:
        return [
            _Entry(e["code"], e["share"], self.names[e["code"]])
            for e in mentionable(exact_shares(statistics))
        ]

    def caption(self) -> str | None:
        """The caption; None if what is asked cannot be planted here (the dominant
        class left out of a patch of one class, or of a tie)."""
        if not self.overall:
            return "No land-cover class covers enough of this image to describe it."
        if self.omit and (
            len(self.overall) < 2 or self.overall[0].p == self.overall[1].p
        ):
            return None
        writers: list[_SentenceWriter] = [
            self.overall_sentence,
            *(self.region_writer(region) for region in REGION_NAMES),
            self.theme_sentence,
        ]
        sentences = [
            writer(_Amounts(self.rng(index))) for index, writer in enumerate(writers)
        ]
        if self.wrong is not None and not self.plant_a_size(writers, sentences):
            return None
        return " ".join(sentence for sentence in sentences if sentence)

    def plant_a_size(
        self, writers: list[_SentenceWriter], sentences: list[str | None]
    ) -> bool:
        """Rewrite one size of one sentence, picked at random, wrong."""
        slots = []
        for index, writer in enumerate(writers):
            amounts = _Amounts(self.rng(index))
            writer(amounts)
            slots += [(index, slot) for slot in range(amounts.asked)]
        random.Random(self.seed * 31 + 7).shuffle(slots)
        for index, slot in slots:
            amounts = _Amounts(self.rng(index), self.wrong, slot)
            sentence = writers[index](amounts)
            if amounts.planted:
                sentences[index] = sentence
                return True
        return False

    def rng(self, index: int) -> random.Random:
        return random.Random(self.seed * 100 + index)

    def kept(self, entries: list[_Entry]) -> list[_Entry]:
        return [entry for entry in entries if entry.code != self.left_out]

    def overall_sentence(self, amounts: _Amounts) -> str:
        rng = amounts.rng
        entries = self.kept(self.overall)
        if self.omit:
            return f"This image shows {self.listing(entries[:3], amounts)}."
        top, rest = entries[0], entries[1:3]
        family = rng.randrange(8)
        if family in (0, 1):
            leader, others = self.leader(top, rest, amounts)
            tail = f", with {self.listing(others, amounts)}" if others else ""
            if family == 0:
                return f"This image is predominantly covered by {leader.name}{tail}."
            if rng.random() < 0.5:
                return f"The dominant land cover in this image is {leader.name}{tail}."
            return f"The image is mostly {leader.name}{tail}."
        if family == 2:
            return (
                f"{capitalise(top.name)} {agree(top.plural, 'is', 'are')} the "
                "dominant land cover in this image, covering "
                f"{amounts.amount(top)} of the scene."
            )
        if family == 3:
            tail = f", followed by {self.names_of(rest)}" if rest else ""
            amount = capitalise(amounts.amount(top))
            return f"{amount} of the image is {top.name}{tail}."
        if family == 4:
            return f"{capitalise(self.clause(top, amounts))} of the image."
        if family == 5 and rest:
            return (
                f"Overall, {self.clause(top, amounts)} of the image, while "
                f"{self.clause(rest[0], amounts)}."
            )
        if family == 6:
            phrase = capitalise(amounts.phrase(top))
            verb = rng.choice(("covers", "fills", "spreads over"))
            return f"{phrase} of {top.name} {verb} the scene."
        return f"The scene holds {self.listing(entries[:3], amounts)}."

    def region_writer(self, region: str) -> _SentenceWriter:
        return lambda amounts: self.region_sentence(region, amounts)

    def region_sentence(self, region: str, amounts: _Amounts) -> str | None:
        rng = amounts.rng
        said = rng.choice(_TEMPLATE_REGIONS[region])
        entries = self.kept(self.regions[region])[:3]
        if not entries:
            return None if self.omit else f"The {said} holds no mapped land cover."
        family = 0 if self.omit else rng.randrange(8)
        first, rest = entries[0], entries[1:]
        if family <= 1:
            intro = rng.choice(("In the {r}, there is", "The {r} contains"))
            return f"{intro.format(r=said)} {self.listing(entries, amounts)}."
        if family == 2:
            clauses = [self.clause(entry, amounts) for entry in rest]
            head = f"{capitalise(self.clause(first, amounts))} of the {said}"
            return head + (f", while {' and '.join(clauses)}." if clauses else ".")
        with_rest = f", with {self.listing(rest, amounts)}" if rest else ""
        if family == 3:
            amount = capitalise(amounts.amount(first))
            head = f"{amount} of the {said} {agree(first.plural, 'is', 'are')}"
            return f"{head} {first.name}{with_rest}."
        if family in (4, 5) and first.level >= 3:
            leader, others = self.leader(first, rest, amounts)
            tail = f", with {self.listing(others, amounts)}" if others else ""
            if family == 4 and rng.random() < 0.3:
                return f"The main land cover in the {said} is {leader.name}{tail}."
            if family == 4:
                return f"The {said} is mostly {leader.name}{tail}."
            verb = agree(leader.plural, "dominates", "dominate")
            return f"{capitalise(leader.name)} {verb} the {said}{tail}."
        if family == 6:
            return (
                f"{capitalise(first.name)} {agree(first.plural, 'is', 'are')} the "
                f"main land cover of the {said}, covering {amounts.amount(first)}"
                f"{with_rest}."
            )
        return f"In the {said}, {self.clause(first, amounts)}{with_rest}."

    def theme_sentence(self, amounts: _Amounts) -> str:
        rng = amounts.rng
        entries = self.kept(self.overall)
        if self.omit:
            theme = f"a landscape of {entries[0].name}"
        elif len(entries) < 2 or entries[0].p >= 60:
            theme = rng.choice(SINGLE_THEMES[entries[0].code])
        else:
            theme = f"a mix of {entries[0].name} and {entries[1].name}"
        intro = rng.choice(
            ("Overall, the image depicts {t}.", "The main theme of the image is {t}.")
        )
        return intro.format(t=theme)

    def leader(
        self, first: _Entry, rest: list[_Entry], amounts: _Amounts
    ) -> tuple[_Entry, list[_Entry]]:
        """The class said to dominate, and the others in order after it."""
        leader, other = amounts.leader(first, rest[0] if rest else None)
        if leader is first:
            return first, rest
        return leader, [other, *rest[1:]]

    def clause(self, entry: _Entry, amounts: _Amounts) -> str:
        """'forest covers a large part'."""
        verb = agree(entry.plural, *amounts.rng.choice(SHARE_VERBS))
        return f"{entry.name} {verb} {amounts.amount(entry)}"

    def listing(self, entries: list[_Entry], amounts: _Amounts) -> str:
        """'a large portion of forest, a small part of water and …'."""
        parts = [f"{amounts.phrase(entry)} of {entry.name}" for entry in entries]
        return self.joined(parts)

    def names_of(self, entries: list[_Entry]) -> str:
        return self.joined([entry.name for entry in entries])

    @staticmethod
    def joined(parts: list[str]) -> str:
        if len(parts) <= 1:
            return "".join(parts)
        return ", ".join(parts[:-1]) + " and " + parts[-1]
