"""The shared vocabulary of captions (DOMAIN.md 4 to 6). Plain Python, no Django.

The words a prompt asks for or forbids, the words the checks recognise, and the words
the offline writer picks from: one table per kind, read by
captions/generation/prompts.py, checks.py and captions/llm/offline*.py alike, so a
word added here is asked for, recognised and written the same way.
"""

# The hedging and meta words every prompt forbids.
FORBIDDEN_WORDS: tuple[str, ...] = (
    "possibly",
    "likely",
    "perhaps",
    "context",
    "segmentation",
    "appear",
    "change",
    "transition",
    "dynamic",
)
VISION_FORBIDDEN_WORDS: tuple[str, ...] = (*FORBIDDEN_WORDS, "color dictionary")

# Inflections each forbidden word also catches: "appears" and "appearance" are the
# word the prompt forbids; "possible" and "disappear" are other words.
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

# A colour is its class in the vision style (DOMAIN.md 5); the checks flag these in
# every caption, so the list holds the plain names and their "-ish" forms.
COLOUR_WORDS: tuple[str, ...] = (
    "red",
    "reddish",
    "green",
    "greenish",
    "blue",
    "bluish",
    "yellow",
    "yellowish",
    "cyan",
    "magenta",
    "purple",
    "purplish",
    "violet",
    "pink",
    "pinkish",
    "orange",
    "brown",
    "brownish",
    "grey",
    "greyish",
    "gray",
    "grayish",
    "white",
    "whitish",
    "black",
    "blackish",
    "beige",
    "turquoise",
    "teal",
    "maroon",
)

# The words that name each class, as whole words in any case; a hyphen also matches
# a space ("built-up", "built up"). Compounds such as "mangrove forest" or "grass
# fields" name one class, and "developed area" or "open water" are one span.
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

# --- Regions -------------------------------------------------------------------------

# How a prompt names each region (captions/landcover.py REGION_NAMES).
REGION_LABELS: dict[str, str] = {
    "top_left": "top left",
    "top_right": "top right",
    "bottom_left": "bottom left",
    "bottom_right": "bottom right",
    "middle": "middle",
}

