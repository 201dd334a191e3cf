/**
 * `client.events` (also `client.meterEvents`): the background sender (`send`, `flush`,
 * `close`), one event on Stripe's v1 endpoint (`create`), batches on the native endpoint
 * (`sendBatch`) and cancellations. `client.meterEventAdjustments` is Stripe's endpoint for
 * the latter.
 */

import { EventSender, type EventSenderOptions, type EventSenderStats } from "../events/sender.js";
import { resolveOptions } from "../events/options.js";
import {
  BATCH_PATH,
  batchBody,
  type EncodedEvent,
  encodeEvent,
  MAX_BATCH_EVENTS,
  nextChunkLength,
  prepareEvent,
} from "../events/batching.js";
import type { RequestOptions, Transport } from "../transport.js";
import type {
  BatchResult,
  MeterEvent,
  MeterEventAdjustment,
  MeterEventAdjustmentCreateParams,
  MeterEventCreateParams,
  MeterEventInput,
  MeterEventPayload,
  PreparedMeterEvent,
} from "../types/meterEvents.js";
import { Resource } from "./resource.js";

export interface SendOptions {
  /** The dedupe key; default a fresh uuid (returned by `send`). */
  identifier?: string;
  /** Unix seconds, a Date or ISO 8601 text; default: when the server receives it. */
  timestamp?: number | Date | string;
}

export interface SendBatchOptions extends Omit<RequestOptions, "idempotencyKey"> {
  /** Events per request, at most 10,000 (the default). */
  chunkSize?: number;
}

export class MeterEvents extends Resource {
  readonly #senderOptions: EventSenderOptions;
  #sender: EventSender | undefined;

  constructor(transport: Transport, senderOptions: EventSenderOptions = {}) {
    super(transport);
    resolveOptions(senderOptions); // a RangeError now rather than at the first send()
    this.#senderOptions = senderOptions;
  }

  /**
   * Queue an event for the background sender and resolve with its identifier at once (when
   * the buffer has room). It is sent within `flushIntervalMs`, in a batch, and retried with
   * its identifier until acknowledged; rejections go to `onError`. `await flush()` to know
   * it counted.
   */
  send(eventName: string, payload: MeterEventPayload, options: SendOptions = {}): Promise<string> {
    const event: MeterEventInput = { event_name: eventName, payload };
    if (options.identifier !== undefined) event.identifier = options.identifier;
    if (options.timestamp !== undefined) event.timestamp = options.timestamp;
    return this.#ensureSender().send(event);
  }

  /** Resolve when every event `send()` took before this call is settled (see EventSender). */
  flush(): Promise<void> {
    return this.#sender?.flush() ?? Promise.resolve();
  }

  /**
   * Flush and stop the sender; `send()` rejects afterwards. With `timeoutMs`, what is still
   * unanswered by then goes to `onError` (code `not_sent`) and close() rejects.
   */
  close(options: { timeoutMs?: number } = {}): Promise<void> {
    return this.#ensureSender().close(options);
  }

  /** The sender's counters (all zero before the first `send`). */
  get stats(): EventSenderStats {
    return this.#sender?.stats ?? { accepted: 0, duplicate: 0, rejected: 0, failed: 0, pending: 0 };
  }

  /**
   * One event on Stripe's endpoint (`POST /v1/billing/meter_events`); without `identifier` a
   * uuid is chosen before the first attempt. An identifier already used rejects with
   * InvalidRequestError `duplicate_meter_event`, as Stripe does.
   */
  create(params: MeterEventCreateParams, options?: RequestOptions): Promise<MeterEvent> {
    const form = { ...params, identifier: params.identifier || crypto.randomUUID() };
    return this.post("/v1/billing/meter_events", form, options);
  }

  /**
   * Send events on the native batch endpoint now, in requests of at most `chunkSize`, and
   * resolve with one outcome per event, in input order: accepted, duplicate (its identifier
   * already counted) or rejected with the reason. If a request fails for good, the chunks
   * before it were applied: send `prepare(events)` rather than raw events when you may have to
   * send them again, so that they keep their identifiers.
   */
  async sendBatch(
    events: Iterable<MeterEventInput>,
    options: SendBatchOptions = {},
  ): Promise<BatchResult> {
    const { chunkSize = MAX_BATCH_EVENTS, ...requestOptions } = options;
    const encoded: EncodedEvent[] = Array.from(events, encodeEvent);
    const combined: BatchResult = {
      object: "metered.event_batch",
      accepted: 0,
      duplicate: 0,
      rejected: 0,
      results: [],
    };
    const size = Math.max(1, Math.min(chunkSize, MAX_BATCH_EVENTS));
    for (let start = 0; start < encoded.length;) {
      const count = nextChunkLength(
        (i) => (encoded[start + i] as EncodedEvent).bytes,
        encoded.length - start,
        size,
      );
      const chunk = encoded.slice(start, start + count);
      const request = { method: "POST" as const, path: BATCH_PATH, json: batchBody(chunk) };
      const result = await this.transport.request<BatchResult>(request, requestOptions);
      combined.accepted += result.accepted;
      combined.duplicate += result.duplicate;
      combined.rejected += result.rejected;
      for (const outcome of result.results)
        combined.results.push({ ...outcome, index: outcome.index + start });
      start += count;
    }
    return combined;
  }

  /** The events, each with its identifier fixed (a uuid where it had none). */
  prepare(events: Iterable<MeterEventInput>): PreparedMeterEvent[] {
    return Array.from(events, prepareEvent);
  }

  /** Cancel the event `identifier` of `eventName`: its usage stops counting. */
  cancel(
    eventName: string,
    identifier: string,
    options?: RequestOptions,
  ): Promise<MeterEventAdjustment> {
    const form = { event_name: eventName, type: "cancel", cancel: { identifier } };
    return this.post("/v1/billing/meter_event_adjustments", form, options);
  }

  #ensureSender(): EventSender {
    this.#sender ??= new EventSender(this.transport, this.#senderOptions);
    return this.#sender;
  }
}

export class MeterEventAdjustments extends Resource {
  create(
    params: MeterEventAdjustmentCreateParams,
    options?: RequestOptions,
  ): Promise<MeterEventAdjustment> {
    return this.post("/v1/billing/meter_event_adjustments", { type: "cancel", ...params }, options);
  }
}
