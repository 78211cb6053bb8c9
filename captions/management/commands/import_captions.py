import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from captions.generation.caption_import import (
    CaptionImportError,
    LeftOut,
    captions_import,
)
from captions.generation.checks import MAX_CAPTION_CHARS


class Command(BaseCommand):
    help = (
        "Import a ChatEarthNet caption file (a JSON array of {image, caption}) as "
        "captions awaiting review, matched to imported tiles by image file name. "
        "Captions over the editing limit are reported by position, not imported."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--source", required=True, help="Where the captions come from, kept on each"
        )
        parser.add_argument("--json", action="store_true", help="Print one JSON object")

    def handle(self, *args, **options) -> None:
        try:
            result = captions_import(path=options["file"], source=options["source"])
        except CaptionImportError as error:
            raise CommandError(str(error)) from None
        if options["json"]:
            self.stdout.write(json.dumps(result.as_json()))
            return
        self.stdout.write(
            f"{result.read} captions read: {result.created} imported, "
            f"{result.already_imported} already imported, "
            f"{len(result.unmatched)} unmatched, {result.too_long.count} too long."
        )
        self._warn_left_out(result.too_long, f"over {MAX_CAPTION_CHARS} characters")
        self._warn_left_out(
            result.unstorable, "holding NUL or unpaired surrogate characters"
        )
        if result.unmatched:
            shown = ", ".join(result.unmatched[:10])
            more = len(result.unmatched) - 10
            self.stdout.write(
                self.style.WARNING(
                    f"No imported tile is named: {shown}"
                    + (f" … and {more} more" if more > 0 else "")
                )
            )

    def _warn_left_out(self, left_out: LeftOut, why: str) -> None:
        if not left_out.count:
            return
        shown = ", ".join(
            f"entry {entry} ({image})" for entry, image in left_out.examples[:10]
        )
        more = left_out.count - min(len(left_out.examples), 10)
        self.stdout.write(
            self.style.WARNING(
                f"Not imported, {why}: {shown}"
                + (f" … and {more} more" if more > 0 else "")
            )
        )
