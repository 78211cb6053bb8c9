from django.core.management.base import BaseCommand, CommandError, CommandParser

from captions.geo.bbox import BadBoundingBox, parse_bbox
from captions.landcover import CLASS_BY_CODE
from verification.curation import qa_sample_by_class
from verification.models import QaReview

MAX_PER_CLASS = 10_000


class Command(BaseCommand):
    help = (
        "Open QA reviews (blind second opinions) stratified by land-cover class: "
        "for each class present in verified captions, until N reviews hold it. A "
        "release that requires QA coverage per class names the classes short."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--per-class", type=int, required=True, metavar="N")
        parser.add_argument(
            "--bbox",
            metavar="W,S,E,N",
            help="only captions of patches whose footprint meets this box, in "
            "degrees (write --bbox=-10,... when west is negative)",
        )

    def handle(self, *args, **options) -> None:
        per_class = options["per_class"]
        if not 1 <= per_class <= MAX_PER_CLASS:
            raise CommandError(f"--per-class: give at least 1, at most {MAX_PER_CLASS}")
        try:
            box = parse_bbox(options["bbox"]) if options["bbox"] else None
        except BadBoundingBox as error:
            raise CommandError(f"--bbox: {error}") from None
        opened = qa_sample_by_class(per_class=per_class, bbox=box)
        for code, count in sorted(opened.items()):
            self.stdout.write(f"{CLASS_BY_CODE[code].worldcover_name}: {count} opened")
        waiting = QaReview.objects.filter(state=QaReview.State.OPEN).count()
        self.stdout.write(
            f"{sum(opened.values())} QA reviews opened; {waiting} wait for a second "
            "annotator"
        )
