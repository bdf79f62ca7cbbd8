"""The web app end to end: Debian's chromium (headless, driven by Playwright) sees the uploaded
photo, picks a non-top class and gets that class's Grad-CAM, then a "versus" class and gets the
contrastive map; over HTTP, bad uploads and unknown classes get a message and the server keeps
serving."""

import io
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import photo

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOT = Path(__file__).resolve().parent.parent / "results" / "web_app.png"
MAX_FILE_SIZE = 1_000_000


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(lite0, tmp_path_factory):
    """The app on a free loopback port, sharing the session's Lite0; yields (url, photo dir)."""
    from gradcam.app import GradcamApp
    from gradcam.model_cache import ModelCache

    cache = ModelCache()
    cache.put(lite0)
    app = GradcamApp(cache)
    port = _free_port()
    app.launch("127.0.0.1", port, MAX_FILE_SIZE, prevent_thread_lock=True)
    folder = tmp_path_factory.mktemp("uploads")
    Image.fromarray(photo("chelsea")).save(folder / "chelsea.png")
    yield f"http://127.0.0.1:{port}/", folder
    app.close()


def _expected_overlay(lite0, name, target, contrast=None):
    from gradcam.explanation import explain
    from gradcam.visualize import overlay

    image = lite0.prepare(photo(name))
    result = explain(lite0, image[None], [target], contrast=contrast)
    return overlay(image, result.map[0], "heatmap", 0.5)


def _pick(page, box, typed, option):
    """Type ``typed`` into the dropdown ``box`` and click the listed ``option``."""
    page.click(f"{box} input")
    page.keyboard.press("Control+A")
    page.keyboard.press("Backspace")
    page.keyboard.type(typed)
    page.get_by_role("option", name=option).click(timeout=10_000)


def _overlay_pixels(page, previous_src=None):
    """Wait for the overlay <img> (a new one if ``previous_src``); its src and decoded pixels."""
    page.wait_for_function(
        "prev => { const img = document.querySelector('#overlay img');"
        " return img && img.complete && img.naturalWidth > 0 && img.src !== prev; }",
        arg=previous_src,
        timeout=120_000,
    )
    src = page.locator("#overlay img").get_attribute("src")
    body = page.request.get(src).body()
    return src, np.asarray(Image.open(io.BytesIO(body)).convert("RGB"))


def test_browser_picks_a_non_top_class(server, lite0):
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    assert chromium, (
        "Debian's chromium is not installed: apt-get install -y chromium (run.sh test does it)"
    )
    url, folder = server
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 820})
            page.goto(url)
            page.locator("#upload input[type=file]").set_input_files(str(folder / "chelsea.png"))
            page.wait_for_function(
                "() => { const top = document.querySelector('#top');"  # absent while re-rendered
                " return top !== null && top.innerText.includes('tiger cat'); }",
                timeout=120_000,
            )
            page.wait_for_function(  # the upload box shows the photo itself, not only its name
                "() => { const img = document.querySelector('#upload img');"
                " return img && img.complete && img.naturalWidth > 0; }",
                timeout=30_000,
            )
            shown = page.locator("#upload img").get_attribute("src")
            preview = Image.open(io.BytesIO(page.request.get(shown).body())).convert("RGB")
            page.click("#explain")
            top_src, top_overlay = _overlay_pixels(page)

            page.click("#target input")  # typing searches every class, not only the top 5
            page.keyboard.press("Control+A")
            page.keyboard.press("Backspace")
            page.keyboard.type("espres")
            page.get_by_role("option", name="espresso (967)").wait_for(timeout=10_000)
            page.keyboard.press("Control+A")
            page.keyboard.press("Backspace")  # an empty box lists the top classes first again
            page.wait_for_function("[...document.querySelectorAll('[role=option]')].length > 5")
            options = page.get_by_role("option")
            assert "tiger cat (282)" in options.nth(0).inner_text()
            assert "Egyptian cat (285)" in options.nth(1).inner_text()
            options.nth(1).click()
            page.click("#explain")
            other_src, other_overlay = _overlay_pixels(page, top_src)

            _pick(page, "#versus", "tiger", "tiger cat (282)")  # Egyptian rather than tiger cat
            page.click("#explain")
            _, versus_overlay = _overlay_pixels(page, other_src)
            SCREENSHOT.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
        finally:
            browser.close()
    np.testing.assert_array_equal(np.asarray(preview), photo("chelsea"))
    assert np.abs(top_overlay.astype(int) - other_overlay.astype(int)).mean() > 1.0
    assert np.abs(other_overlay.astype(int) - versus_overlay.astype(int)).mean() > 1.0
    # each one is exactly what the library computes for that class (PNG is lossless)
    assert np.abs(top_overlay.astype(int) - _expected_overlay(lite0, "chelsea", 282)).max() <= 1
    assert np.abs(other_overlay.astype(int) - _expected_overlay(lite0, "chelsea", 285)).max() <= 1
    expected = _expected_overlay(lite0, "chelsea", 285, contrast=282)
    assert np.abs(versus_overlay.astype(int) - expected).max() <= 1


