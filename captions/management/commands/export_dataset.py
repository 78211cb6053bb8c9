import sys
from collections.abc import Iterator
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse

from captions.export.filters import (
    VERIFIED_STATUSES,
    ExportFilters,
    export_filters_from,
    export_format_check,
)
from captions.export.formats import (
    EXPORT_FORMATS,
    SPLITS,
    ExportError,
    ExportRecord,
    export_chunks,
    export_needs_landcover,
    review_records_check,
)
from captions.models import Scene
from captions.review_records import with_review_records
from captions.selectors import export_filters_check, verified_pairs


class Command(BaseCommand):
    help = (
        "Write the verified pairs (approved or edited) in a training format: the same "
        "bytes as GET /api/v1/export/ with the same options."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", required=True, choices=EXPORT_FORMATS)
        parser.add_argument(
            "--out", required=True, help="File to write, or - for standard output"
        )
        parser.add_argument("--status", choices=VERIFIED_STATUSES)
        parser.add_argument(
            "--split", choices=SPLITS, help="Required for --format chatearthnet"
        )
        parser.add_argument("--scene", help="Scene id or name")
        parser.add_argument("--job", help="Generation job id")
        parser.add_argument(
            "--reviewed-since", help="ISO 8601 date or date-time (UTC by default)"
        )
        parser.add_argument(
            "--bbox",
            help="west,south,east,north in degrees: only patches whose footprint "
            "meets the box (west > east crosses the antimeridian)",
        )
        parser.add_argument(
            "--base-url",
            default="",
            help="Server URL for the image URLs, e.g. https://studio.example.org "
            "(default: paths only, /api/v1/export/images/...)",
        )
        parser.add_argument(
            "--review-records",
            action="store_true",
            help="With --format jsonl: add each pair's review record (reviewer, "
            "second reviewer, agreement, adjudication, gold)",
        )

    def handle(self, *args, **options) -> None:
        export_format = options["format"]
        filters = self._filters(options)
        prefix = options["base_url"].rstrip("/") + reverse("api-export")
        records = verified_pairs(
            filters=filters,
            image_url_prefix=prefix,
            with_landcover=export_needs_landcover(export_format),
        )
        if options["review_records"]:
            records = with_review_records(records)
        counted = _Counted(records)
        chunks = export_chunks(export_format, counted)
        if options["out"] == "-":
            for chunk in chunks:
                sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
            return
        size = _write_file(Path(options["out"]), chunks)
        self.stderr.write(
            f"{counted.count:,} pairs written to {options['out']} ({size:,} bytes)."
        )

    def _filters(self, options: dict) -> ExportFilters:
        """The options' filters, checked with the format and options they go with."""
        try:
            filters = export_filters_from(
                {
                    "status": options["status"],
                    "split": options["split"],
                    "scene": self._scene_id(options["scene"]),
                    "job": options["job"],
                    "reviewed_since": options["reviewed_since"],
                    "bbox": options["bbox"],
                }
            )
            export_format_check(
                options["format"],
                filters,
                format_option="--format",
                split_option="--split",
            )
            if options["review_records"]:
                review_records_check(
                    options["format"],
                    format_option="--format",
                    records_option="--review-records",
                )
            export_filters_check(filters=filters)
        except ExportError as error:
            raise CommandError(str(error)) from None
        return filters

    def _scene_id(self, value: str | None) -> str | None:
        if value is None or value.isdigit():
            return value
        scene_id = Scene.objects.filter(name=value).values_list("pk", flat=True).first()
        if scene_id is None:
            raise CommandError(f"no scene named {value!r}")
        return str(scene_id)


class _Counted:
    def __init__(self, records: Iterator[ExportRecord]) -> None:
        self.records = records
        self.count = 0

    def __iter__(self) -> Iterator[ExportRecord]:
        for record in self.records:
            self.count += 1
            yield record


def _write_file(path: Path, chunks: Iterator[bytes]) -> int:
    """Write beside the target, then rename: an interrupted export leaves no half
    file under the name a training script reads."""
    partial = path.with_name(path.name + ".partial")
    size = 0
    try:
        with partial.open("wb") as output:
            for chunk in chunks:
                output.write(chunk)
                size += len(chunk)
        partial.replace(path)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise CommandError(f"cannot write {path}: {error.strerror or error}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return size
