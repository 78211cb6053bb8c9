import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from captions.generation.caption_import import (
    CaptionImportError,
    LeftOut,
    captions_import,
)
from captions.generation.checks import MAX_CAPTION_CHARS
from captions.models import Patch


class Command(BaseCommand):
    help = (
        "Import a ChatEarthNet caption file (a JSON array of {image, caption}) as "
        "captions awaiting review, matched to patches by image file name; each "
        "matched patch is put in the split the file names (…_train.json, or "
        "--split). Entries left out are reported by position (docs/chatearthnet.md)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--source",
            help="Where the captions come from, kept on each (default: the file's "
            "name without its split, e.g. ChatEarthNet_caps_35)",
        )
        parser.add_argument(
            "--split",
            choices=Patch.Split.values,
            help="The split of every caption of the file (default: from its name)",
        )
        parser.add_argument(
            "--scene", help="Match images within this scene only (name or id)"
        )
        parser.add_argument("--json", action="store_true", help="Print one JSON object")

    def handle(self, *args, **options) -> None:
        try:
            result = captions_import(
                path=options["file"],
                source=options["source"],
                split=options["split"],
                scene=options["scene"],
            )
        except CaptionImportError as error:
            raise CommandError(str(error)) from None
        if options["json"]:
            self.stdout.write(json.dumps(result.as_json()))
            return
        self.stdout.write(
            f"{result.read} captions read into {result.source!r}, split "
            f"{result.split} (from the {result.split_named_by}): "
            f"{result.created} imported, {result.already_imported} already imported, "
            f"{result.left_out()} not imported; {result.patches_split} patches put "
            f"in {result.split}."
        )
        self._warn_left_out(result.unmatched, "no patch has this name")
        self._warn_left_out(
            result.ambiguous, "patches of several scenes have this name (--scene)"
        )
        self._warn_left_out(
            result.split_conflicts,
            f"the patch is in another split that this file may not change to "
            f"{result.split}",
        )
        self._warn_left_out(result.too_long, f"over {MAX_CAPTION_CHARS} characters")
        self._warn_left_out(
            result.unstorable, "holding NUL or unpaired surrogate characters"
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
