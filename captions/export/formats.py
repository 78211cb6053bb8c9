"""The export formats of verified image-text pairs (DOMAIN.md section 7), as streams.

Plain Python, no Django: a selector turns database rows into `ExportRecord`s one at a
time, and a writer here turns each record into text as it comes. Nothing holds more
than one record and one output chunk, so an export of any size runs in flat memory,
whether it goes to an HTTP response, a file or a release.

Every format names an image by the same relative path, `image_path()`:
`images/<scene id>/<patch id>.<extension of the stored preview>`. A release stores
its images under exactly these paths, so the files of a release find their images
next to them, and the live export's URLs end with the same path. The exception is
`chatearthnet`, which names an image as the released dataset does, by the patch's
file name (`source_name`), except in a product-layout release.
"""

import csv
import datetime as dt
import io
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import chain
from typing import Any, ClassVar

import orjson

from captions.chunks import CHUNK_BYTES, utf8_chunks
from captions.geo import footprints

SPLITS = ("train", "val", "test")
LLAVA_PROMPT = "<image>\nDescribe this image."


class ExportError(ValueError):
    """Export options that cannot be used; the message says which and why."""


# --- Records --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExportRecord:
    """One verified pair with everything any format writes about it."""

    id: int  # the caption's id
    patch_id: int
    scene_id: int
    scene: str
    image: str  # image_path(): relative, the same in every format and in releases
    image_url: str
    source_name: str  # the original tile's file name, if the patch was imported
    caption: str  # the final text, after any edit
    generated_caption: str  # what the model (or the imported file) wrote
    status: str
    split: str
    footprint: dict | None  # {"west", "south", "east", "north"} in degrees
    # The land-cover statistics (DOMAIN.md section 4) as the database returns their
    # JSON text: the JSONL line takes them as they are, because decoding and encoding
    # them again is most of an export's time. None when the format does not use them.
    landcover_json: str | None
    model: str
    prompt_template: str | None
    prompt_version: int | None
    job: int | None
    source: str
    reviewer: str | None
    reviewed_at: str | None  # ISO 8601, UTC
    # The pair's review record (captions/review_records.py), only when asked for:
    # without it the JSONL line has no "review" key.
    review: Mapping[str, Any] | None = None
    # The patch's dominant WorldCover class (Patch.dominant_class): the geojson
    # format's; None when the patch has none.
    dominant_class: int | None = None


def image_path(*, scene_id: int, patch_id: int, preview_name: str) -> str:
    """Where an exported image lives, relative to the export: stable for a patch.

    Ids, not names: a scene's name may hold any character, its id is a plain number,
    and a patch id is unique across scenes, so two images never share a path.
    """
    extension = preview_name.rsplit(".", 1)[-1].lower() if "." in preview_name else ""
    suffix = f".{extension}" if extension and "/" not in extension else ""
    return f"images/{scene_id}/{patch_id}{suffix}"


def iso_utc(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _dumps(value: Any) -> str:
    # Compact, UTF-8 as is: captions are prose, and \uXXXX escapes only cost bytes.
    # orjson, not json: encoding was half of a 173,488-pair export's time.
    return orjson.dumps(value).decode()


# --- Writers ----------------------------------------------------------------------


class ExportWriter:
    """One format: text before the first record, per record, and after the last.

    A writer is used for one stream only (the JSON arrays remember whether a record
    came before, for the commas).
    """

    name: ClassVar[str]
    media_type: ClassVar[str]
    needs_landcover: ClassVar[bool] = False

    def begin(self) -> str:
        return ""

    def item(self, record: ExportRecord) -> str:
        raise NotImplementedError

    def end(self) -> str:
        return ""


class JsonLinesWriter(ExportWriter):
    """`jsonl`: one JSON object per line, every field of the record; the land-cover
    statistics come last."""

    name = "jsonl"
    media_type = "application/x-ndjson"
    needs_landcover = True

    def item(self, record: ExportRecord) -> str:
        if record.landcover_json is None:
            raise ExportError("a jsonl export needs the land-cover statistics")
        fields = _dumps(jsonl_object(record))
        return f'{fields[:-1]},"landcover":{record.landcover_json}}}\n'


def jsonl_object(record: ExportRecord) -> dict:
    """A JSONL line's fields but the land-cover statistics, in their order."""
    fields: dict[str, Any] = {
        "id": record.id,
        "patch_id": record.patch_id,
        "image": record.image,
        "image_url": record.image_url,
        "caption": record.caption,
        "generated_caption": record.generated_caption,
        "status": record.status,
        "split": record.split,
        "scene": record.scene,
        "scene_id": record.scene_id,
        "source_name": record.source_name,
        "footprint": record.footprint,
        "model": record.model,
        "prompt_template": record.prompt_template,
        "prompt_version": record.prompt_version,
        "job": record.job,
        "source": record.source,
        "reviewer": record.reviewer,
        "reviewed_at": record.reviewed_at,
    }
    if record.review is not None:
        fields["review"] = record.review
    return fields


class JsonArrayWriter(ExportWriter):
    """A JSON array written one element at a time, one element per line."""

    media_type = "application/json"

    def __init__(self) -> None:
        self.written = 0

    def begin(self) -> str:
        return "["

    def item(self, record: ExportRecord) -> str:
        separator = ",\n" if self.written else "\n"
        self.written += 1
        return separator + _dumps(self.element(record))

    def end(self) -> str:
        return "\n]\n" if self.written else "]\n"

    def element(self, record: ExportRecord) -> dict:
        raise NotImplementedError


class ChatEarthNetWriter(JsonArrayWriter):
    """`chatearthnet`: ChatEarthNet's own layout, `[{"image", "caption"}, ...]`,
    each image named as the released dataset names it: by the patch's file name
    (`4353_2917_patch00.png`). A product-layout release, whose images are stored by
    path, names them by `image` instead (`images_by_path`)."""

    name = "chatearthnet"

    def __init__(self, *, images_by_path: bool = False) -> None:
        super().__init__()
        self.images_by_path = images_by_path

    def element(self, record: ExportRecord) -> dict:
        image = record.image if self.images_by_path else record.source_name
        return {"image": image or record.image, "caption": record.caption}


class LlavaWriter(JsonArrayWriter):
    """`llava`: LLaVA's instruction-tuning layout, one human/gpt exchange per pair."""

    name = "llava"

    def element(self, record: ExportRecord) -> dict:
        return {
            "id": str(record.id),
            "image": record.image,
            "conversations": [
                {"from": "human", "value": LLAVA_PROMPT},
                {"from": "gpt", "value": record.caption},
            ],
        }


class CsvWriter(ExportWriter):
    """`csv`: id, image, caption, status, split; RFC 4180 quoting and line ends."""

    name = "csv"
    media_type = "text/csv"
    HEADER = ("id", "image", "caption", "status", "split")

    def __init__(self) -> None:
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer)

    def begin(self) -> str:
        return self._row(self.HEADER)

    def item(self, record: ExportRecord) -> str:
        return self._row(
            (record.id, record.image, record.caption, record.status, record.split)
        )

    def _row(self, values: Iterable[object]) -> str:
        self.writer.writerow(values)
        text = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate()
        return text


