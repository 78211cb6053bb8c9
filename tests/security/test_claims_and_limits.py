"""Hole 5 of issue 9, the smaller holes: hoarded claims, 500s from numbers past 64
bits and missing revisions, and a caption file that costs the server its memory.

Anna annotates, Cora curates (tests/conftest.py). Each test plays the attack and
asserts what the server must do instead.
"""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse

from captions.generation.checks import MAX_CAPTION_CHARS
from captions.models import Caption, Patch
from tests.api_data import token_client
from tests.verification.conftest import make_captions

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
BEYOND_64_BITS = str(2**64)


def page_client(user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


# --- claims ---------------------------------------------------------------------------


def test_skip_ids_do_not_let_an_annotator_hold_dozens_of_claims(annotator):
    make_captions(40)
    client = token_client(annotator)
    held: list[int] = []
    for _ in range(30):
        response = client.post(
            reverse("api-review-next"), {"skip_ids": held}, format="json"
        )
        assert response.status_code == 200
        held.append(response.json()["id"])
    assert Caption.objects.filter(claimed_by=annotator).count() <= 2


# --- numbers past 64 bits, missing rows -----------------------------------------------


@pytest.mark.parametrize("name", ["scene", "job", "class"])
def test_a_queue_filter_past_64_bits_is_a_400(curator, name):
    make_captions(2)
    client = page_client(curator)
    page = client.get(reverse("review-next"), {name: BEYOND_64_BITS})
    assert page.status_code == 400
    assert name.encode() in page.content
    ahead = client.post(
        reverse("review-ahead", args=[1]) + f"?{name}={BEYOND_64_BITS}",
        data="{}",
        content_type="application/json",
    )
    assert ahead.status_code == 400
    assert name in ahead.json()["error"]
    assert not Caption.objects.filter(claimed_by=curator).exists()


@pytest.mark.parametrize("revision_id", [404, int(BEYOND_64_BITS)])
def test_reverting_a_revision_that_does_not_exist_is_a_404(curator, revision_id):
    response = page_client(curator).post(reverse("review-revert", args=[revision_id]))
    assert response.status_code == 404


# --- import_captions ------------------------------------------------------------------


def tile_patch(name: str) -> Patch:
    (caption,) = make_captions(1)
    Caption.objects.filter(pk=caption.pk).delete()
    Patch.objects.filter(pk=caption.patch_id).update(source_name=name)
    return Patch.objects.get(pk=caption.patch_id)


def write_caption_file(path: Path, caption_bytes: int, image: str) -> None:
    """`[{image, caption of caption_bytes}, {a short one}]`, written in pieces."""
    with path.open("wb") as handle:
        handle.write(f'[{{"image": "{image}", "caption": "'.encode())
        piece = b"Water everywhere. " * 4096
        for _ in range(caption_bytes // len(piece)):
            handle.write(piece)
        handle.write(b"x" * (caption_bytes % len(piece)))
        handle.write(b'"}, {"image": "short.png", "caption": "Trees cover it."}]')


def test_a_10_mb_caption_is_reported_and_not_imported(tmp_path):
    tile_patch("huge.png")
    tile_patch("short.png")
    path = tmp_path / "caps.json"
    write_caption_file(path, 10 * 1024 * 1024, "huge.png")
    result = import_in_this_process(path)
    assert result["too_long_examples"] == [{"entry": 0, "image": "huge.png"}]
    assert list(Caption.objects.values_list("patch__source_name", flat=True)) == [
        "short.png"
    ]


def import_in_this_process(path: Path) -> dict:
    out = io.StringIO()
    call_command(
        "import_captions",
        str(path),
        "--source",
        "s",
        "--split",
        "test",
        "--json",
        stdout=out,
    )
    return json.loads(out.getvalue())


# Runs the command in a fresh process and prints its result and its peak memory.
IMPORT_AND_MEASURE = """
import io, json, resource, sys
import django
django.setup()
from django.core.management import call_command
out = io.StringIO()
options = ["--source", "s", "--split", "test", "--json"]
call_command("import_captions", sys.argv[1], *options, stdout=out)
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"result": json.loads(out.getvalue()), "peak_mb": peak_kb / 1024}))
"""


def import_in_a_process(path: Path) -> dict:
    params = connection.settings_dict
    if connection.vendor == "sqlite":
        database_url = f"sqlite:///{params['NAME']}"
    else:
        host, port = params.get("HOST") or "127.0.0.1", params.get("PORT") or 5432
        database_url = f"postgres://{params['USER']}@{host}:{port}/{params['NAME']}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chatearthnet_site.settings",
        "DATABASE_URL": database_url,
        "DEBUG": "1",
    }
    finished = subprocess.run(
        # -S when this interpreter has it (to test another checkout than the
        # installed one): the child imports the same code as this process.
        [sys.executable, *(["-S"] if sys.flags.no_site else []), "-c",
         IMPORT_AND_MEASURE, str(path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert finished.returncode == 0, finished.stderr[-2000:]
    return json.loads(finished.stdout.strip().splitlines()[-1])


@pytest.mark.django_db(transaction=True)
def test_memory_stays_flat_for_a_100_mb_caption_which_is_reported(tmp_path):
    tile_patch("huge.png")
    tile_patch("short.png")
    small, huge = tmp_path / "small.json", tmp_path / "huge.json"
    write_caption_file(small, MAX_CAPTION_CHARS + 100, "huge.png")
    write_caption_file(huge, 100 * 1024 * 1024, "huge.png")
    baseline = import_in_a_process(small)
    attacked = import_in_a_process(huge)
    # The 100 MB caption costs what a caption just over the limit costs.
    assert attacked["peak_mb"] - baseline["peak_mb"] < 20, (baseline, attacked)
    assert attacked["result"]["too_long_examples"] == [
        {"entry": 0, "image": "huge.png"}
    ]
    assert not Caption.objects.filter(patch__source_name="huge.png").exists()
    assert Caption.objects.filter(patch__source_name="short.png").count() == 1
