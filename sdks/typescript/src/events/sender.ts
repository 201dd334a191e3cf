/**
 * The background event sender behind `client.events.send()`: events are buffered and sent to
 * the native batch endpoint when `batchSize` of them are waiting or the oldest has waited
 * `flushIntervalMs`. As the Python SDK's sender does:
 *
 * - **Never counted twice.** Each event gets its identifier when it is queued and each batch
 *   is encoded once; a batch whose request fails (network error, 409, 429, 5xx) is sent again,
 *   after a backoff with jitter (or Retry-After), until it is answered, with the same
 *   Idempotency-Key and identifiers: an attempt that did reach the server is answered from it.
 * - **Never dropped silently.** Each event the server rejects, and each event of a batch
 *   refused for good (400, 401...) or abandoned by `close({timeoutMs})`, goes to `onError`;
 *   `flush()` rejects with EventDeliveryError when an event sent before it was not delivered.
 * - **Bounded memory.** At most `maxBufferedEvents` events are buffered or in flight; past
 *   that, `send()` waits for room (`onFull: "block"`) or rejects with BufferFullError
 *   (`"throw"`).
 */

import {
  ApiError,
  BufferFullError,
  EventDeliveryError,
  EventRejectedError,
  MeteredError,
  SenderClosedError,
} from "../errors.js";
import type { Transport } from "../transport.js";
import type { BatchResult, MeterEventInput, PreparedMeterEvent } from "../types/meterEvents.js";
import {
  BATCH_PATH,
  batchBody,
  type EncodedEvent,
  encodeEvent,
  nextChunkLength,
} from "./batching.js";
import { Fifo } from "./fifo.js";
import { type EventSenderOptions, type EventSenderStats, resolveOptions } from "./options.js";

export type { EventSenderOptions, EventSenderStats } from "./options.js";

interface Queued {
  readonly seq: number;
  readonly encoded: EncodedEvent;
}

interface FlushWaiter {
  readonly target: number;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
  failed: number;
  error: unknown;
}

interface Waiter {
  readonly item: Queued;
  readonly admitted: () => void;
  readonly refused: (error: unknown) => void;
}

export class EventSender {
  readonly #transport: Transport;
  readonly #batchSize: number;
  readonly #flushIntervalMs: number;
  readonly #maxBuffered: number;
  readonly #onFull: "block" | "throw";
  readonly #maxConcurrent: number;
  readonly #maxRetries: number;
  readonly #onError: (error: MeteredError, events: PreparedMeterEvent[]) => void;

  readonly #buffer = new Fifo<Queued>();
  readonly #waiting = new Fifo<Waiter>();
  /** Aborts the requests in flight when close() gives up. */
  readonly #abort = new AbortController();
  /** First sequence number of each batch in flight. */
  readonly #inFlight = new Set<number>();
  #unsettled = 0; // buffered + in flight: what maxBufferedEvents bounds
  #nextSeq = 1;
  #flushes: FlushWaiter[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #due = false;
  #closed = false;
  readonly #stats = { accepted: 0, duplicate: 0, rejected: 0, failed: 0 };

  constructor(transport: Transport, options: EventSenderOptions = {}) {
    const settings = resolveOptions(options);
    this.#transport = transport;
    this.#batchSize = settings.batchSize;
    this.#flushIntervalMs = settings.flushIntervalMs;
    this.#maxBuffered = settings.maxBufferedEvents;
    this.#maxConcurrent = settings.maxConcurrentRequests;
    this.#onFull = settings.onFull;
    this.#maxRetries = settings.maxRetries;
    this.#onError = settings.onError;
  }

