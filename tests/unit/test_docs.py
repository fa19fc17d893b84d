"""The committed AsyncAPI and OpenAPI documents match the code (regenerate with `postloan docs`)."""

import json

import pytest

from cli.docs import SERVICES, documents, path, render


@pytest.mark.parametrize("service", SERVICES)
def test_the_committed_documents_match_the_code(service: str) -> None:
    for kind, document in documents(service).items():
        committed = path(kind, service)
        assert committed.exists(), f"{committed} is missing: run `postloan docs`"
        assert committed.read_text(encoding="utf-8") == render(document), f"{committed} drifted: run `postloan docs`"


def test_each_asyncapi_document_names_what_the_service_consumes_and_produces() -> None:
    produced = {"requests": "requests.events", "confirmation": "confirmation.events",
                "appointments": "appointments.events", "notifier": "notifications.events"}
    for service, topic in produced.items():
        text = json.dumps(documents(service)["asyncapi"])
        assert topic in text and "RequestSubmitted" in json.dumps(documents("requests")["asyncapi"])
