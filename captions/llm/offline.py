"""The offline backend: captions written from the land-cover statistics alone.

No network and no model. `write_caption` follows the rules the prompts give an LLM
(DOMAIN.md 4 and 5): it names the dominant class and where it lies, goes through the
regions in order (top left, top right, bottom left, bottom right, middle), lists each
region's classes (at least 20 pixels, up to three) from largest to smallest with a size
that matches DOMAIN.md's size phrases, and ends on the main theme. A random generator
seeded with the request's seed picks among many phrasings for every slot, so captions
vary from patch to patch yet repeat for the same seed. It never uses a forbidden or
colour word, and every name and size word it gives is one the checks recognise (the
shared vocabulary, captions/generation/vocabulary.py), so its captions pass every
check (the tests hold it to that on random patches).

The phrases are tables in offline_phrases.py; offline_words.py picks the words and
offline_regions.py writes the sentences about the regions.
"""

import random
import time

from captions.generation.prompts import (
    estimate_tokens,
    overall_recipe_order,
    text_tokens,
)
from captions.landcover import REGION_NAMES
from captions.llm.base import BackendError, ChatRequest, ChatResult
from captions.llm.offline_phrases import (
    HALVES,
    NO_LAND_COVER,
    PAIR_THEMES,
    QUADRANTS,
    SINGLE_THEMES,
    THEME_INTROS,
)
from captions.llm.offline_regions import RegionSentences
from captions.llm.offline_words import Share, Words, capitalise, shares

MODEL = "offline-1"


def write_caption(landcover: dict, seed: int) -> str:
    """A ChatEarthNet-style paragraph about a patch, from its statistics alone.

    Deterministic for (`landcover`, `seed`); see the module docstring for the rules.
    """
    return _Writer(landcover, random.Random(seed)).caption()


class _Writer:
    def __init__(self, landcover: dict, rng: random.Random) -> None:
        self.rng = rng
        self.words = Words(rng)
        # In the prompt's order, so classes tied for the largest share are named as
        # the prompt lists them to a model.
        self.overall = shares(overall_recipe_order(landcover))
        area = landcover["height"] * landcover["width"]
        # Shares are of the mapped (valid) pixels: say "the image" only when that is
        # (nearly) all of it.
        self.mapped = landcover["valid_pixels"] >= 0.9 * area
        # Every phrase for the whole holds "whole" or "entire": a sentence about the
        # whole image is then never read by the checks as a sentence about one region.
        self.whole = (
            ("the whole image", "the entire scene")
            if self.mapped
            else ("the whole mapped area", "the entire mapped part of the image")
        )
        self.amount_of = (
            ("the image", "the scene") if self.mapped else ("the mapped area",)
        )
        self.regions = {
            name: shares(landcover["regions"][name]) for name in REGION_NAMES
        }
        self.region_writer = RegionSentences(self.words, landcover, self.regions)

    def caption(self) -> str:
        if not self.overall:
            return self.rng.choice(NO_LAND_COVER)
        sentences = [self.dominant_sentence(), *self.region_writer.sentences()]
        sentences.append(self.theme_sentence())
        return " ".join(sentences)

    def dominant_sentence(self) -> str:
        """The dominant class of the whole image and where it lies."""
        whole = self.rng.choice(self.whole)
        top = self.overall[0]
        tied = [s for s in self.overall[1:] if s.fraction == top.fraction]
        if tied:
            return self.tied_sentence(whole, [top, *tied])
        name, plural = self.words.name(top.code)
        if top.fraction >= 0.9995:
            return self.everywhere_sentence(name, plural)
        amount = self.overall_amount(top)
        where = self.where(top.code)
        is_, takes = ("are", "take") if plural else ("is", "takes")
        spans, stands = ("span", "stand") if plural else ("spans", "stands")
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
        return capitalise(self.rng.choice(templates))

    def tied_sentence(self, whole: str, tied: list[Share]) -> str:
        """Classes that share the largest share equally, and where each lies."""
        named = [(self.words.name(s.code)[0], s.code) for s in tied]
        names = self.words.join([name for name, _ in named], plain=True)
        places = " and ".join(f"{name} {self.where(code)}" for name, code in named[:2])
        return capitalise(
            self.rng.choice(
                (
                    f"{names} cover equal shares of {whole}, with {places}.",
                    f"Across {whole}, {names} are equally widespread, with {places}.",
                )
            )
        )

    def everywhere_sentence(self, name: str, plural: bool) -> str:
        """One class covers all the mapped pixels."""
        fills = "fill" if plural else "fills"
        options: tuple[str, ...]
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
        return capitalise(self.rng.choice(options))

    def overall_amount(self, top: Share) -> str:
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
        strong = tuple(r for r in QUADRANTS if self.fraction(r, code) >= 0.5)
        if len(strong) == 4:
            return rng.choice(("in all four quarters", "throughout all four quarters"))
        if len(strong) == 3:
            (missing,) = set(QUADRANTS) - set(strong)
            return rng.choice(
                ("everywhere except the {r}", "in every quarter but the {r}")
            ).format(r=self.words.region(missing))
        if strong in HALVES:
            return f"{rng.choice(('mostly', 'chiefly'))} {rng.choice(HALVES[strong])}"
        if len(strong) == 2:
            first, second = (self.words.region(r) for r in strong)
            return f"mainly in the {first} and the {second}"
        mentionable = [
            r for r in REGION_NAMES if any(s.code == code for s in self.regions[r])
        ]
        if not mentionable:
            return rng.choice(("in small patches", "in scattered patches"))
        densest = max(mentionable, key=lambda r: self.fraction(r, code))
        return rng.choice(
            ("above all in the {r}", "especially in the {r}", "most densely in the {r}")
        ).format(r=self.words.region(densest))

    def fraction(self, region: str, code: int) -> float:
        return next((s.fraction for s in self.regions[region] if s.code == code), 0.0)

    def theme_sentence(self) -> str:
        rng = self.rng
        top = self.overall[0]
        second = self.overall[1] if len(self.overall) > 1 else None
        if top.p >= 60 or second is None or (top.p >= 45 and second.p < 20):
            theme = rng.choice(SINGLE_THEMES[top.code])
        elif second.p >= 25 and frozenset((top.code, second.code)) in PAIR_THEMES:
            theme = rng.choice(PAIR_THEMES[frozenset((top.code, second.code))])
        elif second.p >= 25 or len(self.overall) == 2:
            first_name, second_name = (
                self.words.name(s.code)[0] for s in (top, second)
            )
            theme = rng.choice(("a mosaic of {0} and {1}", "a mix of {0} and {1}"))
            theme = theme.format(first_name, second_name)
        else:
            names = self.words.join(
                [self.words.name(s.code)[0] for s in self.overall[:3]]
            )
            theme = rng.choice(
                ("a mixed landscape of {0}", "a varied patchwork of {0}")
            ).format(names)
        return rng.choice(THEME_INTROS).format(t=theme)


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
