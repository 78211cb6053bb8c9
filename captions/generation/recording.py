"""A job's requests and what their answers become, the same online and in a batch.

A chunk run online (runner.py) and a batch's results (batches.py) both build each
patch's request here, turn each answer into a caption with its checks and provenance
here, and write captions and failures with the job's counts and cost here: a caption
from a batch is indistinguishable from an online one but for its price.
"""

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from captions.generation.checks import check_caption
from captions.generation.options import JobOptions, prices
from captions.generation.plans import messages_for
from captions.generation.prompts import PromptSpec
from captions.generation.regeneration import Correction, corrections_for
from captions.generation.signals import replacements_written
from captions.generation.templates import spec_of
from captions.llm.base import BackendError, ChatRequest, ChatResult
from captions.models import (
    Caption,
    GenerationFailure,
    GenerationJob,
    Patch,
    PromptTemplate,
)


def ab_draw(job_id: int, patch_id: int) -> float:
    """A number in [0, 1) fixed by job and patch: which arm of an A/B job a patch
    goes to, the same on every worker, every retry and in a batch."""
    digest = hashlib.blake2b(f"ab:{job_id}:{patch_id}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big") / 2**64


def seed_for(job_id: int, patch_id: int) -> int:
    digest = hashlib.blake2b(f"{job_id}:{patch_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


@dataclass
class JobPrompts:
    """What a job sends for a patch, and how an answer becomes its caption."""

    job: GenerationJob
    spec: PromptSpec
    options: JobOptions
    spec_b: PromptSpec | None = None  # an A/B job's second arm
    # A regeneration's rejected captions and reasons, by patch (regeneration.py).
    corrections: dict[int, Correction] = field(default_factory=dict)

    @classmethod
    def of(cls, job: GenerationJob) -> "JobPrompts":
        spec_b = spec_of(job.template_b) if job.template_b is not None else None
        options = JobOptions.from_json(job.options)
        return cls(job, spec_of(job.template), options, spec_b)

    def load_corrections(self, patch_ids: Iterable[int]) -> None:
        """Read the rejected captions these patches' new captions replace."""
        selection = self.job.selection
        if selection.get("rejected_only") or selection.get("caption_ids"):
            self.corrections = corrections_for(
                patch_ids, selection.get("caption_ids") or ()
            )

    def arm_of(self, patch: Patch) -> str:
        """ "a" or "b" for an A/B job (a draw fixed by job and patch), "" else."""
        if self.spec_b is None:
            return ""
        return "b" if ab_draw(self.job.pk, patch.pk) < self.job.b_share else "a"

    def arm(self, arm: str) -> tuple[PromptSpec, str, PromptTemplate]:
        """The spec, model and template of an arm."""
        if arm == "b" and self.spec_b is not None and self.job.template_b:
            return self.spec_b, self.job.model_b, self.job.template_b
        return self.spec, self.job.model, self.job.template

    def request_for(self, patch: Patch) -> ChatRequest:
        spec, model, _ = self.arm(self.arm_of(patch))
        return ChatRequest(
            messages=messages_for(
                spec, patch, self.options, self.corrections.get(patch.pk)
            ),
            model=model,
            parameters=spec.parameters,
            landcover=patch.landcover,
            seed=seed_for(self.job.pk, patch.pk),
        )

    def caption_from(
        self, patch: Patch, messages: list[dict], result: ChatResult
    ) -> Caption:
        """The caption of an answer, with its checks and provenance (unsaved)."""
        findings = check_caption(
            result.text, patch.landcover, finish_reason=result.finish_reason
        )
        correction = self.corrections.get(patch.pk)
        arm = self.arm_of(patch)
        spec, model, template = self.arm(arm)
        return Caption(
            patch=patch,
            job=self.job,
            source="job",
            template=template,
            arm=arm,
            replaces_id=correction.caption_id if correction else None,
            replace_reason=(correction.reason or "") if correction else "",
            generated_text=result.text,
            text=result.text,
            messages=messages,
            model=result.model or model,
            parameters=spec.parameters,
            finish_reason=result.finish_reason,
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
            latency_ms=round(result.latency_s * 1000),
            checks=findings,
            failed_checks=len(findings),
        )

    def failure_from(self, patch: Patch, error: BackendError) -> GenerationFailure:
        return GenerationFailure(
            job=self.job, patch=patch, reason=error.reason[:32],
            message=error.message[:2000],
        )  # fmt: skip


def write_rows(
    job: GenerationJob, options: JobOptions, rows: list, *, price_factor: float = 1.0
) -> int:
    """Write captions or failures (all of one kind) and move the job's counts with
    them, in one transaction; returns how many were written. A row another run wrote
    first (a redelivered chunk, a batch ingested twice) is skipped, uncounted.

    `price_factor` scales the job's prices per token: 0.5 for answers that came
    through the Batch API."""
    if not rows:
        return 0
    try:
        with transaction.atomic():
            type(rows[0]).objects.bulk_create(rows)
            _count(job, options, rows, price_factor)
        return len(rows)
    except IntegrityError:
        pass
    # Another run wrote some of these first: write the rest one by one, each with
    # its own count.
    written = 0
    for row in rows:
        try:
            with transaction.atomic():
                row.pk = None
                type(row).objects.bulk_create([row])
                _count(job, options, [row], price_factor)
            written += 1
        except IntegrityError:
            continue
    return written


def _count(
    job: GenerationJob, options: JobOptions, rows: list, price_factor: float
) -> None:
    if isinstance(rows[0], GenerationFailure):
        GenerationJob.objects.filter(pk=job.pk).update(failed=F("failed") + len(rows))
        return
    replacements = [
        (row.replaces_id, row.pk, row.replace_reason) for row in rows if row.replaces_id
    ]
    if replacements:
        replacements_written.send(
            sender=GenerationJob, job=job, replacements=replacements
        )
    tokens_in = sum(row.prompt_tokens for row in rows)
    tokens_out = sum(row.completion_tokens for row in rows)
    price_in, price_out = prices(job.model, options) or (0.0, 0.0)
    cost = (tokens_in * price_in + tokens_out * price_out) / 1e6 * price_factor
    GenerationJob.objects.filter(pk=job.pk).update(
        done=F("done") + len(rows),
        tokens_in=F("tokens_in") + tokens_in,
        tokens_out=F("tokens_out") + tokens_out,
        actual_cost=F("actual_cost") + cost,
        updated_at=timezone.now(),
    )
