import argparse
import json
import sys
import time

from django.core.management.base import BaseCommand, CommandError, CommandParser

from captions.generation.jobs import job_launch
from captions.generation.options import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_IN_FLIGHT,
    DEFAULT_MODELS,
    ABTest,
    GenerationError,
    JobOptions,
    Selection,
    ab_test_for,
    endpoint_name_from,
    model_or_default,
    parse_caption_ids,
)
from captions.generation.plans import selected_patches
from captions.generation.templates import DEFAULT_TEMPLATE_NAME
from captions.llm.registry import BACKENDS
from captions.management.progress import ProgressBar
from captions.models import GenerationJob, Patch, Scene
from captions.selectors import job_summary

NO_WORKER_HINT_AFTER_S = 15


class Command(BaseCommand):
    help = "Launch a caption-generation job run by Celery workers."

    def add_arguments(self, parser: CommandParser) -> None:
        self._add_model_arguments(parser)
        parser.add_argument(
            "--scene", action="append", default=[], help="Scene name or id (repeatable)"
        )
        parser.add_argument(
            "--split", action="append", default=[], choices=Patch.Split.values
        )
        parser.add_argument("--limit", type=int)
        parser.add_argument(
            "--all",
            action="store_true",
            help="Caption patches that already have a caption too",
        )
        parser.add_argument(
            "--captions",
            type=caption_id_list,
            default=(),
            help="Regenerate these captions (comma-separated ids): each new caption "
            "replaces one",
        )
        parser.add_argument(
            "--rejected",
            action="store_true",
            help="Regenerate: patches with a rejected caption nothing replaces yet; "
            "the reject reason goes into the prompt",
        )
        parser.add_argument(
            "--in-flight",
            type=int,
            default=DEFAULT_IN_FLIGHT,
            help="Requests in flight per worker process",
        )
        parser.add_argument("--rpm", type=int, help="Requests per minute, all workers")
        parser.add_argument("--tpm", type=int, help="Tokens per minute, all workers")
        parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE)
        parser.add_argument(
            "--model-reads-images",
            action="store_true",
            help="Vision templates with a model the product does not know: confirm "
            "that it reads images",
        )
        parser.add_argument(
            "--batch",
            action="store_true",
            help="Through OpenAI's Batch API: half the price, answered within 24 "
            "hours, polled by Celery beat (openai backend only)",
        )
        self._add_output_arguments(parser)

    def _add_model_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--backend", choices=BACKENDS, default="offline")
        parser.add_argument(
            "--model",
            help="Default: "
            + ", ".join(f"{m} for {b}" for b, m in DEFAULT_MODELS.items()),
        )
        parser.add_argument(
            "--template",
            default=DEFAULT_TEMPLATE_NAME,
            help="Template name, or name:version",
        )
        parser.add_argument(
            "--ab-template",
            help="A/B test: the second arm's template (name or name:version)",
        )
        parser.add_argument(
            "--ab-model", default="", help="A/B: the second arm's model"
        )
        parser.add_argument(
            "--ab-share", type=float, default=0.5, help="A/B: arm B's share (0.5)"
        )
        parser.add_argument(
            "--qa-rate",
            type=_share,
            default=None,
            help="Share of verified captions a second annotator reviews blind "
            "(0 to 1); default: the global rate",
        )
        parser.add_argument(
            "--endpoint",
            default="",
            help="A configured LLM endpoint (LLM_ENDPOINTS) for the openai backend; "
            "default: the first one",
        )
        parser.add_argument(
            "--base-url",
            default="",
            help="Deprecated: the URL of a configured endpoint, which it stands for",
        )

    def _add_output_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--wait", action="store_true", help="Show progress until the job ends"
        )
        parser.add_argument("--json", action="store_true", help="Print the job as JSON")
        parser.add_argument(
            "--allow-empty",
            action="store_true",
            help="Exit quietly (0) when there is nothing to caption, e.g. on a re-run",
        )

    def handle(self, *args, **options) -> None:
        selection = Selection(
            scene_ids=tuple(self._scene_ids(options["scene"])),
            splits=tuple(options["split"]),
            only_uncaptioned=not options["all"],
            limit=options["limit"],
            rejected_only=options["rejected"],
            caption_ids=options["captions"],
        )
        try:
            endpoint = endpoint_name_from(
                endpoint=options["endpoint"], base_url=options["base_url"]
            )
            if options["allow_empty"] and not selected_patches(selection).exists():
                self.stdout.write(
                    "Nothing to caption: every selected patch has a caption."
                )
                return
            job = self._launch(selection, endpoint, options)
        except GenerationError as error:
            raise CommandError(str(error)) from None
        if options["wait"]:
            self._wait(job, quiet=options["json"])
            job.refresh_from_db()
        if options["json"]:
            self.stdout.write(json.dumps(job_summary(job)))
        else:
            self._write_summary(job)
        if options["wait"] and job.status == GenerationJob.Status.FAILED:
            raise CommandError(f"job {job.pk} failed: {job.error}")

    def _launch(
        self, selection: Selection, endpoint: str, options: dict
    ) -> GenerationJob:
        backend = options["backend"]
        return job_launch(
            selection=selection,
            backend=backend,
            model=model_or_default(backend=backend, model=options["model"]),
            template=options["template"],
            endpoint=endpoint,
            options=JobOptions(
                in_flight_per_worker=options["in_flight"],
                requests_per_minute=options["rpm"],
                tokens_per_minute=options["tpm"],
                chunk_size=options["chunk_size"],
                model_reads_images=options["model_reads_images"],
                batch=options["batch"],
            ),
            ab=_ab_test(options),
            qa_rate=options["qa_rate"],
        )

    def _scene_ids(self, references: list[str]) -> list[int]:
        ids = []
        for reference in references:
            scene = Scene.objects.filter(name=reference).first()
            if scene is None and reference.isdigit():
                scene = Scene.objects.filter(pk=int(reference)).first()
            if scene is None:
                raise CommandError(f"no scene named {reference!r}")
            ids.append(scene.pk)
        return ids

    def _wait(self, job: GenerationJob, *, quiet: bool) -> None:
        started = time.monotonic()
        hinted = False
        with ProgressBar(f"job {job.pk}", unit="caption", enabled=not quiet) as bar:
            while True:
                job.refresh_from_db()
                bar.on_progress(job.done + job.failed, job.total)
                if job.status not in GenerationJob.ACTIVE:
                    return
                idle = job.status == GenerationJob.Status.QUEUED
                if (
                    idle
                    and not hinted
                    and time.monotonic() - started > NO_WORKER_HINT_AFTER_S
                ):
                    hinted = True
                    sys.stderr.write(
                        "\nNo worker has started the job yet: is one running? "
                        "(make worker)\n"
                    )
                time.sleep(0.5)

    def _write_summary(self, job: GenerationJob) -> None:
        summary = job_summary(job)
        self.stdout.write(
            f"Job {job.pk} ({job.backend}/{job.model}, {job.template}): "
            f"{summary['status']}, {job.done} captioned, {job.failed} failed "
            f"of {job.total}; {job.tokens_in + job.tokens_out} tokens, "
            f"${job.actual_cost:.4f}"
        )
        if job.error:
            self.stdout.write(self.style.ERROR(job.error))


def _ab_test(options: dict) -> ABTest | None:
    return ab_test_for(
        template=options["ab_template"],
        model=options["ab_model"],
        model_a=options["model"],
        backend=options["backend"],
        share=options["ab_share"],
    )


def caption_id_list(text: str) -> tuple[int, ...]:
    try:
        ids = parse_caption_ids(text)
    except GenerationError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    if not ids:
        raise argparse.ArgumentTypeError("give caption ids separated by commas")
    return ids


def _share(text: str) -> float:
    """A share from 0 to 1, for `--qa-rate`."""
    try:
        share = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"give a number from 0 to 1, not {text!r}"
        ) from None
    if not 0.0 <= share <= 1.0:
        raise argparse.ArgumentTypeError(f"give a number from 0 to 1, not {text}")
    return share
