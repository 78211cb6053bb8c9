"""Which split a patch belongs to: train, val or test, from a stable key.

A GeoTIFF ingest, a tile import and the benchmark data all split this way, so a
patch gets the same split however, and however often, it enters the database.
"""

import hashlib

from captions.models import Patch

# ChatEarthNet's released GPT-3.5 splits: 98,092 / 16,348 / 49,048 = 60% / 10% / 30%.
SPLIT_THRESHOLDS = ((0.6, Patch.Split.TRAIN), (0.7, Patch.Split.VAL))


def split_for(key: str) -> str:
    """Deterministic train/val/test from a stable key (scene name + window, or tile).

    A hash, not a random draw: rebuilding the database from the same files gives every
    patch the same split, so a release can be rebuilt byte for byte.
    """
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    position = int.from_bytes(digest, "big") / 2**64
    for threshold, split in SPLIT_THRESHOLDS:
        if position < threshold:
            return split
    return Patch.Split.TEST
