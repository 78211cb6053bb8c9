"""The benchmark data's templates: what the patches that reuse one synthetic label
patch share, computed once by the product's own code (statistics, previews, prompt,
offline captions and their checks)."""

import hashlib
import itertools
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.conf import settings

from captions.devdata.synthetic import synthetic_patch
from captions.generation.checks import check_caption
from captions.generation.options import DEFAULT_MODELS
from captions.generation.prompts import estimate_tokens, render_messages
from captions.generation.templates import spec_of
from captions.ingest.previews import (
    PREVIEW_EXTENSIONS,
    encode_landcover_png,
    encode_rgb_preview,
)
from captions.landcover import NODATA, landcover_stats
from captions.llm.base import ChatRequest
from captions.llm.registry import get_backend
from captions.models import PromptTemplate

PATCH_SIZE = 256
CAPTIONS_PER_TEMPLATE = 8  # distinct offline captions of each template
OFFLINE_MODEL = DEFAULT_MODELS["offline"]
MEDIA_SUBDIR = "benchmark"

_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


@dataclass(frozen=True)
class CaptionText:
    """One offline caption of a template, and the edit a reviewer made of it."""

    generated: str
    checks: list[dict]
    completion_tokens: int
    latency_ms: int
    edited: str
    edited_checks: list[dict]


@dataclass(frozen=True)
class Template:
    """What the patches that reuse one synthetic label patch share."""

    landcover: dict
    invalid_fraction: float
    rgb_name: str
    landcover_name: str
    messages: list[dict]
    prompt_tokens: int
    captions: tuple[CaptionText, ...]


def media_path(name: str) -> Path:
    return Path(settings.MEDIA_ROOT) / name


def prepare_templates(
    count: int, seed: int, media_dir: str, prompt: PromptTemplate
) -> list[Template]:
    """Label patches, their statistics, preview files, prompts and offline captions."""
    media_path(media_dir).mkdir(parents=True, exist_ok=True)
    spec = spec_of(prompt)
    templates = []
    for index in range(count):
        patch = synthetic_patch(np.random.default_rng([seed, index]), PATCH_SIZE)
        rgb_name, landcover_name = _write_previews(
            patch.rgb, patch.codes, media_dir, index
        )
        landcover = landcover_stats(patch.codes)
        messages = render_messages(spec, landcover)
        invalid = np.count_nonzero(patch.codes == NODATA) / patch.codes.size
        templates.append(
            Template(
                landcover=landcover,
                invalid_fraction=round(float(invalid), 6),
                rgb_name=rgb_name,
                landcover_name=landcover_name,
                messages=messages,
                prompt_tokens=estimate_tokens(messages),
                captions=_caption_texts(landcover, messages, seed, index),
            )
        )
    return templates


def _write_previews(
    rgb: np.ndarray, codes: np.ndarray, media_dir: str, index: int
) -> tuple[str, str]:
    """The template's two preview files, as the ingest writes them; their names."""
    image_format = settings.PREVIEW_FORMAT
    rgb_name = f"{media_dir}/t{index:04d}.{PREVIEW_EXTENSIONS[image_format]}"
    landcover_name = f"{media_dir}/t{index:04d}_landcover.png"
    media_path(rgb_name).write_bytes(encode_rgb_preview(rgb, image_format))
    media_path(landcover_name).write_bytes(encode_landcover_png(codes))
    return rgb_name, landcover_name


def _caption_texts(
    landcover: dict, messages: list[dict], seed: int, index: int
) -> tuple[CaptionText, ...]:
    """`CAPTIONS_PER_TEMPLATE` captions of the offline backend, each with an edit."""
    backend = get_backend("offline")
    results = [
        backend.complete(
            ChatRequest(
                messages=messages,
                model=OFFLINE_MODEL,
                landcover=landcover,
                seed=_caption_seed(seed, index, variant),
            )
        )
        for variant in range(CAPTIONS_PER_TEMPLATE + 1)
    ]
    texts = []
    for result, other in itertools.pairwise(results):
        edited, edited_checks = _edit(result.text, other.text, landcover)
        texts.append(
            CaptionText(
                generated=result.text,
                checks=check_caption(
                    result.text, landcover, finish_reason=result.finish_reason
                ),
                completion_tokens=result.completion_tokens,
                latency_ms=round(result.latency_s * 1000),
                edited=edited,
                edited_checks=edited_checks,
            )
        )
    return tuple(texts)


def _caption_seed(seed: int, template: int, variant: int) -> int:
    key = f"{seed}:{template}:{variant}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big")


def _edit(text: str, other: str, landcover: dict) -> tuple[str, list[dict]]:
    """What a reviewer might make of `text`, and its checks: its closing sentence
    replaced by that of `other`, another caption of the same patch; all of `other`
    when the two close alike or the mix fails a check."""
    sentences, others = _SENTENCE_BREAK.split(text), _SENTENCE_BREAK.split(other)
    if len(sentences) > 1 and sentences[-1] != others[-1]:
        edited = " ".join([*sentences[:-1], others[-1]])
        findings = check_caption(edited, landcover)
        if not findings:
            return edited, findings
    if other == text:
        other = f"{text} This is the whole scene."
    return other, check_caption(other, landcover)
