"""The offline backend: captions written from the land-cover statistics alone.

No network and no model. `write_caption` follows the rules the prompts give an LLM
(DOMAIN.md 4 and 5): it names the dominant class and where it lies, goes through the
regions in order (top left, top right, bottom left, bottom right, middle), lists each
region's classes (at least 20 pixels, up to three) from largest to smallest with a size
that matches DOMAIN.md's size phrases, and ends on the main theme. A random generator
seeded with the request's seed picks among many phrasings for every slot, so captions
vary from patch to patch yet repeat for the same seed. It never uses a forbidden or
colour word, and every name it gives a class is one `captions.generation.checks`
recognises, so
its captions pass every check (the tests hold it to that on random patches).
"""

import random
import time
from typing import NamedTuple

from captions.generation.prompts import (
    estimate_tokens,
    percent,
    size_level,
    text_tokens,
)
from captions.landcover import MIN_PIXELS, REGION_NAMES
from captions.llm.base import BackendError, ChatRequest, ChatResult

MODEL = "offline-1"


class _Share(NamedTuple):
    """One class in one area: its share and DOMAIN.md size level (0 = extra small)."""

    code: int
    fraction: float
    p: int
    level: int


# Names a caption gives each class, with whether a verb after it takes the plural.
_NAMES: dict[int, tuple[tuple[str, bool], ...]] = {
    10: (
        ("tree cover", False),
        ("trees", True),
        ("forest", False),
        ("woodland", False),
    ),
    20: (("shrubland", False), ("shrubs", True), ("scrub", False)),
    30: (("grassland", False), ("grass", False), ("open grassland", False)),
    40: (
        ("cropland", False),
        ("farmland", False),
        ("cultivated land", False),
        ("agricultural land", False),
        ("crop fields", True),
    ),
    50: (
        ("developed area", False),
        ("developed land", False),
        ("built-up land", False),
        ("urban land", False),
    ),
    60: (("bare land", False), ("bare ground", False), ("barren land", False)),
    70: (("snow", False), ("snow cover", False), ("permanent snow", False)),
    80: (("water", False), ("open water", False), ("surface water", False)),
    90: (("wetland", False), ("marshland", False), ("marsh", False)),
    95: (("mangroves", True), ("mangrove stands", True), ("mangrove thickets", True)),
    100: (("moss", False), ("lichen", False), ("moss cover", False)),
}

_REGION_PHRASES: dict[str, tuple[str, ...]] = {
    "top_left": ("top left", "upper left", "top-left corner", "top-left quarter"),
    "top_right": ("top right", "upper right", "top-right corner", "top-right quarter"),
    "bottom_left": (
        "bottom left",
        "lower left",
        "bottom-left corner",
        "bottom-left quarter",
    ),
    "bottom_right": (
        "bottom right",
        "lower right",
        "bottom-right corner",
        "bottom-right quarter",
    ),
    "middle": ("middle", "centre", "central area", "middle of the image"),
}
_HALVES = {
    ("top_left", "top_right"): ("in the upper half", "in the top half"),
    ("bottom_left", "bottom_right"): ("in the lower half", "in the bottom half"),
    ("top_left", "bottom_left"): ("in the left half", "on the left side"),
    ("top_right", "bottom_right"): ("in the right half", "on the right side"),
}
_QUADRANTS = REGION_NAMES[:4]

