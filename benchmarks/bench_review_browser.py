"""The next caption at once, in a real browser (issue 12, item 6).

gunicorn serves the app on loopback from a PostgreSQL database filled by
`make_benchmark_data` (pending captions with real preview files); headless Chromium,
driven by Playwright, logs in as an annotator and approves captions with the `a` key,
one after another, each once the caption ahead is prepared (as it is while a person
reads). Measured in the page: from the key press (the keydown event's time stamp) to
the frame after the next caption's text and both of its images are in the document,
complete and decoded, that is, painted.

Two paths in the same run, on the same server and data:

- `instant`: the page as it is: the caption claimed ahead is swapped in at once and
  the save goes on in the background (static/verification/review/actions.js).
- `page_load` (the baseline, the page before issue 12): the save first, then a page
  load of the caption ahead, whose page was prefetched (`<link rel=prefetch>`) and
  images fetched beforehand, as the page then did. A key listener of the benchmark
  takes the `a` key before the page's own and does exactly that.

gunicorn serves the static files too (Django's static files handler wraps the app, as
a front server would serve them). The first reviews of each path are warm-up.

    python benchmarks/bench_review_browser.py [--reviews 200]
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_review import reset_postgres  # noqa: E402
from bench_review_http import (  # noqa: E402
    _server_environment,
    _wait_for_port,
    free_port,
    percentile,
)

CHROMIUM = "/usr/bin/chromium"
USERNAME = "bench-annotator"
PASSWORD = "bench-annotator-pass"  # a throwaway benchmark database
WARM_UP = 5

# Runs in every document of the page. A press of `a` is written to sessionStorage
# (it must outlive a page load); from then on, at every frame, the page looks for the
# caption expected next with its text and both images complete and decoded; the frame
# after the one that has them is when they are painted.
MEASURE = r"""
(() => {
  const PENDING = "bench-pending";
  const RESULT = "bench-result";
  const epoch = (stamp) => performance.timeOrigin + stamp;
  function shown(expected) {
    const root = document.querySelector("[data-review]");
    const text = root?.querySelector("[data-caption-text]");
    const images = [
      ...(root?.querySelectorAll("[data-swap-image]:not([data-overlay])") ?? []),
    ];
    return root?.dataset.actionUrl === `/review/${expected}/action/`
      && location.pathname === `/review/${expected}/`
      && text && text.textContent.length > 0
      && images.length === 2
      && images.every((image) => image.complete && image.naturalWidth > 0);
  }
  function watch() {
    const pending = JSON.parse(sessionStorage.getItem(PENDING) || "null");
    if (!pending) {
      return;
    }
    const frame = () => {
      if (!shown(pending.expected)) {
        requestAnimationFrame(frame);
        return;
      }
      requestAnimationFrame(() => setTimeout(() => {
        sessionStorage.removeItem(PENDING);
        const ms = epoch(performance.now()) - pending.pressed;
        const mark = performance.getEntriesByName("review:next-shown").at(-1);
        const swapMs = mark ? epoch(mark.startTime) - pending.pressed : null;
        const result = { expected: pending.expected, ms, swapMs };
        sessionStorage.setItem(RESULT, JSON.stringify(result));
      }, 0));
    };
    requestAnimationFrame(frame);
  }
  addEventListener("keydown", (event) => {
    const root = document.querySelector("[data-review]");
    if (event.key !== "a" || !root?.dataset.aheadReady) {
      return;
    }
    const pending = {
      pressed: epoch(event.timeStamp),
      expected: Number(root.dataset.aheadReady),
    };
    sessionStorage.setItem(PENDING, JSON.stringify(pending));
    sessionStorage.removeItem(RESULT);
    watch();
  }, true);
  watch();
})();
"""

# The page before issue 12, for the baseline: the next page prefetched as the page
# did, and the `a` key taken before the page's own listener: save, then load.
OLD_PAGE_PATH = r"""
(aheadId) => {
  const root = document.querySelector("[data-review]");
  const url = `/review/${aheadId}/`;
  performance.clearResourceTimings(); // a long-lived page fills the buffer (250)
  const link = document.createElement("link");
  link.rel = "prefetch";
  link.as = "document";
  link.href = url;
  document.head.append(link);
  const csrf = document.cookie.split("; ")
    .find((part) => part.startsWith("csrftoken="))?.split("=")[1];
  const shown = document.getElementById("review-caption").textContent;
  const version = JSON.parse(shown).version;
  addEventListener("keydown", async (event) => {
    if (event.key !== "a") {
      return;
    }
    event.stopImmediatePropagation();
    const response = await fetch(root.dataset.actionUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify({ action: "approve", version, seconds_spent: 1 }),
    });
    if (response.ok) {
      location.assign(url);
    }
  }, true);
  return url;
}
"""


def static_and_app():
    """What gunicorn serves: the app, and the static files in front of it."""
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.wsgi import get_wsgi_application

    return StaticFilesHandler(get_wsgi_application())


def _environment(database_url: str) -> dict:
    return {
        **_server_environment(database_url),
        "MEDIA_ROOT": str(ROOT / "var" / "bench-review-browser-media"),
        "VAR_DIR": str(ROOT / "var" / "bench-review-browser"),
    }


def _manage(env: dict, *arguments: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip


def _fill(env: dict, captions: int) -> None:
    reset_postgres(env["DATABASE_URL"])
    _manage(env, "migrate", "--noinput", "-v", "0")
    _manage(env, "make_benchmark_data", "--patches", str(captions),
            "--verified-fraction", "0", "--no-progress", "--replace")  # fmt: skip
    _manage(env, "create_user", USERNAME, "--role", "annotator",
            "--password", PASSWORD)  # fmt: skip


def _start_server(env: dict, processes: int) -> tuple[subprocess.Popen, int]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "bench_review_browser:static_and_app()",
         "--pythonpath", f"{ROOT},{ROOT / 'benchmarks'}",
         "-w", str(processes), "-b", f"127.0.0.1:{port}", "--log-level", "warning"],
        cwd=ROOT, env=env, start_new_session=True,
    )  # fmt: skip
    _wait_for_port(port)
    return server, port


def _ahead_ready(page) -> int:
    """The caption claimed ahead, once prepared, and no save on its way."""
    root = page.locator("[data-review][data-ahead-ready]:not([data-saving])")
    root.wait_for(state="attached")
    return int(root.get_attribute("data-ahead-ready") or 0)


def _review(page, *, old_path: bool) -> tuple[float, float | None]:
    """One approval with `a`: the milliseconds to the next caption painted, and
    (instant) to its swap in the page, before the browser's next frame."""
    ahead = _ahead_ready(page)
    if old_path:
        url = page.evaluate(OLD_PAGE_PATH, ahead)
        page.wait_for_function(
            "url => performance.getEntriesByType('resource')"
            ".some((entry) => entry.name.endsWith(url) && entry.responseEnd > 0)",
            arg=url,
        )
    page.keyboard.press("a")
    try:
        page.wait_for_function(
            "id => JSON.parse(sessionStorage.getItem('bench-result') || 'null')"
            "?.expected === id",
            arg=ahead,
        )
    except Exception as error:
        notices = page.locator("[data-notices]").text_content()
        raise RuntimeError(
            f"caption {ahead} never shown; at {page.url}, notices: {notices!r}"
        ) from error
    result = page.evaluate("JSON.parse(sessionStorage.getItem('bench-result'))")
    page.locator("[data-review][data-ready]").wait_for(state="attached")
    return float(result["ms"]), result["swapMs"]


