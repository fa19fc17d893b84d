"""The browser toolkit against the run's real Keycloak: its own account console signs a test user in through the
realm's login form (authorization code flow with PKCE), the way the staff console's pages will."""

import secrets
import time
from urllib.parse import urlencode

import pytest
from selenium.webdriver.chrome.webdriver import WebDriver

from harness.keycloak import Identity
from tests.conftest import FIGURES
from tests.support.browser import js_errors, screenshot, sign_in, submit_login, wait_text, wait_visible

pytestmark = pytest.mark.browser
ERROR = ".kc-feedback-text"  # where Keycloak's login page says what went wrong


def _session_cookies(driver: WebDriver) -> set[str]:
    return {c["name"] for c in driver.get_cookies()} & {"KEYCLOAK_IDENTITY", "KEYCLOAK_SESSION"}


def test_a_user_signs_in_through_keycloaks_login_form(browser: WebDriver, identity: Identity) -> None:
    user = identity.user("t-browser")
    started = time.monotonic()
    landed = sign_in(browser, f"{identity.issuer}/account", user, identity.password(user))
    wait_text(browser, '[data-testid="options-toggle"]', f"{user} test")  # the account console's own header
    FIGURES["browser sign-in (ms)"] = round((time.monotonic() - started) * 1000)

    assert landed.startswith(f"{identity.issuer}/account")
    assert _session_cookies(browser) == {"KEYCLOAK_IDENTITY", "KEYCLOAK_SESSION"}
    assert js_errors(browser) == []
    screenshot(browser, "keycloak-account")


def test_a_wrong_password_stays_on_the_login_form_with_keycloaks_error(browser: WebDriver,
                                                                       identity: Identity) -> None:
    # A user of its own: the realm's brute-force guard counts this failure against nobody else.
    user, wrong = identity.user("t-browser-wrong"), secrets.token_urlsafe(12)
    browser.get(f"{identity.issuer}/account")
    submit_login(browser, user, wrong)

    wait_text(browser, ERROR, "Invalid username or password.")
    assert "/login-actions/authenticate" in browser.current_url
    assert wait_visible(browser, "#kc-login").is_enabled()
    assert wait_visible(browser, "#password").get_attribute("value") == ""
    assert wrong not in browser.page_source
    assert _session_cookies(browser) == set()
    screenshot(browser, "keycloak-wrong-password")


def test_keycloak_sends_no_console_sign_in_to_a_foreign_address(browser: WebDriver, identity: Identity) -> None:
    """An attacker's link that would hand the staff console's authorization code to a site of theirs."""
    query = urlencode({"client_id": "postloan-console", "response_type": "code", "scope": "openid",
                       "redirect_uri": "http://127.0.0.1.attacker.invalid/callback", "state": "s",
                       "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                       "code_challenge_method": "S256"})
    browser.get(f"{identity.issuer}/protocol/openid-connect/auth?{query}")

    wait_text(browser, "body", "Invalid parameter: redirect_uri")
    assert browser.current_url.startswith(identity.issuer)
    assert not browser.find_elements("css selector", "#kc-login")
