"""A planted-error set for the caption checks. Plain Python and numpy, no Django.

Clean captions, and copies of them with one error planted each, labelled by kind
(`KINDS`): a class the patch does not have, a wrong size, a class placed in a region
that has none of it, the dominant class left out, a forbidden word, a colour word,
a reply cut off. `benchmarks/bench_checks.py` measures the checks
(captions/generation/checks.py) on it: the share of each kind that its check
catches, and the share of clean captions flagged at all.

The statistics are those of synthetic patches (devdata/synthetic.py). The clean
captions come from two writers: the offline backend (captions/llm/offline.py) and
`_TemplateWriter` here, which writes in ChatEarthNet's manner, region by region,
with sizes said in many ways (size phrases, fractions, percentages, "most of",
"mostly", "dominates"), every one true to the statistics. Each planted caption is a
clean one with one error: words, sentences and cut-offs are planted into the text of
either writer, a wrong size is swapped into a size phrase of either (the template
writer rewrites one of its sizes, in any of its ways), and the dominant class is left
out by the template writer, which then writes the rest as before.

Each error is one the checks can see in principle: an absent class has under 20
pixels in the patch; a misplaced class has 20 or more in the patch and under 20 in
the one region its sentence names; a wrong size lies at least `WRONG_BY` points
outside what its words claim (a phrase one level off at a band's edge is not
planted); a cut reply ends mid-sentence. Everything is seeded: the same arguments
give the same set.
"""

import random
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from captions.devdata.synthetic import synthetic_patch
from captions.generation.prompts import mentionable
from captions.generation.vocabulary import (
    SIZE_BANDS,
    SIZE_LEVEL_OF_WORD,
    SIZE_NOUNS,
    SIZE_PHRASES,
    SIZE_WORDS,
    exact_shares,
    percent,
    size_level,
    with_article,
)
from captions.landcover import CODES, MIN_PIXELS, REGION_NAMES, landcover_stats
from captions.llm.offline import write_caption
from captions.llm.offline_phrases import NAMES, REGION_PHRASES, SINGLE_THEMES

KINDS: tuple[str, ...] = (
    "absent_class",
    "wrong_size",
    "wrong_position",
    "dominant_missing",
    "forbidden_word",
    "colour_word",
    "cut_off",
)
# The check that should catch each kind (captions/generation/checks.py).
EXPECTED_CHECK: dict[str, str] = {
    "absent_class": "absent_class",
    "wrong_size": "size_contradiction",
    "wrong_position": "region_contradiction",
    "dominant_missing": "dominant_missing",
    "forbidden_word": "forbidden_word",
    "colour_word": "colour_word",
    "cut_off": "cut_off",
}
SOURCES = ("offline", "templates")
# A planted size lies at least this many points outside what its words claim.
WRONG_BY = 10


@dataclass(frozen=True)
class PlantedCaption:
    """One caption of the set: `kind` is "clean" or one of `KINDS`; `clean_text` is
    the caption the error was planted in (`text` itself for a clean one); `planted`
    is the character range of the words of `text` that differ from it (for a
    deletion, the words around it; None for a clean caption)."""

    kind: str
    text: str
    clean_text: str
    landcover: dict
    source: str  # one of SOURCES
    planted: tuple[int, int] | None