def _drive(port: int, reviews: int) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    timings: dict[str, list[float]] = {"instant": [], "page_load": [], "swap": []}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        context = browser.new_context(
            base_url=f"http://127.0.0.1:{port}", viewport={"width": 1366, "height": 768}
        )
        context.set_default_timeout(30_000)
        context.add_init_script(MEASURE)
        page = context.new_page()
        page.goto("/accounts/login/?next=/review/next/")
        page.get_by_label("Username").fill(USERNAME)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.locator("[data-review][data-ready]").wait_for(state="attached")
        for path, old_path in (("instant", False), ("page_load", True)):
            for item in range(WARM_UP + reviews):
                ms, swap_ms = _review(page, old_path=old_path)
                if item >= WARM_UP:
                    timings[path].append(ms)
                    if not old_path and swap_ms is not None:
                        timings["swap"].append(swap_ms)
        browser.close()
    return timings


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--database-url",
        default="postgres://postgres@127.0.0.1:5432/bench_review_browser",
    )
    parser.add_argument("--reviews", type=int, default=200)
    parser.add_argument("--captions", type=int, default=2000)
    parser.add_argument("--server-processes", type=int, default=2)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = _arguments(argv)
    env = _environment(args.database_url)
    _fill(env, args.captions)
    server, port = _start_server(env, args.server_processes)
    started = time.perf_counter()
    try:
        timings = _drive(port, args.reviews)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    return {
        "captions": args.captions,
        "reviews_per_path": args.reviews,
        "server_processes": args.server_processes,
        "seconds": round(time.perf_counter() - started, 1),
        **{
            f"{path}_{q}_ms": round(percentile(values, level), 1)
            for path, values in timings.items()
            for q, level in (("p50", 0.5), ("p95", 0.95), ("max", 1.0))
        },
    }


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
