"""The map page in a real browser: Debian's Chromium driven by Playwright.

Cora curates, Conrad consumes the dataset (tests/conftest.py). Their world: eight
patches in a grid of four by two near 11°E 46°N (the Dolomites), each 0.02° square,
one of them never captioned, and one patch far to the east whose caption the queue
would offer first (it failed the most checks). Where a footprint should be on screen
is worked out here from Web Mercator, not asked of Leaflet.
"""

import math
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import BrowserContext, Page, expect

from captions.generation.checks import check_caption
from captions.ingest.previews import encode_previews
from captions.landcover import CLASS_BY_CODE, landcover_stats
from captions.models import Caption, Patch, Scene
from chatearthnet_site.environment import tile_origin
from tests.security.test_content_security_policy import WATCH_VIOLATIONS, violations
from verification.map_data import FOOTPRINT_ZOOM, PREVIEW_ZOOM, STATUS_COLOURS
from verification.models import QaReview, Revision

pytestmark = pytest.mark.django_db(transaction=True)

TEXT = "Tree cover fills the top half of the image and water lies in the bottom half."
WEST, SOUTH = 11.0, 46.0  # the grid's south-west corner
SIDE, STEP = 0.02, 0.025  # a patch's side, and from one patch to the next
COLUMNS, ROWS = 4, 2
FAR = (12.5, 46.5)  # the far patch's south-west corner
ZOOM = max(12, FOOTPRINT_ZOOM)  # 0.02° is about 58 px across here
FOOTPRINT_STROKE = 2  # px, static/verification/map.js
GRID_CENTRE = (
    SOUTH + (ROWS * STEP - (STEP - SIDE)) / 2,
    WEST + (COLUMNS * STEP - (STEP - SIDE)) / 2,
)


@dataclass
class MapWorld:
    grid: list[Patch]  # row by row from the south-west
    far: Patch
    uncaptioned: Patch

    def caption_of(self, patch: Patch) -> Caption:
        return patch.captions.latest("pk")


def preview_files(media_root: Path, stem: str) -> tuple[str, str]:
    """An RGB preview (green over blue) and its land-cover map, written as PNG."""
    codes = np.full((64, 64), 10, dtype=np.uint8)
    codes[32:] = 80
    rgb = np.zeros((64, 64, 3), dtype=np.uint8)
    rgb[:32, :, 1] = 150
    rgb[32:, :, 2] = 190
    previews = encode_previews(rgb, codes, "png")
    (media_root / "map").mkdir(parents=True, exist_ok=True)
    (media_root / f"map/{stem}.png").write_bytes(previews.rgb)
    (media_root / f"map/{stem}_landcover.png").write_bytes(previews.landcover)
    return f"map/{stem}.png", f"map/{stem}_landcover.png"


def make_patch(scene: Scene, media_root: Path, index: int, west: float, south: float):
    codes = np.full((64, 64), 10, dtype=np.uint8)
    codes[32:] = 80
    rgb, landcover = preview_files(media_root, str(index))
    return Patch.objects.create(
        scene=scene, row_off=index * 64, col_off=0, width=64, height=64,
        west=west, south=south, east=west + SIDE, north=south + SIDE,
        source_name=f"map-patch-{index}", rgb_preview=rgb, landcover_preview=landcover,
        landcover=landcover_stats(codes), dominant_class=10, invalid_fraction=0.0,
        split="train",
    )  # fmt: skip


def caption(patch: Patch, *, failed: int = 0) -> Caption:
    findings = check_caption(TEXT, patch.landcover)
    extra = [{"check": "x", "message": "x", "span": None}] * failed
    return Caption.objects.create(
        patch=patch, source="map-test", generated_text=TEXT, text=TEXT,
        checks=findings + extra, failed_checks=len(findings) + failed,
    )  # fmt: skip


