"""The review page in a real browser: Debian's Chromium driven by Playwright.

Alice annotates; Bob is a curator, so he may open and save the caption Alice holds,
which is how two people come to save the same caption at once.
"""

import re
from pathlib import Path

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import BrowserContext, Page, expect

from captions.generation.checks import check_caption
from captions.ingest.previews import encode_previews
from captions.landcover import landcover_stats
from captions.models import Caption, Patch, Scene
from verification.models import Revision
from verification.roles import ANNOTATOR, CURATOR, ensure_groups
from verification.services import REJECT_REASONS

TEXT = "Tree cover fills the top half of the image and water lies in the bottom half."
SCRIPT_TEXT = "Tree cover and water. <script>window.__pwned = 1</script><b>bold</b>"


def make_user(username: str, role: str):
    user = get_user_model().objects.create_user(
        username, password=f"{username}-password"
    )
    user.groups.add(ensure_groups()[role])
    user.is_staff = role == CURATOR
    user.save()
    return user


@pytest.fixture
def alice(transactional_db):
    return make_user("alice", ANNOTATOR)


@pytest.fixture
def bob(transactional_db):
    return make_user("bob", CURATOR)


def tree_over_water(size: int = 64) -> np.ndarray:
    codes = np.full((size, size), 10, dtype=np.uint8)
    codes[size // 2 :] = 80
    return codes


def make_captions(media_root: Path, texts: list[str]) -> list[Caption]:
    """Pending captions on patches with real preview files under MEDIA_ROOT."""
    scene = Scene.objects.create(
        name="browser-scene", source_kind="geotiff", image_path="/b.tif", status="ready"
    )
    codes = tree_over_water()
    rgb = np.zeros((*codes.shape, 3), dtype=np.uint8)
    rgb[: codes.shape[0] // 2, :, 1] = 110
    rgb[codes.shape[0] // 2 :, :, 2] = 160
    previews = encode_previews(rgb, codes, "png")
    stats = landcover_stats(codes)
    (media_root / "browser").mkdir(parents=True, exist_ok=True)
    captions = []
    for index, text in enumerate(texts):
        stem = f"browser/{index}"
        (media_root / f"{stem}.png").write_bytes(previews.rgb)
        (media_root / f"{stem}_landcover.png").write_bytes(previews.landcover)
        patch = Patch.objects.create(
            scene=scene, row_off=index * 64, col_off=0, width=64, height=64,
            rgb_preview=f"{stem}.png", landcover_preview=f"{stem}_landcover.png",
            landcover=stats, invalid_fraction=0.0, split="train",
        )  # fmt: skip
        findings = check_caption(text, stats)
        captions.append(
            Caption.objects.create(
                patch=patch,
                source="browser-test",
                generated_text=text,
                text=text,
                checks=findings,
                failed_checks=len(findings),
            )
        )
    return captions


@pytest.fixture
def captions(transactional_db, media_root: Path) -> list[Caption]:
    return make_captions(media_root, [TEXT, TEXT, TEXT])


def log_in(context: BrowserContext, username: str, then: str = "/review/next/") -> Page:
    page = context.new_page()
    page.goto(f"/accounts/login/?next={then}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(f"{username}-password")
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/review/\d+/$"))
    return ready(page)


def ready(page: Page) -> Page:
    """Wait for the page's script: keys pressed before it runs go nowhere."""
    expect(page.locator("[data-review][data-ready]")).to_have_count(1)
    return page


def caption_on(page: Page) -> Caption:
    found = re.search(r"/review/(\d+)/", page.url)
    assert found, f"not on a review page: {page.url}"
    return Caption.objects.get(pk=int(found.group(1)))


def moved_on(page: Page, caption: Caption) -> None:
    """The next caption is on screen and the save of `caption`, which goes on in
    the background once it is, has ended."""
    expect(page).not_to_have_url(re.compile(rf"/review/{caption.pk}/$"))
    expect(page.locator("[data-review][data-saving]")).to_have_count(0)


def test_annotator_approves_with_a_and_the_next_caption_appears(
    new_context, alice, captions
):
    page = log_in(new_context(), "alice")
    caption = caption_on(page)
    expect(page.get_by_role("img", name="RGB preview")).to_be_visible()
    expect(page.get_by_role("img", name="Land cover map")).to_be_visible()
    expect(page.get_by_role("button", name="Approve", exact=True)).to_be_visible()

    page.keyboard.press("a")

    moved_on(page, caption)
    expect(page).to_have_url(re.compile(r"/review/\d+/$"))
    caption.refresh_from_db()
    assert caption.status == Caption.Status.APPROVED
    revision = Revision.objects.get(caption=caption)
    assert revision.user == alice and revision.action == Revision.Action.APPROVE
    assert revision.seconds_spent is not None and revision.seconds_spent >= 0


def test_the_next_caption_is_claimed_ahead_and_its_images_fetched_before_the_action(
    new_context, alice, captions
):
    context = new_context()
    requested: list[str] = []
    context.on("request", lambda request: requested.append(request.url))
    page = log_in(context, "alice")
    caption = caption_on(page)
    root = page.locator("[data-review][data-ahead]")
    expect(root).to_have_count(1)
    ahead = Caption.objects.select_related("patch").get(
        pk=int(root.get_attribute("data-ahead") or 0)
    )
    assert ahead.pk != caption.pk and ahead.claimed_by == alice
    page.wait_for_function(
        "names => names.every(name => performance.getEntriesByType('resource')"
        ".some(entry => entry.name.endsWith(name) && entry.responseEnd > 0))",
        arg=[ahead.patch.rgb_preview.url, ahead.patch.landcover_preview.url],
    )

    page.keyboard.press("a")

    expect(page).to_have_url(re.compile(rf"/review/{ahead.pk}/$"))
    ready(page)
    assert any(url.endswith(ahead.patch.rgb_preview.url) for url in requested)


def test_edit_with_e_and_save_with_ctrl_enter(new_context, alice, captions):
    page = log_in(new_context(), "alice")
    caption = caption_on(page)

    page.keyboard.press("e")
    box = page.get_by_label("Caption", exact=True)
    expect(box).to_be_focused()
    # Shortcuts are ignored while typing: the "a" and "s" here are text.
    box.press("End")
    page.keyboard.type(" A small town sits at the edge.")
    page.keyboard.press("Control+Enter")

    moved_on(page, caption)
    caption.refresh_from_db()
    assert caption.status == Caption.Status.EDITED
    assert caption.text == f"{TEXT} A small town sits at the edge."
    assert any(check["check"] == "absent_class" for check in caption.checks)
    revision = Revision.objects.get(caption=caption)
    assert revision.action == Revision.Action.EDIT
    assert (revision.text_before, revision.text_after) == (TEXT, caption.text)


def test_reject_with_r_a_listed_reason_and_enter(new_context, alice, captions):
    page = log_in(new_context(), "alice")
    caption = caption_on(page)

    page.keyboard.press("r")
    page.keyboard.press("3")
    page.keyboard.press("Enter")

    moved_on(page, caption)
    caption.refresh_from_db()
    assert caption.status == Caption.Status.REJECTED
    assert Revision.objects.get(caption=caption).reason == REJECT_REASONS[2]


def test_skip_with_s_releases_the_claim_and_moves_on(new_context, alice, captions):
    page = log_in(new_context(), "alice")
    caption = caption_on(page)
    assert caption.claimed_by == alice

    page.keyboard.press("s")

    moved_on(page, caption)
    caption.refresh_from_db()
    assert caption.status == Caption.Status.PENDING
    assert caption.claimed_by is None
    assert not Revision.objects.filter(caption=caption).exists()


def test_the_second_of_two_saves_sees_the_conflict_and_nothing_is_lost(
    new_context, alice, bob, captions
):
    alice_page = log_in(new_context(), "alice")
    caption = caption_on(alice_page)
    bob_page = log_in(new_context(), "bob", then=f"/review/{caption.pk}/")
    alice_text = "Alice: trees cover the top half, water the bottom half."
    bob_text = "Bob: tree cover above, open water below."

    alice_page.keyboard.press("e")
    alice_page.get_by_label("Caption", exact=True).fill(alice_text)
    alice_page.keyboard.press("Control+Enter")
    moved_on(alice_page, caption)

    bob_page.keyboard.press("e")
    bob_page.get_by_label("Caption", exact=True).fill(bob_text)
    bob_page.keyboard.press("Control+Enter")

    conflict = bob_page.locator("[data-conflict]")
    expect(conflict).to_be_visible()
    expect(conflict.locator("[data-conflict-theirs]")).to_have_text(alice_text)
    expect(conflict.locator("[data-conflict-mine]")).to_have_text(bob_text)
    expect(bob_page.get_by_label("Caption", exact=True)).to_have_value(bob_text)
    caption.refresh_from_db()
    assert caption.text == alice_text

    # Saving again, having seen Alice's text, replaces it knowingly.
    bob_page.keyboard.press("Control+Enter")
    moved_on(bob_page, caption)
    caption.refresh_from_db()
    assert caption.text == bob_text
    edits = Revision.objects.filter(caption=caption).order_by("id")
    assert [(r.user.username, r.text_after) for r in edits] == [
        ("alice", alice_text),
        ("bob", bob_text),
    ]


def test_o_toggles_the_land_cover_overlay(new_context, alice, captions):
    page = log_in(new_context(), "alice")
    overlay = page.locator("[data-overlay]")
    expect(overlay).to_be_hidden()

    page.keyboard.press("o")
    expect(overlay).to_be_visible()
    page.keyboard.press("o")
    expect(overlay).to_be_hidden()


def test_a_caption_holding_html_and_script_shows_as_text_and_never_runs(
    new_context, alice, media_root
):
    make_captions(media_root, [SCRIPT_TEXT])
    page = log_in(new_context(), "alice")

    expect(page.locator("[data-caption-text]")).to_have_text(SCRIPT_TEXT)
    assert page.evaluate("window.__pwned") is None
    inside = page.locator("[data-caption-text] b, [data-caption-text] script")
    assert inside.count() == 0

    page.keyboard.press("e")
    expect(page.get_by_label("Caption", exact=True)).to_have_value(SCRIPT_TEXT)
    assert page.evaluate("window.__pwned") is None


def test_a_draft_survives_a_reload(new_context, alice, captions):
    page = log_in(new_context(), "alice")
    caption = caption_on(page)
    draft = "A draft that must not be lost: trees above, water below."

    page.keyboard.press("e")
    page.get_by_label("Caption", exact=True).fill(draft)
    page.reload()
    ready(page)

    expect(page).to_have_url(re.compile(rf"/review/{caption.pk}/$"))
    expect(page.get_by_label("Caption", exact=True)).to_have_value(draft)
    caption.refresh_from_db()
    assert caption.text == TEXT


def test_p_goes_back_to_the_caption_reviewed_before(new_context, alice, captions):
    page = log_in(new_context(), "alice")
    first = caption_on(page)
    page.keyboard.press("a")
    moved_on(page, first)
    ready(page)

    page.keyboard.press("p")

    expect(page).to_have_url(re.compile(rf"/review/{first.pk}/$"))
    expect(page.locator("[data-status]")).to_have_text("Approved")