class GeoJsonWriter(ExportWriter):
    """`geojson`: a FeatureCollection (RFC 7946), one Feature per pair, its patch's
    footprint as the geometry (null without one) and the JSONL line's fields, but the
    footprint and the statistics, with the dominant class as its properties."""

    name = "geojson"
    media_type = footprints.MEDIA_TYPE

    def __init__(self) -> None:
        self.collection = footprints.FeatureCollectionWriter()

    def begin(self) -> str:
        return self.collection.begin()

    def item(self, record: ExportRecord) -> str:
        properties = jsonl_object(record)
        del properties["footprint"]  # the geometry and the bbox hold it
        properties["dominant_class"] = record.dominant_class
        properties["dominant_class_name"] = footprints.class_name(record.dominant_class)
        box = record.footprint
        bounds = None
        if box is not None:
            bounds = (box["west"], box["south"], box["east"], box["north"])
        feature = footprints.footprint_feature(record.id, bounds, properties)
        return self.collection.item(feature)

    def end(self) -> str:
        return self.collection.end()


WRITERS: dict[str, type[ExportWriter]] = {
    writer.name: writer
    for writer in (
        JsonLinesWriter, ChatEarthNetWriter, LlavaWriter, CsvWriter, GeoJsonWriter
    )
}  # fmt: skip
EXPORT_FORMATS = tuple(WRITERS)
# A release's files: fixed, not every format there is, so that rebuilding a release
# made before a format was added gives back the bytes its manifest records.
RELEASE_FORMATS = ("jsonl", "chatearthnet", "llava", "csv")


def export_needs_landcover(*export_formats: str) -> bool:
    """Whether any of these formats writes the land-cover statistics (so that the
    others need not read them from the database)."""
    return any(WRITERS[name].needs_landcover for name in export_formats)


def writer_for(export_format: str, *, images_by_path: bool = False) -> ExportWriter:
    """A new writer of `export_format`; `images_by_path` makes the chatearthnet
    writer name images by their path in a release, as the other formats do."""
    try:
        writer = WRITERS[export_format]
    except KeyError:
        raise ExportError(
            f"unknown format {export_format!r}; choose one of "
            f"{', '.join(EXPORT_FORMATS)}"
        ) from None
    if writer is ChatEarthNetWriter:
        return ChatEarthNetWriter(images_by_path=images_by_path)
    return writer()


def export_chunks(
    export_format: str,
    records: Iterable[ExportRecord],
    *,
    chunk_bytes: int = CHUNK_BYTES,
) -> Iterator[bytes]:
    """The whole file of `export_format` over `records`, in UTF-8 chunks of about
    `chunk_bytes` (one record at a time in memory, whatever their number)."""
    writer = writer_for(export_format)
    pieces = chain([writer.begin()], map(writer.item, records), _end_of(writer))
    return utf8_chunks(pieces, chunk_bytes=chunk_bytes)


def _end_of(writer: ExportWriter) -> Iterator[str]:
    """The writer's last piece, asked for only once every record is written."""
    yield writer.end()


def review_records_check(
    export_format: str, *, format_option: str, records_option: str
) -> None:
    """Refuse review records in a format without room for them (`ExportError`):
    they are a field of the JSONL line. Options named as in `export_format_check`."""
    if export_format != JsonLinesWriter.name:
        raise ExportError(
            f"{records_option} needs {format_option} jsonl: only a JSONL line has a "
            "place for a pair's review record"
        )


def export_file_name(export_format: str, split: str | None) -> str:
    """The file name of a format for a split (or all splits): the same in a release
    and in the export's Content-Disposition."""
    stem = split or "all"
    return {
        "jsonl": f"{stem}.jsonl",
        "csv": f"{stem}.csv",
        "chatearthnet": f"chatearthnet_{stem}.json",
        "llava": f"llava_{stem}.json",
        "geojson": f"{stem}.geojson",
    }[export_format]


def footprint_of(
    west: float | None, south: float | None, east: float | None, north: float | None
) -> dict | None:
    if None in (west, south, east, north):
        return None
    return {"west": west, "south": south, "east": east, "north": north}
