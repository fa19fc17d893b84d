"""The pages (being written by the lead; this base only lets the service start)."""

from fastapi import FastAPI

from services.console.settings import Settings
from shared.runtime import ServiceRuntime


def install(app: FastAPI, runtime: ServiceRuntime, settings: Settings) -> None:
    return None
