"""Headless Chromium for the browser tests: Debian's chromium driven through its own chromedriver by Selenium.

Both binaries are named explicitly, so Selenium Manager never looks for (or downloads) a browser: on this kind of
machine only Debian's packages arrive, installed by deploy/browser.sh. One browser serves a whole test run (starting
one costs seconds on 2 cores); `fresh` gives each test a clean one-window context with no cookies or storage.
"""

import base64
import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from harness.infra import ROOT

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
WINDOW = (1280, 900)
TIMEOUT_S = 30.0  # a page of the run's services or Keycloak on a busy 2-core machine (a first sign-in took 12 s)
SCREENS = ROOT / ".local" / "test" / "screens"  # every screenshot of a run (not committed)
DOCS_SCREENS = ROOT / "docs" / "screens"  # the README's tour, rewritten only with POSTLOAN_UPDATE_SCREENS=1
# Headless as root on a closed network: without the background-networking flags Chromium keeps trying Google's
# hosts, and the machine refuses those connections many at a time (docs of the machine: polyglot.md).
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--disable-dev-shm-usage", "--hide-scrollbars")
T = TypeVar("T")


def _options(user_data_dir: str, lang: str) -> webdriver.ChromeOptions:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={user_data_dir}", f"--window-size={WINDOW[0]},{WINDOW[1]}",
                 f"--lang={lang}"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"intl.accept_languages": lang})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the page's console, read by js_errors
    return options


@contextlib.contextmanager
def chromium(lang: str = "en") -> Iterator[WebDriver]:
    """A headless Chromium with a new empty profile (removed afterwards), quit on the way out."""
    with tempfile.TemporaryDirectory(prefix="postloan-chromium-") as profile:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=_options(profile, lang))
        try:
            yield driver
        finally:
            driver.quit()


def fresh(driver: WebDriver, lang: str = "en") -> WebDriver:
    """The browser as a new test should find it: one blank window with a 1280x900 viewport, no cookies, cache or
    storage left by an earlier test, no console messages, and pages asked for in `lang` (Accept-Language and
    navigator.languages, set for this tab without restarting the browser)."""
    for handle in driver.window_handles[1:]:
        driver.switch_to.window(handle)
        driver.close()
    driver.switch_to.window(driver.window_handles[0])
    driver.get("about:blank")
    driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
    driver.execute_cdp_cmd("Network.clearBrowserCache", {})
    driver.execute_cdp_cmd("Storage.clearDataForOrigin", {"origin": "*", "storageTypes": "all"})
    agent = driver.execute_cdp_cmd("Browser.getVersion", {})["userAgent"]
    driver.execute_cdp_cmd("Network.setUserAgentOverride", {"userAgent": agent, "acceptLanguage": lang})
    driver.execute_cdp_cmd("Emulation.setLocaleOverride", {})  # an override in effect refuses another: cleared first
    driver.execute_cdp_cmd("Emulation.setLocaleOverride", {"locale": lang})
    # The page's viewport itself, not the headless window around it (whose make-believe frame takes ~140 px): the
    # same layout, and the same screenshots, on every machine.
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": WINDOW[0], "height": WINDOW[1], "deviceScaleFactor": 1, "mobile": False})
    driver.get_log("browser")  # reading the log empties it: the test sees only its own pages' messages
    return driver


def page_excerpt(driver: WebDriver, limit: int = 1500) -> str:
    """Where the browser is and what it shows, for a failure message."""
    text = driver.execute_script("return document.body ? document.body.innerText : ''") or ""
    return (f"at {driver.current_url} (title {driver.title!r})\n--- visible text ---\n{text[:limit]}\n"
            f"--- source ---\n{driver.page_source[:limit]}")


def wait_for(driver: WebDriver, condition: Callable[[WebDriver], T | None], what: str,
             timeout: float = TIMEOUT_S) -> T:
    """condition's first truthy answer, polled; on timeout an AssertionError saying what was awaited and showing
    the page instead of Selenium's bare TimeoutException."""
    try:
        found = WebDriverWait(driver, timeout, poll_frequency=0.1).until(condition)
    except TimeoutException:
        raise AssertionError(f"waited {timeout:g} s for {what}, in vain; the page is {page_excerpt(driver)}") from None
    assert found is not None  # until() returns a truthy answer only
    return found


def _visible(driver: WebDriver, css: str) -> list[WebElement]:
    return [e for e in driver.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()]


def wait_visible(driver: WebDriver, css: str, timeout: float = TIMEOUT_S) -> WebElement:
    """The first displayed element matching css."""
    return wait_for(driver, lambda d: next(iter(_visible(d, css)), None), f"an element {css!r} shown", timeout)


def wait_text(driver: WebDriver, css: str, text: str, timeout: float = TIMEOUT_S) -> WebElement:
    """The first displayed element matching css whose text contains `text`."""
    return wait_for(driver, lambda d: next((e for e in _visible(d, css) if text in e.text), None),
                    f"{text!r} in an element {css!r}", timeout)


def wait_url(driver: WebDriver, predicate: Callable[[str], bool], what: str, timeout: float = TIMEOUT_S) -> str:
    """The browser's address once predicate accepts it (a redirect's end, say)."""
    return wait_for(driver, lambda d: d.current_url if predicate(d.current_url) else None, what, timeout)


def submit_login(driver: WebDriver, username: str, password: str) -> None:
    """Fills Keycloak's login form (the page must be on its way to it) and submits it."""
    wait_visible(driver, "#username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(password)
    button = driver.find_element(By.ID, "kc-login")
    button.click()
    # The next page, whatever it is: the button of the old one is gone from the document.
    wait_for(driver, expected_conditions.staleness_of(button), "the login form to be submitted")


def sign_in(driver: WebDriver, start_url: str, username: str, password: str, timeout: float = TIMEOUT_S) -> str:
    """Opens start_url, which sends a signed-out browser to Keycloak's login form, signs in there and waits to be
    back on the start URL's host with no login form shown (Keycloak shows the form again, with its error, when the
    password is wrong). Returns the URL the browser landed on."""
    driver.get(start_url)
    submit_login(driver, username, password)
    host = urlsplit(start_url).netloc
    return wait_for(
        driver, lambda d: d.current_url if urlsplit(d.current_url).netloc == host and not _visible(d, "#kc-login")
        else None, f"{username} to be signed in and back on {host}", timeout)


def js_errors(driver: WebDriver) -> list[str]:
    """The page's errors since the last call: uncaught exceptions, console.error, failed loads (SEVERE entries)."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def screenshot(driver: WebDriver, name: str) -> Path:
    """The whole page (beyond the window's height) as .local/test/screens/<name>.png, and docs/screens/<name>.png
    too when POSTLOAN_UPDATE_SCREENS=1 (the committed pictures of the README's tour)."""
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    png = base64.b64decode(driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True, "fromSurface": True,
        "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}})["data"])
    targets = [SCREENS] + ([DOCS_SCREENS] if os.environ.get("POSTLOAN_UPDATE_SCREENS") == "1" else [])
    for folder in targets:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.png").write_bytes(png)
    return SCREENS / f"{name}.png"
