"""The offline backend (captions/llm/offline.py): captions from statistics alone."""

import functools
import re

import numpy as np
import pytest

from captions.generation.builtin_prompts import builtin_template
from captions.generation.checks import check_caption
from captions.generation.prompts import estimate_tokens, render_messages
from captions.generation.vocabulary import CLASS_WORDS, COLOUR_WORDS, FORBIDDEN_WORDS
from captions.landcover import CLASS_BY_CODE, REGION_NAMES, landcover_stats
from captions.llm.base import Backend, BackendError, ChatRequest
from captions.llm.offline import MODEL, OfflineBackend, write_caption
from tests.captions.patch_fixtures import (
    BARE,
    BUILT,
    CROP,
    GRASS,
    MOSS,
    SNOW,
    TREE,
    WATER,
    blocky_patch,
    natural_patch,
    quadrant_patch,
    random_patch,
)

SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@functools.cache
def _statistics_pool() -> tuple[dict, ...]:
    rng = np.random.default_rng(0)
    return tuple(landcover_stats(random_patch(rng)) for _ in range(600))


def random_statistics(count: int, offset: int = 0) -> list[dict]:
    """`count` statistics of random patches (computed once for the whole module)."""
    pool = _statistics_pool()
    return [pool[(offset + i) % len(pool)] for i in range(count)]


def edge_case_statistics() -> list[dict]:
    """One class, nodata regions, ties, tiny classes, an empty patch, odd sizes."""
    one_class = np.full((256, 256), TREE, dtype=np.uint8)
    nodata_half = one_class.copy()
    nodata_half[:, :128] = 0
    tie = quadrant_patch({TREE: 100}, {WATER: 100}, {WATER: 100}, {TREE: 100})
    three_way = quadrant_patch(
        {TREE: 50, CROP: 50}, {GRASS: 50, TREE: 50}, {CROP: 50, GRASS: 50}, {BUILT: 100}
    )
    tiny = np.full((256, 256), CROP, dtype=np.uint8)
    tiny[0, :19] = SNOW  # below 20 px: never named
    tiny[255, :25] = MOSS  # 25 px: may be named, only in the bottom regions
    almost_empty = np.zeros((256, 256), dtype=np.uint8)
    almost_empty[100:103, 100:105] = BARE  # 15 px of bare land and nothing else
    small_patch = np.full((9, 7), WATER, dtype=np.uint8)
    one_region = np.zeros((256, 256), dtype=np.uint8)
    one_region[128:, 128:] = SNOW
    one_region[128:, 128:180] = BARE  # only the bottom right has land cover
    return [
        landcover_stats(codes)
        for codes in (
            one_class,
            nodata_half,
            tie,
            three_way,
            tiny,
            almost_empty,
            np.zeros((64, 64), dtype=np.uint8),
            small_patch,
            one_region,
        )
    ]


def named_classes(text: str) -> set[int]:
    """The classes a text names, longest names first ("mangrove forest" is not tree)."""
    remaining, named = text.lower(), set()
    names = sorted(
        ((word, code) for code, words in CLASS_WORDS.items() for word in words),
        key=lambda item: -len(item[0]),
    )
    for word, code in names:
        pattern = (
            r"\b" + re.escape(word.replace("-", " ")).replace(r"\ ", "[ -]") + r"\b"
        )
        remaining, count = re.subn(pattern, " ", remaining)
        if count:
            named.add(code)
    return named


# --- Quality: every check passes --------------------------------------------------


def test_captions_pass_every_check_on_600_random_patches():
    failures = []
    for seed, stats in enumerate(random_statistics(600)):
        text = write_caption(stats, seed)
        findings = check_caption(text, stats)
        if findings:
            failures.append((text, findings))
    assert failures == []


@pytest.mark.parametrize("case", range(9))
def test_captions_pass_every_check_on_edge_cases_for_many_seeds(case):
    stats = edge_case_statistics()[case]
    for seed in range(60):
        text = write_caption(stats, seed)
        assert check_caption(text, stats) == [], text


def test_captions_never_use_forbidden_or_colour_words():
    banned = re.compile(
        rf"\b({'|'.join(FORBIDDEN_WORDS + COLOUR_WORDS)})", re.IGNORECASE
    )
    for seed, stats in enumerate(random_statistics(300, offset=50)):
        text = write_caption(stats, seed)
        assert not banned.search(text), text


def test_captions_name_the_dominant_class_in_the_first_sentence():
    for seed, stats in enumerate(random_statistics(300, offset=100)):
        text = write_caption(stats, seed)
        first_sentence = SENTENCE_END.split(text)[0]
        assert stats["overall"][0]["code"] in named_classes(first_sentence), text


def test_captions_name_only_classes_of_at_least_20_pixels():
    for seed, stats in enumerate(random_statistics(300, offset=150)):
        allowed = {e["code"] for e in stats["overall"] if e["pixels"] >= 20}
        assert named_classes(write_caption(stats, seed)) <= allowed


