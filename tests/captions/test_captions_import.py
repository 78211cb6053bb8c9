"""Importing ChatEarthNet's caption files (import_captions)."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from captions.generation.checks import MAX_CAPTION_CHARS
from captions.ingest.tile_import import scene_import_tiles
from captions.models import Caption, Patch
from tests.captions.tile_fixtures import (
    CROP,
    TREE,
    WATER,
    write_rgb,
    write_satlas_label,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def imported_tiles(tmp_path):
    """Two 512 tiles cut into quarters, as the ChatEarthNet release names them."""
    import numpy as np

    for stem in ("s2_0001", "s2_0002"):
        write_rgb(tmp_path / "tiles" / "images" / f"{stem}.png", size=512)
        codes = np.full((512, 512), TREE, np.uint8)
        codes[256:, :256] = WATER
        codes[256:, 256:] = CROP
        write_satlas_label(tmp_path / "tiles" / "labels" / f"{stem}.png", codes)
    scene_import_tiles(directory=tmp_path / "tiles", name="release")
    return tmp_path


def write_caption_file(path, entries) -> None:
    path.write_text(json.dumps(entries))


def run_import(path, source="chatearthnet-3.5", *options: str) -> dict:
    """Import with --split train unless the options name a split or the file does."""
    out = io.StringIO()
    named = any(part in path.name for part in ("_train.", "_val.", "_test."))
    if "--split" not in options and not named:
        options = ("--split", "train", *options)
    call_command(
        "import_captions", str(path), "--source", source, *options, "--json",
        stdout=out,
    )  # fmt: skip
    return json.loads(out.getvalue())


def test_captions_are_matched_to_tiles_by_image_name(imported_tiles):
    captions = imported_tiles / "ChatEarthNet_caps_35_train.json"
    write_caption_file(
        captions,
        [
            {"image": "s2_0001_patch00.png", "caption": "Trees cover the whole area."},
            {"image": "train/s2_0002_patch11.png", "caption": "Fields fill it."},
            {"image": "s2_9999_patch00.png", "caption": "No such tile."},
        ],
    )
    result = run_import(captions)
    assert result["read"] == 3
    assert result["created"] == 2
    assert result["unmatched"] == 1
    assert result["unmatched_examples"] == [
        {"entry": 2, "image": "s2_9999_patch00.png"}
    ]
    caption = Caption.objects.get(patch__source_name="s2_0001_patch00.png")
    assert caption.source == "chatearthnet-3.5"
    assert caption.job is None
    assert caption.status == Caption.Status.PENDING
    assert caption.text == caption.generated_text == "Trees cover the whole area."
    assert isinstance(caption.checks, list)


def test_importing_the_same_file_twice_creates_nothing_new(imported_tiles):
    captions = imported_tiles / "caps.json"
    write_caption_file(
        captions, [{"image": "s2_0001_patch01.png", "caption": "Trees everywhere."}]
    )
    run_import(captions)
    again = run_import(captions)
    assert again["created"] == 0
    assert again["already_imported"] == 1
    assert Caption.objects.count() == 1


def test_checks_run_on_imported_captions(imported_tiles):
    captions = imported_tiles / "caps.json"
    # Patch 10 (bottom-left quarter) is all water: a town is not there.
    write_caption_file(
        captions,
        [{"image": "s2_0001_patch10.png", "caption": "A dense urban area with "
          "buildings possibly next to a river."}],
    )  # fmt: skip
    run_import(captions)
    caption = Caption.objects.get()
    codes = {finding["check"] for finding in caption.checks}
    assert "forbidden_word" in codes
    assert caption.failed_checks == len(caption.checks) > 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"image": "a.png"}', "not a JSON array of captions|is not an object"),
        ("[1, 2]", "entry 0 is not an object"),
        ("[{", "not a JSON array of captions"),
        ("[]", "holds no captions"),
    ],
)
def test_a_malformed_caption_file_is_refused_with_its_name(
    imported_tiles, content, message
):
    bad = imported_tiles / "bad.json"
    bad.write_text(content)
    with pytest.raises(CommandError, match=message):
        run_import(bad)
    assert Caption.objects.count() == 0


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(CommandError, match=r"missing\.json: no such file"):
        run_import(tmp_path / "missing.json")
    assert Patch.objects.count() == 0


def test_a_caption_over_the_limit_is_reported_by_position_and_the_rest_imported(
    imported_tiles,
):
    captions = imported_tiles / "caps.json"
    write_caption_file(
        captions,
        [
            {"image": "s2_0001_patch00.png", "caption": "Trees cover it all."},
            {"image": "s2_0001_patch01.png", "caption": "x" * (MAX_CAPTION_CHARS + 1)},
            {"image": "s2_0001_patch10.png", "caption": "é" * MAX_CAPTION_CHARS},
        ],
    )
    result = run_import(captions)
    assert (result["read"], result["created"], result["too_long"]) == (3, 2, 1)
    assert result["too_long_examples"] == [{"entry": 1, "image": "s2_0001_patch01.png"}]
    assert set(Caption.objects.values_list("patch__source_name", flat=True)) == {
        "s2_0001_patch00.png",
        "s2_0001_patch10.png",
    }


def test_a_caption_no_database_can_store_is_reported_and_the_rest_imported(
    imported_tiles,
):
    captions = imported_tiles / "caps.json"
    captions.write_text(
        '[{"image": "s2_0001_patch00.png", "caption": "Trees\\u0000 cover it."},'
        ' {"image": "s2_0001_patch01.png\\u0000", "caption": "Water here."},'
        ' {"image": "s2_0001_patch10.png", "caption": "Trees cover it all."}]'
    )
    result = run_import(captions)
    assert (result["read"], result["created"], result["unstorable"]) == (3, 1, 2)
    assert [e["entry"] for e in result["unstorable_examples"]] == [0, 1]
    assert list(Caption.objects.values_list("patch__source_name", flat=True)) == [
        "s2_0001_patch10.png"
    ]


def test_the_command_names_the_captions_it_did_not_import(imported_tiles):
    captions = imported_tiles / "caps.json"
    write_caption_file(
        captions,
        [
            {"image": "s2_0001_patch00.png", "caption": "w" * 20_000},
            {"image": "s2_0002_patch11.png", "caption": "Fields fill it."},
        ],
    )
    out = io.StringIO()
    call_command(
        "import_captions", str(captions), "--source", "s", "--split", "val", stdout=out
    )
    text = out.getvalue()
    assert "1 imported" in text and "1 not imported" in text
    assert "over 5000 characters: entry 0 (s2_0001_patch00.png)" in text


def test_other_keys_of_an_entry_are_passed_over(imported_tiles):
    captions = imported_tiles / "caps.json"
    captions.write_text(
        '[{"image": "s2_0001_patch00.png", "extra": {"deep": [[1, 2], {"a": '
        + "9" * 5000
        + '}]}, "caption": "Trees cover it all.", "score": 1e400}]'
    )
    assert run_import(captions)["created"] == 1


@pytest.mark.parametrize(
    "content",
    [
        '[{"image": "a.png", "caption": ["Trees."]}]',
        '[{"image": 3, "caption": "Trees."}]',
        '[{"image": "a.png"}]',
        '[{"image": "a.png", "caption": "Trees."}, "b"]',
    ],
)
def test_an_entry_without_string_image_and_caption_is_refused(tmp_path, content):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    with pytest.raises(CommandError, match="is not an object with string"):
        run_import(bad)


def test_a_file_that_is_not_utf8_is_refused_with_its_name(tmp_path):
    bad = tmp_path / "latin1.json"
    bad.write_bytes(b'[{"image": "a.png", "caption": "caf\xe9 \\udc00"}]')
    with pytest.raises(CommandError, match=r"latin1\.json: not a JSON array"):
        run_import(bad)
