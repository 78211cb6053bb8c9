from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from captions.devdata.demo.scene import MIN_SIZE, make_demo_scene


class Command(BaseCommand):
    help = (
        "Write a synthetic Sentinel-2 L2A image and its WorldCover map (a demo scene) "
        "into OUT_DIR and print their paths, image first."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("out_dir", type=Path, help="Folder to write into")
        parser.add_argument(
            "--size", type=int, default=2048, help="Pixels a side (default 2048)"
        )
        parser.add_argument("--seed", type=int, default=0, help="Random seed")
        parser.add_argument(
            "--name", default="demo", help="File name prefix (default: demo)"
        )

    def handle(self, *args, **options) -> None:
        size = options["size"]
        if size < MIN_SIZE:
            raise CommandError(f"--size must be at least {MIN_SIZE} pixels, got {size}")
        out_dir: Path = options["out_dir"]
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            scene = make_demo_scene(
                out_dir, size=size, seed=options["seed"], name=options["name"]
            )
        except (ValueError, OSError) as error:
            raise CommandError(f"{out_dir}: {error}") from None
        self.stdout.write(str(scene.image_path))
        self.stdout.write(str(scene.landcover_path))
