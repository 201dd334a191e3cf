"""Webhook endpoints (Stripe's /v1/webhook_endpoints): where an account's events are sent.

An endpoint listens to a list of event types (or "*": all of them) in its account and mode;
its secret signs every delivery and is shown once, when the endpoint is created.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from metered.accounts import Caller
from metered.billing.metadata import merge_metadata
from metered.errors import InvalidRequestError, NotFoundError, invalid_param
from metered.ids import new_id, random_token
from metered.store.pages import PageRequest, fetch_page
from metered.webhooks.events import EVENT_TYPES, WILDCARD

MAX_ENDPOINTS = 16  # per account and mode, as on Stripe
MAX_URL_LENGTH = 2048

_COLUMNS = ("pk, id, account_pk, livemode, url, enabled_events, secret, status, description,"
            " metadata, created, deleted")


@dataclass(frozen=True, slots=True)
class WebhookEndpoint:
    pk: int
    id: str
    account_pk: int
    livemode: bool
    url: str
    enabled_events: list[str]
    secret: str
    status: str  # enabled or disabled
    description: str | None
    metadata: dict[str, str]
    created: int
    deleted: bool

    def to_wire(self, *, with_secret: bool = False) -> dict[str, Any]:
        """The secret is part of the object only in the answer to its creation."""
        if self.deleted:
            return {"id": self.id, "object": "webhook_endpoint", "deleted": True}
        wire: dict[str, Any] = {
            "id": self.id,
            "object": "webhook_endpoint",
            "api_version": None,  # the account's: events are rendered in API_VERSION
            "application": None,
            "created": self.created,
            "description": self.description,
            "enabled_events": self.enabled_events,
            "livemode": self.livemode,
            "metadata": self.metadata,
            "status": self.status,
            "url": self.url,
        }
        if with_secret:
            wire["secret"] = self.secret
        return wire


def _row(row: tuple[Any, ...]) -> WebhookEndpoint:
    values = list(row)
    values[3] = bool(values[3])
    values[5] = json.loads(values[5])
    values[9] = json.loads(values[9])
    values[11] = bool(values[11])
    return WebhookEndpoint(*values)


@dataclass(slots=True)
class EndpointChanges:
    url: str | None = None
    enabled_events: list[str] | None = None
    disabled: bool | None = None
    description: str | None = None  # "" clears it
    metadata: dict[str, str] | None = None
    provided: set[str] = field(default_factory=set)


def check_url(url: str, param: str = "url") -> str:
    """An absolute http or https URL (any host: loopback ones serve local receivers)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
        httpx.URL(url)  # what the dispatcher will send to
    except (ValueError, httpx.InvalidURL):
        parts = None
    if (parts is None or parts.scheme not in ("http", "https") or not parts.hostname
            or len(url) > MAX_URL_LENGTH or any(c.isspace() for c in url)):
        raise invalid_param(param, f"Invalid URL: {url[:200]!r} must be an absolute http or"
                            f" https URL of at most {MAX_URL_LENGTH} characters.",
                            code="url_invalid")
    return url


def check_enabled_events(values: list[str], param: str = "enabled_events") -> list[str]:
    """Known event types or "*", each once, in the order given."""
    if not values:
        raise invalid_param(param, f"Missing required param: {param} (at least one event"
                            " type, or '*').", code="parameter_missing")
    known = set(EVENT_TYPES)
    for i, value in enumerate(values):
        if value != WILDCARD and value not in known:
            raise invalid_param(
                f"{param}[{i}]", f"Invalid {param}[{i}]: unknown event type '{value[:100]}';"
                f" must be '*' or one of {', '.join(EVENT_TYPES)}.")
    return list(dict.fromkeys(values))


def create_endpoint(conn: sqlite3.Connection, caller: Caller, changes: EndpointChanges,
                    at: int) -> WebhookEndpoint:
    assert changes.url is not None and changes.enabled_events is not None
    (count,) = conn.execute(
        "SELECT COUNT(*) FROM webhook_endpoints WHERE account_pk=? AND livemode=? AND deleted=0",
        (caller.account_pk, caller.livemode)).fetchone()
    if count >= MAX_ENDPOINTS:
        raise InvalidRequestError(
            f"An account can have at most {MAX_ENDPOINTS} webhook endpoints per mode: delete"
            " one first.", code="webhook_endpoint_limit_reached")
    cur = conn.execute(
        f"INSERT INTO webhook_endpoints ({_COLUMNS.removeprefix('pk, ')})"
        " VALUES (?,?,?,?,?,?,?,?,?,?,0)",
        (new_id("we"), caller.account_pk, caller.livemode, changes.url,
         json.dumps(changes.enabled_events), f"whsec_{random_token(32)}",
         "disabled" if changes.disabled else "enabled", changes.description or None,
         json.dumps({k: v for k, v in (changes.metadata or {}).items() if v != ""}), at),
    )
    assert cur.lastrowid is not None
    return _by_pk(conn, cur.lastrowid)


def _by_pk(conn: sqlite3.Connection, pk: int) -> WebhookEndpoint:
    row = conn.execute(f"SELECT {_COLUMNS} FROM webhook_endpoints WHERE pk=?", (pk,)).fetchone()
    assert row is not None
    return _row(row)


def get_endpoint(conn: sqlite3.Connection, caller: Caller, endpoint_id: str) -> WebhookEndpoint:
    """A live endpoint of the caller's account and mode (a deleted one is no such endpoint)."""
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM webhook_endpoints WHERE id=? AND account_pk=? AND livemode=?"
        " AND deleted=0", (endpoint_id, caller.account_pk, caller.livemode),
    ).fetchone()
    if row is None:
        raise NotFoundError(f"No such webhook endpoint: '{endpoint_id}'")
    return _row(row)


def update_endpoint(conn: sqlite3.Connection, caller: Caller, endpoint_id: str,
                    changes: EndpointChanges) -> WebhookEndpoint:
    """Deliveries already queued keep going to the endpoint; a disabled or deleted endpoint
    gets none (the dispatcher drops its pending ones)."""
    endpoint = get_endpoint(conn, caller, endpoint_id)
    given = changes.provided
    status = endpoint.status
    if "disabled" in given and changes.disabled is not None:
        status = "disabled" if changes.disabled else "enabled"
    conn.execute(
        "UPDATE webhook_endpoints SET url=?, enabled_events=?, status=?, description=?,"
        " metadata=? WHERE pk=?",
        (changes.url if "url" in given else endpoint.url,
         json.dumps(changes.enabled_events if "enabled_events" in given
                    else endpoint.enabled_events),
         status,
         (changes.description or None) if "description" in given else endpoint.description,
         json.dumps(merge_metadata(endpoint.metadata, changes.metadata, "metadata" in given)),
         endpoint.pk),
    )
    return _by_pk(conn, endpoint.pk)


def delete_endpoint(conn: sqlite3.Connection, caller: Caller, endpoint_id: str
                    ) -> WebhookEndpoint:
    endpoint = get_endpoint(conn, caller, endpoint_id)
    conn.execute("UPDATE webhook_endpoints SET deleted=1 WHERE pk=?", (endpoint.pk,))
    return _by_pk(conn, endpoint.pk)


def list_endpoints(conn: sqlite3.Connection, caller: Caller, page: PageRequest
                   ) -> tuple[list[WebhookEndpoint], bool]:
    result = fetch_page(conn, f"SELECT {_COLUMNS} FROM webhook_endpoints",
                        "account_pk=? AND livemode=? AND deleted=0",
                        (caller.account_pk, caller.livemode), page)
    return [_row(r) for r in result.rows], result.has_more