@pytest.fixture
def world(transactional_db, media_root: Path) -> MapWorld:
    scene = Scene.objects.create(
        name="map-scene", source_kind="geotiff", image_path="/m.tif", status="ready"
    )
    # First in the queue without a filter: the most failed checks.
    far = make_patch(scene, media_root, 100, *FAR)
    caption(far, failed=5)
    grid = [
        make_patch(scene, media_root, row * COLUMNS + column,
                   WEST + column * STEP, SOUTH + row * STEP)
        for row in range(ROWS) for column in range(COLUMNS)
    ]  # fmt: skip
    for patch in grid[:-1]:
        caption(patch)
    statuses = {1: "approved", 2: "edited", 3: "rejected"}
    for index, status in statuses.items():
        Caption.objects.filter(patch=grid[index]).update(status=status)
    return MapWorld(grid=grid, far=far, uncaptioned=grid[-1])


def log_in(context: BrowserContext, username: str) -> Page:
    page = context.new_page()
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(f"pw-{username}-123")
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/$"))
    return page


def open_map(page: Page, zoom: int, lat: float, lon: float, mode: str) -> Page:
    page.goto(f"/map/#{zoom}/{lat}/{lon}")
    drawn = page.locator(f"[data-map][data-state=ready][data-mode={mode}]")
    expect(drawn).to_have_count(1)
    return page


def footprint(page: Page, patch: Patch):
    return page.locator(f"path.map-footprint[data-patch-id='{patch.pk}']")


# --- where things are on screen: Web Mercator, as every web map draws it ----------


def world_pixels(lon: float, lat: float, zoom: int) -> tuple[float, float]:
    scale = 256 * 2**zoom
    sine = math.sin(math.radians(lat))
    y = 0.5 - math.log((1 + sine) / (1 - sine)) / (4 * math.pi)
    return (lon + 180) / 360 * scale, y * scale


def screen_box(
    page: Page,
    patch: Patch,
    zoom: int,
    centre: tuple[float, float],
    stroke: float = 0,
):
    """(left, top, width, height) of the patch's footprint in the page, in CSS px,
    with a `stroke` wide outline around it (Chromium counts it in the box)."""
    frame = page.locator("[data-map]").bounding_box()
    assert frame is not None
    assert patch.west is not None and patch.east is not None
    assert patch.south is not None and patch.north is not None
    centre_x, centre_y = world_pixels(centre[1], centre[0], zoom)
    west, north = world_pixels(patch.west, patch.north, zoom)
    east, south = world_pixels(patch.east, patch.south, zoom)
    left = frame["x"] + frame["width"] / 2 + (west - centre_x)
    top = frame["y"] + frame["height"] / 2 + (north - centre_y)
    half = stroke / 2
    return left - half, top - half, east - west + stroke, south - north + stroke


def assert_near(found: dict | None, expected: tuple, tolerance: float = 1.5) -> None:
    assert found is not None
    got = (found["x"], found["y"], found["width"], found["height"])
    assert all(abs(a - b) <= tolerance for a, b in zip(got, expected, strict=True)), (
        got,
        expected,
    )


# --- footprints at a known place ---------------------------------------------------


def test_the_map_draws_each_footprint_where_its_patch_lies(new_context, curator, world):
    page = open_map(log_in(new_context(), "cora"), ZOOM, *GRID_CENTRE, mode="patches")
    expect(page.locator("path.map-footprint")).to_have_count(len(world.grid))
    for patch in world.grid:
        box = footprint(page, patch).bounding_box()
        assert_near(box, screen_box(page, patch, ZOOM, GRID_CENTRE, FOOTPRINT_STROKE))
    # Far to the east, out of view: not drawn.
    expect(footprint(page, world.far)).to_have_count(0)
    assert page.locator("[data-map]").get_attribute("data-total") == str(
        len(world.grid)
    )


