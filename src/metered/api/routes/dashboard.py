"""The dashboard's page and its static files, without authentication: the page asks for a
secret key and calls the JSON API with it (metered.dashboard)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from metered.api.http import Request, Response
from metered.dashboard import static_file
from metered.errors import NotFoundError

if TYPE_CHECKING:
    from metered.api.app import App

# The page holds no secret, but keeps one in sessionStorage: no framing by other sites, no
# script from anywhere else.
_HEADERS = [
    (b"cache-control", b"no-cache"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy",
     b"default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'"),
]


def _serve(name: str) -> Response:
    found = static_file(name)
    if found is None:
        raise NotFoundError(f"No such dashboard file: '{name}'", param="name")
    body, content_type = found
    return Response(200, body, [(b"content-type", content_type.encode()), *_HEADERS])


def register(app: App) -> None:
    async def page(request: Request) -> Response:
        return _serve("index.html")

    async def static(request: Request) -> Response:
        return _serve(request.path_params["name"])

    app.router.add("GET", "/dashboard", page, auth="none")
    app.router.add("GET", "/dashboard/static/{name}", static, auth="none")
