"""The next caption at once: after an action the review page swaps in the caption
claimed ahead, already prepared, while the save goes on in the background; a failed
save brings the acted-on caption back. Debian's Chromium driven by Playwright.

Alice annotates; Bob is a curator, who changes a caption Alice holds.
"""

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from captions.models import Caption
from tests.verification.test_review_browser import (
    SCRIPT_TEXT,
    caption_on,
    log_in,
    make_captions,
    make_user,
    moved_on,
    ready,
)
from verification import services
from verification.roles import ANNOTATOR, CURATOR

TEXTS = [
    "Tree cover fills the top half of the image and water lies in the bottom half.",
    "Water lies in the bottom half of the image, below dense tree cover.",
    "Dense tree cover in the top half, open water in the bottom half.",
    "The top half is tree cover; the bottom half is water.",
]

# Watches the page without touching it: every caption put on screen (the root's
# action URL changes with it), and, the moment the caption's text changes, whether
# both images were complete and decoded and which address the bar showed.
WATCH = """() => {
  const root = document.querySelector("[data-review]");
  window.__samePage = true;
  window.__shown = [root.dataset.actionUrl];
  window.__atTextChange = null;
  const text = () => root.querySelector("[data-caption-text]").textContent;
  const first = text();
  new MutationObserver(() => {
    const url = root.dataset.actionUrl;
    if (window.__shown.at(-1) !== url) {
      window.__shown.push(url);
    }
    if (window.__atTextChange === null && text() !== first) {
      const images = [
        ...root.querySelectorAll("[data-swap-image]:not([data-overlay])"),
      ];
      window.__atTextChange = {
        text: text(),
        path: location.pathname,
        images: images.map((image) => ({
          src: image.getAttribute("src"),
          complete: image.complete,
          naturalWidth: image.naturalWidth,
        })),
      };
    }
  }).observe(root, {
    subtree: true, childList: true, attributes: true, characterData: true,
  });
}"""


@pytest.fixture
def alice(transactional_db):
    return make_user("alice", ANNOTATOR)


@pytest.fixture
def bob(transactional_db):
    return make_user("bob", CURATOR)


@pytest.fixture
def captions(transactional_db, media_root: Path) -> list[Caption]:
    return make_captions(media_root, TEXTS)


def ahead_ready(page: Page) -> Caption:
    """The caption claimed ahead, once its page and images are prepared."""
    root = page.locator("[data-review][data-ahead-ready]")
    expect(root).to_have_count(1)
    return Caption.objects.select_related("patch").get(
        pk=int(root.get_attribute("data-ahead-ready") or 0)
    )


def action_url(caption: Caption) -> str:
    return f"/review/{caption.pk}/action/"


def test_the_next_caption_is_on_screen_with_its_images_painted_without_a_page_load(
    new_context, alice, captions
):
    page = log_in(new_context(), "alice")
    first = caption_on(page)
    following = ahead_ready(page)
    page.evaluate(WATCH)

    page.keyboard.press("a")

    expect(page).to_have_url(re.compile(rf"/review/{following.pk}/$"))
    expect(page.locator("[data-caption-text]")).to_have_text(following.text)
    seen = page.evaluate("window.__atTextChange")
    assert seen["text"] == following.text
    assert seen["path"] == f"/review/{following.pk}/"
    assert [image["src"] for image in seen["images"]] == [
        following.patch.rgb_preview.url,
        following.patch.landcover_preview.url,
    ]
    assert all(
        image["complete"] and image["naturalWidth"] > 0 for image in seen["images"]
    )
    assert page.evaluate("window.__samePage") is True  # no page load in between
    expect(page).to_have_title(re.compile(rf"^Caption {following.pk} "))
    moved_on(page, first)
    first.refresh_from_db()
    assert first.status == Caption.Status.APPROVED
    # The caption after it is claimed ahead in turn: Alice holds two, never more.
    after = ahead_ready(page)
    assert after.pk not in (first.pk, following.pk)
    held = set(Caption.objects.filter(claimed_by=alice).values_list("pk", flat=True))
    assert held == {following.pk, after.pk}


