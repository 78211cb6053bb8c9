"""Caption prompts: versioned templates and how they are rendered (DOMAIN.md 4, 5).

Plain Python, no Django. A `PromptSpec` is data: the two ChatEarthNet styles ship as
`builtin_prompts.BUILTIN_TEMPLATES`, and a caption records the exact messages
`render_messages` built. The words a prompt asks for or forbids are the shared
vocabulary's (captions/generation/vocabulary.py).

Templates are `str.format` strings. The renderer fills these placeholders (a literal
brace in a template is written twice, ``{{`` / ``}}``):

| placeholder | what it holds |
| --- | --- |
| ``{overall}`` | the classes with at least 20 pixels, most to least (DOMAIN.md 4) |
| ``{dominant}`` | the largest class, its share and the region where it is densest |
| ``{regions}`` | one line per region: up to three classes with size phrases |
| ``{legend}`` | vision: one line per class, its prompt-palette colour and share |
| ``{region_percentages}`` | vision: one line per region, each class with its share |
| ``{forbidden_words}`` | the words the caption must not use, quoted |
"""

import base64
import io
import math
import re
import string
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from PIL import Image

from captions.generation.vocabulary import (
    FORBIDDEN_WORDS,
    REGION_LABELS,
    SIZE_NOUNS,
    VISION_FORBIDDEN_WORDS,
    exact_shares,
    percent,
    size_phrase,
    with_article,
)
from captions.landcover import (
    CLASS_BY_CODE,
    CLASSES,
    MIN_PIXELS,
    NODATA,
    REGION_NAMES,
    LandCoverError,
)

PromptKind = Literal["text", "vision"]

# A low-detail image costs a fixed 85 tokens with OpenAI's vision models, whatever
# its size; the vision map is sent at low detail.
IMAGE_TOKENS = 85
MESSAGE_OVERHEAD_TOKENS = 4  # role and separators of each chat message
REPLY_PRIMING_TOKENS = 3


@dataclass(frozen=True)
class PromptSpec:
    """One versioned prompt: templates plus the request parameters sent with them."""

    name: str
    version: int
    kind: PromptKind
    system_template: str
    user_template: str
    parameters: dict = field(default_factory=dict)  # max_tokens, temperature, ...

    def __post_init__(self) -> None:
        if self.kind not in ("text", "vision"):
            raise ValueError(
                f"prompt kind must be 'text' or 'vision', not {self.kind!r}"
            )


PLACEHOLDERS: frozenset[str] = frozenset(
    {
        "overall",
        "dominant",
        "regions",
        "legend",
        "region_percentages",
        "forbidden_words",
    }
)


def validate_spec(spec: PromptSpec) -> None:
    """Raise ValueError if a template is malformed or uses an unknown placeholder."""
    for label, template in (
        ("system", spec.system_template),
        ("user", spec.user_template),
    ):
        try:
            parsed = [
                (field_name, format_spec, conversion)
                for _, field_name, format_spec, conversion in string.Formatter().parse(
                    template
                )
                if field_name is not None
            ]
        except ValueError as error:
            raise ValueError(
                f"{spec.name} v{spec.version}: malformed {label} template ({error}); "
                "write a literal brace as {{ or }}"
            ) from error
        # A format spec is the one way left to make `str.format` do work: a width of
        # "{overall:>999999999}" asks a worker for a gigabyte. Templates need none.
        if any(format_spec or conversion for _, format_spec, conversion in parsed):
            raise ValueError(
                f"{spec.name} v{spec.version}: a placeholder in the {label} template "
                "has a format spec or conversion; write it bare, e.g. {overall}"
            )
        fields = {field_name for field_name, _, _ in parsed}
        unknown = sorted(fields - PLACEHOLDERS)
        if unknown:
            raise ValueError(
                f"{spec.name} v{spec.version}: unknown placeholder(s) in the {label} "
                f"template: {', '.join(unknown)}; "
                f"known: {', '.join(sorted(PLACEHOLDERS))}"
            )


# --- Reading the statistics ----------------------------------------------------------


def mentionable(entries: list[dict]) -> list[dict]:
    """The entries of a class list that a caption may name (at least 20 pixels)."""
    return [entry for entry in entries if entry["pixels"] >= MIN_PIXELS]


def _percent_text(fraction: float) -> str:
    p = percent(fraction)
    return f"{p}%" if p or not fraction else "<1%"


def densest_region(landcover: dict, code: int) -> str:
    """The region (in REGION_NAMES order on ties) where `code` has its largest share."""
    best_name, best_fraction = REGION_NAMES[0], -1.0
    for name in REGION_NAMES:
        fraction = next(
            (e["fraction"] for e in landcover["regions"][name] if e["code"] == code),
            0.0,
        )
        if fraction > best_fraction:
            best_name, best_fraction = name, fraction
    return best_name


