"""The errors the client raises: one hierarchy mirroring Stripe's error types."""

from __future__ import annotations

from typing import Any


class MeteredError(Exception):
    """Base of every error the client raises.

    `status` is the HTTP status (None when no answer came back), `type`, `code`, `message` and
    `param` come from the server's error body, `request_id` from its `Request-Id` header.
    """

    def __init__(self, message: str, *, status: int | None = None, type: str | None = None,
                 code: str | None = None, param: str | None = None,
                 request_id: str | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.type = type
        self.code = code
        self.param = param
        self.request_id = request_id

    def __str__(self) -> str:
        code = f"{self.code}: " if self.code else ""
        param = f" (param: {self.param})" if self.param else ""
        return f"{code}{self.message}{param}"

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, "
                f"message={self.message!r}, param={self.param!r}, "
                f"request_id={self.request_id!r})")


class InvalidRequestError(MeteredError):
    """The request was wrong (400, 404, 413...): retrying it unchanged fails the same way."""


class AuthenticationError(MeteredError):
    """No API key, or one the server does not know (401)."""


class IdempotencyError(MeteredError):
    """An Idempotency-Key was reused with another request body."""


class RateLimitError(MeteredError):
    """Too many requests (429), still failing after the retries."""


class APIError(MeteredError):
    """The server failed (5xx). Whether it applied the request is unknown: retrying with the
    same identifiers and Idempotency-Key is safe."""


class APIConnectionError(MeteredError):
    """No answer from the server (connection refused, reset, timed out). As for APIError, the
    outcome is unknown and retrying with the same identifiers is safe."""


_BY_TYPE: dict[str, type[MeteredError]] = {
    "invalid_request_error": InvalidRequestError,
    "authentication_error": AuthenticationError,
    "idempotency_error": IdempotencyError,
    "rate_limit_error": RateLimitError,
    "api_error": APIError,
}


def error_from_answer(status: int, body: Any, request_id: str | None) -> MeteredError:
    """The error for a non-2xx answer; `body` is the decoded JSON, or None if it wasn't JSON."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        cls = _class_for_status(status)
        return cls(f"HTTP {status} without an error body", status=status, request_id=request_id)
    kind = error.get("type") if isinstance(error.get("type"), str) else None
    cls = _BY_TYPE.get(kind or "", _class_for_status(status))
    if status == 429:
        cls = RateLimitError
    return cls(
        _text(error.get("message")) or f"HTTP {status}",
        status=status, type=kind, code=_text(error.get("code")),
        param=_text(error.get("param")), request_id=request_id,
    )


def _class_for_status(status: int) -> type[MeteredError]:
    if status == 401:
        return AuthenticationError
    if status == 429:
        return RateLimitError
    if status >= 500:
        return APIError
    return InvalidRequestError


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
