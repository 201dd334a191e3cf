/** The event sender's options: what each means, the defaults, and their validation. */

import type { MeteredError } from "../errors.js";
import type { PreparedMeterEvent } from "../types/meterEvents.js";
import { MAX_BATCH_EVENTS } from "./batching.js";

export interface EventSenderOptions {
  /** Events per request, 1 to 10,000 (default 1000). */
  batchSize?: number;
  /** The longest an event waits for its batch to fill before it is sent (default 250 ms). */
  flushIntervalMs?: number;
  /** Events buffered or in flight at most (default 100,000). */
  maxBufferedEvents?: number;
  /** When that many are: `send()` waits for room (`"block"`, default) or rejects (`"throw"`). */
  onFull?: "block" | "throw";
  /** Batch requests in flight at once (default 2). */
  maxConcurrentRequests?: number;
  /** Retries of a failed batch request (default: Infinity, until it is answered). */
  maxRetries?: number;
  /**
   * Called with an EventRejectedError and the event for each event the server rejected, and
   * with the request's error and its events for each batch that was not delivered (refused for
   * good, out of retries, or abandoned by `close({timeoutMs})`: code `not_sent`).
   * Default: console.error. An exception it throws is rethrown asynchronously, not swallowed.
   */
  onError?: (error: MeteredError, events: PreparedMeterEvent[]) => void;
}

/** Counts since the sender started. */
export interface EventSenderStats {
  accepted: number;
  duplicate: number;
  rejected: number;
  /** Events of batches that were not delivered (given to onError). */
  failed: number;
  /** Events sent but not settled yet: buffered, in flight, or waiting for room. */
  pending: number;
}

const DEFAULTS = {
  batchSize: 1000,
  flushIntervalMs: 250,
  maxBufferedEvents: 100_000,
  maxConcurrentRequests: 2,
  maxRetries: Infinity,
};

/** The options with their defaults, checked: a RangeError names the first one out of range. */
export function resolveOptions(options: EventSenderOptions): Required<EventSenderOptions> {
  const number = (name: keyof typeof DEFAULTS, min: number, max: number): number => {
    const value = (options[name] as number | undefined) ?? DEFAULTS[name];
    const whole = Number.isInteger(value) || (name === "maxRetries" && value === Infinity);
    if (!whole || value < min || value > max) {
      throw new RangeError(`${name} must be an integer from ${min} to ${max}, not ${value}.`);
    }
    return value;
  };
  return {
    batchSize: number("batchSize", 1, MAX_BATCH_EVENTS),
    flushIntervalMs: number("flushIntervalMs", 0, 3_600_000),
    maxBufferedEvents: number("maxBufferedEvents", 1, Number.MAX_SAFE_INTEGER),
    maxConcurrentRequests: number("maxConcurrentRequests", 1, 64),
    maxRetries: number("maxRetries", 0, Infinity),
    onFull: options.onFull ?? "block",
    onError: options.onError ?? logError,
  };
}

function logError(error: MeteredError, events: PreparedMeterEvent[]): void {
  const ids = events
    .slice(0, 5)
    .map((e) => e.identifier)
    .join(", ");
  const more = events.length > 5 ? ` and ${events.length - 5} more` : "";
  console.error(`metered: ${events.length} event(s) not counted (${ids}${more}):`, error);
}
