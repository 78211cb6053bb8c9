"""Near-duplicate captions (DOMAIN.md 6). Plain Python, no Django.

The check ``near_duplicate``: across captions, not on one, nearly the same wording;
MinHash signatures of word 3-grams put candidates in LSH buckets, and each candidate is
verified exactly. `checks.near_duplicate_finding` records a result on a caption.
"""

import itertools
import string
from collections import defaultdict

import numpy as np

SHINGLE_WORDS = 3
_PERMUTATIONS = 128
_SIGNATURE_CHUNK = 20_000  # shingles per numpy batch: 128 x 20,000 x 8 B = 20 MB
# Punctuation becomes a space: str.translate + split is 3x faster than a regex here.
_PUNCTUATION_TO_SPACE = str.maketrans(
    dict.fromkeys(string.punctuation + "’‘“”–—…«»", " ")
)
_PAD = (1 << 32) - 1  # word id that pads a caption of fewer than three words


def _random_odd_uint64(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(0, 1 << 63, size=shape, dtype=np.uint64) * np.uint64(2) + 1


# Fixed seeds: the same captions always give the same candidates.
_HASH_RNG = np.random.default_rng(20240215)
_GRAM_WEIGHTS = _random_odd_uint64(_HASH_RNG, (3,))
_HASH_A = _random_odd_uint64(_HASH_RNG, (_PERMUTATIONS, 1))
_HASH_B = _random_odd_uint64(_HASH_RNG, (_PERMUTATIONS, 1))
_BAND_WEIGHTS = _random_odd_uint64(_HASH_RNG, (_PERMUTATIONS,))


def caption_words(text: str) -> list[str]:
    """The words near-duplicate detection compares: lower case, no punctuation."""
    return text.lower().translate(_PUNCTUATION_TO_SPACE).split()


def text_similarity(first: str, second: str) -> float:
    """Jaccard index of the word 3-grams of two captions (1.0 for the same words)."""
    first_grams, second_grams = (
        _grams(caption_words(first)),
        _grams(caption_words(second)),
    )
    if not first_grams and not second_grams:
        return 1.0
    return len(first_grams & second_grams) / len(first_grams | second_grams)


def _grams(words: list[str]) -> set[tuple[str, ...]]:
    if 0 < len(words) < SHINGLE_WORDS:
        return {tuple(words)}
    return {
        tuple(words[i : i + SHINGLE_WORDS])
        for i in range(len(words) - SHINGLE_WORDS + 1)
    }


def _bands_for(threshold: float) -> tuple[int, int]:
    """(bands, rows) of the LSH: the largest rows whose S-curve midpoint,
    (1/bands)**(1/rows), sits at least 0.1 below `threshold`, so that pairs at the
    threshold become candidates almost surely (99.99% at 0.9)."""
    for rows in (16, 8, 4, 2, 1):
        bands = _PERMUTATIONS // rows
        if (1 / bands) ** (1 / rows) <= threshold - 0.1:
            return bands, rows
    return _PERMUTATIONS, 1


def _shingle_hashes(texts: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
    """32-bit hashes of every caption's word 3-grams, concatenated, and where each
    caption's hashes start (plus the end). `texts` are the captions' words; each
    caption needs at least one."""
    vocabulary: defaultdict[str, int] = defaultdict(itertools.count().__next__)
    ids: list[int] = []
    lengths = []
    for words in texts:
        ids.extend(map(vocabulary.__getitem__, words))
        padding = max(0, SHINGLE_WORDS - len(words))
        ids.extend([_PAD] * padding)
        lengths.append(len(words) + padding)
    flat = np.array(ids, dtype=np.uint64)
    with np.errstate(over="ignore"):  # multiply-shift hashing wraps around on purpose
        grams = (
            flat[:-2] * _GRAM_WEIGHTS[0]
            + flat[1:-1] * _GRAM_WEIGHTS[1]
            + flat[2:] * _GRAM_WEIGHTS[2]
        ) >> np.uint64(32)
    word_starts = np.concatenate(([0], np.cumsum(lengths)))
    gram_counts = np.array(lengths) - (SHINGLE_WORDS - 1)
    # Keep the 3-grams that start inside a caption and end inside the same one.
    keep = np.ones(len(grams), dtype=bool)
    for offset in range(1, SHINGLE_WORDS):
        crossing = word_starts[1:-1] - offset
        keep[crossing[crossing >= 0]] = False
    gram_starts = np.concatenate(([0], np.cumsum(gram_counts)))
    return grams[keep], gram_starts


def _minhash_signatures(hashes: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """(captions, _PERMUTATIONS) MinHash signatures, by multiply-shift hashing."""
    count = len(starts) - 1
    signatures = np.empty((count, _PERMUTATIONS), dtype=np.uint64)
    first = 0
    while first < count:
        last = int(np.searchsorted(starts, starts[first] + _SIGNATURE_CHUNK, "right"))
        last = min(max(last - 1, first + 1), count)
        values = hashes[starts[first] : starts[last]]
        with np.errstate(over="ignore"):
            hashed = (_HASH_A * values + _HASH_B) >> np.uint64(32)
        offsets = starts[first:last] - starts[first]
        signatures[first:last] = np.minimum.reduceat(hashed, offsets, axis=1).T
        first = last
    return signatures


def near_duplicates(texts: dict[int, str], threshold: float = 0.9) -> dict[int, int]:
    """Captions whose wording nearly repeats an earlier one: {id: id it repeats}.

    Similarity is `text_similarity`, the Jaccard index of word 3-grams (lower case,
    punctuation ignored). A caption is a near duplicate when it reaches `threshold`
    with a caption of a smaller id, and maps to the smallest such id. One changed word
    in a caption of n words keeps about (n - 5) / (n + 1): over 0.9 from about 60
    words on, which ChatEarthNet captions exceed.

    Candidates come from MinHash LSH (128 hashes in bands), then each is verified
    exactly, smallest id first, stopping at the first match. Time is O(total words)
    for the signatures (vectorised) plus O(candidates) verifications: 20,000 captions
    take a few seconds. Only a large group of captions that are all similar yet just
    under the threshold to one another degrades towards quadratic. Captions without
    words are ignored.
    """
    words = {i: caption_words(text) for i, text in texts.items()}
    ids = sorted(i for i, caption in words.items() if caption)
    if len(ids) < 2:
        return {}
    hashes, starts = _shingle_hashes([words[i] for i in ids])
    bands, rows = _bands_for(threshold)
    band_keys = _band_keys(_minhash_signatures(hashes, starts), bands, rows)
    grams = _GramSets(hashes, starts)
    buckets: list[dict[int, list[int]]] = [{} for _ in range(bands)]
    duplicates: dict[int, int] = {}
    for position, keys in enumerate(band_keys):
        for candidate in sorted(_candidates(buckets, keys, position)):
            if grams.similar(position, candidate, threshold):
                duplicates[ids[position]] = ids[candidate]
                break
    return duplicates


def _band_keys(signatures: np.ndarray, bands: int, rows: int) -> list[list[int]]:
    """One key per band of each signature: captions that share a key are candidates."""
    with np.errstate(over="ignore"):
        return (
            (signatures * _BAND_WEIGHTS)
            .reshape(len(signatures), bands, rows)
            .sum(axis=2)
        ).tolist()


def _candidates(
    buckets: list[dict[int, list[int]]], keys: list[int], position: int
) -> set[int]:
    """The earlier captions that share a band key with this one, which joins them."""
    candidates: set[int] = set()
    for bucket, key in zip(buckets, keys, strict=True):
        earlier = bucket.setdefault(key, [])
        candidates.update(earlier)
        earlier.append(position)
    return candidates


class _GramSets:
    """Each caption's 3-gram hashes as a set, made when first compared."""

    def __init__(self, hashes: np.ndarray, starts: np.ndarray) -> None:
        self.hashes, self.starts = hashes, starts
        self.sets: dict[int, frozenset[int]] = {}

    def of(self, position: int) -> frozenset[int]:
        if position not in self.sets:
            grams = self.hashes[self.starts[position] : self.starts[position + 1]]
            self.sets[position] = frozenset(grams.tolist())
        return self.sets[position]

    def similar(self, first: int, second: int, threshold: float) -> bool:
        mine, theirs = self.of(first), self.of(second)
        return len(mine & theirs) >= threshold * len(mine | theirs)
