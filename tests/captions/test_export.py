"""Export formats (captions/export/formats.py) and the selector of verified pairs."""

import csv
import datetime as dt
import io
import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from captions.export.filters import (
    UNVERIFIED_STATUSES,
    VERIFIED_STATUSES,
    ExportFilters,
    export_filters_from,
    export_format_check,
)
from captions.export.formats import (
    LLAVA_PROMPT,
    ExportError,
    ExportRecord,
    export_chunks,
    export_file_name,
    export_needs_landcover,
    image_path,
)
from captions.models import Caption
from captions.selectors import verified_pairs
from tests.captions.export_data import EARLY, TRICKY_TEXT

JSONL_KEYS = [
    "id", "patch_id", "image", "image_url", "caption", "generated_caption", "status",
    "split", "scene", "scene_id", "source_name", "footprint", "model",
    "prompt_template", "prompt_version", "job", "source", "reviewer", "reviewed_at",
    "landcover",
]  # fmt: skip


def record(number: int = 1, **fields: Any) -> ExportRecord:
    values: dict[str, Any] = {
        "id": number, "patch_id": 100 + number, "scene_id": 7, "scene": "venice",
        "image": f"images/7/{100 + number}.webp",
        "image_url": f"https://studio/api/v1/export/images/7/{100 + number}.webp",
        "source_name": "", "caption": f"Caption {number}.",
        "generated_caption": f"Generated {number}.", "status": "approved",
        "split": "train",
        "footprint": {"west": 12.0, "south": 45.0, "east": 12.1, "north": 45.1},
        "landcover_json": '{"height": 2, "width": 2, "valid_pixels": 4, '
                          '"overall": [], "regions": {}}',
        "model": "gpt-3.5-turbo", "prompt_template": "chatearthnet-text",
        "prompt_version": 1, "job": 3, "source": "job", "reviewer": "anna",
        "reviewed_at": "2026-01-10T09:30:00Z",
    }  # fmt: skip
    values.update(fields)
    return ExportRecord(**values)


def written(export_format: str, records: list[ExportRecord]) -> str:
    return b"".join(export_chunks(export_format, records)).decode()


# --- Formats ----------------------------------------------------------------------


def test_jsonl_is_one_object_per_line_with_every_field():
    text = written("jsonl", [record(1), record(2, caption=TRICKY_TEXT)])
    lines = text.splitlines()
    assert len(lines) == 2 and text.endswith("\n")
    first, second = (json.loads(line) for line in lines)
    assert list(first) == JSONL_KEYS
    assert first["image"] == "images/7/101.webp"
    assert second["caption"] == TRICKY_TEXT  # the line break is escaped, not raw
    assert "Développement" in lines[1]  # UTF-8 as is, not \u escapes


def test_chatearthnet_is_a_json_array_of_image_and_caption():
    text = written("chatearthnet", [record(1), record(2)])
    assert json.loads(text) == [
        {"image": "images/7/101.webp", "caption": "Caption 1."},
        {"image": "images/7/102.webp", "caption": "Caption 2."},
    ]
    assert text.startswith("[\n{") and text.endswith("}\n]\n")


def test_llava_follows_its_conversation_layout():
    entries = json.loads(written("llava", [record(5, caption="Water, mostly.")]))
    assert entries == [
        {
            "id": "5",
            "image": "images/7/105.webp",
            "conversations": [
                {"from": "human", "value": "<image>\nDescribe this image."},
                {"from": "gpt", "value": "Water, mostly."},
            ],
        }
    ]
    assert LLAVA_PROMPT.startswith("<image>\n")


def test_csv_has_its_five_columns_and_quotes_what_needs_it():
    text = written("csv", [record(1, caption=TRICKY_TEXT, status="edited")])
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows == [
        ["id", "image", "caption", "status", "split"],
        ["1", "images/7/101.webp", TRICKY_TEXT, "edited", "train"],
    ]


@pytest.mark.parametrize(
    ("export_format", "expected"),
    [("jsonl", ""), ("chatearthnet", "[]\n"), ("llava", "[]\n"),
     ("csv", "id,image,caption,status,split\r\n")],
)  # fmt: skip
def test_an_empty_export_is_still_a_valid_file(export_format, expected):
    assert written(export_format, []) == expected


@pytest.mark.parametrize("export_format", ["jsonl", "chatearthnet", "llava", "csv"])
def test_writers_stream_without_reading_all_records_first(export_format):
    endless = (record(number) for number in itertools.count(1))
    chunks = export_chunks(export_format, endless, chunk_bytes=4096)
    first = next(chunks)  # an endless input still gives its first chunk
    assert 4096 <= len(first) < 4096 + 2048
    assert len(next(chunks)) < 4096 + 2048