def describe_statistics(landcover: dict) -> dict[str, str]:
    """The text pieces a prompt carries, read from the statistics as DOMAIN.md 4 says.

    Keys are the template placeholders except ``forbidden_words``. ``regions`` has one
    line per region in REGION_NAMES order, each with the up to three largest classes of
    at least 20 pixels and a size phrase; the noun after the size phrase cycles through
    `SIZE_NOUNS` across the whole description, so the wording varies deterministically.
    """
    overall = mentionable(overall_recipe_order(landcover))
    region_lines, percentage_lines = _region_lines(landcover)
    return {
        "overall": ", ".join(e["name"] for e in overall)
        or f"none (no class covers {MIN_PIXELS} pixels)",
        "dominant": _dominant_text(landcover, overall),
        "regions": "\n".join(region_lines),
        "legend": "\n".join(_legend_lines(landcover, overall))
        or "- no class covers 20 pixels",
        "region_percentages": "\n".join(percentage_lines),
    }


def overall_recipe_order(landcover: dict) -> list[dict]:
    """The overall classes in the order the recipe lists them (DOMAIN.md 4): most
    pixels first, equal counts in the order the classes first appear in the patch,
    read row by row (the statistics' ``first_seen``). Statistics without it (stored
    before it was recorded, or made by hand) keep their stored order: ties by the
    lower code."""
    entries = landcover["overall"]
    first_seen = landcover.get("first_seen")
    if not first_seen:
        return list(entries)
    rank = {code: position for position, code in enumerate(first_seen)}
    # A class missing from first_seen (which landcover_stats never leaves out) goes
    # after its equals; the sort is stable, so it keeps its stored place among them.
    return sorted(entries, key=lambda e: (-e["pixels"], rank.get(e["code"], len(rank))))


def recipe_order(entries: list[dict]) -> list[dict]:
    """A region's classes in the order the recipe lists them (DOMAIN.md 4): most
    pixels first, equal counts with the higher SatlasPretrain index first. (The
    stored statistics break ties by the lower code; only the prompt follows this.)"""
    return sorted(
        entries, key=lambda e: (-e["pixels"], -CLASS_BY_CODE[e["code"]].satlas_index)
    )


def _region_lines(landcover: dict) -> tuple[list[str], list[str]]:
    """Per region: its classes with size phrases, and with their shares."""
    nouns = _cycle(SIZE_NOUNS)
    region_lines, percentage_lines = [], []
    for name in REGION_NAMES:
        label = REGION_LABELS[name]
        entries = recipe_order(mentionable(exact_shares(landcover["regions"][name])))
        if not entries:
            region_lines.append(
                f"- {label}: no class with at least {MIN_PIXELS} pixels"
            )
            percentage_lines.append(
                f"- {label}: no class with at least {MIN_PIXELS} pixels"
            )
            continue
        items = [
            f"{with_article(size_phrase(e['share']))} {next(nouns)} of {e['name']}"
            for e in entries[:3]
        ]
        region_lines.append(f"- {label}: {', '.join(items)}")
        shares = [f"{e['name']} {_percent_text(e['fraction'])}" for e in entries]
        percentage_lines.append(f"- {label}: {', '.join(shares)}")
    return region_lines, percentage_lines


def _dominant_text(landcover: dict, overall: list[dict]) -> str:
    if not overall:
        return "none"
    top = overall[0]
    where = REGION_LABELS[densest_region(landcover, top["code"])]
    return (
        f"{top['name']} ({_percent_text(top['fraction'])} of the image, "
        f"densest in the {where})"
    )


def _legend_lines(landcover: dict, overall: list[dict]) -> list[str]:
    legend = [
        f"- RGB {CLASS_BY_CODE[e['code']].prompt_rgb}: {e['name']}, "
        f"{_percent_text(e['fraction'])}"
        for e in overall
    ]
    if landcover["valid_pixels"] < landcover["height"] * landcover["width"]:
        legend.append("- RGB (0, 0, 0): no data")
    return legend


def _cycle(words: tuple[str, ...]):
    while True:
        yield from words


# --- Messages ------------------------------------------------------------------------


def render_messages(
    spec: PromptSpec,
    landcover: dict,
    *,
    landcover_png: bytes | None = None,
    rgb_png: bytes | None = None,
) -> list[dict]:
    """The OpenAI chat messages of `spec` for one patch.

    Text kind: a system and a user message, both strings. Vision kind: the user
    content is a list of a text part, the land-cover map (`landcover_png`, made by
    `vision_map_png`) and, when `rgb_png` is given, the RGB preview (PNG, JPEG or
    WebP bytes, the type is read from the bytes), each as a low-detail data URL.
    """
    validate_spec(spec)
    forbidden = VISION_FORBIDDEN_WORDS if spec.kind == "vision" else FORBIDDEN_WORDS
    pieces = describe_statistics(landcover)
    pieces["forbidden_words"] = ", ".join(f'"{word}"' for word in forbidden)
    system = {"role": "system", "content": spec.system_template.format(**pieces)}
    user_text = spec.user_template.format(**pieces)
    if spec.kind == "text":
        return [system, {"role": "user", "content": user_text}]
    if landcover_png is None:
        raise ValueError(
            f"{spec.name} v{spec.version} is a vision prompt: it needs the land-cover "
            "map as landcover_png (see vision_map_png)"
        )
    content: list[dict] = [
        {"type": "text", "text": user_text},
        _image_part(landcover_png),
    ]
    if rgb_png is not None:
        content.append(_image_part(rgb_png))
    return [system, {"role": "user", "content": content}]


