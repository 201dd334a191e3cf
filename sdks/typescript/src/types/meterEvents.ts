import type { Timestamp } from "./common.js";

/** A payload value: send decimals as strings ("0.0003") to keep every digit. */
export type PayloadValue = string | number | boolean | null;

/**
 * The payload of a meter event: the customer (`stripe_customer_id` unless the meter maps
 * another key), the value (`value` unless the meter says otherwise) and any dimensions.
 */
export type MeterEventPayload = Record<string, PayloadValue>;

/** One event to send (batch endpoint and background sender). */
export interface MeterEventInput {
  event_name: string;
  payload: MeterEventPayload;
  /** The dedupe key (with the event name): the same identifier never counts twice. The client
   * gives every event without one a uuid before its first attempt. */
  identifier?: string;
  /** When it happened: Unix seconds, a Date or ISO 8601 text. Default: when it arrives (or the
   * test clock's time for a customer on a clock). */
  timestamp?: Timestamp | Date | string;
}

/** An event as sent, with its identifier fixed. */
export interface PreparedMeterEvent {
  event_name: string;
  payload: MeterEventPayload;
  identifier: string;
  timestamp?: Timestamp | string;
}

export interface MeterEvent {
  object: "billing.meter_event";
  created: Timestamp;
  event_name: string;
  identifier: string;
  payload: Record<string, string>;
  timestamp: Timestamp;
  livemode: boolean;
}

export interface MeterEventCreateParams {
  event_name: string;
  payload: MeterEventPayload;
  identifier?: string;
  timestamp?: Timestamp | Date;
}

export interface EventError {
  code: string | null;
  message: string | null;
  param: string | null;
}

/** What became of one event of a batch; `index` is its position in what was sent. */
export interface EventOutcome {
  index: number;
  identifier: string | null;
  /** `duplicate`: an event with this identifier already counted; this one did not. */
  status: "accepted" | "duplicate" | "rejected";
  error?: EventError;
}

/** The answer of the batch endpoint: counts and one outcome per event, in input order. */
export interface BatchResult {
  object: "metered.event_batch";
  accepted: number;
  duplicate: number;
  rejected: number;
  results: EventOutcome[];
}

export interface MeterEventAdjustment {
  id: string;
  object: "billing.meter_event_adjustment";
  event_name: string;
  type: "cancel";
  cancel: { identifier: string };
  status: "pending" | "complete";
  livemode: boolean;
}

export interface MeterEventAdjustmentCreateParams {
  event_name: string;
  type?: "cancel";
  cancel: { identifier: string };
}
