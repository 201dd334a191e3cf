"""Errors the client raises, mirroring the server's (and Stripe's) error types."""

from __future__ import annotations


class MeteredError(Exception):
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
        where = f" (param {self.param})" if self.param else ""
        code = f"{self.code}: " if self.code else ""
        return f"{code}{self.message}{where}"


class InvalidRequestError(MeteredError):
    pass


class AuthenticationError(MeteredError):
    pass


class IdempotencyError(MeteredError):
    pass


class RateLimitError(MeteredError):
    pass


class APIError(MeteredError):
    """The server failed (5xx); retrying with the same identifiers is safe."""


class APIConnectionError(MeteredError):
    """No answer from the server; retrying with the same identifiers is safe."""


_BY_TYPE: dict[str, type[MeteredError]] = {
    "invalid_request_error": InvalidRequestError,
    "authentication_error": AuthenticationError,
    "idempotency_error": IdempotencyError,
    "rate_limit_error": RateLimitError,
    "api_error": APIError,
}


def error_from_body(status: int, body: object, request_id: str | None) -> MeteredError:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return APIError(f"HTTP {status} without an error body", status=status,
                        request_id=request_id)
    kind = str(error.get("type") or "api_error")
    cls = _BY_TYPE.get(kind, APIError)
    if status == 429:
        cls = RateLimitError
    return cls(str(error.get("message") or kind), status=status, type=kind,
               code=error.get("code"), param=error.get("param"), request_id=request_id)
