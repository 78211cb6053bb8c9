"""The offline writer's phrases: a table per slot of a caption. Data, no Django.

captions/llm/offline.py and its helpers pick among these with a seeded random
generator. Class names and size words are ones the checks recognise (the shared
vocabulary, captions/generation/vocabulary.py), and no phrase holds a forbidden or a
colour word: tests/captions/llm/test_offline.py holds the writer to it.
"""

from captions.generation.vocabulary import (
    FRACTION_PERCENTS,
    SIZE_LEVEL_OF_WORD,
    SIZE_NOUNS,
    SIZE_WORDS,
)
from captions.landcover import REGION_NAMES

# Names a caption gives each class, with whether a verb after it takes the plural.
NAMES: dict[int, tuple[tuple[str, bool], ...]] = {
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

REGION_PHRASES: dict[str, tuple[str, ...]] = {
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
HALVES = {
    ("top_left", "top_right"): ("in the upper half", "in the top half"),
    ("bottom_left", "bottom_right"): ("in the lower half", "in the bottom half"),
    ("top_left", "bottom_left"): ("in the left half", "on the left side"),
    ("top_right", "bottom_right"): ("in the right half", "on the right side"),
}
QUADRANTS = REGION_NAMES[:4]

# The nouns each size word reads well with ("a vast expanse of"); the words and their
# DOMAIN.md levels are the shared vocabulary's. The writer leaves out the words that
# have no nouns here ("huge").
NOUNS_OF_SIZE: dict[str, tuple[str, ...]] = {
    "extra small": SIZE_NOUNS,
    "very small": SIZE_NOUNS,
    "tiny": ("fraction", "part", "portion", "share", "patch"),
    "small": (*SIZE_NOUNS, "share", "patch"),
    "minor": ("part", "portion", "share", "fraction"),
    "modest": ("part", "portion", "share", "amount", "proportion"),
    "medium": SIZE_NOUNS,
    "moderate": ("part", "portion", "share", "amount", "proportion"),
    "large": (*SIZE_NOUNS, "area", "expanse"),
    "substantial": ("part", "portion", "share", "amount", "proportion"),
    "considerable": ("part", "portion", "share", "amount"),
    "major": ("part", "portion", "share"),
    "extra large": SIZE_NOUNS,
    "very large": (*SIZE_NOUNS, "area"),
    "vast": ("expanse", "area"),
    "overwhelming": ("share", "proportion", "majority"),
}
assert set(NOUNS_OF_SIZE) <= set(SIZE_LEVEL_OF_WORD)
# Per size level, the size words the writer uses, each with its nouns.
SIZES: tuple[tuple[tuple[str, tuple[str, ...]], ...], ...] = tuple(
    tuple((word, NOUNS_OF_SIZE[word]) for word in words if word in NOUNS_OF_SIZE)
    for words in SIZE_WORDS
)
# Whole size phrases without a size word, used now and then for variety.
PLAIN_SIZES: tuple[tuple[str, ...], ...] = (
    ("a sliver of", "a scattering of", "a trace of"),
    ("a limited share of", "a lesser share of"),
    ("a fair share of", "a good part of"),
    ("a big part of", "a great deal of"),
    ("an almost unbroken expanse of", "a near-continuous stretch of"),
)
# The fractions the writer gives, (percent, words) in rising order: some of those the
# checks read, with their percentages from the shared table.
FRACTION_WORDS: tuple[tuple[int, str], ...] = tuple(
    (FRACTION_PERCENTS[words], words)
    for words in (
        "a tenth",
        "a fifth",
        "a quarter",
        "a third",
        "two fifths",
        "half",
        "two thirds",
        "three quarters",
        "nine tenths",
    )
)
SHARE_VERBS = (
    ("covers", "cover"),
    ("takes up", "take up"),
    ("accounts for", "account for"),
    ("occupies", "occupy"),
    ("makes up", "make up"),
)

LIST_INTROS = (
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
LIST_FIRST = (
    ("{l} {v} the {r}.", ("makes up", "make up")),
    ("{l} {v} the {r}.", ("occupies", "occupy")),
    ("{l} {v} seen in the {r}.", ("can be", "can be")),
    ("{l} {v} found in the {r}.", ("is", "are")),
    ("{l} {v} the {r}.", ("defines", "define")),
    ("{l} {v} up the {r}.", ("takes", "take")),
)
CLAUSE_INTROS = (
    "In the {r}, ",
    "Within the {r}, ",
    "Across the {r}, ",
    "For the {r}, ",
)
EMPTY_REGION = (
    "The {r} lies outside the mapped area.",
    "No land cover is mapped in the {r}.",
    "The {r} holds no land-cover data.",
)
SPARSE_REGION = (
    "The {r} holds only a few scattered pixels of land cover.",
    "Hardly any land cover is mapped in the {r}.",
)
SAME_AS_BEFORE = (
    "The {r} looks much the same.",
    "The {r} is much the same.",
    "The same mix continues in the {r}.",
    "The {r} repeats this pattern.",
    "The {r} mirrors it closely.",
    "The {r} is no different.",
)
SAME_AS_BEFORE_MANY = (
    "The {r} look much the same.",
    "The same mix continues in the {r}.",
    "The {r} repeat this pattern.",
    "The same goes for the {r}.",
)
SAME_SINGLE = (
    "The {r} is the same.",
    "The {r} is no different.",
    "The same is true of the {r}.",
)
SAME_SINGLE_MANY = (
    "The same goes for the {r}.",
    "The same is true of the {r}.",
    "The {r} are no different.",
)
EMPTY_AGAIN = ("The {r} has no data either.", "The {r} is empty as well.")
EMPTY_AGAIN_MANY = ("The {r} have no data either.", "The {r} are empty as well.")
SEQUENCE_WORDS = ("Meanwhile, ", "Next, ", "Then, ")
PAIRS = (
    "{0} and {1}",
    "{0}, along with {1}",
    "{0}, followed by {1}",
    "{0} plus {1}",
    "{0} next to {1}",
)
TRIPLES = (
    "{0}, {1} and {2}",
    "{0}, {1}, and {2}",
    "{0}, followed by {1} and {2}",
    "{0}, then {1}, and finally {2}",
    "{0}, {1} and also {2}",
)

NO_LAND_COVER = (
    "No land-cover class covers enough of this image to describe it.",
    "This image holds no mapped land cover large enough to describe.",
)

# Themes: a class that covers most of the image, a pair that shares it, or a mix.
SINGLE_THEMES: dict[int, tuple[str, ...]] = {
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
PAIR_THEMES: dict[frozenset[int], tuple[str, ...]] = {
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
THEME_INTROS = (
    "Overall, the scene is {t}.",
    "All in all, this is {t}.",
    "Taken together, the image shows {t}.",
    "The main theme of the image is {t}.",
    "In short, the patch depicts {t}.",
    "Altogether, it is {t}.",
    "The scene as a whole is {t}.",
    "Above all, this is {t}.",
)
