import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from captions.ingest import scenes
from captions.ingest.rasters import L2A_OFFSET_CHOICES, RasterError, parse_bands
from captions.management.progress import ProgressBar


def command_bands(text: str) -> tuple[int, ...]:
    try:
        return parse_bands(text)
    except RasterError as error:
        raise CommandError(str(error)) from None


class Command(BaseCommand):
    help = "Cut a Sentinel-2 image + WorldCover map into analysed 256x256 patches."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("image", type=Path, help="Sentinel-2 (or RGB) GeoTIFF")
        parser.add_argument("landcover", type=Path, help="ESA WorldCover map, any CRS")
        parser.add_argument("--name", help="Scene name (default: the image's stem)")
        parser.add_argument("--patch-size", type=int, default=256)
        parser.add_argument(
            "--bands", type=command_bands, help="1-based R,G,B bands, e.g. 4,3,2"
        )
        parser.add_argument(
            "--l2a-offset", choices=L2A_OFFSET_CHOICES, default="auto",
            help="Added to digital numbers before /10000 (auto: from the file's tags)",
        )  # fmt: skip
        parser.add_argument(
            "--max-invalid", type=float, default=0.5,
            help="Skip patches with a larger fraction of invalid pixels (default 0.5)",
        )  # fmt: skip
        parser.add_argument(
            "--split-block", type=int, default=None,
            help="Patches per side of a block of patches that share a split "
            "(default: the SPLIT_BLOCK setting, 4)",
        )  # fmt: skip
        parser.add_argument("--json", action="store_true", help="Print one JSON object")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **options) -> None:
        # Relative to the operator's working directory; then the same checks as the
        # admin's form (captions/ingest/input_files.py).
        image, landcover = options["image"].absolute(), options["landcover"].absolute()
        ingest_options = scenes.IngestOptions(
            patch_size=options["patch_size"],
            bands=options["bands"],
            l2a_offset=options["l2a_offset"],
            max_invalid=options["max_invalid"],
            split_block=options["split_block"],
        )
        try:
            scene = scenes.scene_create(
                name=options["name"] or image.stem,
                image_path=image,
                landcover_path=landcover,
                options=ingest_options,
            )
            progress = ProgressBar(
                scene.name, unit="patch", enabled=not options["no_progress"]
            )
            with progress as bar:
                result = scenes.scene_ingest(
                    scene_id=scene.pk, on_progress=bar.on_progress
                )
        except scenes.IngestError as error:
            raise CommandError(str(error)) from None
        if options["json"]:
            self.stdout.write(json.dumps(result.as_json()))
        elif result.already_ingested:
            self.stdout.write(
                f"Scene {scene.name!r} was already ingested (id {scene.pk})."
            )
        else:
            self.stdout.write(
                f"Scene {scene.name!r} (id {scene.pk}): "
                f"{result.patches_created} patches created, "
                f"{result.patches_skipped} skipped."
            )
