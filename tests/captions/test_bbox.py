"""The one bbox parser (captions/geo/bbox.py) and the export filter built on it."""

import re

import pytest

from captions.export.filters import ExportFilters, export_filters_from
from captions.export.formats import ExportError
from captions.geo.bbox import (
    MAX_BBOX_CHARS,
    BadBoundingBox,
    BoundingBox,
    parse_bbox,
)


def test_a_box_reads_west_south_east_north():
    assert parse_bbox("11.9,44.9,12.1,45.1") == BoundingBox(11.9, 44.9, 12.1, 45.1)
    assert parse_bbox(" -180 , -90 , 180 , 90 ") == BoundingBox(-180, -90, 180, 90)


def test_west_past_east_is_a_box_across_the_antimeridian():
    box = parse_bbox("170,-10,-170,10")
    assert box.crosses_antimeridian
    assert not parse_bbox("-170,-10,170,10").crosses_antimeridian


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("12,45,13", "give four numbers: west,south,east,north (degrees)"),
        ("12,45,13,46,47", "give four numbers"),
        ("a,b,c,d", "give four numbers"),
        ("nan,45,13,46", "give four numbers"),
        ("12,45,inf,46", "give four numbers"),
        ("", "give four numbers"),
        (" " * MAX_BBOX_CHARS + "12,45,13,46", "give four numbers"),  # too long
        ("190,45,200,46", "longitudes lie between -180 and 180"),
        ("12,45,-181,46", "longitudes lie between -180 and 180"),
        ("12,46,13,45", "latitudes lie between -90 and 90, south before north"),
        ("12,-91,13,45", "latitudes lie between -90 and 90"),
    ],
)
def test_a_malformed_box_says_what_a_good_one_is(text, words):
    with pytest.raises(BadBoundingBox, match=re.escape(words)):
        parse_bbox(text)


@pytest.mark.parametrize(
    "text",
    ["11.9,44.9,12.1,45.1", "170,-10,-170,10", "0.1,-0.2,1e-05,33.333333333333336"],
)
def test_a_box_written_as_text_reads_back_to_the_same_floats(text):
    box = parse_bbox(text)
    assert parse_bbox(box.as_text()) == box


def test_whole_degrees_are_written_without_a_decimal_point():
    assert parse_bbox("170.0,-10,-170,10.5").as_text() == "170,-10,-170,10.5"


def test_the_export_filter_takes_a_bbox_and_stores_it_only_when_given():
    filters = export_filters_from({"bbox": "170,-10,-170,10"})
    assert filters.bbox == BoundingBox(170, -10, -170, 10)
    assert filters.as_json()["bbox"] == "170,-10,-170,10"
    assert export_filters_from(filters.as_json()) == filters
    # Releases made before there was a bbox keep their stored filters as they were.
    assert "bbox" not in ExportFilters().as_json()
    assert export_filters_from({"bbox": ""}).bbox is None
    assert export_filters_from({"bbox": None}).bbox is None


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("12,45,13", "give four numbers: west,south,east,north (degrees)"),
        ("190,45,200,46", "longitudes lie between -180 and 180"),
        ("12,46,13,45", "latitudes lie between -90 and 90, south before north"),
    ],
)
def test_a_malformed_export_bbox_names_the_filter_with_the_parsers_words(text, words):
    with pytest.raises(ExportError) as refused:
        export_filters_from({"bbox": text})
    assert str(refused.value).startswith(f"bbox {text!r}: ")
    assert words in str(refused.value)
