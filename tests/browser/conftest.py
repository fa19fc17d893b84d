"""Browser tests: one headless Chromium for the whole run (tests/support/browser.py), a clean context per test.

`browser` is what a test asks for: the run's browser, emptied of what earlier tests left (cookies, storage, extra
windows) and asking for English pages; `identity` is the run's real Keycloak (started with the broker and the
database by the `infra` fixture of tests/conftest.py). A failing browser test leaves a screenshot of the page it was
on in .local/test/screens/failed-<test>.png.
"""

import contextlib
import re
import time
from collections.abc import Generator, Iterator
from typing import Any

import pytest
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.webdriver import WebDriver

from harness.infra import Infra
from harness.keycloak import Identity
from tests.conftest import FIGURES
from tests.support import auth
from tests.support.browser import chromium, fresh, screenshot


@pytest.fixture(scope="session")
def chromium_session() -> Iterator[WebDriver]:
    started = time.monotonic()
    with chromium() as driver:
        FIGURES["browser start (ms)"] = round((time.monotonic() - started) * 1000)
        yield driver


@pytest.fixture
def browser(chromium_session: WebDriver) -> WebDriver:
    return fresh(chromium_session)


@pytest.fixture(scope="session")
def identity(infra: Infra) -> Identity:
    return auth.identity()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    driver = getattr(item, "funcargs", {}).get("browser")
    if report.when == "call" and report.failed and driver is not None:
        with contextlib.suppress(WebDriverException):  # a browser that died with the test leaves no picture
            screenshot(driver, "failed-" + re.sub(r"[^\w.-]+", "_", item.name))
    return report