def planted_error_set(seed: int = 11, per_kind: int = 60) -> list[PlantedCaption]:
    """`per_kind` planted captions of each kind, and beside them the clean captions
    of every patch they were planted in (two a patch, one per writer), which are
    more. Patches take three kinds each in turn, so each kind meets many patches."""
    rng = np.random.default_rng(seed)
    counts = dict.fromkeys(KINDS, 0)
    clean: list[PlantedCaption] = []
    planted: list[PlantedCaption] = []
    owed: list[str] = []  # kinds an earlier patch could not take
    index = 0
    while min(counts.values()) < per_kind:
        landcover = landcover_stats(synthetic_patch(rng).codes)
        caption_seed = seed * 10_000 + index
        captions = {
            "offline": write_caption(landcover, caption_seed),
            "templates": _TemplateWriter(landcover, caption_seed).caption() or "",
        }
        plants = random.Random(f"{seed}-{index}")
        turn = [KINDS[(3 * index + step) % len(KINDS)] for step in range(3)]
        wanted = [
            kind for kind in dict.fromkeys([*owed, *turn]) if counts[kind] < per_kind
        ]
        owed = []
        for kind in wanted:
            # The writers take turns, kind by kind and patch by patch.
            source = SOURCES[(index // len(KINDS) + KINDS.index(kind)) % 2]
            if kind == "dominant_missing":
                source = "templates"
            item = _planted_caption(
                kind, captions[source], landcover, (source, caption_seed), plants
            )
            if item is None:
                owed.append(kind)
                continue
            counts[kind] += 1
            planted.append(item)
        clean += [
            PlantedCaption("clean", text, text, landcover, source, None)
            for source, text in captions.items()
        ]
        index += 1
    return clean + planted


def _planted_caption(
    kind: str,
    clean_text: str,
    landcover: dict,
    written: tuple[str, int],
    rng: random.Random,
) -> PlantedCaption | None:
    """`clean_text` with an error of `kind` planted, or None if the patch has no
    room for one; `written` is the clean caption's writer and seed."""
    source = written[0]
    text = _plant(kind, clean_text, landcover, written, rng)
    if not text or text == clean_text:
        return None
    planted = _difference(clean_text, text)
    return PlantedCaption(kind, text, clean_text, landcover, source, planted)


def catches(item: PlantedCaption, findings: list[dict]) -> bool:
    """Whether `findings` (of `check_caption` on `item.text`) catch its planted
    error: a finding of the kind's check (`EXPECTED_CHECK`) that marks the planted
    words (its span touches them), or that is about the caption as a whole (no
    span: a missing dominant class)."""
    if item.planted is None:
        return False
    start, end = item.planted
    return any(
        finding["check"] == EXPECTED_CHECK[item.kind]
        and (
            finding["span"] is None
            or (finding["span"][0] <= end + 1 and start <= finding["span"][1] + 1)
        )
        for finding in findings
    )


def _plant(
    kind: str,
    text: str,
    landcover: dict,
    written: tuple[str, int],
    rng: random.Random,
) -> str | None:
    """`text` with one error of `kind`, or None where the patch does not allow it.
    The template writer rewrites its own caption (its seed: `written`) with one
    size wrong or the dominant class left out."""
    source, caption_seed = written
    if kind == "wrong_size" and source == "templates":
        return _TemplateWriter(landcover, caption_seed, wrong=rng).caption()
    if kind == "dominant_missing":
        return _TemplateWriter(landcover, caption_seed, omit=True).caption()
    planters: dict[str, Callable[[str, dict, random.Random], str | None]] = {
        "absent_class": _plant_absent_class,
        "wrong_size": _plant_wrong_size,
        "wrong_position": _plant_wrong_position,
        "forbidden_word": _plant_forbidden_word,
        "colour_word": _plant_colour_word,
        "cut_off": _plant_cut_off,
    }
    return planters[kind](text, landcover, rng)


def _difference(clean: str, text: str) -> tuple[int, int]:
    """The words of `text` that differ from `clean` (for a deletion, the words on
    either side of it), as a character range."""
    old = [match.group() for match in re.finditer(r"\S+", clean)]
    new = list(re.finditer(r"\S+", text))
    start = 0
    while start < min(len(old), len(new)) and old[start] == new[start].group():
        start += 1
    end = 0
    while end < min(len(old), len(new)) - start and (
        old[-1 - end] == new[-1 - end].group()
    ):
        end += 1
    first, last = start, len(new) - end - 1
    if first > last:  # nothing but a deletion: the words around it
        first, last = max(first - 1, 0), min(first, len(new) - 1)
    return new[first].start(), new[last].end()


# --- Words for planted sentences ------------------------------------------------------

# The names a planted sentence gives each class, with whether a verb takes the plural:
# the offline writer's and a few more.
_NAMES: dict[int, tuple[tuple[str, bool], ...]] = {
    code: (*NAMES[code], *more)
    for code, more in {
        10: (("woods", True), ("forests", True)),
        20: (("bushes", True), ("scrubland", False)),
        30: (("meadows", True), ("pasture", False)),
        40: (("fields", True), ("arable land", False)),
        50: (("villages", True), ("buildings", True), ("a settlement", False)),
        60: (("bare rock", False), ("barren ground", False)),
        70: (("glaciers", True), ("snowfields", True)),
        80: (("a lake", False), ("a river", False), ("ponds", True)),
        90: (("marshland", False), ("swamps", True)),
        95: (("mangrove forest", False),),
        100: (("lichen", False),),
    }.items()
}
# How a caption may name each region: the offline writer's ways, the template
# writer's and a few more.
_REGION_WORDING: dict[str, tuple[str, ...]] = {
    region: (*REGION_PHRASES[region], *more)
    for region, more in {
        "top_left": ("top left region", "north-west"),
        "top_right": ("top right region", "north-east"),
        "bottom_left": ("bottom left region", "south-west"),
        "bottom_right": ("bottom right region", "south-east"),
        "middle": ("middle region", "center of the image"),
    }.items()
}
_REGION_OF_WORDING = [
    (re.compile(rf"\b{re.escape(wording)}\b", re.IGNORECASE), region)
    for region, wordings in _REGION_WORDING.items()
    for wording in wordings
]
_SENTENCE_END_RE = re.compile(r"(?<=[.!?])\s+")


def _sentences(text: str) -> list[str]:
    return _SENTENCE_END_RE.split(text.strip())


def _regions_named(sentence: str) -> set[str]:
    return {
        region for pattern, region in _REGION_OF_WORDING if pattern.search(sentence)
    }


def _insert_sentence(text: str, sentence: str, rng: random.Random) -> str:
    """`sentence` put between two sentences of `text`, or after the last."""
    sentences = _sentences(text)
    position = rng.randint(1, len(sentences))
    return " ".join([*sentences[:position], sentence, *sentences[position:]])


def _capitalise(sentence: str) -> str:
    return sentence[:1].upper() + sentence[1:]


def _agree(plural: bool, singular_verb: str, plural_verb: str) -> str:
    return plural_verb if plural else singular_verb


# --- Planting into a caption's text ---------------------------------------------------


def _plant_absent_class(text: str, landcover: dict, rng: random.Random) -> str | None:
    """A class with under 20 pixels in the patch, named in a new sentence or clause."""
    pixels = {e["code"]: e["pixels"] for e in landcover["overall"]}
    code = rng.choice([code for code in CODES if pixels.get(code, 0) < MIN_PIXELS])
    name, plural = rng.choice(_NAMES[code])
    region = rng.choice(_REGION_WORDING[rng.choice(REGION_NAMES)])
    if rng.random() < 0.25:
        stripped = text.rstrip()
        return f"{stripped[:-1]}, along with some {name}{stripped[-1]}"
    sentence = rng.choice(
        [
            f"There {_agree(plural, 'is', 'are')} also {name} in the {region}.",
            f"A few patches of {name} can be seen in the {region}.",
            f"{_capitalise(name)} {_agree(plural, 'lies', 'lie')} along the edge "
            "of the image.",
            f"Scattered {name} {_agree(plural, 'completes', 'complete')} the picture.",
            f"The {region} also holds a small amount of {name}.",
        ]
    )
    return _insert_sentence(text, sentence, rng)


def _plant_wrong_position(text: str, landcover: dict, rng: random.Random) -> str | None:
    """A class of the patch put in a region with under 20 pixels of it: in a new
    sentence, or added to a sentence that names that region alone."""
    present = [e["code"] for e in mentionable(landcover["overall"])]
    misplaced = [
        (code, region)
        for region in REGION_NAMES
        for code in present
        if all(
            e["code"] != code or e["pixels"] < MIN_PIXELS
            for e in landcover["regions"][region]
        )
    ]
    if not misplaced:
        return None
    code, region = rng.choice(misplaced)
    name, plural = rng.choice(_NAMES[code])
    sentences = _sentences(text)
    about = [i for i, s in enumerate(sentences) if _regions_named(s) == {region}]
    if about and rng.random() < 0.4:
        index = rng.choice(about)
        tail = rng.choice((", and some {n}", ", along with a little {n}", " and {n}"))
        sentences[index] = sentences[index][:-1] + tail.format(n=name) + "."
        return " ".join(sentences)
    said = rng.choice(_REGION_WORDING[region])
    sentence = rng.choice(
        [
            f"{_capitalise(name)} can be found in the {said}.",
            f"The {said} also holds some {name}.",
            f"In the {said}, there {_agree(plural, 'is', 'are')} {name} as well.",
            f"A patch of {name} sits in the {said}.",
            f"The {said} is home to {name} too.",
            f"{_capitalise(name)} {_agree(plural, 'covers', 'cover')} a small part "
            f"of the {said}.",
        ]
    )
    return _insert_sentence(text, sentence, rng)


_SIZE_NP_RE = re.compile(
    r"\b(?P<article>an?)\s+(?P<size>"
    + "|".join(sorted(SIZE_LEVEL_OF_WORD, key=len, reverse=True))
    + r")\s+(?:[a-z]+)\s+of\s+(?P<name>"
    + "|".join(
        sorted(
            {re.escape(name) for names in _NAMES.values() for name, _ in names},
            key=len,
            reverse=True,
        )
    )
    + r")\b",
    re.IGNORECASE,
)
_CODE_OF_NAME = {
    name.lower(): code for code, names in _NAMES.items() for name, _ in names
}


def _plant_wrong_size(text: str, landcover: dict, rng: random.Random) -> str | None:
    """A size phrase ("a large portion of forest") in a sentence about one region
    given a size word `WRONG_BY` points or more off the class's share there."""
    sentences = _sentences(text)
    choices = []
    for index, sentence in enumerate(sentences):
        regions = _regions_named(sentence)
        if len(regions) != 1:
            continue
        (region,) = regions
        shares = {
            e["code"]: e
            for e in mentionable(exact_shares(landcover["regions"][region]))
        }
        for match in _SIZE_NP_RE.finditer(sentence):
            entry = shares.get(_CODE_OF_NAME[match.group("name").lower()])
            if entry is not None:
                choices.append((index, match, percent(entry["share"])))
    if not choices:
        return None
    index, match, share = rng.choice(choices)
    far = [level for level in range(5) if _off_by(share, SIZE_BANDS[level])]
    word = rng.choice(SIZE_WORDS[rng.choice(far)][:2])
    sentence = sentences[index]
    article = with_article(word)
    if match.group("article")[0].isupper():
        article = _capitalise(article)
    sentences[index] = (
        sentence[: match.start()] + article + sentence[match.end("size") :]
    )
    return " ".join(sentences)


_FORBIDDEN_SENTENCES = (
    "The scene shows a gradual transition from one land cover to the next.",
    "A transitional zone separates the classes.",
    "In this context, the land is used for several purposes.",
    "The pattern suggests a dynamic landscape.",
    "Its dynamics are driven by the seasons.",
    "The land cover changes from one region to the next.",
    "Little has changed here in recent years.",
    "According to the color dictionary, each class has its own shade.",
    "The segmentation map shows clear boundaries between classes.",
    "Its appearance is that of a typical rural area.",
    "The fields appear well kept.",
    "The area is unlikely to be heavily populated.",
)
_HEDGES = ("perhaps", "possibly", "likely")


def _plant_forbidden_word(text: str, landcover: dict, rng: random.Random) -> str | None:
    """A hedging or meta word: before a sentence, after an "is", or in a sentence of
    its own."""
    sentences = _sentences(text)
    choice = rng.randrange(3)
    if choice == 1:
        index = rng.randrange(len(sentences))
        sentence = sentences[index]
        sentences[index] = (
            f"{_capitalise(rng.choice(_HEDGES))}, {sentence[:1].lower()}{sentence[1:]}"
        )
        return " ".join(sentences)
    verbs = [(i, m) for i, s in enumerate(sentences) for m in re.finditer(" is ", s)]
    if choice == 2 and verbs:
        index, found = rng.choice(verbs)
        sentence = sentences[index]
        sentences[index] = (
            f"{sentence[: found.start()]} is {rng.choice(_HEDGES)} "
            f"{sentence[found.end() :]}"
        )
        return " ".join(sentences)
    return _insert_sentence(text, rng.choice(_FORBIDDEN_SENTENCES), rng)


# WorldCover's map colour of each class, as a caption of the map might name it.
_MAP_COLOURS: dict[int, tuple[str, ...]] = {
    10: ("green", "dark green"),
    20: ("orange", "brownish"),
    30: ("yellow", "yellowish"),
    40: ("pink", "magenta"),
    50: ("red", "reddish"),
    60: ("grey", "gray"),
    70: ("white", "whitish"),
    80: ("blue", "bluish"),
    90: ("teal", "turquoise"),
    95: ("green", "greenish"),
    100: ("beige", "yellowish"),
}


def _plant_colour_word(text: str, landcover: dict, rng: random.Random) -> str | None:
    """A colour: before a class name the caption uses, or in a sentence of its own."""
    code = rng.choice([e["code"] for e in mentionable(landcover["overall"])])
    colour = rng.choice(_MAP_COLOURS[code])
    said = [
        match
        for name, _ in _NAMES[code]
        for match in re.finditer(rf"\b{re.escape(name)}\b", text, re.IGNORECASE)
    ]
    if said and rng.random() < 0.6:
        match = rng.choice(said)
        name = match.group()
        if name[0].isupper():  # the start of a sentence
            colour, name = _capitalise(colour), name[0].lower() + name[1:]
        return f"{text[: match.start()]}{colour} {name}{text[match.end() :]}"
    name, plural = rng.choice(_NAMES[code])
    sentence = rng.choice(
        [
            f"The {colour} areas are {name}.",
            f"{_capitalise(name)} {_agree(plural, 'shows', 'show')} up in {colour} "
            "on the map.",
            f"Patches of {colour} mark the {name}.",
        ]
    )
    return _insert_sentence(text, sentence, rng)


def _plant_cut_off(text: str, landcover: dict, rng: random.Random) -> str | None:
    """The reply stopped mid-sentence, as at a token limit: cut in its last 60%,
    after a word or inside one."""
    spaces = [
        match.start()
        for match in re.finditer(" ", text)
        if match.start() > 0.4 * len(text)
        and text[match.start() - 1] not in ".!?)]\"'”’"
    ]
    if not spaces:
        return None
    cut = rng.choice(spaces)
    following = text[cut + 1 :].split(" ", 1)[0]
    if rng.random() < 0.25 and len(following) > 3:
        return text[: cut + 1 + rng.randint(2, len(following) - 2)]
    return text[:cut]


# --- Sizes, true and wrong ------------------------------------------------------------


def _off_by(p: int, band: tuple[int, int]) -> bool:
    """Whether a share of `p` percent lies `WRONG_BY` points or more outside `band`."""
    return p < band[0] - WRONG_BY or p > band[1] + WRONG_BY


def _level_phrase(rng: random.Random, level: int) -> str:
    """'a large portion': mostly the recipe's phrase, now and then a synonym."""
    word = rng.choice(SIZE_WORDS[level]) if rng.random() < 0.3 else SIZE_PHRASES[level]
    return f"{with_article(word)} {rng.choice((*SIZE_NOUNS, 'share', 'proportion'))}"


_FRACTIONS = (
    (10, "a tenth"),
    (20, "a fifth"),
    (25, "a quarter"),
    (33, "a third"),
    (50, "half"),
    (67, "two thirds"),
    (75, "three quarters"),
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
        _level_phrase(rng, level) for level in range(5) if _off_by(p, SIZE_BANDS[level])
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
        far = [level for level in range(5) if _off_by(entry.p, SIZE_BANDS[level])]
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
_VERBS = (
    ("covers", "cover"),
    ("takes up", "take up"),
    ("accounts for", "account for"),
    ("occupies", "occupy"),
    ("makes up", "make up"),
)
Sentence = Callable[[_Amounts], str | None]


class _TemplateWriter:
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
        writers: list[Sentence] = [
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
        self, writers: list[Sentence], sentences: list[str | None]
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
                f"{_capitalise(top.name)} {_agree(top.plural, 'is', 'are')} the "
                "dominant land cover in this image, covering "
                f"{amounts.amount(top)} of the scene."
            )
        if family == 3:
            tail = f", followed by {self.names_of(rest)}" if rest else ""
            amount = _capitalise(amounts.amount(top))
            return f"{amount} of the image is {top.name}{tail}."
        if family == 4:
            return f"{_capitalise(self.clause(top, amounts))} of the image."
        if family == 5 and rest:
            return (
                f"Overall, {self.clause(top, amounts)} of the image, while "
                f"{self.clause(rest[0], amounts)}."
            )
        if family == 6:
            phrase = _capitalise(amounts.phrase(top))
            verb = rng.choice(("covers", "fills", "spreads over"))
            return f"{phrase} of {top.name} {verb} the scene."
        return f"The scene holds {self.listing(entries[:3], amounts)}."

    def region_writer(self, region: str) -> Sentence:
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
            head = f"{_capitalise(self.clause(first, amounts))} of the {said}"
            return head + (f", while {' and '.join(clauses)}." if clauses else ".")
        with_rest = f", with {self.listing(rest, amounts)}" if rest else ""
        if family == 3:
            amount = _capitalise(amounts.amount(first))
            head = f"{amount} of the {said} {_agree(first.plural, 'is', 'are')}"
            return f"{head} {first.name}{with_rest}."
        if family in (4, 5) and first.level >= 3:
            leader, others = self.leader(first, rest, amounts)
            tail = f", with {self.listing(others, amounts)}" if others else ""
            if family == 4 and rng.random() < 0.3:
                return f"The main land cover in the {said} is {leader.name}{tail}."
            if family == 4:
                return f"The {said} is mostly {leader.name}{tail}."
            verb = _agree(leader.plural, "dominates", "dominate")
            return f"{_capitalise(leader.name)} {verb} the {said}{tail}."
        if family == 6:
            return (
                f"{_capitalise(first.name)} {_agree(first.plural, 'is', 'are')} the "
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
        verb = _agree(entry.plural, *amounts.rng.choice(_VERBS))
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
