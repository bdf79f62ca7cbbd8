"""Open a static report page from disk in Debian's headless chromium (Playwright driving
/usr/bin/chromium, never a downloaded browser) and say what a person would see: the images with
whether each loaded, the text, and the counts of chosen elements."""

import shutil

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]


def read_page(path, counts=(), images_in=()) -> dict:
    """{"images": [(src, loaded, natural width)], "text": str, "counts": {selector: n},
    "images_in": {selector: [images inside each matching element]}} of the page at ``path`` (a
    file), once it has loaded."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is not installed: apt-get install -y chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(path.resolve().as_uri())
            page.wait_for_load_state("load")
            images = page.eval_on_selector_all(
                "img", "els => els.map(e => [e.getAttribute('src'), e.complete, e.naturalWidth])"
            )
            return {
                "images": [tuple(i) for i in images],
                "text": page.inner_text("body"),
                "counts": {s: page.eval_on_selector_all(s, "els => els.length") for s in counts},
                "images_in": {
                    s: page.eval_on_selector_all(
                        s, "els => els.map(e => e.querySelectorAll('img').length)"
                    )
                    for s in images_in
                },
            }
        finally:
            browser.close()


def assert_pictures_load(seen, folder):
    """Every image loaded, from a file beside the page (no absolute path, URL or data URI)."""
    assert seen["images"], "the page shows no picture"
    for src, loaded, width in seen["images"]:
        assert loaded and width > 0, src
        assert not src.startswith(("/", "http", "data:")) and (folder / src).is_file(), src
