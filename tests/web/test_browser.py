"""The page in a real browser: Debian's Chromium driven by Playwright against a live server.

One browser session serves every test in this module (they run in order on one page). Each test
saves a screenshot into the artefacts folder: $VAEKIT_TEST_ARTEFACTS, else a pytest temporary
folder (its path is printed). Skipped only when /usr/bin/chromium is absent (.ci/run installs it).
"""

from __future__ import annotations

import base64
import os
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import expect

from vaekit.checkpoint import RunDir
from vaekit.runs import load_run_data

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT = 20_000  # ms: generous for a shared 2-core machine

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium: apt-get install chromium")


@pytest.fixture(scope="module")
def server(runs_root):
    """uvicorn serving the runs folder on a free loopback port, in a thread of this process."""
    import uvicorn

    from vaekit.web.app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(runs_root), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("VAEKIT_TEST_ARTEFACTS") or tmp_path_factory.mktemp("artefacts"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"browser screenshots in {folder}")
    return folder


@pytest.fixture(scope="module")
def browser(server):
    """(page, requests): one Chromium page; every request it makes is recorded, and any to another
    host than the server is aborted."""
    from playwright.sync_api import sync_playwright

    expect.set_options(timeout=TIMEOUT)
    requests: list[str] = []

    def guard(route):
        requests.append(route.request.url)
        if route.request.url.startswith(server + "/"):
            route.continue_()
        else:
            route.abort()

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        context = b.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(TIMEOUT)
        context.route("**/*", guard)
        page = context.new_page()
        yield page, requests
        b.close()


def _open(page, url: str) -> None:
    page.goto(url)
    expect(page.locator("body")).to_have_attribute("data-ready", "1")


def _shot(page, artefacts: Path, name: str) -> None:
    page.screenshot(path=str(artefacts / f"{name}.png"), full_page=True)


def _pixels(data_url: str) -> np.ndarray:
    import io

    from PIL import Image

    with Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))) as im:
        return np.asarray(im.convert("L")).astype(int)


@pytest.fixture(scope="module")
def digit_png(runs_root, tmp_path_factory) -> tuple[Path, np.ndarray]:
    """A test digit of the mlp run as a PNG file, and its pixels."""
    from vaekit.web.encode import png_bytes

    x = load_run_data(RunDir(runs_root / "mlp")).test.x[4]  # (1, 8, 8)
    path = tmp_path_factory.mktemp("uploads") / "digit.png"
    path.write_bytes(png_bytes(x.numpy()))
    return path, np.rint(x[0].numpy() * 255).astype(int)


def test_runs_table_sorts_and_shows_curves(browser, server, artefacts):
    page, _ = browser
    _open(page, server + "/")
    rows = page.locator("#runs-table tbody tr")
    expect(rows).to_have_count(4)
    expect(page.locator("#curves polyline")).to_have_count(4)  # two series in each of two charts
    names = lambda: [rows.nth(i).get_attribute("data-run") for i in range(rows.count())]  # noqa: E731
    assert names() == ["conv", "cvae", "mlp", "wine"]
    page.click("#runs-table th[data-key=parameters]")
    params = [int(rows.nth(i).locator("td").nth(3).inner_text().replace(",", "")) for i in range(4)]
    assert params == sorted(params) and names() != ["conv", "cvae", "mlp", "wine"]
    page.click("#runs-table tr[data-run=cvae]")
    expect(page.locator("#curves-run")).to_have_text("cvae")
    assert page.input_value("#run-select") == "cvae"
    _shot(page, artefacts, "runs")


