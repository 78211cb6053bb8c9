"""A planted-error set for the caption checks. Plain Python and numpy, no Django.

Clean captions, and copies of them with one error planted each, labelled by kind
(`KINDS`): a class the patch does not have, a wrong size, a class placed in a region
that has none of it, the dominant class left out, a forbidden word, a colour word,
a reply cut off. `benchmarks/bench_checks.py` measures the checks
(captions/generation/checks.py) on it: the share of each kind that its check
catches, and the share of clean captions flagged at all.

The statistics are those of synthetic patches (devdata/synthetic.py). The clean
captions come from two writers: the offline backend (captions/llm/offline.py) and
`TemplateWriter` (devdata/template_captions.py), which writes in ChatEarthNet's
manner, region by region, with sizes said in many ways (size phrases, fractions,
percentages, "most of", "mostly", "dominates"), every one true to the statistics.
Each planted caption is a clean one with one error: words, sentences and cut-offs
are planted into the text of either writer, a wrong size is swapped into a size
phrase of either (the template writer rewrites one of its sizes, in any of its
ways), and the dominant class is left out by the template writer, which then writes
the rest as before.

Each error is one the checks can see in principle: an absent class has under 20
pixels in the patch; a misplaced class has 20 or more in the patch and under 20 in
the one region its sentence names; a wrong size lies at least `WRONG_BY` points
(template_captions.py) outside what its words claim (a phrase one level off at a
band's edge is not planted); a cut reply ends mid-sentence. Everything is seeded:
the same arguments give the same set.
"""

import random
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from captions.devdata.synthetic import synthetic_patch
from captions.devdata.template_captions import TemplateWriter, agree, off_by
from captions.generation.prompts import mentionable
from captions.generation.vocabulary import (
    SIZE_BANDS,
    SIZE_LEVEL_OF_WORD,
    SIZE_WORDS,
    exact_shares,
    percent,
    with_article,
)
from captions.landcover import CODES, MIN_PIXELS, REGION_NAMES, landcover_stats
from captions.llm.offline import write_caption
from captions.llm.offline_phrases import NAMES, REGION_PHRASES
from captions.llm.offline_words import capitalise

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
            "templates": TemplateWriter(landcover, caption_seed).caption() or "",
        }
        plants = random.Random(f"{seed}-{index}")
        turn = [KINDS[(3 * index + step) % len(KINDS)] for step in range(3)]
        wanted = [
            kind for kind in dict.fromkeys([*owed, *turn]) if counts[kind] < per_kind
        ]
        owed = []
        for kind in wanted:
            source = _writer_for(kind, index)
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


def _writer_for(kind: str, index: int) -> str:
    """Whose caption of patch `index` takes an error of `kind`: the writers take
    turns, kind by kind and patch by patch; only the template writer can leave the
    dominant class out."""
    if kind == "dominant_missing":
        return "templates"
    return SOURCES[(index // len(KINDS) + KINDS.index(kind)) % 2]


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
        return TemplateWriter(landcover, caption_seed, wrong=rng).caption()
    if kind == "dominant_missing":
        return TemplateWriter(landcover, caption_seed, omit=True).caption()
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
            f"There {agree(plural, 'is', 'are')} also {name} in the {region}.",
            f"A few patches of {name} can be seen in the {region}.",
            f"{capitalise(name)} {agree(plural, 'lies', 'lie')} along the edge "
            "of the image.",
            f"Scattered {name} {agree(plural, 'completes', 'complete')} the picture.",
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
            f"{capitalise(name)} can be found in the {said}.",
            f"The {said} also holds some {name}.",
            f"In the {said}, there {agree(plural, 'is', 'are')} {name} as well.",
            f"A patch of {name} sits in the {said}.",
            f"The {said} is home to {name} too.",
            f"{capitalise(name)} {agree(plural, 'covers', 'cover')} a small part "
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
    far = [level for level in range(5) if off_by(share, SIZE_BANDS[level])]
    word = rng.choice(SIZE_WORDS[rng.choice(far)][:2])
    sentence = sentences[index]
    article = with_article(word)
    if match.group("article")[0].isupper():
        article = capitalise(article)
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
            f"{capitalise(rng.choice(_HEDGES))}, {sentence[:1].lower()}{sentence[1:]}"
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
            colour, name = capitalise(colour), name[0].lower() + name[1:]
        return f"{text[: match.start()]}{colour} {name}{text[match.end() :]}"
    name, plural = rng.choice(_NAMES[code])
    sentence = rng.choice(
        [
            f"The {colour} areas are {name}.",
            f"{capitalise(name)} {agree(plural, 'shows', 'show')} up in {colour} "
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
