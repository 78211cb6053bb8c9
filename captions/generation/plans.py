"""What a launch would do: the patches it selects, the messages it sends, its cost.

`job_plan` checks a launch and estimates it without writing anything or sending
anything; the launch page shows it, `job_launch` runs it first.
"""

from dataclasses import dataclass

from django.db.models import QuerySet

from captions.generation.options import (
    BATCH_PRICE_FACTOR,
    ABTest,
    GenerationError,
    JobOptions,
    Selection,
    check_model_for_template,
    launch_endpoint,
    prices,
)
from captions.generation.prompts import (
    PromptSpec,
    estimate_tokens,
    render_messages,
    vision_map_png,
    with_correction,
)
from captions.generation.regeneration import (
    Correction,
    corrections_for,
    with_chosen_captions,
    with_rejections,
)
from captions.generation.templates import spec_of, template_get
from captions.llm.registry import BACKENDS, BATCH_BACKENDS
from captions.models import Patch, PromptTemplate

EXPECTED_OUTPUT_TOKENS = 220  # a ChatEarthNet caption: about 150-250 tokens


def selected_patches(selection: Selection) -> QuerySet[Patch]:
    """The patches of ready scenes that `selection` names, in id order."""
    patches = Patch.objects.filter(scene__status="ready")
    if selection.scene_ids:
        patches = patches.filter(scene_id__in=selection.scene_ids)
    if selection.splits:
        patches = patches.filter(split__in=selection.splits)
    if selection.caption_ids:
        patches = with_chosen_captions(patches, selection.caption_ids)
    elif selection.rejected_only:
        patches = with_rejections(patches)
    elif selection.only_uncaptioned:
        patches = patches.exclude(captions__isnull=False)
    patches = patches.order_by("id")
    if selection.limit is not None:
        patches = patches[: selection.limit]
    return patches


@dataclass(frozen=True)
class JobPlan:
    """What a launch would do: shown before launching, used by `job_launch`."""

    template: PromptTemplate
    patch_count: int
    example_messages: list[dict]
    estimated_tokens_in: int
    estimated_tokens_out: int
    estimated_cost: float | None


def job_plan(
    *, selection: Selection, backend: str, model: str, template: str,
    options: JobOptions, endpoint: str = "", ab: ABTest | None = None,
) -> JobPlan:  # fmt: skip
    """Validate a launch and estimate its tokens and cost, without writing a job.

    Nothing is sent anywhere: the endpoint is only looked up by name. An A/B
    launch's second arm is checked too; the estimate is the first arm's.
    """
    _check_launch(backend=backend, model=model, options=options, endpoint=endpoint)
    prompt_template = template_get(template)
    check_model_for_template(model, prompt_template.kind, options)
    if ab is not None:
        ab_template(ab, options, first=(prompt_template, model))
    patches = selected_patches(selection)
    count = patches.count()
    if count == 0:
        raise GenerationError("the selection holds no patches to caption")
    example = patches.first()
    assert example is not None
    correction = None
    if selection.regenerates:
        corrections = corrections_for([example.pk], selection.caption_ids)
        correction = corrections.get(example.pk)
    messages = messages_for(spec_of(prompt_template), example, options, correction)
    tokens_in = estimate_tokens(messages) * count
    max_tokens = int(prompt_template.parameters.get("max_tokens", 300))
    tokens_out = min(EXPECTED_OUTPUT_TOKENS, max_tokens) * count
    job_prices = prices(model, options)
    cost = None
    if job_prices is not None:
        cost = (tokens_in * job_prices[0] + tokens_out * job_prices[1]) / 1e6
        if options.batch:
            cost *= BATCH_PRICE_FACTOR
    return JobPlan(prompt_template, count, messages, tokens_in, tokens_out, cost)


def ab_template(
    ab: ABTest, options: JobOptions, *, first: tuple[PromptTemplate, str]
) -> PromptTemplate:
    """The second arm's template, once the arm is checked: a share within (0, 1), a
    model that can read its template's input, and not the first arm again."""
    ab.check()
    second = template_get(ab.template)
    check_model_for_template(ab.model, second.kind, options)
    if (second.pk, ab.model.strip()) == (first[0].pk, first[1].strip()):
        raise GenerationError(
            "the two arms of an A/B test use the same template and model"
        )
    return second


def _check_launch(
    *, backend: str, model: str, options: JobOptions, endpoint: str
) -> None:
    if backend not in BACKENDS:
        raise GenerationError(
            f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}"
        )
    launch_endpoint(backend, endpoint)
    if not model.strip():
        raise GenerationError("a model name is needed")
    if options.in_flight_per_worker < 1 or options.chunk_size < 1:
        raise GenerationError("in-flight requests and chunk size must be at least 1")
    if options.batch and backend not in BATCH_BACKENDS:
        raise GenerationError(
            "a batch job goes through OpenAI's Batch API: choose the openai backend "
            f"(the {backend} backend has no batches)"
        )


def messages_for(
    spec: PromptSpec,
    patch: Patch,
    options: JobOptions,
    correction: Correction | None = None,
) -> list[dict]:
    """The chat messages of `spec` for `patch`, exactly as they are sent; with the
    reject reason as a hint when the caption replaces a rejected one."""
    messages = _messages(spec, patch, options)
    if correction is not None and correction.reason is not None:
        messages = with_correction(messages, correction.reason)
    return messages


def _messages(spec: PromptSpec, patch: Patch, options: JobOptions) -> list[dict]:
    if spec.kind != "vision":
        return render_messages(spec, patch.landcover)
    rgb_png = None
    if options.include_rgb:
        with patch.rgb_preview.open("rb") as handle:
            rgb_png = handle.read()
    return render_messages(
        spec, patch.landcover,
        landcover_png=vision_map_png(patch.label_codes()), rgb_png=rgb_png,
    )  # fmt: skip