def test_explore_hover_click_slider_and_interpolate(browser, server, artefacts):
    page, _ = browser
    _open(page, server + "/?run=cvae&tab=explore")
    page.locator("#sliders input[type=range]").first.wait_for()
    expect(page.locator("#decoded img")).to_have_count(1)
    box = page.locator("#map").bounding_box()
    # hover: sweep the middle of the map; the tooltip names the example under the pointer
    found: dict[str, tuple[float, float]] = {}
    for dy in range(-150, 151, 15):
        for dx in range(-150, 151, 15):
            xy = (box["x"] + 280 + dx, box["y"] + 280 + dy)
            page.mouse.move(*xy)
            if page.is_visible("#map-tip"):
                found.setdefault(page.inner_text("#map-tip div"), xy)
        if len(found) >= 2:
            break
    assert len(found) >= 2, "fewer than two points under the pointer near the middle of the map"
    (first, a), (_, b) = list(found.items())[:2]
    page.mouse.move(*a)
    expect(page.locator("#map-tip div")).to_have_text(first)
    expect(page.locator("#map-tip img")).to_have_js_property("naturalWidth", 8)  # the 8x8 test image
    page.mouse.click(*a)
    expect(page.locator("#decoded-caption")).to_contain_text(f"test example {first.split()[0][1:]}")
    # a slider decodes live: the picture changes
    before = page.get_attribute("#decoded img", "src")
    slider = page.locator("#sliders input[type=range]").first
    start = float(slider.input_value())  # the clicked example's value
    slider.focus()
    for _ in range(30):
        page.keyboard.press("ArrowLeft" if start > 0 else "ArrowRight")
    expect(page.locator("#decoded img")).not_to_have_attribute("src", before)
    assert abs(float(slider.input_value()) - start) == pytest.approx(1.5, abs=0.051)  # 30 steps of 0.05 prior std
    # pick two points: the interpolation between them
    page.check("#interp-mode")
    page.mouse.click(*a)
    page.mouse.click(*b)
    expect(page.locator("#interp-out img")).to_have_count(8)
    expect(page.locator("#decoded-caption")).to_contain_text("interpolated (lerp) from example")
    _shot(page, artefacts, "explore")


def test_upload_shows_score_flag_and_map(browser, server, artefacts, digit_png):
    page, _ = browser
    _open(page, server + "/?run=mlp&tab=check")
    page.set_input_files("#check-file", str(digit_png[0]))
    expect(page.locator("#check-score")).to_contain_text("score ")
    assert page.locator("#check-score .flag").inner_text() in ("normal", "anomalous")  # the run has a detector
    assert page.locator("#check-images img").count() == 3
    _shot(page, artefacts, "check")


def test_paint_a_mask_and_inpaint(browser, artefacts, digit_png):
    page, _ = browser
    canvas = page.locator("#mask-canvas")
    box = canvas.bounding_box()
    y = box["y"] + box["height"] * 0.8  # row 6 of 8, and the brush covers rows 5-7
    page.mouse.move(box["x"] + 2, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] - 2, y, steps=12)
    page.mouse.up()
    page.fill("#inpaint-steps", "50")
    page.click("#inpaint-go")
    expect(page.locator("#inpaint-out img")).to_have_count(1)
    restored = _pixels(page.get_attribute("#inpaint-out img", "src"))
    original = digit_png[1]
    changed = np.argwhere(np.abs(restored - original) > 1)
    assert len(changed) > 0 and set(changed[:, 0].tolist()) <= {5, 6, 7}  # only painted rows were filled
    assert "entries filled" in page.inner_text("#inpaint-caption")
    _shot(page, artefacts, "inpaint")


def test_a_bad_upload_shows_the_message_and_the_server_goes_on(browser, artefacts, digit_png, tmp_path):
    page, _ = browser
    fake = tmp_path / "notes.png"
    fake.write_text("this is not an image")
    page.set_input_files("#check-file", str(fake))
    expect(page.locator("#message")).to_be_visible()
    expect(page.locator("#message")).to_have_text("400: the upload is not a PNG or JPEG image; upload a .png or .jpg file")
    expect(page.locator("#check-result")).to_be_hidden()  # no stale result beside the error
    _shot(page, artefacts, "bad-upload")
    page.set_input_files("#check-file", str(digit_png[0]))
    expect(page.locator("#message")).to_be_hidden()
    expect(page.locator("#check-score .flag")).to_have_count(1)


def test_generate_with_a_label(browser, server, artefacts):
    page, _ = browser
    _open(page, server + "/?run=cvae&tab=generate")
    expect(page.locator("#gen-out img")).to_have_count(1)
    first = page.get_attribute("#gen-out img", "src")
    page.select_option("#gen-label", "7")
    expect(page.locator("#gen-out img")).not_to_have_attribute("src", first)
    _shot(page, artefacts, "generate")


def test_no_request_left_the_machine(browser, server):
    _, requests = browser
    assert len(requests) > 20  # the page, its scripts and the API calls above
    assert [u for u in requests if not u.startswith(server + "/")] == []