def test_footprints_take_their_status_colour_and_the_legend_says_which(
    new_context, curator, world
):
    page = open_map(log_in(new_context(), "cora"), ZOOM, *GRID_CENTRE, mode="patches")
    expected = {0: "pending", 1: "approved", 2: "edited", 3: "rejected"}
    expected[len(world.grid) - 1] = "uncaptioned"
    for index, status in expected.items():
        path = footprint(page, world.grid[index])
        expect(path).to_have_attribute("data-status", status)
        expect(path).to_have_attribute("stroke", STATUS_COLOURS[status])
    legend = page.locator("[data-legend] li")
    expect(legend).to_have_count(len(STATUS_COLOURS))
    for status, colour in STATUS_COLOURS.items():
        (
            expect(
                page.locator(f"[data-legend] li[data-colour='{colour}']")
            ).to_have_count(1),
            status,
        )


def test_the_toolbar_narrows_the_map_to_a_status_and_a_split(
    new_context, curator, world
):
    Patch.objects.filter(pk=world.grid[2].pk).update(split="val")
    page = open_map(log_in(new_context(), "cora"), ZOOM, *GRID_CENTRE, mode="patches")
    drawn = page.locator("path.map-footprint")
    expect(drawn).to_have_count(len(world.grid))

    page.get_by_label("Status", exact=True).select_option("approved")
    expect(drawn).to_have_count(1)
    expect(footprint(page, world.grid[1])).to_have_attribute("data-status", "approved")

    page.get_by_label("Status", exact=True).select_option("")
    page.get_by_label("Split", exact=True).select_option("val")
    expect(drawn).to_have_count(1)
    expect(footprint(page, world.grid[2])).to_have_attribute("data-status", "edited")


def test_the_toggle_colours_by_land_cover_with_its_legend(new_context, curator, world):
    page = open_map(log_in(new_context(), "cora"), ZOOM, *GRID_CENTRE, mode="patches")
    page.get_by_label("Land cover").check()
    tree = CLASS_BY_CODE[10]
    for patch in world.grid:
        expect(footprint(page, patch)).to_have_attribute("stroke", tree.hex_colour)
    expect(page.locator("[data-legend-title]")).to_have_text("Land cover")
    expect(page.locator("[data-legend] li").first).to_have_text(tree.worldcover_name)


def test_zoomed_in_further_the_previews_lie_on_their_footprints(
    new_context, curator, world
):
    zoom = max(ZOOM, PREVIEW_ZOOM)
    page = open_map(log_in(new_context(), "cora"), zoom, *GRID_CENTRE, mode="patches")
    patch = world.grid[0]
    image = page.locator(f"img.map-preview[src$='{patch.rgb_preview.url}']")
    expect(image).to_have_count(1)
    page.wait_for_function(
        "image => image.complete && image.naturalWidth === 64",
        arg=image.element_handle(),
    )
    assert_near(image.bounding_box(), screen_box(page, patch, zoom, GRID_CENTRE))


def test_zoomed_out_the_patches_are_counted_in_cells(new_context, curator, world):
    page = open_map(log_in(new_context(), "cora"), 3, 46.0, 11.0, mode="cells")
    cells = page.locator("path.map-cell")
    expect(cells.first).to_be_visible()
    counts = [int(count) for count in cells.evaluate_all(
        "paths => paths.map(path => path.dataset.count)"
    )]  # fmt: skip
    assert sum(counts) == len(world.grid) + 1  # the far patch too
    expect(page.locator(".map-count span").first).to_be_visible()


def test_the_view_is_kept_in_the_address_so_a_link_reproduces_it(
    new_context, curator, world
):
    page = open_map(log_in(new_context(), "cora"), ZOOM, *GRID_CENTRE, mode="patches")
    page.get_by_role("button", name="Zoom in").click()
    expect(page).to_have_url(re.compile(rf"/map/#{ZOOM + 1}/46\.0225\d*/11\.0475\d*$"))
    expect(page.locator("[data-map][data-state=ready]")).to_have_count(1)
    link = page.url
    other = new_context()
    second = log_in(other, "cora")
    second.goto(link)
    expect(second.locator("[data-map][data-state=ready]")).to_have_count(1)
    assert second.url == link
    first_box = footprint(page, world.grid[0]).bounding_box()
    second_box = footprint(second, world.grid[0]).bounding_box()
    assert first_box is not None and second_box is not None
    assert_near(second_box, tuple(first_box.values()), tolerance=1)


