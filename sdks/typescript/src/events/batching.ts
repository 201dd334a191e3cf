/**
 * Turning meter events into batch request bodies: an identifier on every event before
 * anything is sent (so no retry can count one twice), encoded once, and cut into chunks
 * within the server's limits (10,000 events, and well under its 32 MiB body limit).
 * Pure: no I/O.
 */

import type { MeterEventInput, PreparedMeterEvent } from "../types/meterEvents.js";

export const BATCH_PATH = "/v1/metered/events/batch";
export const MAX_BATCH_EVENTS = 10_000;
export const MAX_BATCH_BYTES = 16 * 1024 * 1024;

/** An event with its identifier fixed, and its JSON (encoded once, resent as is). */
export interface EncodedEvent {
  readonly event: PreparedMeterEvent;
  readonly json: string;
  /** UTF-8 length of `json`. */
  readonly bytes: number;
}

/** `event` with an identifier (a fresh uuid if it had none) and a timestamp in Unix seconds. */
export function prepareEvent(event: MeterEventInput): PreparedMeterEvent {
  const prepared: PreparedMeterEvent = {
    event_name: event.event_name,
    payload: event.payload,
    identifier: event.identifier || crypto.randomUUID(),
  };
  const timestamp =
    event.timestamp instanceof Date
      ? Math.floor(event.timestamp.getTime() / 1000)
      : event.timestamp;
  if (timestamp !== undefined) prepared.timestamp = timestamp;
  return prepared;
}

export function encodeEvent(event: MeterEventInput): EncodedEvent {
  const prepared = prepareEvent(event);
  const json = JSON.stringify(prepared);
  return { event: prepared, json, bytes: utf8Length(json) };
}

/**
 * How many of the next `available` events make the next request body: at most `maxEvents`,
 * and no more than `maxBytes` (a single larger event still goes alone, for the server to
 * judge). `bytesAt(i)` is the encoded size of the `i`th.
 */
export function nextChunkLength(
  bytesAt: (i: number) => number,
  available: number,
  maxEvents: number,
  maxBytes: number = MAX_BATCH_BYTES,
): number {
  let count = 0;
  let bytes = 2;
  while (count < available && count < maxEvents) {
    const size = bytesAt(count) + 1;
    if (count > 0 && bytes + size > maxBytes) break;
    bytes += size;
    count++;
  }
  return count;
}

/** The JSON array body of a batch request. */
export function batchBody(events: readonly EncodedEvent[]): string {
  return `[${events.map((e) => e.json).join(",")}]`;
}

/** UTF-8 length of a string, without encoding it. */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      bytes += 4; // a surrogate pair: one 4-byte character
      i++;
    } else bytes += 3;
  }
  return bytes;
}
