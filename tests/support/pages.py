"""Walks a paged list endpoint of a service (`items` and `next_cursor`) to its end."""

from typing import Any

import httpx


async def every_item(client: httpx.AsyncClient, url: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a paged list, page after page, in the list's order (fails on any non-200 page)."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        response = await client.get(url, params={**params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, (url, response.status_code, response.text)
        body = response.json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items
