"""The dataset card of a release: its README.md, from what was frozen alone.

Counts by split and status, land cover, review, quality (the figures frozen with the
pairs, `Release.quality`: none in a release frozen before they were), models and
prompts, and the files a release holds, with the YAML header that lets
`datasets.load_dataset(<folder>)` read the JSONL splits. It also names the release's
two own files (`CARD`, `MANIFEST`), since it is where a reader learns the layout.
"""

import html
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db.models import Count, QuerySet

from captions.export.filters import export_filters_from
from captions.export.formats import SPLITS, export_file_name, iso_utc
from captions.export.release_coverage import COVERAGE_IMAGE, coverage_card_lines
from captions.geo.coverage import Coverage
from captions.landcover import CLASS_BY_CODE, CODES
from captions.models import Release, ReleaseItem

CARD = "README.md"
MANIFEST = "manifest.json"
# The edit distances are summed a chunk of rows at a time.
DISTANCE_CHUNK = 2000


@dataclass
class ClassTotals:
    """Pixels of each class over a release's images, and how many images hold it."""

    pixels: dict[int, int] = field(default_factory=dict)
    images: dict[int, int] = field(default_factory=dict)

    def add(self, landcover: dict) -> None:
        for entry in landcover.get("overall") or []:
            code = int(entry["code"])
            self.pixels[code] = self.pixels.get(code, 0) + int(entry["pixels"])
            self.images[code] = self.images.get(code, 0) + 1


def dataset_card_lines(
    release: Release,
    classes: ClassTotals,
    *,
    caption_files: list[str] | None = None,
    coverage: Coverage | None = None,
) -> Iterator[str]:
    """The README.md of a release: what is in it, from its frozen items alone.
    `caption_files`: the caption files of a ChatEarthNet-layout release;
    `coverage`: where its images lie, drawn in its `coverage.png` (none in a release
    built before there was one)."""
    items = ReleaseItem.objects.filter(release=release)
    counts = _PairCounts.of(items)
    present = [split for split in SPLITS if counts.images_by_split.get(split)]
    # Only the product layout has the JSONL files the YAML header points to.
    yield from _card_header(release, present if caption_files is None else [])
    yield f"# ChatEarthNet Studio release {release.number}"
    yield ""
    if release.description:
        yield markdown_text(release.description)
        yield ""
    yield (
        f"Verified image-text pairs (approved or edited by a person) frozen at "
        f"{iso_utc(release.frozen_at)}, selected by: {release_filters_text(release)}."
    )
    yield ""
    yield from _split_table(release, counts)
    yield from _class_table(classes)
    if coverage is not None:
        yield from coverage_card_lines(coverage)
    yield from _review_lines(
        items, counts.pairs("approved") + counts.pairs("edited"), counts.pairs("edited")
    )
    if release.quality:
        yield from _quality_lines(release.quality, release.min_qa_per_class)
    yield from _model_table(items)
    if caption_files is None:
        yield from _files_lines(coverage is not None)
    else:
        yield from _chatearthnet_files_lines(caption_files, coverage is not None)
    yield from _credits_lines()


@dataclass(frozen=True)
class _PairCounts:
    """A release's pairs by split and status, and its images by split."""

    by_split_status: dict[tuple[str, str], int]
    images_by_split: dict[str, int]

    @classmethod
    def of(cls, items: QuerySet[ReleaseItem]) -> "_PairCounts":
        by_split_status = {
            (row["split"], row["status"]): row["pairs"]
            for row in items.values("split", "status").annotate(pairs=Count("id"))
        }
        images_by_split = {
            row["split"]: row["images"]
            for row in items.values("split").annotate(
                images=Count("caption__patch_id", distinct=True)
            )
        }
        return cls(by_split_status, images_by_split)

    def pairs(self, status: str, split: str | None = None) -> int:
        """Pairs in `status`, of one split or (None) of all."""
        return sum(
            pairs
            for (pair_split, pair_status), pairs in self.by_split_status.items()
            if pair_status == status and split in (None, pair_split)
        )