# --- clicks and reviews ----------------------------------------------------------


def test_status_colours_follow_a_review(new_context, curator, world):
    page = open_map(log_in(new_context(), "cora"), ZOOM, *GRID_CENTRE, mode="patches")
    patch = world.grid[0]
    reviewed = world.caption_of(patch)
    expect(footprint(page, patch)).to_have_attribute(
        "stroke", STATUS_COLOURS["pending"]
    )

    footprint(page, patch).click()  # the footprint opens its caption's review page

    expect(page).to_have_url(re.compile(rf"/review/{reviewed.pk}/$"))
    expect(page.locator("[data-review][data-ready]")).to_have_count(1)
    page.keyboard.press("a")
    expect(page).not_to_have_url(re.compile(rf"/review/{reviewed.pk}/$"))
    expect(page.locator("[data-review][data-saving]")).to_have_count(0)
    reviewed.refresh_from_db()
    assert reviewed.status == Caption.Status.APPROVED

    open_map(page, ZOOM, *GRID_CENTRE, mode="patches")
    expect(footprint(page, patch)).to_have_attribute("data-status", "approved")
    expect(footprint(page, patch)).to_have_attribute(
        "stroke", STATUS_COLOURS["approved"]
    )


def test_a_consumer_clicking_a_footprint_gets_the_caption_from_the_api(
    new_context, consumer, world
):
    page = open_map(log_in(new_context(), "conrad"), ZOOM, *GRID_CENTRE, mode="patches")
    patch = world.grid[1]
    footprint(page, patch).click()
    expect(page).to_have_url(
        re.compile(rf"/api/v1/captions/{world.caption_of(patch).pk}/$")
    )


def test_a_patch_without_a_caption_shows_a_tooltip_and_goes_nowhere(
    new_context, curator, world
):
    page = open_map(log_in(new_context(), "cora"), ZOOM, *GRID_CENTRE, mode="patches")
    address = page.url
    footprint(page, world.uncaptioned).click()
    expect(page.locator(".leaflet-tooltip")).to_contain_text("No caption yet")
    expect(page.locator(".leaflet-tooltip")).to_contain_text("map-patch-7")
    assert page.url == address


# --- the box ---------------------------------------------------------------------


def drag_box(page: Page, corner: tuple[float, float], other: tuple[float, float]):
    page.mouse.move(*corner)
    page.mouse.down()
    page.mouse.move((corner[0] + other[0]) / 2, (corner[1] + other[1]) / 2, steps=4)
    page.mouse.move(*other, steps=4)
    page.mouse.up()


def box_around_the_grid(new_context) -> Page:
    """Cora's map zoomed out enough that a box drawn with the button around the
    grid's centre lies beside its footprints, not on one, and the far patch is well
    outside it."""
    zoom = FOOTPRINT_ZOOM + 2
    page = open_map(log_in(new_context(), "cora"), zoom, *GRID_CENTRE, mode="patches")
    frame = page.locator("[data-map]").bounding_box()
    assert frame is not None
    centre_x = frame["x"] + frame["width"] / 2
    centre_y = frame["y"] + frame["height"] / 2
    page.get_by_role("button", name="Draw a box").click()
    drag_box(page, (centre_x - 60, centre_y - 60), (centre_x + 60, centre_y + 60))
    return page