# Size words per DOMAIN.md level, each with the nouns it reads well with.
_NOUNS = ("fraction", "part", "portion", "amount", "quantity")
_SIZES: tuple[tuple[tuple[str, tuple[str, ...]], ...], ...] = (
    (
        ("extra small", _NOUNS),
        ("very small", _NOUNS),
        ("tiny", ("fraction", "part", "portion", "share", "patch")),
    ),
    (
        ("small", (*_NOUNS, "share", "patch")),
        ("minor", ("part", "portion", "share", "fraction")),
        ("modest", ("part", "portion", "share", "amount", "proportion")),
    ),
    (
        ("medium", _NOUNS),
        ("moderate", ("part", "portion", "share", "amount", "proportion")),
    ),
    (
        ("large", (*_NOUNS, "area", "expanse")),
        ("substantial", ("part", "portion", "share", "amount", "proportion")),
        ("considerable", ("part", "portion", "share", "amount")),
        ("major", ("part", "portion", "share")),
    ),
    (
        ("extra large", _NOUNS),
        ("very large", (*_NOUNS, "area")),
        ("vast", ("expanse", "area")),
        ("overwhelming", ("share", "proportion", "majority")),
    ),
)
# Whole size phrases without a size word, used now and then for variety.
_PLAIN_SIZES: tuple[tuple[str, ...], ...] = (
    ("a sliver of", "a scattering of", "a trace of"),
    ("a limited share of", "a lesser share of"),
    ("a fair share of", "a good part of"),
    ("a big part of", "a great deal of"),
    ("an almost unbroken expanse of", "a near-continuous stretch of"),
)
_FRACTION_WORDS = (
    (10, "a tenth"),
    (20, "a fifth"),
    (25, "a quarter"),
    (33, "a third"),
    (40, "two fifths"),
    (50, "half"),
    (67, "two thirds"),
    (75, "three quarters"),
    (90, "nine tenths"),
)
_SHARE_VERBS = (
    ("covers", "cover"),
    ("takes up", "take up"),
    ("accounts for", "account for"),
    ("occupies", "occupy"),
    ("makes up", "make up"),
)

_LIST_INTROS = (
    "In the {r}, there is {l}.",
    "The {r} contains {l}.",
    "The {r} holds {l}.",
    "The {r} is made up of {l}.",
    "The {r} consists of {l}.",
    "Turning to the {r}, we find {l}.",
    "The {r} shows {l}.",
    "The {r} features {l}.",
    "Looking at the {r}, one sees {l}.",
    "The {r} is covered by {l}.",
    "Within the {r}, there is {l}.",
    "The {r} is home to {l}.",
    "As for the {r}, it consists of {l}.",
    "Moving on, the {r} holds {l}.",
)
_LIST_FIRST = (
    ("{l} {v} the {r}.", ("makes up", "make up")),
    ("{l} {v} the {r}.", ("occupies", "occupy")),
    ("{l} {v} seen in the {r}.", ("can be", "can be")),
    ("{l} {v} found in the {r}.", ("is", "are")),
    ("{l} {v} the {r}.", ("defines", "define")),
    ("{l} {v} up the {r}.", ("takes", "take")),
)
_CLAUSE_INTROS = (
    "In the {r}, ",
    "Within the {r}, ",
    "Across the {r}, ",
    "For the {r}, ",
)
_EMPTY_REGION = (
    "The {r} lies outside the mapped area.",
    "No land cover is mapped in the {r}.",
    "The {r} holds no land-cover data.",
)
_SPARSE_REGION = (
    "The {r} holds only a few scattered pixels of land cover.",
    "Hardly any land cover is mapped in the {r}.",
)
_SAME_AS_BEFORE = (
    "The {r} looks much the same.",
    "The {r} is much the same.",
    "The same mix continues in the {r}.",
    "The {r} repeats this pattern.",
    "The {r} mirrors it closely.",
    "The {r} is no different.",
)
_SAME_AS_BEFORE_MANY = (
    "The {r} look much the same.",
    "The same mix continues in the {r}.",
    "The {r} repeat this pattern.",
    "The same goes for the {r}.",
)
_SAME_SINGLE = (
    "The {r} is the same.",
    "The {r} is no different.",
    "The same is true of the {r}.",
)
_SAME_SINGLE_MANY = (
    "The same goes for the {r}.",
    "The same is true of the {r}.",
    "The {r} are no different.",
)
_EMPTY_AGAIN = ("The {r} has no data either.", "The {r} is empty as well.")
_EMPTY_AGAIN_MANY = ("The {r} have no data either.", "The {r} are empty as well.")
_SEQUENCE_WORDS = ("Meanwhile, ", "Next, ", "Then, ")
_PAIRS = (
    "{0} and {1}",
    "{0}, along with {1}",
    "{0}, followed by {1}",
    "{0} plus {1}",
    "{0} next to {1}",
)
_TRIPLES = (
    "{0}, {1} and {2}",
    "{0}, {1}, and {2}",
    "{0}, followed by {1} and {2}",
    "{0}, then {1}, and finally {2}",
    "{0}, {1} and also {2}",
)

_NO_LAND_COVER = (
    "No land-cover class covers enough of this image to describe it.",
    "This image holds no mapped land cover large enough to describe.",
)