def test_regions_are_described_in_order():
    order = re.compile(
        r"(top|upper)[ -]left|(top|upper)[ -]right|(bottom|lower)[ -]left"
        r"|(bottom|lower)[ -]right|middle|centre|central"
    )
    rank = {"left": 0, "right": 1}
    for seed, stats in enumerate(random_statistics(200, offset=200)):
        sentences = SENTENCE_END.split(write_caption(stats, seed))
        positions = []
        for sentence in sentences[1:-1]:  # between the dominant and theme sentences
            match = order.search(sentence)
            assert match, sentence
            words = match.group()
            if words in ("middle", "centre", "central"):
                positions.append(4)
            else:
                vertical = 0 if words.startswith(("top", "upper")) else 2
                positions.append(vertical + rank[words.split()[-1].split("-")[-1]])
        assert positions == sorted(positions)
        assert positions[0] == 0


def test_every_region_is_covered():
    labels = {
        "top_left": r"(top|upper)[ -]left",
        "top_right": r"(top|upper)[ -]right",
        "bottom_left": r"(bottom|lower)[ -]left",
        "bottom_right": r"(bottom|lower)[ -]right",
        "middle": r"middle|centre|central",
    }
    for seed, stats in enumerate(random_statistics(100, offset=250)):
        text = " ".join(SENTENCE_END.split(write_caption(stats, seed))[1:])
        for name in REGION_NAMES:
            assert re.search(labels[name], text), (name, text)


def test_the_last_sentence_states_a_theme_and_names_no_region():
    region = re.compile(r"\b(left|right|middle|centre|central)\b")
    for seed, stats in enumerate(random_statistics(100, offset=300)):
        last = SENTENCE_END.split(write_caption(stats, seed))[-1]
        assert not region.search(last), last


# --- Variation and determinism ---------------------------------------------------


def test_the_same_seed_gives_the_same_caption():
    for stats in random_statistics(20, offset=350):
        assert write_caption(stats, 42) == write_caption(stats, 42)


def test_different_seeds_give_different_captions():
    for stats in random_statistics(20, offset=400):
        captions = {write_caption(stats, seed) for seed in range(10)}
        assert len(captions) >= 8


def sentence_shape(sentence: str) -> str:
    """A sentence with class names, region names and size words replaced by slots."""
    shape = sentence.lower()
    for words in CLASS_WORDS.values():
        for word in sorted(words, key=len, reverse=True):
            shape = re.sub(rf"\b{re.escape(word)}\b", "<class>", shape)
    shape = re.sub(r"\b(top|upper|bottom|lower)[ -](left|right)\b", "<region>", shape)
    shape = re.sub(r"\b(middle|centre|central)\b", "<region>", shape)
    return shape


def test_captions_use_several_hundred_sentence_shapes():
    shapes = set()
    for seed, stats in enumerate(random_statistics(400, offset=450)):
        shapes.update(
            map(sentence_shape, SENTENCE_END.split(write_caption(stats, seed)))
        )
    assert len(shapes) >= 500


def test_captions_of_one_class_patches_still_read_as_a_paragraph():
    stats = landcover_stats(np.full((256, 256), WATER, dtype=np.uint8))
    text = write_caption(stats, 0)
    assert len(SENTENCE_END.split(text)) >= 3
    assert 40 <= len(text) <= 600


def test_an_empty_patch_gets_a_sentence_that_says_so():
    stats = landcover_stats(np.zeros((32, 32), dtype=np.uint8))
    text = write_caption(stats, 0)
    assert "no" in text.lower()
    assert named_classes(text) == set()


def test_captions_are_paragraphs_of_sensible_length():
    lengths = [
        len(write_caption(stats, seed))
        for seed, stats in enumerate(random_statistics(300, offset=500))
    ]
    assert min(lengths) >= 150
    assert max(lengths) <= 1200
    assert 400 <= sum(lengths) / len(lengths) <= 900


# --- The backend ------------------------------------------------------------------


def request_for(stats: dict, seed: int = 5) -> ChatRequest:
    spec = builtin_template("chatearthnet-text")
    return ChatRequest(
        messages=render_messages(spec, stats),
        model="whatever",
        parameters=spec.parameters,
        landcover=stats,
        seed=seed,
    )


def test_backend_returns_the_written_caption_with_usage_and_model():
    backend: Backend = OfflineBackend()
    stats = random_statistics(1, offset=600)[0]
    request = request_for(stats)

    backend.check()
    result = backend.complete(request)

    assert backend.name == "offline"
    assert result.text == write_caption(stats, 5)
    assert result.finish_reason == "stop"
    assert result.model == MODEL == "offline-1"
    assert result.prompt_tokens == estimate_tokens(request.messages)
    assert result.completion_tokens == pytest.approx(len(result.text) / 4, abs=1)
    assert result.latency_s >= 0


def test_backend_refuses_a_request_without_statistics():
    request = ChatRequest(messages=[], model="offline-1")
    with pytest.raises(BackendError) as error:
        OfflineBackend().complete(request)
    assert error.value.reason == "bad_request"
    assert not error.value.retryable


def test_readable_samples_for_people(capsys):
    """Not an assertion: prints a few captions, for `pytest -s` readers."""
    rng = np.random.default_rng(13)
    for seed in range(3):
        codes = natural_patch(rng) if seed % 2 else blocky_patch(rng)
        print(write_caption(landcover_stats(codes), seed), end="\n\n")
    assert CLASS_BY_CODE[TREE].term == "tree"
