/**
 * The errors the client throws: one hierarchy mirroring Stripe's error types
 * (`invalid_request_error`, `authentication_error`, `idempotency_error`, `rate_limit_error`,
 * `api_error`), plus the client's own: no answer at all, and the event sender's conditions.
 */

/** The `type` of a Stripe-style error body. */
export type ErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "idempotency_error"
  | "rate_limit_error"
  | "api_error";

export interface MeteredErrorFields {
  /** The HTTP status; undefined when no answer came back. */
  status?: number | undefined;
  type?: string | undefined;
  code?: string | undefined;
  param?: string | undefined;
  /** The answer's `Request-Id` header: quote it when reporting a problem. */
  requestId?: string | undefined;
  cause?: unknown;
}

/** Base of every error the client throws. */
export class MeteredError extends Error {
  readonly status: number | undefined;
  readonly type: string | undefined;
  readonly code: string | undefined;
  readonly param: string | undefined;
  readonly requestId: string | undefined;

  constructor(message: string, fields: MeteredErrorFields = {}) {
    super(message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.name = new.target.name;
    this.status = fields.status;
    this.type = fields.type;
    this.code = fields.code;
    this.param = fields.param;
    this.requestId = fields.requestId;
  }
}

/** The request was wrong (400, 402, 404, 413...): sending it again unchanged fails the same way. */
export class InvalidRequestError extends MeteredError {}

/** No API key, or one the server does not know (401). */
export class AuthenticationError extends MeteredError {}

/** An Idempotency-Key was reused with another request (400), or is still being served (409). */
export class IdempotencyError extends MeteredError {}

/** Too many requests (429), still refused after the retries. */
export class RateLimitError extends MeteredError {}

/**
 * The server failed (5xx), or answered something that is not the expected JSON. Whether it
 * applied the request is unknown: sending it again with the same identifiers is safe.
 */
export class ApiError extends MeteredError {}

/**
 * No answer (connection refused or reset, DNS, timeout). As for ApiError the outcome is
 * unknown, and sending the same events again is safe: they keep their identifiers.
 */
export class ApiConnectionError extends MeteredError {}

/**
 * One event of a batch that the server refused (its `code` says why: `no_meter`,
 * `meter_event_customer_not_found`, `timestamp_too_far_in_past`...). Given to the event
 * sender's `onError`; the other events of the batch were not affected.
 */
export class EventRejectedError extends InvalidRequestError {
  /** The event's identifier (as sent: the sender gives every event one). */
  readonly identifier: string | undefined;

  constructor(message: string, fields: MeteredErrorFields & { identifier?: string | undefined }) {
    super(message, { ...fields, type: fields.type ?? "invalid_request_error" });
    this.identifier = fields.identifier;
  }
}

/** `events.send()` in `onFull: "throw"` mode while `maxBufferedEvents` are not yet acknowledged. */
export class BufferFullError extends MeteredError {}

/** `events.send()` after `close()`. */
export class SenderClosedError extends MeteredError {}

/**
 * `events.flush()` (or `close()`): some events sent before it could not be delivered, after
 * every retry. Each was also given to `onError` with the error that stopped it; they kept
 * their identifiers, so sending them again can never count one twice.
 */
export class EventDeliveryError extends MeteredError {
  readonly failedEvents: number;

  constructor(message: string, failedEvents: number, cause: unknown) {
    super(message, {
      cause,
      ...(cause instanceof MeteredError
        ? { status: cause.status, type: cause.type, code: cause.code, requestId: cause.requestId }
        : {}),
    });
    this.failedEvents = failedEvents;
  }
}

const BY_TYPE: Record<string, new (message: string, fields: MeteredErrorFields) => MeteredError> = {
  invalid_request_error: InvalidRequestError,
  authentication_error: AuthenticationError,
  idempotency_error: IdempotencyError,
  rate_limit_error: RateLimitError,
  api_error: ApiError,
};

/** The error for a non-2xx answer; `body` is the decoded JSON, or undefined if it wasn't JSON. */
export function errorFromAnswer(
  status: number,
  body: unknown,
  requestId: string | undefined,
): MeteredError {
  const error = isRecord(body) && isRecord(body["error"]) ? body["error"] : undefined;
  if (error === undefined) {
    const Class = classForStatus(status);
    return new Class(`HTTP ${status} without an error body`, { status, requestId });
  }
  const type = text(error["type"]);
  const Class = status === 429 ? RateLimitError : (BY_TYPE[type ?? ""] ?? classForStatus(status));
  return new Class(text(error["message"]) ?? `HTTP ${status}`, {
    status,
    type,
    code: text(error["code"]),
    param: text(error["param"]),
    requestId,
  });
}

function classForStatus(
  status: number,
): new (message: string, fields: MeteredErrorFields) => MeteredError {
  if (status === 401) return AuthenticationError;
  if (status === 429) return RateLimitError;
  if (status >= 500) return ApiError;
  return InvalidRequestError;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function text(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}