# Themes: a class that covers most of the image, a pair that shares it, or a mix.
_SINGLE_THEMES: dict[int, tuple[str, ...]] = {
    10: ("a densely forested landscape", "a wooded area", "a forest-covered landscape"),
    20: ("a shrubland", "a shrub-covered landscape", "an expanse of scrubland"),
    30: ("open grassland", "a grassy plain", "a landscape of meadows"),
    40: ("an agricultural landscape", "open farmland", "a rural area of crop fields"),
    50: ("an urban area", "a densely built-up town", "a built-up urban setting"),
    60: ("a barren landscape", "a stretch of bare, rocky terrain", "barren land"),
    70: (
        "a mountainous area under snow and ice",
        "a snow-covered landscape",
        "a glacial, snowy landscape",
    ),
    80: ("a large body of water", "an expanse of open water", "a water-covered area"),
    90: ("a wetland", "a marshy landscape", "an expanse of marshland"),
    95: ("a mangrove coast", "a coastal mangrove area"),
    100: ("a tundra of moss and lichen", "a landscape of moss and lichen"),
}
_PAIR_THEMES: dict[frozenset[int], tuple[str, ...]] = {
    frozenset({10, 40}): ("a patchwork of forest and farmland", "wooded farmland"),
    frozenset({40, 50}): ("a settlement set among farmland", "a rural town"),
    frozenset({10, 80}): ("a forested shoreline", "a lake among woods"),
    frozenset({50, 80}): ("a waterfront urban area", "a town on the water"),
    frozenset({10, 30}): ("a landscape of meadows and woodland",),
    frozenset({30, 40}): (
        "farmland mixed with pasture",
        "a pastoral farming landscape",
    ),
    frozenset({60, 70}): ("a high-mountain landscape of snow and rock",),
    frozenset({10, 50}): ("a town set among trees", "a wooded suburban area"),
    frozenset({20, 30}): ("a semi-natural landscape of shrubs and grass",),
    frozenset({20, 60}): ("a dry, sparse landscape of scrub and bare ground",),
    frozenset({80, 90}): ("a wetland by open water",),
    frozenset({80, 95}): ("a mangrove coast",),
}
_THEME_INTROS = (
    "Overall, the scene is {t}.",
    "All in all, this is {t}.",
    "Taken together, the image shows {t}.",
    "The main theme of the image is {t}.",
    "In short, the patch depicts {t}.",
    "Altogether, it is {t}.",
    "The scene as a whole is {t}.",
    "Above all, this is {t}.",
)


def write_caption(landcover: dict, seed: int) -> str:
    """A ChatEarthNet-style paragraph about a patch, from its statistics alone.

    Deterministic for (`landcover`, `seed`); see the module docstring for the rules.
    """
    return _Writer(landcover, random.Random(seed)).caption()


