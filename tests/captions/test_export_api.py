"""GET /api/v1/export/ and its images, and `manage.py export_dataset`.

Anna annotates, Cora curates, Conrad consumes the dataset (tests/conftest.py); an
anonymous caller sends no token. Consumers and curators export, nobody else.
"""

import csv
import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.http import StreamingHttpResponse

from captions.models import Caption
from tests.api_data import token_client
from tests.captions.export_data import TRICKY_TEXT

pytestmark = pytest.mark.django_db

EXPORT = "/api/v1/export/"
FORMATS = ["jsonl", "chatearthnet", "llava", "csv"]


@pytest.fixture
def conrad(consumer, export_world):
    """Conrad's token client, on the export world."""
    return token_client(consumer)


def body(response) -> bytes:
    assert isinstance(response, StreamingHttpResponse)
    return response.getvalue()


def csv_rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def image_url(world, patch_number: int) -> str:
    patch = world.patches[patch_number]
    return f"/api/v1/export/images/{patch.scene_id}/{patch.pk}.png"


# --- Who may export ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "status"),
    [("anonymous", 401), ("annotator", 403), ("consumer", 200), ("curator", 200)],
)
def test_only_consumers_and_curators_export(
    role, status, export_world, annotator, curator, consumer
):
    user = {"anonymous": None, "annotator": annotator, "curator": curator,
            "consumer": consumer}[role]  # fmt: skip
    client = token_client(user)
    export = client.get(EXPORT, {"format": "jsonl"})
    image = client.get(image_url(export_world, 0))
    assert (export.status_code, image.status_code) == (status, status)
    if status != 200:
        assert "error" in export.json() and "error" in image.json()


def test_a_logged_in_curator_exports_with_the_session_too(
    client, curator, export_world
):
    client.force_login(curator)
    response = client.get(EXPORT, {"format": "csv"})
    assert response.status_code == 200
    assert len(csv_rows(body(response).decode())) == 6


# --- Formats through HTTP ----------------------------------------------------------


def test_the_export_is_a_stream_with_its_type_and_file_name(conrad):
    response = conrad.get(EXPORT, {"format": "jsonl", "split": "train"})
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "application/x-ndjson; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="train.jsonl"'
    assert response["Cache-Control"] == "private, no-store"
    assert len(body(response).splitlines()) == 4


@pytest.mark.parametrize(
    ("params", "content_type", "file_name"),
    [
        ({"format": "chatearthnet", "split": "val"}, "application/json",
         "chatearthnet_val.json"),
        ({"format": "llava"}, "application/json", "llava_all.json"),
        ({"format": "csv", "status": "edited"}, "text/csv", "all.csv"),
    ],
)  # fmt: skip
def test_every_format_has_its_type_and_name(conrad, params, content_type, file_name):
    response = conrad.get(EXPORT, params)
    assert response.status_code == 200
    assert response["Content-Type"] == f"{content_type}; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="{file_name}"'


def test_jsonl_rows_are_the_verified_pairs_with_working_image_urls(
    conrad, export_world
):
    response = conrad.get(EXPORT, {"format": "jsonl"})
    rows = [json.loads(line) for line in body(response).splitlines()]
    assert [row["id"] for row in rows] == [c.pk for c in export_world.verified]
    assert {row["status"] for row in rows} == {"approved", "edited"}
    first = rows[0]
    assert first["image_url"] == "http://testserver/api/v1/export/" + first["image"]
    image = conrad.get(first["image_url"])
    assert image.status_code == 200
    assert image["Content-Type"] == "image/png"
    patch = export_world.patches[0]
    assert b"".join(image.streaming_content) == patch.rgb_preview.read()


def test_chatearthnet_export_is_one_split(conrad, export_world):
    response = conrad.get(EXPORT, {"format": "chatearthnet", "split": "train"})
    entries = json.loads(body(response))
    captions = {entry["caption"] for entry in entries}
    assert captions == {
        "Trees cover the top of the image and water the bottom.",
        "Trees over the lagoon.",
        "Imported caption 4.",
        TRICKY_TEXT,
    }
    assert all(set(entry) == {"image", "caption"} for entry in entries)


def test_llava_export_has_one_conversation_per_pair(conrad, export_world):
    entries = json.loads(body(conrad.get(EXPORT, {"format": "llava"})))
    assert len(entries) == 6
    for entry in entries:
        assert set(entry) == {"id", "image", "conversations"}
        human, gpt = entry["conversations"]
        assert human == {"from": "human", "value": "<image>\nDescribe this image."}
        assert gpt["from"] == "gpt" and gpt["value"]
        assert entry["image"].startswith("images/")


def test_csv_export_reads_back_with_the_csv_module(conrad, export_world):
    text = body(conrad.get(EXPORT, {"format": "csv", "scene": _berlin(export_world)}))
    rows = csv_rows(text.decode())
    assert [row["caption"] for row in rows] == [
        "Imported caption 4.",
        "Imported caption 5.",
        TRICKY_TEXT,
    ]
    assert {row["split"] for row in rows} == {"train", "val"}


def _berlin(world) -> str:
    return str(world.scenes["berlin"].pk)


def test_no_rejected_or_pending_caption_ever_leaves(conrad, export_world):
    leaked = {caption.text for caption in export_world.unverified}
    for export_format in FORMATS:
        params = {"format": export_format, "split": "test"}
        if export_format != "chatearthnet":
            params.pop("split")
        text = body(conrad.get(EXPORT, params)).decode()
        assert not [caption for caption in leaked if caption in text], export_format


