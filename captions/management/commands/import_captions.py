import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from captions.captions_import import CaptionImportError, captions_import
from captions.checks import MAX_CAPTION_CHARS


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
            f"{len(result.unmatched)} unmatched, {result.too_long} too long."
        )
        if result.too_long:
            shown = ", ".join(
                f"entry {caption.entry} ({caption.image})"
                for caption in result.too_long_examples[:10]
            )
            more = result.too_long - min(len(result.too_long_examples), 10)
            self.stdout.write(
                self.style.WARNING(
                    f"Not imported, over {MAX_CAPTION_CHARS} characters: {shown}"
                    + (f" … and {more} more" if more > 0 else "")
                )
            )
        if result.unstorable:
            shown = ", ".join(
                f"entry {caption.entry} ({caption.image})"
                for caption in result.unstorable_examples[:10]
            )
            self.stdout.write(
                self.style.WARNING(
                    f"Not imported, {result.unstorable} holding NUL or unpaired "
                    f"surrogate characters: {shown}"
                )
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
