"""Checks a caption can fail (DOMAIN.md section 6). Plain Python, no Django.

`check_caption` returns findings ``{"check": code, "message": words for an annotator,
"span": [start, end] or None}``; a span is the character range of the offending words
in the caption. Findings without a span (about the caption as a whole) come first,
then the others by position. The codes:

``empty``
    The reply is empty or only whitespace; no other check runs.
``too_short`` / ``too_long``
    Fewer than `MIN_CHARS` or more than `MAX_CHARS` characters.
``cut_off``
    The reply does not end with ``.``, ``!`` or ``?`` (a closing quote or bracket may
    follow; the span is the unfinished sentence), or the backend reported
    ``finish_reason == "length"``.
``forbidden_word``
    A hedging or meta word of the prompts (`FORBIDDEN_WORDS`), as a whole word in any
    case, with the inflections in `FORBIDDEN_FORMS`: "appears", "appearance",
    "changes", "changing", "unlikely", "transitional", "dynamics"...; and the phrase
    "color dictionary". "possible" and "disappear" are other words and pass.
``colour_word``
    A colour name (`COLOUR_WORDS`: red, green, greenish, grey, gray...), whole word.
``absent_class``
    A class named, by its term or a synonym (`CLASS_WORDS`: forest, urban, fields,
    river...), that covers fewer than 20 pixels of the patch (or none).
``dominant_missing``
    The largest class of the patch (any of them on a tie) is not named.
``region_contradiction``
    A sentence about exactly one region, or a size given in one region ("a small
    part of the top left is water"), names a class with fewer than 20 pixels there.
``size_contradiction``
    A size given to a class in one area, a region or the whole image ("a large
    portion of crop", "water covers an extra small fraction of the image", "about
    half", "12%", "mostly cropland", "water dominates"), that the class's share of
    that area denies: the share lies more than `SIZE_MARGIN` (5) points outside the
    words' band (DOMAIN.md 4's bands from the recipe's percentage, so "large" passes
    for 45-84%), or the class said to dominate is not the largest and trails it by
    more than 10 points (or is under 20%). The span runs from the size words to the
    class's name.
``near_duplicate``
    From `near_duplicates.near_duplicates`, across captions: nearly the same wording
    as another.

The words each check looks for are the shared vocabulary's
(captions/generation/vocabulary.py), read by `lexicon.scan` and
`size_claims.size_claims`; the region check lives in region_checks.py and the size
check in size_checks.py, both reading sentences through sentences.py, and both are
deliberately conservative.
"""

import re

from captions.generation.lexicon import (
    Hit,
    Mention,
    Word,
    class_mentions,
    scan,
)
from captions.generation.prompts import mentionable
from captions.generation.region_checks import area_contradictions
from captions.generation.vocabulary import percent
from captions.landcover import CLASS_BY_CODE

MIN_CHARS = 40
# The longest caption kept at all: a reviewer's edit over it is refused
# (verification/services.py) and an imported one is reported instead
# (captions/generation/caption_import.py). Far above MAX_CHARS, which only flags a
# caption.
MAX_CAPTION_CHARS = 5000
# NUL and unpaired surrogates: no database text column takes them (PostgreSQL
# refuses both) and no caption needs them; edits and imports refuse them.
UNSTORABLE_CHARACTERS = re.compile("[\x00\ud800-\udfff]")
# 300 tokens (the text prompt's max_tokens) are about 1,300 characters of English and
# the vision prompt allows 350; a reply longer than this is rambling.
MAX_CHARS = 1600

CHECK_DESCRIPTIONS: dict[str, str] = {
    "empty": "The reply is empty.",
    "too_short": f"Shorter than {MIN_CHARS} characters.",
    "too_long": f"Longer than {MAX_CHARS} characters.",
    "cut_off": "The reply stops mid-sentence or hit the token limit.",
    "forbidden_word": "Uses a hedging or meta word the prompts forbid.",
    "colour_word": "Uses a colour name; a caption names land-cover classes instead.",
    "absent_class": "Names a class that the patch does not have (or has under 20 px).",
    "dominant_missing": "Does not name the largest class of the patch.",
    "region_contradiction": "Places a class in a region that has none of it.",
    "size_contradiction": "Gives a class a size that its share of the area denies.",
    "near_duplicate": "Nearly the same wording as another caption.",
}
_ENDS_SENTENCE_RE = re.compile(r"[.!?][\"'”’)\]]*$")


def _finding(check: str, message: str, span: tuple[int, int] | None = None) -> dict:
    return {"check": check, "message": message, "span": list(span) if span else None}