def test_chunks_joined_are_the_same_file_whatever_their_size():
    records = [record(number) for number in range(1, 200)]
    small = b"".join(export_chunks("llava", records, chunk_bytes=100))
    large = b"".join(export_chunks("llava", records))
    assert small == large
    assert len(json.loads(small)) == 199


def test_an_unknown_format_is_refused():
    with pytest.raises(ExportError, match="unknown format 'parquet'"):
        list(export_chunks("parquet", []))


def test_image_paths_are_stable_and_keep_the_preview_extension():
    assert (
        image_path(scene_id=3, patch_id=18, preview_name="scenes/3/0_256.webp")
        == "images/3/18.webp"
    )
    assert image_path(scene_id=3, patch_id=18, preview_name="x/a.PNG") == (
        "images/3/18.png"
    )
    assert image_path(scene_id=3, patch_id=18, preview_name="noext") == "images/3/18"


def test_file_names_follow_the_format_and_split():
    assert export_file_name("jsonl", "train") == "train.jsonl"
    assert export_file_name("csv", None) == "all.csv"
    assert export_file_name("chatearthnet", "val") == "chatearthnet_val.json"
    assert export_file_name("llava", "test") == "llava_test.json"


def test_jsonl_copies_the_landcover_text_as_the_database_gave_it():
    line = written("jsonl", [record(1, landcover_json='{"width": 2, "height": 2}')])
    assert line.endswith(',"landcover":{"width": 2, "height": 2}}\n')
    assert json.loads(line)["landcover"] == {"width": 2, "height": 2}


def test_jsonl_without_landcover_statistics_is_refused():
    with pytest.raises(ExportError, match="needs the land-cover statistics"):
        written("jsonl", [record(1, landcover_json=None)])


def test_only_jsonl_reads_the_landcover_statistics():
    assert export_needs_landcover("jsonl")
    assert not export_needs_landcover("csv", "llava", "chatearthnet")


def test_the_verified_statuses_are_the_models():
    assert set(VERIFIED_STATUSES) | set(UNVERIFIED_STATUSES) == set(
        Caption.Status.values
    )
    assert set(VERIFIED_STATUSES) == {Caption.Status.APPROVED, Caption.Status.EDITED}


# --- Filters ----------------------------------------------------------------------


def test_chatearthnet_needs_a_split_named_as_the_caller_names_the_options():
    for options, wording in (
        ({"format_option": "format", "split_option": "split"}, "format"),
        ({"format_option": "--format", "split_option": "--split"}, "--format"),
    ):
        with pytest.raises(ExportError) as refused:
            export_format_check("chatearthnet", ExportFilters(), **options)
        assert str(refused.value) == (
            f"{wording} chatearthnet needs {options['split_option']} (train, val or "
            "test): ChatEarthNet's files hold one split each"
        )
        export_format_check("chatearthnet", ExportFilters(split="val"), **options)
        export_format_check("llava", ExportFilters(), **options)


def test_filters_parse_what_a_query_string_gives():
    filters = export_filters_from(
        {"status": "edited", "split": "val", "scene": "3", "job": "12",
         "reviewed_since": "2026-01-10"}
    )  # fmt: skip
    assert filters == ExportFilters(
        status="edited", split="val", scene=3, job=12,
        reviewed_since=dt.datetime(2026, 1, 10, tzinfo=dt.UTC),
    )  # fmt: skip
    assert filters.statuses == ("edited",)
    assert export_filters_from({}).statuses == ("approved", "edited")


def test_empty_filters_mean_no_filter():
    assert export_filters_from({"status": "", "split": None}) == ExportFilters()


def test_a_time_with_an_offset_is_converted_to_utc():
    filters = export_filters_from({"reviewed_since": "2026-01-10T10:30:00+01:00"})
    assert filters.reviewed_since == dt.datetime(2026, 1, 10, 9, 30, tzinfo=dt.UTC)
    assert filters.as_json()["reviewed_since"] == "2026-01-10T09:30:00Z"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"status": "pending"}, "never exported"),
        ({"status": "rejected"}, "never exported"),
        ({"status": "APPROVED"}, "not one of approved, edited"),
        ({"split": "training"}, "not one of train, val, test"),
        ({"scene": "abc"}, "not an id"),
        ({"scene": "-1"}, "not an id"),
        ({"job": "1.5"}, "not an id"),
        ({"job": "0"}, "not an id"),
        ({"job": "99999999999999999999"}, "not an id"),
        ({"reviewed_since": "yesterday"}, "not an ISO 8601 date"),
        ({"reviewed_since": "2026-13-01"}, "not an ISO 8601 date"),
        ({"reviewed_since": "0001-01-01T00:00:00+05:00"}, "out of range"),
        ({"sceen": "3"}, "unknown filter sceen"),
    ],
)
def test_bad_filters_are_refused_with_a_reason(values, message):
    with pytest.raises(ExportError, match=message):
        export_filters_from(values)


