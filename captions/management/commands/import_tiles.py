import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from captions.ingest import tile_import
from captions.ingest.scenes import IngestError, IngestResult
from captions.ingest.tiles import LABEL_KINDS
from captions.management.progress import ProgressBar

NAMES_SHOWN = 5  # the summary names the first few unlabelled images and bad tiles


class Command(BaseCommand):
    help = (
        "Import a folder of ChatEarthNet / SatlasPretrain PNG tiles (256 or 512 px, "
        "with land-cover label PNGs) as a scene of 256x256 patches. "
        "Conventions: docs/import_tiles.md."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("directory", type=Path, help="Folder of tiles and labels")
        parser.add_argument("--name", help="Scene name (default: the folder's name)")
        parser.add_argument(
            "--label-kind", choices=LABEL_KINDS, default="auto",
            help="Label PNGs hold Satlas indices 0-11 or prompt-palette colours "
            "(default: auto, from each label's mode and colours)",
        )  # fmt: skip
        parser.add_argument(
            "--max-invalid", type=float, default=0.5,
            help="Skip patches with a larger fraction of nodata pixels (default 0.5)",
        )  # fmt: skip
        parser.add_argument(
            "--skip-bad", action="store_true",
            help="Leave out and report unreadable tiles instead of failing the import",
        )  # fmt: skip
        parser.add_argument(
            "--split-block", type=int, default=None,
            help="SatlasPretrain tiles per side of a block of tiles that share a split "
            "(default: the SPLIT_BLOCK setting, 4)",
        )  # fmt: skip
        parser.add_argument("--json", action="store_true", help="Print one JSON object")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **options) -> None:
        directory: Path = options["directory"].absolute()
        name = options["name"] or directory.resolve().name
        try:
            progress = ProgressBar(
                name, unit="tile", enabled=not options["no_progress"]
            )
            with progress as bar:
                result = tile_import.scene_import_tiles(
                    directory=directory,
                    name=name,
                    label_kind=options["label_kind"],
                    max_invalid=options["max_invalid"],
                    skip_bad=options["skip_bad"],
                    split_block=options["split_block"],
                    on_progress=bar.on_progress,
                )
        except IngestError as error:
            raise CommandError(str(error)) from None
        if options["json"]:
            self.stdout.write(json.dumps(result.as_json()))
        else:
            self._write_summary(name, result)

    def _write_summary(self, name: str, result: IngestResult) -> None:
        if result.already_ingested:
            self.stdout.write(
                f"Scene {name!r} was already imported (id {result.scene_id}); "
                "nothing to do."
            )
            return
        self.stdout.write(
            f"Scene {name!r} (id {result.scene_id}): "
            f"{result.patches_created} patches created, "
            f"{result.patches_skipped} skipped as mostly nodata."
        )
        if not isinstance(result, tile_import.TileImportResult):
            return
        unlabelled = result.images_without_label
        if unlabelled:
            self.stdout.write(
                self.style.WARNING(
                    f"{_count(len(unlabelled), 'image')} without a label not "
                    f"imported: {_first_few(unlabelled)}"
                )
            )
        if result.bad_tiles:
            self.stdout.write(
                self.style.WARNING(
                    f"{_count(len(result.bad_tiles), 'bad tile')} left out "
                    "(--skip-bad):"
                )
            )
            for error in result.bad_tiles[:NAMES_SHOWN]:
                self.stdout.write(f"  {error}")
            if len(result.bad_tiles) > NAMES_SHOWN:
                self.stdout.write(f"  … and {len(result.bad_tiles) - NAMES_SHOWN} more")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _first_few(names: tuple[str, ...]) -> str:
    shown = ", ".join(names[:NAMES_SHOWN])
    more = len(names) - NAMES_SHOWN
    return f"{shown} … and {more} more" if more > 0 else shown
