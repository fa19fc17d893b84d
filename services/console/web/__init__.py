"""The console's pages: sign-in through the realm (authorization code + PKCE), one role per page, three
languages, live updates over server-sent events."""

from fastapi import FastAPI

from services.console.settings import Settings
from shared.runtime import ServiceRuntime


def mount(app: FastAPI, runtime: ServiceRuntime, settings: Settings) -> None:
    """Adds the pages to the service's HTTP app (called once, when the app is built)."""
    from services.console.web.site import install

    install(app, runtime, settings)