def test_an_export_reads_its_pairs_in_a_fixed_number_of_queries(
    conrad, export_world, django_assert_max_num_queries
):
    def export() -> int:
        response = conrad.get(EXPORT, {"format": "jsonl"})
        return len(body(response).splitlines())

    # token, user's roles, and one query for every pair, whatever their number
    with django_assert_max_num_queries(3):
        assert export() == 6
    Caption.objects.filter(status="pending").update(status="approved")
    with django_assert_max_num_queries(3):
        assert export() == 7


# --- Bad input: a JSON 400/404, never a 500 -------------------------------------------


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "format is required"),
        ({"format": "parquet"}, "unknown format 'parquet'"),
        ({"format": "chatearthnet"}, "format chatearthnet needs split"),
        ({"format": "jsonl", "status": "pending"}, "never exported"),
        ({"format": "jsonl", "status": "rejected"}, "never exported"),
        ({"format": "jsonl", "split": "holdout"}, "not one of train, val, test"),
        ({"format": "jsonl", "scene": "abc"}, "not an id"),
        ({"format": "jsonl", "scene": "999999"}, "no scene with id 999999"),
        ({"format": "jsonl", "job": "99999999999999999999999"}, "not an id"),
        ({"format": "jsonl", "job": "999999"}, "no job with id 999999"),
        ({"format": "jsonl", "reviewed_since": "last week"}, "ISO 8601"),
        ({"format": "jsonl", "cursor": "x"}, "unknown filter cursor"),
        ({"format": "jsonl", "page": "2"}, "unknown filter page"),
    ],
)
def test_bad_export_requests_get_a_json_400(conrad, params, message):
    response = conrad.get(EXPORT, params)
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_a_repeated_parameter_is_a_400(conrad):
    response = conrad.get(EXPORT + "?format=jsonl&split=train&split=val")
    assert response.status_code == 400
    assert response.json()["error"] == "give split once"


def test_an_accept_header_does_not_change_the_export(conrad):
    response = conrad.get(EXPORT, {"format": "csv"}, HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"


@pytest.mark.parametrize(
    "path",
    [
        "{scene}/{patch}.webp",  # the wrong extension
        "{scene}/{patch}",
        "{scene}/999999.png",
        "{other_scene}/{patch}.png",  # a patch of another scene
        "{scene}/abc.png",
        "{scene}/99999999999999999999999.png",
        "99999999999999999999999/{patch}.png",
    ],
)
def test_an_unknown_image_is_a_json_404(conrad, export_world, path):
    patch = export_world.patches[0]
    url = "/api/v1/export/images/" + path.format(
        scene=patch.scene_id, patch=patch.pk,
        other_scene=export_world.scenes["berlin"].pk,
    )  # fmt: skip
    response = conrad.get(url)
    assert response.status_code == 404
    assert "error" in response.json()


def test_an_image_whose_preview_file_is_gone_is_a_404(conrad, export_world, media_root):
    patch = export_world.patches[1]
    (Path(media_root) / patch.rgb_preview.name).unlink()
    response = conrad.get(image_url(export_world, 1))
    assert response.status_code == 404
    assert "missing" in response.json()["error"]


# --- The command --------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"format": "jsonl"},
        {"format": "chatearthnet", "split": "train"},
        {"format": "llava", "status": "edited"},
        {"format": "csv", "split": "val"},
        {"format": "jsonl", "reviewed_since": "2026-02-01"},
    ],
)
def test_the_command_writes_the_same_bytes_as_the_api(conrad, tmp_path, params):
    from_api = body(conrad.get(EXPORT, params))
    out = tmp_path / "export.out"
    options = {key.replace("_", "-"): value for key, value in params.items()}
    arguments = [f"--{key}={value}" for key, value in options.items()]
    call_command(
        "export_dataset", *arguments, f"--out={out}", "--base-url=http://testserver/"
    )
    assert out.read_bytes() == from_api
    assert not (tmp_path / "export.out.partial").exists()


def test_the_command_takes_a_scene_by_name(export_world, tmp_path):
    out = tmp_path / "berlin.csv"
    call_command("export_dataset", "--format=csv", "--scene=berlin", f"--out={out}")
    assert len(csv_rows(out.read_bytes().decode())) == 3


def test_the_command_gives_paths_when_no_base_url_is_given(export_world, tmp_path):
    out = tmp_path / "all.jsonl"
    call_command("export_dataset", "--format=jsonl", f"--out={out}")
    first = json.loads(out.read_text().splitlines()[0])
    assert first["image_url"] == "/api/v1/export/" + first["image"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--format=chatearthnet"], "--format chatearthnet needs --split"),
        (["--format=jsonl", "--scene=atlantis"], "no scene named 'atlantis'"),
        (["--format=jsonl", "--job=77777"], "no job with id 77777"),
        (["--format=jsonl", "--reviewed-since=soon"], "ISO 8601"),
        (["--format=jsonl", "--status=pending"], "invalid choice: 'pending'"),
        (["--format=xml"], "invalid choice: 'xml'"),
    ],
)
def test_the_command_refuses_bad_options_clearly(
    export_world, tmp_path, arguments, message
):
    out = tmp_path / "never.out"
    with pytest.raises(CommandError, match=message):
        call_command("export_dataset", *arguments, f"--out={out}")
    assert not out.exists()


def test_the_command_says_when_it_cannot_write(export_world, tmp_path):
    with pytest.raises(CommandError, match="cannot write"):
        call_command(
            "export_dataset", "--format=jsonl", f"--out={tmp_path / 'no' / 'x.jsonl'}"
        )