def test_a_failed_background_save_brings_the_caption_back_with_the_text_kept(
    new_context, alice, captions
):
    page = log_in(new_context(), "alice")
    first = caption_on(page)
    following = ahead_ready(page)
    page.route(f"**{action_url(first)}", lambda route: route.abort())
    page.evaluate(WATCH)
    typed = "Trees above, water below: typed before the network failed."

    page.keyboard.press("e")
    page.get_by_label("Caption", exact=True).fill(typed)
    page.keyboard.press("Control+Enter")

    expect(page.locator("[data-notices]")).to_contain_text("Not saved")
    expect(page).to_have_url(re.compile(rf"/review/{first.pk}/$"))
    expect(page.get_by_label("Caption", exact=True)).to_have_value(typed)
    assert page.evaluate("window.__shown") == [
        action_url(first),
        action_url(following),
        action_url(first),
    ]
    first.refresh_from_db()
    assert (first.text, first.version, first.claimed_by) == (TEXTS[0], 1, alice)
    # The caption that was swapped in is held as the one ahead again: no third claim.
    held = set(Caption.objects.filter(claimed_by=alice).values_list("pk", flat=True))
    assert held == {first.pk, following.pk}
    expect(page.locator("[data-review]")).to_have_attribute(
        "data-ahead", str(following.pk)
    )

    page.unroute(f"**{action_url(first)}")
    page.keyboard.press("Control+Enter")

    expect(page).to_have_url(re.compile(rf"/review/{following.pk}/$"))
    moved_on(page, first)
    first.refresh_from_db()
    assert (first.text, first.status) == (typed, Caption.Status.EDITED)


def test_a_background_save_that_conflicts_returns_to_the_caption_with_both_texts(
    new_context, alice, bob, captions
):
    page = log_in(new_context(), "alice")
    first = caption_on(page)
    ahead_ready(page)
    theirs = "Bob: tree cover above, open water below."
    services.caption_edit(caption_id=first.pk, user=bob, version=1, text=theirs)
    typed = "Alice: trees on top, water underneath."

    page.keyboard.press("e")
    page.get_by_label("Caption", exact=True).fill(typed)
    page.keyboard.press("Control+Enter")

    conflict = page.locator("[data-conflict]")
    expect(conflict).to_be_visible()
    expect(page).to_have_url(re.compile(rf"/review/{first.pk}/$"))
    expect(conflict.locator("[data-conflict-theirs]")).to_have_text(theirs)
    expect(conflict.locator("[data-conflict-mine]")).to_have_text(typed)
    expect(page.get_by_label("Caption", exact=True)).to_have_value(typed)
    first.refresh_from_db()
    assert first.text == theirs


def test_a_failed_reject_comes_back_with_its_reason_picked(
    new_context, alice, captions
):
    page = log_in(new_context(), "alice")
    first = caption_on(page)
    ahead_ready(page)
    page.route(
        f"**{action_url(first)}",
        lambda route: route.fulfill(status=503, json={"error": "down for a moment"}),
    )

    page.keyboard.press("r")
    page.keyboard.press("2")
    page.keyboard.press("Enter")

    expect(page.locator("[data-notices]")).to_contain_text("down for a moment")
    expect(page).to_have_url(re.compile(rf"/review/{first.pk}/$"))
    expect(page.locator("[data-reject-form]")).to_be_visible()
    expect(page.locator("[data-reason-key='2']")).to_be_checked()
    first.refresh_from_db()
    assert first.status == Caption.Status.PENDING


def test_back_goes_to_the_page_of_the_caption_acted_on(new_context, alice, captions):
    page = log_in(new_context(), "alice")
    first = caption_on(page)
    following = ahead_ready(page)
    page.keyboard.press("a")
    expect(page).to_have_url(re.compile(rf"/review/{following.pk}/$"))
    moved_on(page, first)

    page.go_back()

    expect(page).to_have_url(re.compile(rf"/review/{first.pk}/$"))
    expect(page.locator("[data-status]")).to_have_text("Approved")
    expect(page.locator("[data-caption-text]")).to_have_text(TEXTS[0])
    ready(page)


def test_skip_swaps_in_the_next_caption_and_gives_the_skipped_one_back(
    new_context, alice, captions
):
    page = log_in(new_context(), "alice")
    first = caption_on(page)
    following = ahead_ready(page)

    page.keyboard.press("s")

    expect(page).to_have_url(re.compile(rf"/review/{following.pk}/$"))
    moved_on(page, first)
    after = ahead_ready(page)
    assert after.pk != first.pk  # skipped: not offered again in this session
    first.refresh_from_db()
    assert (first.status, first.claimed_by) == (Caption.Status.PENDING, None)


def test_a_swapped_in_caption_holding_html_and_script_shows_as_text(
    new_context, alice, media_root
):
    make_captions(media_root, [SCRIPT_TEXT, f"{SCRIPT_TEXT} <i>again</i>"])
    page = log_in(new_context(), "alice")
    following = ahead_ready(page)

    page.keyboard.press("a")

    expect(page).to_have_url(re.compile(rf"/review/{following.pk}/$"))
    expect(page.locator("[data-caption-text]")).to_have_text(following.text)
    assert page.evaluate("window.__pwned") is None
    inside = page.locator(
        "[data-caption-text] :is(b, i, script), [data-swap=history] :is(b, i, script)"
    )
    assert inside.count() == 0
