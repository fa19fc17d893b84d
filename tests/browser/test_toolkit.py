"""The browser toolkit itself (tests/support/browser.py), on pages a local HTTP server of the test serves: a clean
context per test, the language asked for, the page's JavaScript errors, whole-page screenshots, failure messages."""

import struct
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from selenium.webdriver.chrome.webdriver import WebDriver

from tests.support import browser as toolkit
from tests.support.browser import fresh, js_errors, screenshot, wait_text, wait_visible

pytestmark = pytest.mark.browser

_HEAD = '<!doctype html><link rel="icon" href="data:,">'  # no favicon request, whose 404 would be an error
# What the page found before it left its own cookie and stored value, and the language it was asked for.
_ECHO = """<title>echo</title><p id="asked">{lang}</p><p id="before"></p><p id="navigator"></p>
<script>
document.getElementById("before").textContent = `cookie=[${document.cookie}] stored=[${localStorage.getItem("k")}]`;
document.cookie = "left=1; path=/"; localStorage.setItem("k", "left");
document.getElementById("navigator").textContent = navigator.language;
</script>"""
PAGES = {
    "/echo": _ECHO,
    "/tall": '<body style="margin:0"><div style="height:3000px">tall</div><p id="end">end</p>',
    "/broken": '<script>console.error("said so"); notDefined();</script><p id="done">done</p>',
    "/clean": '<script>console.log("fine")</script><p id="done">done</p>',
}


class _Pages(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path not in PAGES:
            self.send_error(404)
            return
        body = (_HEAD + PAGES[self.path]).replace("{lang}", self.headers.get("Accept-Language", "")).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:  # the test's output, not the server's access log
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def test_each_test_starts_with_no_cookies_or_storage_of_the_last(browser: WebDriver, site: str) -> None:
    browser.get(f"{site}/echo")
    wait_text(browser, "#before", "cookie=[] stored=[null]")
    browser.get(f"{site}/echo")
    wait_text(browser, "#before", "cookie=[left=1] stored=[left]")  # they stay within a test

    fresh(browser)
    browser.get(f"{site}/echo")
    wait_text(browser, "#before", "cookie=[] stored=[null]")


def test_the_language_asked_for_reaches_the_server_and_the_page(browser: WebDriver, site: str) -> None:
    browser.get(f"{site}/echo")
    assert wait_visible(browser, "#asked").text == "en"

    fresh(browser, "zh-CN")
    browser.get(f"{site}/echo")
    assert wait_visible(browser, "#asked").text == "zh-CN"
    assert wait_visible(browser, "#navigator").text == "zh-CN"


def test_the_pages_javascript_errors_are_collected(browser: WebDriver, site: str) -> None:
    browser.get(f"{site}/clean")
    wait_visible(browser, "#done")
    assert js_errors(browser) == []

    browser.get(f"{site}/broken")
    wait_visible(browser, "#done")
    errors = js_errors(browser)
    assert any('"said so"' in e for e in errors), errors
    assert any("notDefined is not defined" in e for e in errors), errors
    assert js_errors(browser) == []  # read once: the next check sees only what happens after


def _png_size(path: Path) -> tuple[int, int]:
    width, height = struct.unpack(">II", path.read_bytes()[16:24])  # the IHDR chunk, right after the signature
    return width, height


def test_a_screenshot_holds_the_whole_page_and_reaches_the_docs_only_when_asked(
        browser: WebDriver, site: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(toolkit, "DOCS_SCREENS", tmp_path / "docs")
    monkeypatch.delenv("POSTLOAN_UPDATE_SCREENS", raising=False)
    browser.get(f"{site}/tall")
    wait_visible(browser, "#end")

    shot = screenshot(browser, "toolkit-tall")
    assert shot == toolkit.SCREENS / "toolkit-tall.png"
    width, height = _png_size(shot)
    assert width == 1280 and height > 3000, (width, height)  # beyond the 900 px viewport, to the page's end
    assert not (tmp_path / "docs").exists()

    monkeypatch.setenv("POSTLOAN_UPDATE_SCREENS", "1")
    screenshot(browser, "toolkit-tall")
    assert (tmp_path / "docs" / "toolkit-tall.png").read_bytes() == shot.read_bytes()


def test_a_wait_in_vain_says_what_it_awaited_and_shows_the_page(browser: WebDriver, site: str) -> None:
    browser.get(f"{site}/clean")
    wait_visible(browser, "#done")
    with pytest.raises(AssertionError) as failure:
        wait_text(browser, "#done", "something else", timeout=0.5)
    message = str(failure.value)
    assert "'something else' in an element '#done'" in message
    assert f"at {site}/clean" in message and "--- visible text ---\ndone" in message