CORRECTION_HINT = (
    "A reviewer rejected an earlier caption of this image{because}. Write a new "
    "caption that does not repeat that mistake."
)
_WHITESPACE = re.compile(r"\s+")


def with_correction(messages: list[dict], reason: str) -> list[dict]:
    """`messages` with a correction hint after the user's text: a reviewer rejected
    an earlier caption, for `reason` (regeneration, issue 12). The reason is the
    reviewer's own words, on one line, in quotes."""
    reason = _WHITESPACE.sub(" ", reason).strip().replace('"', "'")
    hint = CORRECTION_HINT.format(because=f' because: "{reason}"' if reason else "")
    user = dict(messages[-1])
    content = user["content"]
    if isinstance(content, str):
        user["content"] = f"{content}\n\n{hint}"
    else:  # vision: the text part comes first, then the images
        first = {**content[0], "text": f"{content[0]['text']}\n\n{hint}"}
        user["content"] = [first, *content[1:]]
    return [*messages[:-1], user]


_IMAGE_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
)


def _image_mime_type(image: bytes) -> str:
    for signature, mime_type in _IMAGE_SIGNATURES:
        if image.startswith(signature):
            return mime_type
    if image[:4] == b"RIFF" and image[8:12] == b"WEBP":
        return "image/webp"
    raise ValueError("image bytes are not PNG, JPEG, WebP or GIF")


def _image_part(image: bytes) -> dict:
    encoded = base64.b64encode(image).decode("ascii")
    url = f"data:{_image_mime_type(image)};base64,{encoded}"
    return {"type": "image_url", "image_url": {"url": url, "detail": "low"}}


def _prompt_palette() -> tuple[np.ndarray, list[int]]:
    """A code → palette-index table (nodata 0, unknown 255) and the palette itself."""
    index = np.full(256, 255, dtype=np.uint8)
    index[NODATA] = 0
    palette = [0, 0, 0]  # nodata is black, as in ChatEarthNet's coloured maps
    for slot, cls in enumerate(CLASSES, start=1):
        index[cls.code] = slot
        palette.extend(cls.prompt_rgb)
    return index, palette


_PROMPT_INDEX, _PROMPT_PALETTE = _prompt_palette()


def vision_map_png(codes: np.ndarray) -> bytes:
    """The land-cover map of a vision prompt: prompt palette, nodata black, half size.

    Downsampling keeps every second pixel (nearest neighbour), so the map holds only
    palette colours; an (H, W) patch gives a (ceil(H/2), ceil(W/2)) image.
    """
    if codes.ndim != 2:
        raise ValueError(f"expected a 2-D label patch, got shape {codes.shape}")
    half = np.asarray(codes[::2, ::2])
    if half.dtype != np.uint8 and half.size and (half.min() < 0 or half.max() > 255):
        raise LandCoverError("label holds values that are not WorldCover codes")
    indices = _PROMPT_INDEX[half.astype(np.uint8, copy=False)]
    if (indices == 255).any():
        bad = np.unique(half[indices == 255])[:10].tolist()
        raise LandCoverError(f"label holds values that are not WorldCover codes: {bad}")
    image = Image.fromarray(np.ascontiguousarray(indices), mode="P")
    image.putpalette(_PROMPT_PALETTE)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def estimate_tokens(messages: list[dict]) -> int:
    """A cheap upper-ish estimate of the prompt tokens of `messages`.

    About one token per four characters of text (English prose with a few numbers),
    `IMAGE_TOKENS` per image part (OpenAI's fixed cost of a low-detail image), plus
    `MESSAGE_OVERHEAD_TOKENS` per message and `REPLY_PRIMING_TOKENS`. Good to ±15% on
    these prompts: enough for cost estimates and rate limiting, not for billing.
    """
    total = REPLY_PRIMING_TOKENS
    for message in messages:
        total += MESSAGE_OVERHEAD_TOKENS
        content = message.get("content") or ""
        if isinstance(content, str):
            total += text_tokens(content)
            continue
        for part in content:
            if part.get("type") == "image_url":
                total += IMAGE_TOKENS
            else:
                total += text_tokens(part.get("text", ""))
    return total


def text_tokens(text: str) -> int:
    """About one token per four characters."""
    return math.ceil(len(text) / 4)
