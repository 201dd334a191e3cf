/**
 * @metered/client: the TypeScript client of metered, a usage-based billing engine that speaks
 * Stripe's wire format. Typed resources, Stripe's errors, auto-pagination, and a background
 * event sender whose retries can never count an event twice.
 */

import { Metered } from "./client.js";

export { DEFAULT_BASE_URL, Metered, type MeteredOptions } from "./client.js";
export {
  ApiConnectionError,
  ApiError,
  AuthenticationError,
  BufferFullError,
  EventDeliveryError,
  EventRejectedError,
  IdempotencyError,
  InvalidRequestError,
  MeteredError,
  type MeteredErrorFields,
  RateLimitError,
  SenderClosedError,
  type ErrorType,
} from "./errors.js";
export type { EventSenderOptions, EventSenderStats } from "./events/sender.js";
export { type ListEnvelope, type ListParams, ListRequest, Page } from "./pagination.js";
export type { SendBatchOptions, SendOptions } from "./resources/meterEvents.js";
export { DEFAULT_RETRY_POLICY, type RetryPolicy } from "./retries.js";
export type { Fetch, RequestOptions } from "./transport.js";
export { encodeForm } from "./wire/form.js";
export type * from "./types/alerts.js";
export type * from "./types/common.js";
export type * from "./types/credits.js";
export type * from "./types/customers.js";
export type * from "./types/invoices.js";
export type * from "./types/meterEvents.js";
export type * from "./types/meters.js";
export type * from "./types/products.js";
export type * from "./types/subscriptions.js";
export type * from "./types/testClocks.js";
export type * from "./types/webhooks.js";
export default Metered;
