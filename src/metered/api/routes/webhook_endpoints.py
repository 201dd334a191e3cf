"""/v1/webhook_endpoints: create, retrieve, update, list, delete."""

from __future__ import annotations

from typing import TYPE_CHECKING

from metered.api.expand import check_expand
from metered.api.http import Request, Response
from metered.api.pagination import list_envelope, page_request
from metered.api.params import Params
from metered.clock import now_seconds
from metered.errors import invalid_param
from metered.webhooks import API_VERSION
from metered.webhooks import endpoints as domain

if TYPE_CHECKING:
    import sqlite3

    from metered.api.app import App

OBJECT = "webhook_endpoint"
URL = "/v1/webhook_endpoints"


def _changes(params: Params, *, creating: bool) -> domain.EndpointChanges:
    changes = domain.EndpointChanges(
        description=params.str("description", max_length=5000),
        metadata=params.metadata(),
    )
    url = params.str("url", required=creating, max_length=domain.MAX_URL_LENGTH)
    if url is not None:
        changes.url = domain.check_url(url)
    if creating or "enabled_events" in params:
        changes.enabled_events = domain.check_enabled_events(params.str_list("enabled_events"))
    if not creating:
        changes.disabled = params.bool("disabled")
    changes.provided = {k for k in ("url", "enabled_events", "disabled", "description",
                                    "metadata") if k in params}
    return changes


def _check_create_only(params: Params) -> None:
    """Stripe's create takes an API version and Connect; this server has one of each."""
    version = params.str("api_version", max_length=100)
    if version is not None and version != API_VERSION:
        raise invalid_param("api_version", f"Events are rendered in API version {API_VERSION}"
                            f" only, not {version[:100]}.")
    if params.bool("connect"):
        raise invalid_param("connect", "Connect webhook endpoints are not supported.")


def register(app: App) -> None:
    def render(endpoint: domain.WebhookEndpoint) -> Response:
        return Response.json(endpoint.to_wire())

    async def create(request: Request) -> Response:
        caller = request.require_caller
        params = request.params()
        params.reject_unknown(("url", "enabled_events", "description", "metadata",
                               "api_version", "connect"))
        check_expand(params, OBJECT)
        _check_create_only(params)
        changes = _changes(params, creating=True)
        _, response = await app.write(
            request, lambda conn: domain.create_endpoint(conn, caller, changes, now_seconds()),
            lambda endpoint: Response.json(endpoint.to_wire(with_secret=True)),
        )
        return response

    async def retrieve(request: Request) -> Response:
        params = request.params()
        params.reject_unknown(())
        check_expand(params, OBJECT)
        return render(domain.get_endpoint(app.engine.reader(), request.require_caller,
                                          request.path_params["id"]))

    async def update(request: Request) -> Response:
        caller = request.require_caller
        params = request.params()
        params.reject_unknown(("url", "enabled_events", "disabled", "description", "metadata"))
        check_expand(params, OBJECT)
        changes = _changes(params, creating=False)
        endpoint_id = request.path_params["id"]

        def run(conn: sqlite3.Connection) -> domain.WebhookEndpoint:
            return domain.update_endpoint(conn, caller, endpoint_id, changes)

        _, response = await app.write(request, run, render)
        return response

    async def list_(request: Request) -> Response:
        params = request.params()
        params.reject_unknown(("limit", "starting_after", "ending_before"))
        check_expand(params, OBJECT, is_list=True)
        conn = app.engine.reader()
        page = page_request(params, conn, "webhook_endpoints", request.require_caller)
        endpoints, has_more = domain.list_endpoints(conn, request.require_caller, page)
        return Response.json(list_envelope(URL, [e.to_wire() for e in endpoints], has_more))

    async def delete(request: Request) -> Response:
        caller = request.require_caller
        request.params().reject_unknown(())
        endpoint_id = request.path_params["id"]
        _, response = await app.write(
            request, lambda conn: domain.delete_endpoint(conn, caller, endpoint_id), render)
        return response

    app.router.add("POST", URL, create)
    app.router.add("GET", URL, list_)
    app.router.add("GET", URL + "/{id}", retrieve)
    app.router.add("POST", URL + "/{id}", update)
    app.router.add("DELETE", URL + "/{id}", delete)