# --- The selector -------------------------------------------------------------------


@pytest.mark.django_db
def test_only_approved_and_edited_captions_are_exported(export_world):
    ids = [pair.id for pair in verified_pairs(filters=ExportFilters())]
    assert ids == [caption.pk for caption in export_world.verified]
    assert len(ids) == 6
    assert not set(ids) & {caption.pk for caption in export_world.unverified}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("filters", "names"),
    [
        ({"status": "approved"}, ["p0a", "p4i", "p5i"]),
        ({"status": "edited"}, ["p0b", "p2a", "p7i"]),
        ({"split": "train"}, ["p0a", "p0b", "p4i", "p7i"]),
        ({"split": "val"}, ["p2a", "p5i"]),
        ({"split": "test"}, []),
        ({"scene": "berlin"}, ["p4i", "p5i", "p7i"]),
        ({"job": "a"}, ["p0a", "p2a"]),
        ({"job": "b", "split": "train"}, ["p0b"]),
        ({"reviewed_since": "2026-02-01"}, ["p0b", "p2a", "p5i", "p7i"]),
        ({"reviewed_since": EARLY.isoformat()}, ["p0a", "p0b", "p2a", "p4i", "p5i",
                                                 "p7i"]),
    ],
)  # fmt: skip
def test_filters_select_their_pairs(export_world, filters, names):
    if "scene" in filters:
        filters["scene"] = str(export_world.scenes[filters["scene"]].pk)
    if "job" in filters:
        job = export_world.job_a if filters["job"] == "a" else export_world.job_b
        filters["job"] = str(job.pk)
    pairs = verified_pairs(filters=export_filters_from(filters))
    assert [pair.id for pair in pairs] == export_world.ids(*names)


@pytest.mark.django_db
def test_a_pair_carries_its_provenance(export_world):
    by_id = {pair.id: pair for pair in verified_pairs(filters=ExportFilters())}
    edited = by_id[export_world.captions["p0b"].pk]
    patch = export_world.patches[0]
    assert edited.caption == "Trees over the lagoon."
    assert edited.generated_caption == "Trees over water, a second opinion."
    assert edited.status == "edited"
    assert edited.reviewer == "cora"
    assert edited.model == "offline-1"
    assert (edited.prompt_template, edited.prompt_version) == ("chatearthnet-text", 1)
    assert edited.job == export_world.job_b.pk
    assert edited.image == f"images/{patch.scene_id}/{patch.pk}.png"
    assert edited.footprint == {
        "west": 12.0,
        "south": 45.05,
        "east": 12.05,
        "north": 45.1,
    }
    assert json.loads(edited.landcover_json) == patch.landcover
    early = by_id[export_world.captions["p0a"].pk]
    assert (early.reviewer, early.reviewed_at) == ("anna", "2026-01-10T09:30:00Z")
    imported = by_id[export_world.captions["p4i"].pk]
    assert imported.footprint is None
    assert imported.job is None and imported.prompt_template is None
    assert imported.source == "chatearthnet-3.5"
    assert imported.source_name == "berlin_128.png"
    assert imported.image.endswith(".webp")


@pytest.mark.django_db
def test_the_pairs_are_read_in_one_query_whatever_their_number(
    export_world, django_assert_num_queries
):
    with django_assert_num_queries(1):
        pairs = list(verified_pairs(filters=ExportFilters(), chunk_size=2))
    assert len(pairs) == 6


@pytest.mark.django_db
def test_hugging_face_datasets_loads_the_jsonl(export_world, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    import datasets

    path = tmp_path / "all.jsonl"
    pairs = verified_pairs(filters=ExportFilters(), image_url_prefix="/x/")
    path.write_bytes(b"".join(export_chunks("jsonl", pairs)))
    loaded = datasets.load_dataset(
        "json", data_files=str(path), split="train", cache_dir=str(tmp_path / "hf")
    )
    assert loaded.num_rows == 6
    assert loaded.column_names == JSONL_KEYS
    row = loaded[[pair.id for pair in export_world.verified].index(
        export_world.captions["p7i"].pk
    )]  # fmt: skip
    assert row["caption"] == TRICKY_TEXT
    assert row["footprint"] is None
    assert row["landcover"]["overall"][0]["name"] in {"water", "tree"}
    assert row["reviewer"] == "cora"
    assert Path(row["image"]).parts[0] == "images"
