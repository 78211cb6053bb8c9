"""How far apart two captions are, in words: the edit rate, QA agreement, gold."""

import difflib


def word_edit_distance(before: str, after: str) -> float:
    """0 when the words are the same, 1 when none are kept (1 - difflib ratio)."""
    if before == after:
        return 0.0
    ratio = difflib.SequenceMatcher(None, before.split(), after.split()).ratio()
    return round(1.0 - ratio, 4)
