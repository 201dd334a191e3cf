"""Liveness without authentication."""

from __future__ import annotations

from typing import TYPE_CHECKING

from metered.api.http import Request, Response

if TYPE_CHECKING:
    from metered.api.app import App


def register(app: App) -> None:
    async def healthz(request: Request) -> Response:
        return Response.json({"status": "ok"})

    app.router.add("GET", "/healthz", healthz, auth="none")