def _split_table(release: Release, counts: _PairCounts) -> Iterator[str]:
    yield "## Pairs by split and status"
    yield ""
    yield "| split | approved | edited | pairs | images |"
    yield "| --- | ---: | ---: | ---: | ---: |"
    for split in SPLITS:
        approved, edited = (
            counts.pairs("approved", split),
            counts.pairs("edited", split),
        )
        yield (
            f"| {split} | {approved:,} | {edited:,} | {approved + edited:,} | "
            f"{counts.images_by_split.get(split, 0):,} |"
        )
    approved, edited = counts.pairs("approved"), counts.pairs("edited")
    yield (
        f"| **all** | {approved:,} | {edited:,} | {approved + edited:,} | "
        f"{release.images_total:,} |"
    )
    yield ""


def markdown_text(text: str) -> str:
    """A curator's text as plain text in Markdown: no markup of theirs reaches the
    card (an HTML tag, or a `<VRTDataset>` that GDAL would read the file as)."""
    return html.escape(text, quote=False)


def _card_header(release: Release, splits: list[str]) -> Iterator[str]:
    """YAML front matter: `datasets.load_dataset(<folder>)` reads the JSONL splits."""
    yield "---"
    yield f"pretty_name: ChatEarthNet Studio release {release.number}"
    yield "task_categories:"
    yield "- image-to-text"
    yield "language:"
    yield "- en"
    if splits:
        yield "configs:"
        yield "- config_name: default"
        yield "  data_files:"
        for split in splits:
            yield f"  - split: {split}"
            yield f"    path: {export_file_name('jsonl', split)}"
    yield "---"
    yield ""


def release_filters_text(release: Release) -> str:
    """The filters a release was made from, in words (dataset card and admin)."""
    filters = export_filters_from(release.filters)
    parts = [
        f"status {filters.status}" if filters.status else "approved and edited",
        f"split {filters.split}" if filters.split else "all splits",
        f"scene {filters.scene}" if filters.scene else "all scenes",
        f"job {filters.job}" if filters.job else "all jobs and imports",
    ]
    if filters.reviewed_since:
        parts.append(f"reviewed since {iso_utc(filters.reviewed_since)}")
    if filters.bbox:
        box = filters.bbox.as_text()
        parts.append(f"footprints meeting {box} (west,south,east,north)")
    return ", ".join(parts)


def _class_table(classes: ClassTotals) -> Iterator[str]:
    total = sum(classes.pixels.values())
    yield "## Land cover (ESA WorldCover classes)"
    yield ""
    yield "| class | WorldCover code | share of valid pixels | images holding it |"
    yield "| --- | ---: | ---: | ---: |"
    for code in CODES:
        pixels = classes.pixels.get(code, 0)
        share = 100 * pixels / total if total else 0.0
        yield (
            f"| {CLASS_BY_CODE[code].term} | {code} | {share:.2f} % | "
            f"{classes.images.get(code, 0):,} |"
        )
    yield ""


def _review_lines(items, pairs: int, edited: int) -> Iterator[str]:
    distances = items.exclude(edit_distance=None)
    measured = distances.count()
    total_distance = sum(
        distance for distance in distances.values_list("edit_distance", flat=True)
        .order_by("caption_id").iterator(chunk_size=DISTANCE_CHUNK)
    )  # fmt: skip
    yield "## Review"
    yield ""
    rate = 100 * edited / pairs if pairs else 0.0
    yield (
        f"- Edit rate: {edited:,} of {pairs:,} pairs edited by a reviewer "
        f"({rate:.1f} %)."
    )
    if measured:
        yield (
            f"- Mean edit distance: {total_distance / measured:.3f} over the "
            f"{measured:,} pairs with a recorded review (0: kept as the model wrote "
            "it, 1: rewritten; one minus difflib's word ratio)."
        )
    else:
        yield "- Mean edit distance: no review history recorded for these pairs."
    yield ""