def test_a_drawn_box_narrows_the_review_queue_to_its_area(new_context, curator, world):
    page = box_around_the_grid(new_context)

    box_text = page.locator("[data-box-text]")
    expect(box_text).to_have_text(re.compile(r"^[-\d.]+,[-\d.]+,[-\d.]+,[-\d.]+$"))
    west, south, east, north = map(float, (box_text.text_content() or "").split(","))
    for patch in world.grid:  # the box holds the whole grid, and not the far patch
        assert west <= patch.west and patch.east <= east
        assert south <= patch.south and patch.north <= north
    assert not west <= world.far.west <= east
    link = page.get_by_role("link", name="Review this area")
    expect(link).to_have_attribute(
        "href", f"/review/next/?bbox={box_text.text_content()}"
    )

    link.click()
    inside = {world.caption_of(patch).pk for patch in world.grid[:-1]}
    pending = set(
        Caption.objects.filter(pk__in=inside, status="pending").values_list(
            "pk", flat=True
        )
    )
    seen = []
    while True:
        expect(page).to_have_url(re.compile(r"/review/(\d+)/\?bbox=|/review/next/"))
        found = re.search(r"/review/(\d+)/", page.url)
        if found is None:
            break
        expect(page.locator("[data-review][data-ready]")).to_have_count(1)
        seen.append(int(found.group(1)))
        assert seen[-1] in inside, "the queue offered a caption outside the box"
        page.keyboard.press("a")
        expect(page).not_to_have_url(re.compile(rf"/review/{seen[-1]}/"))
    assert set(seen) == pending
    expect(page.get_by_role("heading", name="Nothing left to review")).to_be_visible()
    assert Caption.objects.get(pk=world.caption_of(world.far).pk).status == "pending"


def approve_with_revision(caption: Caption, user) -> None:
    """A verdict as the review page leaves it: the QA sample opens reviews of it."""
    Caption.objects.filter(pk=caption.pk).update(status="approved")
    Revision.objects.create(
        caption=caption, user=user, action=Revision.Action.APPROVE,
        status_before="pending", status_after="approved", text_before=TEXT,
        text_after=TEXT, version_after=2,
    )  # fmt: skip


def test_a_curator_releases_and_samples_for_qa_the_area_of_a_drawn_box(
    new_context, curator, annotator, world
):
    # Two approved captions inside the box, and the far one outside, which a sample
    # without the box could have picked.
    for patch in (world.grid[0], world.grid[4], world.far):
        approve_with_revision(world.caption_of(patch), annotator)
    page = box_around_the_grid(new_context)
    text = page.locator("[data-box-text]").text_content()
    assert text and text.count(",") == 3
    expect(page.get_by_role("link", name="Release this area")).to_have_attribute(
        "href", f"/admin/captions/release/create/?bbox={text}"
    )

    page.get_by_label("QA reviews per class").fill("5")
    page.get_by_role("button", name="Sample this area for QA").click()

    expect(page.locator("[data-qa-result]")).to_have_text(
        re.compile(r"^Opened 2 QA reviews \(")
    )
    sampled = set(QaReview.objects.values_list("caption_id", flat=True))
    assert sampled == {
        world.caption_of(world.grid[0]).pk,
        world.caption_of(world.grid[4]).pk,
    }

    page.get_by_role("link", name="Release this area").click()
    expect(page.locator("input[name=bbox]")).to_have_value(text)


def test_shift_drag_draws_a_box_and_the_export_links_take_it(
    new_context, consumer, world
):
    page = open_map(log_in(new_context(), "conrad"), ZOOM, *GRID_CENTRE, mode="patches")
    frame = page.locator("[data-map]").bounding_box()
    assert frame is not None
    x, y = frame["x"] + 100, frame["y"] + 100  # clear of the zoom buttons
    page.keyboard.down("Shift")
    drag_box(page, (x, y), (x + 50, y + 50))
    page.keyboard.up("Shift")
    text = page.locator("[data-box-text]").text_content()
    assert text and text.count(",") == 3
    expect(page.get_by_role("link", name="Export this area")).to_have_attribute(
        "href", f"/api/v1/export/?format=jsonl&bbox={text}"
    )
    expect(page.get_by_role("link", name="GeoJSON of this area")).to_have_attribute(
        "href", f"/api/v1/patches/?format=geojson&bbox={text}"
    )
    expect(page.get_by_role("link", name="Review this area")).to_have_count(0)
    # The map did not pan while the box was drawn.
    assert page.url.endswith(f"#{ZOOM}/{GRID_CENTRE[0]:.5f}/{GRID_CENTRE[1]:.5f}")
    page.get_by_role("button", name="Clear the box").click()
    expect(page.locator("[data-box-panel]")).to_be_hidden()