def check_caption(
    text: str, landcover: dict, *, finish_reason: str | None = None
) -> list[dict]:
    """The checks of DOMAIN.md 6 but near duplicates, on one caption (module docstring).

    `landcover` is the patch's statistics (DOMAIN.md 4); `finish_reason` is what the
    backend reported, "length" meaning the reply hit the token limit.
    """
    if not text.strip():
        return [_finding("empty", "The reply is empty.")]
    words, hits = scan(text)
    mentions = class_mentions(text, words, hits)
    present = {e["code"] for e in mentionable(landcover.get("overall", []))}
    findings = [
        *_length_findings(text),
        *_cut_off_findings(text, finish_reason),
        *_forbidden_findings(text, words, hits),
        *_colour_findings(text, words, hits),
        *_absent_findings(mentions, present, landcover),
        *_dominant_findings(mentions, landcover),
        *(
            _finding(check, message, span)
            for check, message, span in area_contradictions(
                text, words, hits, mentions, present, landcover
            )
        ),
    ]
    return sorted(findings, key=_position)


def _position(finding: dict) -> tuple[int, int, int]:
    span = finding["span"]
    return (0, 0, 0) if span is None else (1, span[0], span[1])


def _length_findings(text: str) -> list[dict]:
    length = len(text.strip())
    if length < MIN_CHARS:
        return [
            _finding(
                "too_short",
                f"Only {length} characters; a caption needs at least {MIN_CHARS}.",
            )
        ]
    if length > MAX_CHARS:
        return [
            _finding(
                "too_long",
                f"{length:,} characters; a caption should stay within {MAX_CHARS:,}.",
            )
        ]
    return []


def _cut_off_findings(text: str, finish_reason: str | None) -> list[dict]:
    stripped = text.rstrip()
    if _ENDS_SENTENCE_RE.search(stripped):
        if finish_reason == "length":
            return [
                _finding(
                    "cut_off",
                    "The model stopped at its token limit; the end may be missing.",
                )
            ]
        return []
    last_end = max(stripped.rfind(mark) for mark in ".!?") + 1
    start = len(stripped) - len(stripped[last_end:].lstrip())
    return [
        _finding(
            "cut_off",
            "The reply stops mid-sentence.",
            (start, len(stripped)),
        )
    ]


def _forbidden_findings(text: str, words: list[Word], hits: list[Hit]) -> list[dict]:
    findings = []
    for kind, base, first, last in hits:
        if kind != "forbidden":
            continue
        start, end = words[first][1], words[last - 1][2]
        said = text[start:end]
        why = "" if base == said.lower() else f" (a form of {base!r})"
        findings.append(
            _finding(
                "forbidden_word",
                f"{said!r}{why} is a hedging or meta word that captions must not use.",
                (start, end),
            )
        )
    return findings


def _colour_findings(text: str, words: list[Word], hits: list[Hit]) -> list[dict]:
    return [
        _finding(
            "colour_word",
            f"{text[words[first][1] : words[first][2]]!r} is a colour; name the "
            "land-cover class instead.",
            (words[first][1], words[first][2]),
        )
        for kind, _, first, _ in hits
        if kind == "colour"
    ]


def _overall_pixels(landcover: dict, code: int) -> int:
    return next(
        (e["pixels"] for e in landcover.get("overall", []) if e["code"] == code), 0
    )


def _absent_findings(
    mentions: list[Mention], present: set[int], landcover: dict
) -> list[dict]:
    findings = []
    for mention in mentions:
        if mention.code in present:
            continue
        term = CLASS_BY_CODE[mention.code].term
        pixels = _overall_pixels(landcover, mention.code)
        amount = (
            "which is not in this patch"
            if not pixels
            else f"which covers only {pixels} pixels here, too few to mention"
        )
        findings.append(
            _finding(
                "absent_class",
                f"{mention.words!r} names {term}, {amount}.",
                (mention.start, mention.end),
            )
        )
    return findings


def _dominant_findings(mentions: list[Mention], landcover: dict) -> list[dict]:
    overall = mentionable(landcover.get("overall", []))
    if not overall:
        return []
    largest = [e for e in overall if e["pixels"] == overall[0]["pixels"]]
    named = {mention.code for mention in mentions}
    if any(e["code"] in named for e in largest):
        return []
    top = largest[0]
    return [
        _finding(
            "dominant_missing",
            f"The largest class, {top['name']} ({percent(top['fraction'])}% of the "
            "patch), is not named.",
        )
    ]


def near_duplicate_finding(other_id: int) -> dict:
    """The finding that records a `near_duplicates` result on the later caption."""
    return _finding(
        "near_duplicate", f"Nearly the same wording as caption {other_id}.", None
    )
