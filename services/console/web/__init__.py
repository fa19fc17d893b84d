"""The console's pages: sign-in through the realm (authorization code + PKCE), one role per page, three
languages, live updates over server-sent events."""

import warnings

from authlib.deprecate import AuthlibDeprecationWarning
from fastapi import FastAPI

from services.console.settings import Settings
from shared.runtime import ServiceRuntime

# authlib 1.9 warns at import that it prefers the httpx2 package; httpx (the project's HTTP client) is what it runs on.
warnings.filterwarnings("ignore", message="The httpx module is deprecated", category=AuthlibDeprecationWarning)


def mount(app: FastAPI, runtime: ServiceRuntime, settings: Settings) -> None:
    """Adds the pages to the service's HTTP app (called once, when the app is built)."""
    from services.console.web.site import install

    install(app, runtime, settings)
