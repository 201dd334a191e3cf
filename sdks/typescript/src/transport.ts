/**
 * The HTTP transport: one API call over `fetch`, with a timeout per attempt, retries under a
 * `RetryPolicy`, and the answer decoded as JSON (exact decimals kept) or turned into a
 * `MeteredError`. Uses only fetch, AbortController, setTimeout and crypto.randomUUID, so it
 * runs on Node 20+, Deno, Bun, browsers and edge runtimes.
 */

import { ApiConnectionError, ApiError, errorFromAnswer, type MeteredError } from "./errors.js";
import { type RetryPolicy, retryableStatus, retryDelayMs } from "./retries.js";
import { encodeForm } from "./wire/form.js";
import { parseAnswer } from "./wire/json.js";

/** The subset of `fetch` the client uses; pass your own to add logging, proxies or faults. */
export type Fetch = (url: string, init: RequestInit) => Promise<Response>;

/** Per-call options, the last argument of every resource method. */
export interface RequestOptions {
  /** Sent as `Idempotency-Key` on a POST (default: a fresh uuid, the same on every retry). */
  idempotencyKey?: string;
  /** This call's timeout per attempt, instead of the client's `timeoutMs`. */
  timeoutMs?: number;
  /** This call's retries, instead of the client's `maxRetries`. */
  maxRetries?: number;
  /** Aborts the call (and its retries); the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** One API call, before encoding. */
export interface ApiRequest {
  method: "GET" | "POST" | "DELETE";
  path: string;
  /** Query parameters (GET and DELETE), bracket-encoded like a form. */
  query?: object | undefined;
  /** Form parameters of a POST. */
  form?: object | undefined;
  /** A JSON body for a POST, already encoded (the native batch endpoint takes JSON). */
  json?: string | undefined;
}

export interface TransportConfig {
  apiKey: string;
  baseUrl: string;
  timeoutMs: number;
  retry: RetryPolicy;
  fetch: Fetch;
}

interface Prepared {
  url: string;
  init: RequestInit;
  /** `POST /v1/customers`, for messages. */
  label: string;
}

type Attempt =
  | { ok: true; body: unknown }
  | { ok: false; error: MeteredError; retryable: boolean; retryAfter: string | null };

export class Transport {
  readonly baseUrl: string;
  private readonly config: TransportConfig;

  constructor(config: TransportConfig) {
    this.config = config;
    this.baseUrl = config.baseUrl.replace(/\/+$/, "");
  }

  /** Send `request`, retrying as the policy says, and resolve with the decoded 2xx answer. */
  async request<T>(request: ApiRequest, options: RequestOptions = {}): Promise<T> {
    const prepared = this.prepare(request, options);
    const policy =
      options.maxRetries === undefined
        ? this.config.retry
        : { ...this.config.retry, maxRetries: options.maxRetries };
    const timeoutMs = options.timeoutMs ?? this.config.timeoutMs;
    for (let attempt = 0; ; attempt++) {
      const outcome = await this.attempt(prepared, timeoutMs, options.signal);
      if (outcome.ok) return outcome.body as T;
      if (!outcome.retryable || attempt >= policy.maxRetries) throw outcome.error;
      await abortableSleep(retryDelayMs(policy, attempt, outcome.retryAfter), options.signal);
    }
  }

  /** The URL and the fetch options, built once: every retry sends the same body and key. */
  private prepare(request: ApiRequest, options: RequestOptions): Prepared {
    const query = request.query === undefined ? "" : encodeForm(request.query);
    const url = `${this.baseUrl}${request.path}${query ? `?${query}` : ""}`;
    const headers: Record<string, string> = {
      Authorization: `Bearer ${this.config.apiKey}`,
      Accept: "application/json",
    };
    let body: string | undefined;
    if (request.method === "POST") {
      headers["Idempotency-Key"] = options.idempotencyKey ?? crypto.randomUUID();
      if (request.json !== undefined) {
        headers["Content-Type"] = "application/json";
        body = request.json;
      } else {
        headers["Content-Type"] = "application/x-www-form-urlencoded";
        body = request.form === undefined ? "" : encodeForm(request.form);
      }
    }
    const init: RequestInit = { method: request.method, headers };
    if (body !== undefined) init.body = body;
    return { url, init, label: `${request.method} ${request.path}` };
  }

  private async attempt(
    { url, init, label }: Prepared,
    timeoutMs: number,
    signal: AbortSignal | undefined,
  ): Promise<Attempt> {
    signal?.throwIfAborted();
    const controller = new AbortController();
    const abort = (): void => controller.abort(signal?.reason);
    signal?.addEventListener("abort", abort, { once: true });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    let response: Response;
    let text: string;
    try {
      response = await this.config.fetch(url, { ...init, signal: controller.signal });
      text = await response.text();
    } catch (cause) {
      if (signal?.aborted) throw signal.reason;
      const why = timedOut ? `timed out after ${timeoutMs} ms` : describe(cause);
      const error = new ApiConnectionError(`No answer from ${this.baseUrl} to ${label}: ${why}`, {
        cause,
      });
      return { ok: false, error, retryable: true, retryAfter: null };
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", abort);
    }
    return decodeAnswer(response, text, label);
  }
}

function decodeAnswer(response: Response, text: string, label: string): Attempt {
  const requestId = response.headers.get("request-id") ?? undefined;
  let body: unknown;
  let readable = true;
  try {
    body = text === "" ? undefined : parseAnswer(text);
  } catch {
    readable = false;
  }
  if (response.ok) {
    if (readable && body !== undefined) return { ok: true, body };
    const error = new ApiError(`Unexpected answer to ${label}: not JSON`, {
      status: response.status,
      requestId,
    });
    return { ok: false, error, retryable: false, retryAfter: null };
  }
  return {
    ok: false,
    error: errorFromAnswer(response.status, readable ? body : undefined, requestId),
    retryable: retryableStatus(response.status),
    retryAfter: response.headers.get("retry-after"),
  };
}

function describe(cause: unknown): string {
  if (cause instanceof Error) {
    const inner = cause.cause instanceof Error ? ` (${cause.cause.message})` : "";
    return `${cause.name}: ${cause.message}${inner}`;
  }
  return String(cause);
}

function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