class _Writer:
    def __init__(self, landcover: dict, rng: random.Random) -> None:
        self.landcover = landcover
        self.rng = rng
        self.last_name: dict[int, str] = {}
        self.recent_nouns: list[str] = []
        self.overall = _shares(landcover["overall"])
        area = landcover["height"] * landcover["width"]
        # Shares are of the mapped (valid) pixels: say "the image" only when that is
        # (nearly) all of it.
        self.mapped = landcover["valid_pixels"] >= 0.9 * area
        # Every phrase for the whole holds "whole" or "entire": a sentence about the
        # whole image is then never read by checks.py as a sentence about one region.
        self.whole = (
            ("the whole image", "the entire scene")
            if self.mapped
            else ("the whole mapped area", "the entire mapped part of the image")
        )
        self.amount_of = (
            ("the image", "the scene") if self.mapped else ("the mapped area",)
        )
        self.regions = {
            name: _shares(landcover["regions"][name]) for name in REGION_NAMES
        }

    def caption(self) -> str:
        if not self.overall:
            return self.rng.choice(_NO_LAND_COVER)
        sentences = [self.dominant_sentence(), *self.region_sentences()]
        sentences.append(self.theme_sentence())
        return " ".join(sentences)

    # --- words --------------------------------------------------------------------

    def name(self, code: int) -> tuple[str, bool]:
        """A name of the class, (text, plural), avoiding the one used just before."""
        options = _NAMES[code]
        index = self.rng.randrange(len(options))
        if options[index][0] == self.last_name.get(code):
            index = (index + 1) % len(options)
        self.last_name[code] = options[index][0]
        return options[index]

    def region(self, region: str) -> str:
        return self.rng.choice(_REGION_PHRASES[region])

    def size_np(self, share: _Share) -> str:
        """'a large portion of forest': a size phrase of the share's level."""
        name = self.name(share.code)[0]
        if self.rng.random() < 0.12:
            return f"{self.rng.choice(_PLAIN_SIZES[share.level])} {name}"
        size, nouns = self.rng.choice(_SIZES[share.level])
        article = "an" if size[0] in "aeiou" else "a"
        return f"{article} {size} {self.noun(nouns)} of {name}"

    def noun(self, nouns: tuple[str, ...]) -> str:
        """One of `nouns`, avoiding the last three used so that a list varies."""
        fresh = [noun for noun in nouns if noun not in self.recent_nouns] or nouns
        noun = self.rng.choice(fresh)
        self.recent_nouns = [*self.recent_nouns[-2:], noun]
        return noun

    def quantity(self, share: _Share, largest: bool) -> str:
        """How much of a region a share takes, as an object: 'about two thirds'."""
        rng, p = self.rng, share.p
        options = [self.size_np_head(share)]
        for anchor, words in _FRACTION_WORDS:
            if abs(p - anchor) <= 2:
                if p < anchor:
                    hedge = rng.choice(("just under", "almost", "nearly"))
                elif p > anchor:
                    hedge = rng.choice(("just over", "a little more than"))
                else:
                    hedge = rng.choice(("about", "roughly", "around"))
                options.append(f"{hedge} {words}")
        if share.fraction > 0.5 and share.level == 3:
            options.append(
                rng.choice(("more than half", "the greater part", "the bulk"))
            )
        elif share.p >= 90:
            options.append(
                rng.choice(("nearly the entire area", "almost the whole area"))
            )
        elif share.level == 4:
            options.append("well over three quarters")
        elif share.fraction < 0.1:
            options.append("less than a tenth")
        elif largest:
            options.append("the largest share")
        return rng.choice(options)

    def size_np_head(self, share: _Share) -> str:
        size, nouns = self.rng.choice(_SIZES[share.level])
        article = "an" if size[0] in "aeiou" else "a"
        return f"{article} {size} {self.noun(nouns[:3])}"

    def join(self, parts: list[str], plain: bool = False) -> str:
        """'a, b and c', in one of several ways; `plain` keeps to 'and'."""
        if len(parts) == 1:
            return parts[0]
        if plain:
            return ", ".join(parts[:-1]) + " and " + parts[-1]
        if len(parts) == 2:
            return self.rng.choice(_PAIRS).format(*parts)
        return self.rng.choice(_TRIPLES).format(*parts)

    # --- sentences ------------------------------------------------------------------

    def dominant_sentence(self) -> str:
        rng = self.rng
        whole = rng.choice(self.whole)
        top = self.overall[0]
        tied = [s for s in self.overall[1:] if s.fraction == top.fraction]
        if tied:
            named = [(self.name(s.code)[0], s.code) for s in (top, *tied)]
            names = self.join([name for name, _ in named], plain=True)
            places = " and ".join(
                f"{name} {self.where(code)}" for name, code in named[:2]
            )
            return _capitalise(
                rng.choice(
                    (
                        f"{names} cover equal shares of {whole}, with {places}.",
                        f"Across {whole}, {names} are equally widespread, with "
                        f"{places}.",
                    )
                )
            )
        name, plural = self.name(top.code)
        is_, fills = ("are", "fill") if plural else ("is", "fills")
        options: tuple[str, ...]
        if top.fraction >= 0.9995:
            if self.mapped:
                options = (
                    f"{name} {fills} the entire image.",
                    f"The whole image is {name}, from edge to edge.",
                    f"Nothing but {name} is mapped across this entire image.",
                )
            else:
                options = (
                    f"{name} {fills} the whole mapped area.",
                    f"Wherever land cover is mapped across the image, it is {name}.",
                )
            return _capitalise(rng.choice(options))
        amount = self.overall_amount(top)
        where = self.where(top.code)
        spans, takes = ("span", "take") if plural else ("spans", "takes")
        stands = "stand" if plural else "stands"
        templates = [
            f"{name} {is_} the dominant class of {whole}, covering {amount}, {where}.",
            f"{whole} is dominated by {name}, which {spans} {amount}, {where}.",
            f"The most widespread land cover across {whole} is {name}, {where}.",
            f"Overall, {name} {takes} up {amount}, {where}.",
            f"Of all the classes in {whole}, {name} {is_} the most extensive, {where}.",
            f"Across {whole}, {name} {stands} out as the main land cover, {where}.",
        ]
        if top.level >= 3:
            templates.append(f"{whole} is primarily {name}, {where}.")
        return _capitalise(rng.choice(templates))

    def overall_amount(self, top: _Share) -> str:
        """How much of the image the dominant class covers, in words."""
        rng = self.rng
        it = rng.choice(self.amount_of)
        if top.p >= 90:
            return rng.choice((f"nearly all of {it}", f"almost all of {it}"))
        if top.level == 4:
            return rng.choice(
                (f"the vast majority of {it}", f"well over three quarters of {it}")
            )
        if top.level == 3 and top.p <= 52:
            return rng.choice((f"about half of {it}", f"roughly half of {it}"))
        if top.level == 3:
            return rng.choice((f"most of {it}", f"more than half of {it}"))
        if top.level == 2:
            return rng.choice(
                (f"the largest share of {it}", "more ground than any other class")
            )
        return rng.choice(
            (
                "the largest share, though no class clearly dominates",
                "only a modest share, yet more than any other class",
            )
        )

    def where(self, code: int) -> str:
        """Where a class lies: the quadrants it fills, else its densest region."""
        rng = self.rng
        strong = tuple(r for r in _QUADRANTS if self.fraction(r, code) >= 0.5)
        if len(strong) == 4:
            return rng.choice(("in all four quarters", "throughout all four quarters"))
        if len(strong) == 3:
            (missing,) = set(_QUADRANTS) - set(strong)
            return rng.choice(
                ("everywhere except the {r}", "in every quarter but the {r}")
            ).format(r=self.region(missing))
        if strong in _HALVES:
            return f"{rng.choice(('mostly', 'chiefly'))} {rng.choice(_HALVES[strong])}"
        if len(strong) == 2:
            first, second = (self.region(r) for r in strong)
            return f"mainly in the {first} and the {second}"
        mentionable = [
            r for r in REGION_NAMES if any(s.code == code for s in self.regions[r])
        ]
        if not mentionable:
            return rng.choice(("in small patches", "in scattered patches"))
        densest = max(mentionable, key=lambda r: self.fraction(r, code))
        return rng.choice(
            ("above all in the {r}", "especially in the {r}", "most densely in the {r}")
        ).format(r=self.region(densest))

    def fraction(self, region: str, code: int) -> float:
        return next((s.fraction for s in self.regions[region] if s.code == code), 0.0)

    def region_sentences(self) -> list[str]:
        sentences: list[str] = []
        runs = _runs(
            [(name, self.regions[name], self.valid(name) > 0) for name in REGION_NAMES]
        )
        families = list(range(5))
        self.rng.shuffle(families)
        for index, run in enumerate(runs):
            first = run[0]
            shares = self.regions[first][:3]
            if shares:
                sentence = self.describe_region(first, shares, families[index % 5])
                for retry in range(1, 3):  # two sentences in a row opening alike
                    if _opening(sentence) != _opening(
                        sentences[-1] if sentences else ""
                    ):
                        break
                    family = families[(index + retry) % 5]
                    sentence = self.describe_region(first, shares, family)
                if index and self.rng.random() < 0.2 and sentence.startswith("The "):
                    sentence = self.rng.choice(_SEQUENCE_WORDS) + "t" + sentence[1:]
            else:
                sentence = self.empty_region(first)
            sentences.append(sentence)
            if len(run) > 1:
                sentences.append(self.repeated_regions(run[1:], shares))
        return sentences

    def valid(self, region: str) -> int:
        return sum(e["pixels"] for e in self.landcover["regions"][region])

    def empty_region(self, region: str) -> str:
        options = _EMPTY_REGION if self.valid(region) == 0 else _SPARSE_REGION
        return self.rng.choice(options).format(r=self.region(region))

    def repeated_regions(self, regions: list[str], shares: list[_Share]) -> str:
        """One sentence for regions that repeat the region described before them."""
        phrases = [self.region(r) for r in regions]
        options: tuple[str, ...]
        kinds: tuple[tuple[str, ...], tuple[str, ...]]
        if not shares:
            kinds = (_EMPTY_AGAIN, _EMPTY_AGAIN_MANY)
        elif len(shares) == 1:
            kinds = (_SAME_SINGLE, _SAME_SINGLE_MANY)
        else:
            kinds = (_SAME_AS_BEFORE, _SAME_AS_BEFORE_MANY)
        if len(phrases) == 1:
            options, listed = kinds[0], phrases[0]
        else:
            options = kinds[1]
            listed = ", the ".join(phrases[:-1]) + " and the " + phrases[-1]
        return self.rng.choice(options).format(r=listed)

    def describe_region(self, region: str, shares: list[_Share], family: int) -> str:
        first = shares[0]
        if len(shares) == 1 and first.level == 4:
            return self.single_class(region, first)
        if (
            family == 4
            and len(shares) >= 2
            and first.level >= 2
            and first.p - shares[1].p <= 8
            and shares[1].p >= 25
        ):
            return self.split(region, shares)
        if (
            family >= 3
            and first.fraction > 0.5
            and (len(shares) == 1 or first.p - shares[1].p >= 15)
        ):
            return self.dominated(region, shares)
        if family == 2:
            return self.clauses(region, shares)
        if family == 1:
            return self.list_first(region, shares)
        return self.list_after_intro(region, shares)

    def list_after_intro(self, region: str, shares: list[_Share]) -> str:
        listed = self.join([self.size_np(s) for s in shares])
        return self.rng.choice(_LIST_INTROS).format(r=self.region(region), l=listed)

    def list_first(self, region: str, shares: list[_Share]) -> str:
        listed = self.join([self.size_np(s) for s in shares], plain=True)
        pattern, verbs = self.rng.choice(_LIST_FIRST)
        verb = verbs[len(shares) > 1]
        sentence = pattern.format(l=listed, v=verb, r=self.region(region))
        return _capitalise(sentence)

    def clauses(self, region: str, shares: list[_Share]) -> str:
        rng = self.rng
        verbs = list(_SHARE_VERBS)
        rng.shuffle(verbs)
        parts: list[str] = []
        amounts: list[str] = []
        for index, share in enumerate(shares):
            name, plural = self.name(share.code)
            verb = verbs[index][plural]
            if name.endswith("cover") and verb.startswith("cover"):
                verb = verbs[-1][plural]  # not "snow cover covers"
            amount = self.quantity(share, index == 0)
            if amount in amounts:  # not "less than a tenth" twice
                amount = self.size_np_head(share)
            amounts.append(amount)
            parts.append(f"{name} {verb} {amount}")
        if len(parts) > 1 and rng.random() < 0.5:
            head = f"{parts[0]} of the {self.region(region)}"
            tail = parts[1] if len(parts) == 2 else f"{parts[1]} and {parts[2]}"
            return _capitalise(f"{head}, while {tail}.")
        intro = rng.choice(_CLAUSE_INTROS).format(r=self.region(region))
        body = parts[0] if len(parts) == 1 else self.join_clauses(parts)
        return f"{intro}{body}."

    def join_clauses(self, parts: list[str]) -> str:
        if len(parts) == 2:
            return self.rng.choice(("{0} and {1}", "{0}, while {1}")).format(*parts)
        return self.rng.choice(("{0}, {1} and {2}", "{0}, {1}, and {2}")).format(*parts)

    def dominated(self, region: str, shares: list[_Share]) -> str:
        rng = self.rng
        first, rest = shares[0], shares[1:]
        name, plural = self.name(first.code)
        r = self.region(region)
        tail = ""
        if rest:
            listed = self.join([self.size_np(s) for s in rest])
            tail = rng.choice((", with {0}", ", alongside {0}", ", accompanied by {0}"))
            tail = tail.format(listed)
        options = [
            f"The {r} is dominated by {name}{tail}.",
            f"{name} {'dominate' if plural else 'dominates'} the {r}{tail}.",
            f"The {r} is mostly {name}{tail}.",
        ]
        if first.fraction > 0.5:
            options.append(f"Most of the {r} is {name}{tail}.")
        if first.p >= 90:
            options.append(f"Nearly all of the {r} is {name}{tail}.")
        return _capitalise(rng.choice(options))

    def single_class(self, region: str, share: _Share) -> str:
        name, plural = self.name(share.code)
        r = self.region(region)
        options: tuple[str, ...]
        if share.fraction >= 0.9995:
            options = (
                f"The {r} is entirely {name}.",
                f"The {r} is completely covered by {name}.",
                f"Only {name} {'are' if plural else 'is'} found in the {r}.",
            )
        elif share.p >= 90:
            options = (
                f"The {r} is almost entirely {name}.",
                f"Nearly all of the {r} is {name}.",
                f"The {r} is covered by {self.size_np(share)}.",
            )
        else:
            options = (
                f"The {r} is mostly {name}.",
                f"The {r} is covered by {self.size_np(share)}.",
            )
        return self.rng.choice(options)

    def split(self, region: str, shares: list[_Share]) -> str:
        first, second = (self.name(s.code)[0] for s in shares[:2])
        tail = f", plus {self.size_np(shares[2])}" if len(shares) > 2 else ""
        r = self.region(region)
        return self.rng.choice(
            (
                f"The {r} is split almost evenly between {first} and {second}{tail}.",
                f"{_capitalise(first)} and {second} share the {r} in roughly equal "
                f"measure{tail}.",
            )
        )

    def theme_sentence(self) -> str:
        rng = self.rng
        top = self.overall[0]
        second = self.overall[1] if len(self.overall) > 1 else None
        if top.p >= 60 or second is None or (top.p >= 45 and second.p < 20):
            theme = rng.choice(_SINGLE_THEMES[top.code])
        elif second.p >= 25 and frozenset((top.code, second.code)) in _PAIR_THEMES:
            theme = rng.choice(_PAIR_THEMES[frozenset((top.code, second.code))])
        elif second.p >= 25 or len(self.overall) == 2:
            first_name, second_name = (self.name(s.code)[0] for s in (top, second))
            theme = rng.choice(("a mosaic of {0} and {1}", "a mix of {0} and {1}"))
            theme = theme.format(first_name, second_name)
        else:
            names = self.join([self.name(s.code)[0] for s in self.overall[:3]])
            theme = rng.choice(
                ("a mixed landscape of {0}", "a varied patchwork of {0}")
            ).format(names)
        return rng.choice(_THEME_INTROS).format(t=theme)


