"""The one error hierarchy, mirroring Stripe's error types; the API maps it to HTTP in one place."""

from __future__ import annotations


class MeteredError(Exception):
    """Base of every error a client can see. `type` and `status` follow Stripe."""

    type = "api_error"
    status = 500

    def __init__(self, message: str, *, code: str | None = None, param: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param

    def to_wire(self) -> dict[str, object]:
        body: dict[str, object] = {"type": self.type, "message": self.message}
        if self.code is not None:
            body["code"] = self.code
        if self.param is not None:
            body["param"] = self.param
        return {"error": body}


class InvalidRequestError(MeteredError):
    type = "invalid_request_error"
    status = 400


class NotFoundError(InvalidRequestError):
    status = 404

    def __init__(self, message: str, *, param: str | None = "id", code: str = "resource_missing"):
        super().__init__(message, code=code, param=param)


class ConflictError(InvalidRequestError):
    status = 409


class InsufficientCreditError(InvalidRequestError):
    """A credit hold for more than the customer's available balance (402, as a payment that
    cannot be made)."""

    status = 402


class PayloadTooLargeError(InvalidRequestError):
    status = 413


class AuthenticationError(MeteredError):
    type = "authentication_error"
    status = 401


class IdempotencyError(MeteredError):
    type = "idempotency_error"
    status = 400


class IdempotencyInFlightError(IdempotencyError):
    status = 409


class RateLimitError(MeteredError):
    type = "rate_limit_error"
    status = 429

    def __init__(self, message: str, *, code: str | None = None, param: str | None = None,
                 retry_after: float = 1.0):
        super().__init__(message, code=code, param=param)
        self.retry_after = retry_after  # seconds: answered as Retry-After


class ApiError(MeteredError):
    type = "api_error"
    status = 500


class ServiceUnavailableError(ApiError):
    status = 503


def invalid_param(param: str, message: str, code: str = "parameter_invalid") -> InvalidRequestError:
    return InvalidRequestError(message, code=code, param=param)


def missing_param(param: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"Missing required param: {param}.", code="parameter_missing", param=param
    )