def _explain_call(client, path, target="", versus=""):
    from gradio_client import handle_file

    return client.predict(
        handle_file(str(path)),
        "efficientnet_lite0",
        "grad_cam",
        target,
        "heatmap",
        0.5,
        versus,
        api_name="/explain",
    )


def test_http_errors_are_messages_and_the_server_keeps_serving(server, tmp_path):
    import requests
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    url, folder = server
    big = tmp_path / "big.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (1000, 1000, 3), np.uint8)).save(big)
    assert big.stat().st_size > MAX_FILE_SIZE
    with open(big, "rb") as handle:
        response = requests.post(url + "gradio_api/upload", files={"files": handle}, timeout=60)
    assert response.status_code == 413 and "maximum allowed size" in response.text

    client = Client(url, verbose=False)
    (tmp_path / "notes.txt").write_text("not a picture")
    with pytest.raises(AppError, match=r"notes\.txt: not an image"):  # the library says why
        _explain_call(client, tmp_path / "notes.txt")
    (tmp_path / "fake.jpg").write_bytes(b"\x00 definitely not a jpeg")
    with pytest.raises(AppError, match=r"fake\.jpg: not .*image"):
        _explain_call(client, tmp_path / "fake.jpg")
    with pytest.raises(AppError, match="unknown class 'expresso'; did you mean: espresso"):
        _explain_call(client, folder / "chelsea.png", "expresso")

    with pytest.raises(AppError, match=r"contrast class tiger cat \(282\) is also the target"):
        _explain_call(client, folder / "chelsea.png", "282", "tiger cat")

    picture, label, downloads = _explain_call(client, folder / "chelsea.png", "Egyptian cat")
    assert label["label"] == "tiger cat (282)"
    assert sorted(Path(p).suffix for p in downloads) == [".npz", ".png"]
    assert int(np.load(next(p for p in downloads if p.endswith(".npz")))["target"]) == 285
    _, _, downloads = _explain_call(client, folder / "chelsea.png", "Egyptian cat", "282")
    arrays = np.load(next(p for p in downloads if p.endswith(".npz")))
    assert (int(arrays["target"]), int(arrays["contrast"])) == (285, 282)


def test_compare_tab_over_http_shows_one_overlay_per_method(server):
    from gradio_client import Client, handle_file

    url, folder = server
    client = Client(url, verbose=False)
    gallery = client.predict(
        handle_file(str(folder / "chelsea.png")),
        "efficientnet_lite0",
        ["grad_cam", "cam", "gradient"],
        "285",
        "heatmap",
        0.5,
        api_name="/compare",
    )  # versus omitted: none
    assert [item["caption"] for item in gallery] == [
        "grad_cam: Egyptian cat (285)",
        "cam: Egyptian cat (285)",
        "gradient: Egyptian cat (285)",
    ]
    first = np.asarray(Image.open(gallery[0]["image"]).convert("RGB"))
    assert first.shape == (224, 224, 3)
    plain = client.predict(
        handle_file(str(folder / "chelsea.png")),
        "efficientnet_lite0",
        ["xgrad_cam", "hires_cam", "eigen_cam"],
        "285",
        "heatmap",
        0.5,
        "",
        api_name="/compare",
    )
    assert [item["caption"].split(":")[0] for item in plain] == [
        "xgrad_cam",
        "hires_cam",
        "eigen_cam",
    ]
    rather = client.predict(
        handle_file(str(folder / "chelsea.png")),
        "efficientnet_lite0",
        ["layer_cam", "ablation_cam"],
        "285",
        "heatmap",
        0.5,
        "tiger cat",
        api_name="/compare",
    )
    assert [item["caption"] for item in rather] == [
        "layer_cam: Egyptian cat (285) vs tiger cat (282)",
        "ablation_cam: Egyptian cat (285) vs tiger cat (282)",
    ]


def test_concurrent_requests_share_one_graph(server, lite0):
    """Six requests at once on the shared model: all answered right, no op added to the graph."""
    from concurrent.futures import ThreadPoolExecutor

    from gradio_client import Client

    url, folder = server
    _explain_call(Client(url, verbose=False), folder / "chelsea.png")  # warm: grad_cam ops exist
    ops = lite0.op_count
    targets = ["282", "285", "281", "287", "282", "285"]

    def ask(target):
        picture, _, downloads = _explain_call(
            Client(url, verbose=False), folder / "chelsea.png", target
        )
        return int(np.load(next(p for p in downloads if p.endswith(".npz")))["target"])

    with ThreadPoolExecutor(len(targets)) as pool:
        answered = list(pool.map(ask, targets))
    assert answered == [int(t) for t in targets]
    assert lite0.op_count == ops
