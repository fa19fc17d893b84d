"""The owning services' HTTP APIs, called as the signed-in member of staff (their own access token): the console
decides nothing and holds no privilege of its own; each service checks the person and their roles itself."""

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from services.console.settings import Settings
from services.console.web.auth import SignInNeeded, Staff
from shared import tracing
from shared.logging import Logger

log = Logger("postloan.console.apis")


NO_SUCH = frozenset({400, 404, 422})  # a typed id or filter the service cannot look up: no such thing, to a desk


@dataclass
class Refused(Exception):
    """The owning service said no: a refusal (409: reason code, reason and facts), invalid input (422), a role it
    does not allow (403), or nothing there (404)."""

    status: int
    detail: Any = None
    reason_code: str | None = None
    reason: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, response: httpx.Response) -> "Refused":
        try:
            detail = response.json().get("detail")
        except ValueError:
            detail = None
        if isinstance(detail, dict):
            facts = detail.get("facts")
            return cls(response.status_code, detail, detail.get("reason_code"), detail.get("reason"),
                       facts if isinstance(facts, dict) else {})
        return cls(response.status_code, detail, reason=detail if isinstance(detail, str) else None)


def seg(value: str) -> str:
    """A value (a loan id typed into a form) as one path segment: `/`, `..` or `?` in it cannot reach another
    endpoint of the service."""
    if value in ("", ".", ".."):  # a dot segment would be resolved away by the client: spelled out instead
        return value.replace(".", "%2E") or "-"
    return quote(value, safe="")


class Unavailable(Exception):
    """The owning service could not be reached or failed (5xx): nothing was decided that the page can show."""


class OwningServices:
    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._bases = {"requests": settings.requests_url, "confirmation": settings.confirmation_url,
                       "appointments": settings.appointments_url}
        self._client = httpx.AsyncClient(timeout=settings.api_timeout_s, transport=transport,
                                         limits=httpx.Limits(max_connections=50, max_keepalive_connections=20))

    async def close(self) -> None:
        await self._client.aclose()

    async def call(self, staff: Staff, method: str, service: str, path: str, *, json: Any = None,
                   params: dict[str, Any] | None = None) -> httpx.Response:
        """The service's answer when it is a success (2xx); Refused, SignInNeeded or Unavailable otherwise."""
        url = f"{self._bases[service].rstrip('/')}{path}"
        # A CLIENT span named by the service, not the path (it may carry what was typed into a form); its context
        # goes along, so the owning service's span joins the page's trace.
        attributes = {"http.request.method": method, "server.address": service}
        with tracing.calling(f"{method} {service}", attributes) as traced:
            try:
                response = await self._client.request(
                    method, url, json=json, params=params,
                    headers={"authorization": f"Bearer {staff.access_token}", **traced.headers()})
            except httpx.HTTPError as exc:
                log.warning("owning_service_unreachable", service=service, error=type(exc).__name__)
                raise Unavailable(service) from None
            traced.answered(response.status_code)
        if response.status_code == 401:
            raise SignInNeeded
        if response.status_code >= 500:
            log.warning("owning_service_failed", service=service, status=response.status_code)
            raise Unavailable(service)
        if response.status_code >= 400:
            raise Refused.of(response)
        return response

    async def json(self, staff: Staff, method: str, service: str, path: str, **kwargs: Any) -> Any:
        response = await self.call(staff, method, service, path, **kwargs)
        return None if response.status_code == 204 else response.json()
