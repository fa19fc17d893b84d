"""Senders, one per channel: the local sender (records only) and an HTTP webhook sender for real gateways.

A sender only sends; when and how often to try is decided by the delivery worker.
"""

from dataclasses import dataclass
from typing import Protocol

import httpx
from pydantic import SecretStr

from services.notifier.domain import Delivery
from shared import tracing


@dataclass(frozen=True)
class Outgoing:
    notification_id: str
    channel: str
    recipient: str
    contact: str | None
    template: str
    language: str
    body: str

    @classmethod
    def of(cls, delivery: Delivery) -> "Outgoing":
        return cls(delivery.notification_id, delivery.channel, delivery.customer_id, delivery.contact,
                   delivery.template, delivery.language, delivery.body)


class SendFailed(Exception):
    """The gateway did not accept the message; the worker retries later."""


class Sender(Protocol):
    async def send(self, message: Outgoing) -> None: ...


class LocalSender:
    """The default for local runs and tests: the delivery row in the database is the message."""

    async def send(self, message: Outgoing) -> None:
        return None


class WebhookSender:
    """POSTs the message as JSON to a gateway; the notification id is the idempotency key."""

    def __init__(self, url: str, *, timeout: float, auth_header: SecretStr | None, client: httpx.AsyncClient) -> None:
        self._url = url
        self._timeout = timeout
        self._auth = auth_header
        self._client = client

    async def send(self, message: Outgoing) -> None:
        headers = {"Idempotency-Key": message.notification_id}
        if self._auth is not None:
            headers["Authorization"] = self._auth.get_secret_value()
        payload = {"notification_id": message.notification_id, "channel": message.channel, "to": message.contact,
                   "recipient": message.recipient, "template": message.template, "language": message.language,
                   "body": message.body}
        with tracing.calling(f"POST {message.channel} gateway", {"http.request.method": "POST",
                             "postloan.notification_id": message.notification_id}) as call:
            try:
                response = await self._client.post(self._url, json=payload, headers={**headers, **call.headers()},
                                                   timeout=self._timeout)
            except httpx.HTTPError as exc:
                raise SendFailed(f"{type(exc).__name__} calling the {message.channel} gateway") from exc
            call.answered(response.status_code)
        if response.status_code >= 300:
            raise SendFailed(f"the {message.channel} gateway answered {response.status_code}")