# --- the basemap -----------------------------------------------------------------


def test_without_a_tile_server_the_world_outline_is_drawn_and_nothing_leaves(
    new_context, curator, world, settings, live_server
):
    settings.MAP_TILE_URL = ""
    context = new_context()
    own = urlsplit(live_server.url).netloc
    elsewhere: list[str] = []

    def only_this_site(route):
        if urlsplit(route.request.url).netloc == own:
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    context.route("**/*", only_this_site)
    page = open_map(log_in(context, "cora"), 3, 30.0, 10.0, mode="cells")
    expect(page.locator("[data-map][data-outline=drawn]")).to_have_count(1)
    # Three copies of the 177 countries, side by side (the map wraps).
    outline = page.locator(".leaflet-basemap-pane path")
    assert outline.count() >= 3 * 100
    expect(page.locator(".leaflet-tile")).to_have_count(0)
    expect(page.locator(".leaflet-control-attribution")).to_contain_text(
        "Natural Earth"
    )
    assert urlsplit(live_server.url).hostname in ("127.0.0.1", "localhost")
    assert elsewhere == []


PNG = BytesIO()
Image.new("RGB", (256, 256), (180, 210, 160)).save(PNG, "PNG")


class TileHandler(BaseHTTPRequestHandler):
    asked: list[str] = []

    def do_GET(self):
        TileHandler.asked.append(self.path)
        body = PNG.getvalue()
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def tile_server() -> Iterator[str]:
    """A tile server on loopback: every tile is the same small green PNG."""
    TileHandler.asked = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), TileHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/tiles/{{z}}/{{x}}/{{y}}.png"
    server.shutdown()
    server.server_close()


def with_tile_server(settings, url: str, *, allowed: bool) -> None:
    """What the settings do with MAP_TILE_URL set (chatearthnet_site/settings.py)."""
    settings.MAP_TILE_URL = url
    settings.MAP_TILE_ATTRIBUTION = "© Test Tiles <b>contributors</b>"
    policy = {**settings.CONTENT_SECURITY_POLICY}
    directives = {**policy["DIRECTIVES"]}
    if allowed:
        directives["img-src"] = [*directives["img-src"], tile_origin(url)]
    policy["DIRECTIVES"] = directives
    settings.CONTENT_SECURITY_POLICY = policy


def test_with_a_tile_server_its_tiles_load_with_the_attribution(
    new_context, curator, world, settings, tile_server
):
    with_tile_server(settings, tile_server, allowed=True)
    context = new_context()
    context.add_init_script(WATCH_VIOLATIONS)
    page = open_map(log_in(context, "cora"), ZOOM, *GRID_CENTRE, mode="patches")
    expect(page.locator("img.leaflet-tile-loaded").first).to_be_visible()
    assert any(path.startswith(f"/tiles/{ZOOM}/") for path in TileHandler.asked)
    # The attribution is shown as text: configuration is not HTML.
    attribution = page.locator(".leaflet-control-attribution")
    expect(attribution).to_contain_text("© Test Tiles <b>contributors</b>")
    expect(page.locator("[data-map][data-outline]")).to_have_count(0)
    assert violations(page) == []


def test_the_policy_is_what_lets_the_tiles_in(
    new_context, curator, world, settings, tile_server
):
    with_tile_server(settings, tile_server, allowed=False)
    context = new_context()
    context.add_init_script(WATCH_VIOLATIONS)
    page = open_map(log_in(context, "cora"), ZOOM, *GRID_CENTRE, mode="patches")
    page.wait_for_function("window.__cspViolations.length > 0")
    assert any(v.startswith("img-src") for v in violations(page))
    expect(page.locator("img.leaflet-tile-loaded")).to_have_count(0)