def _quality_lines(quality: dict, min_qa_per_class: int) -> Iterator[str]:
    """What second opinions and gold items said of the pairs when they were frozen
    (captions/review_records.py defines each figure)."""
    pairs, confirmed, answered = (
        quality["pairs"], quality["confirmed"], quality["qa_answered"]
    )  # fmt: skip
    yield "## Quality"
    yield ""
    yield (
        f"- Confirmed: {confirmed:,} of {pairs:,} pairs ({_percent(confirmed, pairs)})"
        " by a second reviewer who agreed (or whose disagreement a curator settled),"
        f" or held as gold items ({quality['gold']:,})."
    )
    yield (
        f"- QA sample: {answered:,} pairs reviewed again by a second annotator, "
        "blind (the first verdict hidden)."
    )
    accuracy = quality["accuracy"]
    if accuracy is None:
        yield "- Estimated caption accuracy: no second opinion yet, so no estimate."
    else:
        yield (
            f"- Estimated caption accuracy: {100 * accuracy['share']:.1f} % "
            f"(95% CI {100 * accuracy['low']:.1f}-{100 * accuracy['high']:.1f}%): "
            f"{quality['qa_agreed']:,} of the {answered:,} second opinions agreed "
            "with the first reviewer."
        )
        agreements = quality["verdict_agreements"]
        yield (
            f"- Verdict agreement: {agreements:,} of {answered:,} "
            f"({_percent(agreements, answered)}) gave the first reviewer's verdict "
            "(approve, edit or reject), whatever the text."
        )
    if min_qa_per_class:
        yield (
            f"- Created only with at least {min_qa_per_class:,} second-reviewed "
            "pairs in every land-cover class present."
        )
    yield ""
    yield from _quality_table(quality["classes"])
    yield ""


def _quality_table(classes: list[dict]) -> Iterator[str]:
    """Pairs and second-reviewed pairs per land-cover class present."""
    yield "| class | WorldCover code | pairs | second-reviewed pairs |"
    yield "| --- | ---: | ---: | ---: |"
    for entry in classes:
        code = entry["code"]
        yield (
            f"| {CLASS_BY_CODE[code].term} | {code} | {entry['pairs']:,} | "
            f"{entry['second_reviewed']:,} |"
        )


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole if whole else 0.0:.1f} %"


def _model_table(items) -> Iterator[str]:
    rows = (
        items.values(
            "caption__model", "caption__template__name", "caption__template__version"
        )
        .annotate(pairs=Count("id"))
        .order_by(
            "caption__model", "caption__template__name", "caption__template__version"
        )
    )
    yield "## Models and prompts"
    yield ""
    yield "| model | prompt template | version | pairs |"
    yield "| --- | --- | ---: | ---: |"
    for row in rows:
        yield (
            f"| {row['caption__model'] or '(imported)'} | "
            f"{row['caption__template__name'] or '—'} | "
            f"{row['caption__template__version'] or '—'} | {row['pairs']:,} |"
        )
    yield ""


def _files_lines(with_coverage: bool = False) -> Iterator[str]:
    yield "## Files"
    yield ""
    yield "- `<split>.jsonl`: one JSON object per pair with every field (caption,"
    yield "  generated caption, status, land-cover statistics, footprint, scene,"
    yield "  model, prompt, reviewer, review time)."
    yield "- `chatearthnet_<split>.json`: ChatEarthNet's layout,"
    yield '  `[{"image", "caption"}]`.'
    yield "- `llava_<split>.json`: LLaVA's conversation layout."
    yield "- `<split>.csv`: id, image, caption, status, split."
    yield "- `images/<scene id>/<patch id>.<ext>`: the true-colour Sentinel-2"
    yield "  previews; every file above names its images by this path."
    if with_coverage:
        yield f"- `{COVERAGE_IMAGE}`: the coverage map above."
    yield f"- `{MANIFEST}`: the size and sha256 of every other file."
    yield ""


def _chatearthnet_files_lines(
    caption_files: list[str], with_coverage: bool = False
) -> Iterator[str]:
    yield "## Files"
    yield ""
    yield "In ChatEarthNet's layout: code written for the released dataset reads"
    yield "these files unchanged."
    yield ""
    for name in caption_files:
        yield f"- `{name}`: " + '`[{"image", "caption"}]`, one entry per pair.'
    yield "- `images/<name>.png`: the true-colour Sentinel-2 patches as PNG, named as"
    yield "  the caption files name them."
    if with_coverage:
        yield f"- `{COVERAGE_IMAGE}`: the coverage map above."
    yield f"- `{MANIFEST}`: the size and sha256 of every other file."
    yield ""


def _credits_lines() -> Iterator[str]:
    yield "Imagery: contains modified Copernicus Sentinel data. Land cover: ESA"
    yield "WorldCover (CC-BY-4.0). Caption recipe: ChatEarthNet (Yuan et al., 2024)."
