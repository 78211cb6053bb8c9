import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from captions.devdata import benchmark
from captions.management.progress import ProgressBar
from verification.devdata import BenchmarkReviews


class Command(BaseCommand):
    help = (
        "Fill the database quickly with captioned patches, a fraction of them "
        "reviewed, for the benchmarks (docs/benchmark_data.md)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--patches",
            type=int,
            required=True,
            help="Patches to make, one caption each",
        )
        parser.add_argument(
            "--verified-fraction", type=float, required=True,
            help="Share of the captions approved or edited, 0..1 (a fifth of them "
            "edited; of the rest, 5%% rejected and the others pending)",
        )  # fmt: skip
        parser.add_argument("--seed", type=int, default=0, help="Random seed")
        parser.add_argument(
            "--scene-name", default=benchmark.DEFAULT_SCENE_NAME,
            help="Scenes are named NAME-001, NAME-002, ... (default: bench)",
        )  # fmt: skip
        parser.add_argument(
            "--replace", action="store_true",
            help="Delete the scenes an earlier run made under this name first",
        )  # fmt: skip
        parser.add_argument(
            "--patches-per-scene", type=int,
            default=benchmark.MAX_PATCHES_PER_SCENE,
            help=f"At most {benchmark.MAX_PATCHES_PER_SCENE} (the default)",
        )  # fmt: skip
        parser.add_argument(
            "--templates", type=int, default=benchmark.DEFAULT_TEMPLATES,
            help="Distinct synthetic patches the others reuse (default "
            f"{benchmark.DEFAULT_TEMPLATES})",
        )  # fmt: skip
        parser.add_argument(
            "--batch-size", type=int, default=benchmark.DEFAULT_BATCH_SIZE,
            help="Patches per bulk insert",
        )  # fmt: skip
        parser.add_argument("--json", action="store_true", help="Print one JSON object")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **options) -> None:
        progress = ProgressBar(
            "benchmark data", unit="patch", enabled=not options["no_progress"]
        )
        try:
            with progress as bar:
                summary = benchmark.benchmark_data_create(
                    patches=options["patches"],
                    verified_fraction=options["verified_fraction"],
                    reviews=BenchmarkReviews(),
                    seed=options["seed"],
                    scene_name=options["scene_name"],
                    replace=options["replace"],
                    templates=options["templates"],
                    patches_per_scene=options["patches_per_scene"],
                    batch_size=options["batch_size"],
                    on_progress=bar.on_progress,
                )
        except benchmark.BenchmarkDataError as error:
            raise CommandError(str(error)) from None
        if options["json"]:
            self.stdout.write(json.dumps(summary.as_json()))
            return
        report = summary.as_json()
        counts = ", ".join(f"{n} {status}" for status, n in summary.captions.items())
        scenes = summary.scene_names
        named = scenes[0] if len(scenes) == 1 else f"{scenes[0]} .. {scenes[-1]}"
        self.stdout.write(
            f"{summary.patches} patches in {len(scenes)} scene(s) {named}, job "
            f"{summary.job_id}: captions {counts}; {summary.revisions} revisions; "
            f"previews in MEDIA_ROOT/{summary.media_dir}. "
            f"{report['seconds']} s, {report['patches_per_s']} patches/s, "
            f"{report['rows_per_s']} rows/s."
        )
