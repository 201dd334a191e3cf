"""Minimal request/response types and a router, on raw ASGI (no framework on the hot path)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import msgspec

from metered.accounts import Caller
from metered.api import limits
from metered.api.idempotency import Idempotency
from metered.api.params import Params, decode_form, decode_query
from metered.errors import InvalidRequestError
from metered.ingest.batches import too_deep

_encoder = msgspec.json.Encoder(decimal_format="number")
encode_json = _encoder.encode
_json_decoder = msgspec.json.Decoder()


def json_number(value: Decimal | int) -> msgspec.Raw | int:
    """An exact JSON number in plain digits: 0.000000000001, never 1E-12 (str(Decimal)'s form)."""
    if isinstance(value, int):
        return value
    return msgspec.Raw(format(value, "f").encode())


@dataclass(slots=True)
class Response:
    status: int
    body: bytes
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)

    @classmethod
    def json(cls, obj: Any, status: int = 200) -> Response:
        return cls(status, encode_json(obj))


@dataclass(slots=True)
class Request:
    method: str
    path: str
    query_string: bytes
    headers: dict[str, str]
    body: bytes
    path_params: dict[str, str] = field(default_factory=dict)
    caller: Caller | None = None
    idempotency_key: str | None = None
    idempotency: Idempotency | None = None
    request_id: str = ""
    expected: bool = False  # announced to the group commit, not yet handed to it
    # Stages of the work done for this request, in milliseconds: sent as Server-Timing.
    timings: list[tuple[str, float]] = field(default_factory=list)
    # Distributed mode: the log positions of the events this request wrote (answered as the
    # Metered-Consistency-Token header, whatever the route's answer).
    consistency: str | None = None
    _params: Params | None = None

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def json_body(self) -> Any:
        try:
            return _json_decoder.decode(self.body)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:  # msgspec raises both
            raise InvalidRequestError(
                f"Invalid JSON body: {exc}.", code="parameter_invalid_json"
            ) from exc
        except RecursionError as exc:  # nested past the decoder's bound (~1,000 levels)
            raise too_deep("The JSON body") from exc

    def params(self) -> Params:
        """Query parameters for GET/DELETE, the body (form or JSON) for POST."""
        if self._params is None:
            if self.method in ("GET", "DELETE") or not self.body:
                data = decode_query(self.query_string)
                if self.method not in ("GET", "DELETE") and self.body == b"":
                    data = data or {}
            elif self.content_type == "application/json":
                data = self.json_body()
                if not isinstance(data, dict):
                    raise InvalidRequestError("The JSON body must be an object.")
            else:
                data = decode_form(self.body)
            self._params = Params(data)
        return self._params

    @property
    def require_caller(self) -> Caller:
        assert self.caller is not None
        return self.caller


Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    auth: str  # "secret", "session" or "none"
    max_body: int
    ingest: bool  # writes meter events: announced to the group commit on arrival


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []
        # Matches of paths without parameters (e.g. POST /v1/billing/meter_events), which are
        # finitely many: most requests then skip the scan of every route's pattern.
        self._fixed: dict[tuple[str, str], Route] = {}

    def add(self, method: str, path: str, handler: Handler, *, auth: str = "secret",
            max_body: int = limits.MAX_BODY_BYTES, ingest: bool = False) -> None:
        regex = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$"
        self.routes.append(Route(method, re.compile(regex), handler, auth, max_body, ingest))
        self._fixed.clear()

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """(route, path params, whether the path exists with another method)."""
        fixed = self._fixed.get((method, path))
        if fixed is not None:
            return fixed, {}, True
        route, params, path_exists = self._scan(method, path)
        if route is not None and route.pattern.groups == 0:
            self._fixed[(method, path)] = route
        return route, params, path_exists

    def _scan(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        path_exists = False
        for route in self.routes:
            m = route.pattern.match(path)
            if m is None:
                continue
            if route.method == method:
                return route, m.groupdict(), True
            path_exists = True
        return None, {}, path_exists