def _shares(entries: list[dict]) -> list[_Share]:
    return [
        _Share(code, fraction, percent(fraction), size_level(fraction))
        for code, fraction, pixels in (
            (e["code"], e["fraction"], e["pixels"]) for e in entries
        )
        if pixels >= MIN_PIXELS
    ]


def _runs(regions: list[tuple[str, list[_Share], bool]]) -> list[list[str]]:
    """Consecutive regions whose top three classes have the same size levels (or
    that are both empty, or both nearly empty)."""
    runs: list[list[str]] = []
    previous: tuple | None = None
    for name, shares, valid in regions:
        signature = tuple((s.code, s.level) for s in shares[:3]) or ("empty", valid)
        if runs and signature == previous:
            runs[-1].append(name)
        else:
            runs.append([name])
        previous = signature
    return runs


def _opening(sentence: str) -> list[str]:
    return sentence.split()[:2]


def _capitalise(sentence: str) -> str:
    return sentence[:1].upper() + sentence[1:]


class OfflineBackend:
    """A `Backend` that writes captions itself: for demos, tests and load tests."""

    name = "offline"

    def check(self) -> None:
        """Nothing to check: no key, no server."""

    def complete(self, request: ChatRequest) -> ChatResult:
        started = time.perf_counter()
        if not request.landcover:
            raise BackendError(
                "bad_request",
                "the offline backend writes from the patch's land-cover statistics, "
                "and this request carries none",
            )
        text = write_caption(request.landcover, request.seed)
        return ChatResult(
            text=text,
            finish_reason="stop",
            prompt_tokens=estimate_tokens(request.messages),
            completion_tokens=text_tokens(text),
            latency_s=time.perf_counter() - started,
            model=MODEL,
        )