  get stats(): EventSenderStats {
    return { ...this.#stats, pending: this.#unsettled + this.#waiting.length };
  }

  /**
   * Queue one event and resolve with its identifier (the one given, or a fresh uuid) as soon
   * as it is buffered: at once while there is room. Rejects with BufferFullError when the
   * buffer is full in `"throw"` mode, with SenderClosedError after `close()`.
   */
  send(event: MeterEventInput): Promise<string> {
    if (this.#closed) {
      return Promise.reject(
        new SenderClosedError("The event sender is closed: send() after close()."),
      );
    }
    let encoded: EncodedEvent;
    try {
      encoded = encodeEvent(event);
    } catch (error) {
      return Promise.reject(error);
    }
    const identifier = encoded.event.identifier;
    if (this.#waiting.length === 0 && this.#unsettled < this.#maxBuffered) {
      this.#enqueue({ seq: this.#nextSeq++, encoded });
      this.#pump();
      return Promise.resolve(identifier);
    }
    if (this.#onFull === "throw") {
      return Promise.reject(
        new BufferFullError(
          `${this.#unsettled} events are buffered or in flight` +
            ` (maxBufferedEvents ${this.#maxBuffered}).`,
          { code: "buffer_full" },
        ),
      );
    }
    const item = { seq: this.#nextSeq++, encoded };
    return new Promise((resolve, reject) => {
      this.#waiting.push({ item, admitted: () => resolve(identifier), refused: reject });
    });
  }

  /**
   * Send what is buffered now, and resolve when every event sent before this call is settled:
   * acknowledged by the server (accepted or duplicate), or rejected by it (given to onError).
   * Rejects with EventDeliveryError if some of them were not delivered (see onError).
   */
  flush(): Promise<void> {
    const target = this.#nextSeq - 1;
    if (this.#oldestUnsettled() > target) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#flushes.push({ target, resolve, reject, failed: 0, error: undefined });
      this.#pump();
    });
  }

  /**
   * Refuse new events, flush the rest and stop the timer. With `timeoutMs`, give up on what is
   * still unanswered by then: those events go to onError (code `not_sent`), the sends still
   * waiting for room reject, and close() rejects with EventDeliveryError.
   */
  async close(options: { timeoutMs?: number } = {}): Promise<void> {
    this.#closed = true;
    const flushed = this.flush();
    const { timeoutMs } = options;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      if (timeoutMs === undefined) return await flushed;
      const timedOut = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), timeoutMs);
      });
      if ((await Promise.race([flushed, timedOut])) === "timeout") {
        this.#abandon(timeoutMs);
        await flushed;
      }
    } finally {
      clearTimeout(timer);
      this.#clearTimer();
    }
  }

  /** close() gave up: report what is buffered, abort what is in flight, refuse the waiting. */
  #abandon(timeoutMs: number): void {
    const error = new SenderClosedError(
      `Not sent: close() gave up after ${timeoutMs} ms without an answer from the server.`,
      { code: "not_sent" },
    );
    for (const waiter of this.#waiting.shift(this.#waiting.length)) waiter.refused(error);
    const buffered = this.#buffer.shift(this.#buffer.length);
    this.#unsettled -= buffered.length;
    if (buffered.length > 0) this.#fail(buffered, error);
    this.#abort.abort(error);
    this.#settleFlushes();
  }

  #enqueue(item: Queued): void {
    this.#buffer.push(item);
    this.#unsettled++;
  }

  /** Start the batches that are due, concurrency allowing; arm the timer for the rest. */
  #pump(): void {
    while (this.#inFlight.size < this.#maxConcurrent && this.#buffer.length > 0) {
      const head = this.#buffer.peek() as Queued;
      const forced = this.#due || head.seq <= this.#flushTarget();
      if (this.#buffer.length < this.#batchSize && !forced) break;
      const bytesAt = (i: number): number => (this.#buffer.at(i) as Queued).encoded.bytes;
      const count = nextChunkLength(bytesAt, this.#buffer.length, this.#batchSize);
      this.#dispatch(this.#buffer.shift(count));
    }
    if (this.#buffer.length === 0) {
      this.#clearTimer();
      this.#due = false;
    } else if (this.#timer === undefined && !this.#due) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#due = true;
        this.#pump();
      }, this.#flushIntervalMs);
    }
  }

  #dispatch(batch: Queued[]): void {
    const first = (batch[0] as Queued).seq;
    this.#inFlight.add(first);
    const body = batchBody(batch.map((q) => q.encoded));
    const options = {
      idempotencyKey: crypto.randomUUID(),
      maxRetries: this.#maxRetries,
      signal: this.#abort.signal,
    };
    this.#transport
      .request<BatchResult>({ method: "POST", path: BATCH_PATH, json: body }, options)
      .then(
        (result) => this.#settle(first, batch, result, undefined),
        (error: unknown) => this.#settle(first, batch, undefined, error),
      );
  }

  #settle(first: number, batch: Queued[], result: BatchResult | undefined, error: unknown): void {
    this.#inFlight.delete(first);
    this.#unsettled -= batch.length;
    if (result !== undefined) this.#count(batch, result);
    else this.#fail(batch, error);
    while (this.#waiting.length > 0 && this.#unsettled < this.#maxBuffered) {
      const waiter = this.#waiting.shift(1)[0] as Waiter;
      this.#enqueue(waiter.item);
      waiter.admitted();
    }
    this.#settleFlushes();
    this.#pump();
  }

  #count(batch: Queued[], result: BatchResult): void {
    this.#stats.accepted += result.accepted;
    this.#stats.duplicate += result.duplicate;
    this.#stats.rejected += result.rejected;
    for (const outcome of result.results) {
      if (outcome.status !== "rejected") continue;
      const event = batch[outcome.index]?.encoded.event;
      const error = new EventRejectedError(outcome.error?.message ?? "The event was rejected.", {
        code: outcome.error?.code ?? undefined,
        param: outcome.error?.param ?? undefined,
        identifier: outcome.identifier ?? event?.identifier,
      });
      this.#report(error, event ? [event] : []);
    }
  }

  #fail(batch: Queued[], cause: unknown): void {
    const error = cause instanceof MeteredError ? cause : new ApiError(String(cause), { cause });
    this.#stats.failed += batch.length;
    for (const flush of this.#flushes) {
      const covered = batch.filter((q) => q.seq <= flush.target).length;
      if (covered === 0) continue;
      flush.failed += covered;
      flush.error ??= error;
    }
    this.#report(
      error,
      batch.map((q) => q.encoded.event),
    );
  }

  #report(error: MeteredError, events: PreparedMeterEvent[]): void {
    try {
      this.#onError(error, events);
    } catch (thrown) {
      queueMicrotask(() => {
        throw thrown;
      });
    }
  }

  #settleFlushes(): void {
    const oldest = this.#oldestUnsettled();
    const still: FlushWaiter[] = [];
    for (const flush of this.#flushes) {
      if (flush.target >= oldest) {
        still.push(flush);
      } else if (flush.failed > 0) {
        const cause = flush.error instanceof Error ? flush.error.message : String(flush.error);
        flush.reject(
          new EventDeliveryError(
            `${flush.failed} event(s) sent before flush() could not be delivered: ${cause}`,
            flush.failed,
            flush.error,
          ),
        );
      } else {
        flush.resolve();
      }
    }
    this.#flushes = still;
  }

  /** The sequence number of the oldest event not settled yet (Infinity when none). */
  #oldestUnsettled(): number {
    let oldest = Infinity;
    for (const first of this.#inFlight) oldest = Math.min(oldest, first);
    const buffered = this.#buffer.peek();
    if (buffered) oldest = Math.min(oldest, buffered.seq);
    const waiting = this.#waiting.peek();
    if (waiting) oldest = Math.min(oldest, waiting.item.seq);
    return oldest;
  }

  #flushTarget(): number {
    let target = 0;
    for (const flush of this.#flushes) target = Math.max(target, flush.target);
    return this.#closed ? Infinity : target;
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }
}
