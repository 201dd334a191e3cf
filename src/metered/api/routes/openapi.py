"""GET /openapi.json: the OpenAPI 3.1 description of every route (metered.api.openapi),
without authentication, built from this app's router on the first request and kept."""

from __future__ import annotations

from typing import TYPE_CHECKING

from metered.api.http import Request, Response
from metered.api.openapi import document_bytes

if TYPE_CHECKING:
    from metered.api.app import App


def register(app: App) -> None:
    built: list[bytes] = []  # once every route is registered: at the first request

    async def openapi(request: Request) -> Response:
        if not built:
            built.append(document_bytes(app.router))
        return Response(200, built[0])

    app.router.add("GET", "/openapi.json", openapi, auth="none")