_SIDES = ("left", "right")
# How a caption may name a region: "top left", "upper-left", "north-western",
# "centre"... (lower case, one space between words).
REGION_WORDS: dict[str, str] = {
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

# --- Sizes ---------------------------------------------------------------------------

# The size words of each DOMAIN.md size level (0 = extra small ... 4 = extra large);
# the first of each level is the phrase a prompt gives (`SIZE_PHRASES`), the others
# are what captions also say and the checks read at that level.
SIZE_WORDS: tuple[tuple[str, ...], ...] = (
    ("extra small", "very small", "tiny"),
    ("small", "minor", "modest"),
    ("medium", "moderate"),
    ("large", "substantial", "considerable", "major"),
    ("extra large", "very large", "vast", "huge", "overwhelming"),
)
SIZE_PHRASES: tuple[str, ...] = tuple(words[0] for words in SIZE_WORDS)
SIZE_LEVEL_OF_WORD: dict[str, int] = {
    word: level for level, words in enumerate(SIZE_WORDS) for word in words
}
# DOMAIN.md 4: the size phrase of p = recipe_percent(share), by lower bound of p.
_SIZE_LOWER_BOUNDS = (0, 10, 20, 50, 80)
# The nouns a prompt puts after a size phrase ("a large portion of forest").
SIZE_NOUNS: tuple[str, ...] = ("fraction", "part", "portion", "amount", "quantity")
# The nouns the checks read after a size word: the prompt's and their near synonyms.
# Not "patches": "small patches of water" says how water lies, not how much there is.
SIZE_NOUNS_READ: tuple[str, ...] = (
    *SIZE_NOUNS,
    "proportion",
    "share",
    "area",
    "areas",
    "section",
    "expanse",
    "extent",
    "coverage",
    "patch",
    "majority",
    "stretch",
    "sliver",
    *(f"{noun}s" for noun in SIZE_NOUNS if noun != "quantity"),
    "quantities",
    "proportions",
    "shares",
    "sections",
)

# --- Size claims, as the checks read them ----------------------------------------

# The percentages (p = recipe_percent) each size level covers, both ends included.
SIZE_BANDS: tuple[tuple[int, int], ...] = tuple(
    (lower, upper - 1)
    for lower, upper in zip(
        _SIZE_LOWER_BOUNDS, (*_SIZE_LOWER_BOUNDS[1:], 101), strict=True
    )
)
# A size a caption gives is flagged only when the class's share lies more than this
# many points outside what the words claim: a phrase one level off at a band's edge
# ("large" for 46%, "tiny" for 13%) passes, since a writer's rounding or judgement
# moves a share across a boundary without contradicting the statistics.
SIZE_MARGIN = 5
# "Mostly forest" of a class that is not the largest: flagged when the largest has
# more than this many points over it, or when the class is small or less.
DOMINANCE_MARGIN = 10
# Phrases that claim a share without a size word (percent bands, both ends included).
# A phrase ending in "of" needs it, or the end of a clause, after it: "most of the
# image", "covers most.", never "the most extensive".
SHARE_PHRASES: dict[str, tuple[int, int]] = {
    "most of": (50, 100),
    "the majority": (50, 100),
    "the bulk": (50, 100),
    "the greater part": (50, 100),
    "the larger part": (50, 100),
    "the better part": (50, 100),
    "a sliver": (0, 9),
    "a trace": (0, 9),
    "a scattering": (0, 9),
    "hardly any": (0, 9),
    "barely any": (0, 9),
    "very little": (0, 9),
}
# Words that claim nearly all or all of an area ("almost the whole area", "is
# entirely forest").
NEARLY_ALL_WORDS: tuple[str, ...] = ("nearly", "almost", "virtually", "practically")
ALL_WORDS: tuple[str, ...] = ("entirely", "completely", "wholly", "exclusively")
NEARLY_ALL_BAND = (90, 100)
# Fractions a caption gives as words, in percent: the checks read them all, and the
# writers (captions/llm/offline_phrases.py, devdata) take theirs from here.
FRACTION_PERCENTS: dict[str, int] = {
    "half": 50,
    "a third": 33,
    "one third": 33,
    "two thirds": 67,
    "a quarter": 25,
    "one quarter": 25,
    "three quarters": 75,
    "a fifth": 20,
    "one fifth": 20,
    "two fifths": 40,
    "three fifths": 60,
    "four fifths": 80,
    "a tenth": 10,
    "one tenth": 10,
    "nine tenths": 90,
}
# How a hedge before a fraction or a percentage widens it: "about a third" is
# 30-36%, "nearly half" 45-50%, "more than half" 50-100%.
SHARE_HEDGES: dict[str, str] = {
    **dict.fromkeys(
        ("about", "roughly", "around", "approximately", "some", "close to"), "around"
    ),
    **dict.fromkeys(
        (
            "nearly",
            "almost",
            "just under",
            "a little less than",
            "slightly less than",
            "just below",
        ),
        "under",
    ),
    **dict.fromkeys(
        (
            "just over",
            "a little more than",
            "slightly more than",
            "a little over",
            "just above",
        ),
        "over",
    ),
    **dict.fromkeys(
        ("more than", "over", "above", "at least", "well over", "well above"), "above"
    ),
    **dict.fromkeys(
        ("less than", "under", "below", "at most", "well under", "well below"), "below"
    ),
}
# Words that claim a class is the largest of an area: before the class ("mostly
# forest", "dominated by water") or after it ("water dominates", "forest is the
# dominant class").
DOMINANCE_BEFORE: tuple[str, ...] = (
    "dominated by",
    "mostly",
    "mainly",
    "predominantly",
    "largely",
    "primarily",
    "chiefly",
    "principally",
    "overwhelmingly",
)
DOMINANCE_AFTER: tuple[str, ...] = ("dominates", "dominate", "dominating")
DOMINANT_WORDS: tuple[str, ...] = (
    "dominant",
    "predominant",
    "main",
    "prevailing",
    "primary",
    "principal",
    "largest",
    "most widespread",
    "most extensive",
    "most common",
)
# Verbs that give a class a share ("water covers a small part", "forest, which
# spans most of the image"), one a line.
SHARE_VERBS: tuple[str, ...] = tuple(
    line.strip()
    for line in """
    covers
    cover
    covering
    occupies
    occupy
    occupying
    fills
    fill
    filling
    spans
    span
    spanning
    represents
    represent
    representing
    comprises
    comprise
    comprising
    constitutes
    constitute
    forms
    form
    takes up
    take up
    taking up
    makes up
    make up
    making up
    accounts for
    account for
    accounting for
    extends over
    extending over
    stretches over
    stretching over
    spreads over
    spread over
    is
    are
    """.strip().splitlines()
)
# Words that make a sentence one about the whole image ("the image is mostly
# forest", "overall, …"). Not "patch": "a small patch of water" is a size.
WHOLE_IMAGE_WORDS: tuple[str, ...] = (
    "image",
    "scene",
    "picture",
    "tile",
    "landscape",
    "overall",
    "whole",
    "entire",
)


def percent(fraction: float) -> int:
    """DOMAIN.md 4: p = round(fraction * 100)."""
    return round(fraction * 100)


def recipe_percent(share: float) -> int:
    """DOMAIN.md 4, as ChatEarthNet's recipe computes it: int(round(share, 2) * 100),
    `share` = pixels / valid pixels in float64 (`exact_shares`), never a stored,
    rounded fraction. It truncates some values (0.29 → 28) exactly as the recipe does;
    the bands of the size phrases do not move by it."""
    return int(round(share, 2) * 100)


def exact_shares(entries: list[dict]) -> list[dict]:
    """A statistics list (every class of one area) with each entry's `share`: its
    pixels over the area's valid pixels, from the counts, as the recipe divides."""
    total = sum(entry["pixels"] for entry in entries)
    return [{**entry, "share": entry["pixels"] / total} for entry in entries]


def size_level(share: float) -> int:
    """The size level (index into `SIZE_WORDS`) of a class covering `share` of an
    area (`exact_shares`): the recipe's percentage, then its band."""
    p = recipe_percent(share)
    level = 0
    for index, lower in enumerate(_SIZE_LOWER_BOUNDS):
        if p >= lower:
            level = index
    return level


def size_phrase(share: float) -> str:
    """DOMAIN.md 4's size phrase of a class covering `share` of an area ("large")."""
    return SIZE_PHRASES[size_level(share)]


def with_article(phrase: str) -> str:
    """'a large', 'an extra small'."""
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase
