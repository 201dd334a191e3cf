/** `Metered`: configuration (key, address, timeout, retries, fetch) and the resource namespaces. */

import { AuthenticationError } from "./errors.js";
import type { EventSenderOptions } from "./events/sender.js";
import { Alerts } from "./resources/alerts.js";
import {
  CreditBalanceSummaries,
  CreditBalanceTransactions,
  CreditGrants,
  CreditHolds,
} from "./resources/credits.js";
import { Customers } from "./resources/customers.js";
import { Invoices } from "./resources/invoices.js";
import { MeterEventAdjustments, MeterEvents } from "./resources/meterEvents.js";
import { Meters } from "./resources/meters.js";
import { Prices } from "./resources/prices.js";
import { Products } from "./resources/products.js";
import { SubscriptionItems, Subscriptions } from "./resources/subscriptions.js";
import { TestClocks } from "./resources/testClocks.js";
import { WebhookEndpoints, WebhookEvents } from "./resources/webhooks.js";
import { DEFAULT_RETRY_POLICY } from "./retries.js";
import { type Fetch, Transport } from "./transport.js";

export const DEFAULT_BASE_URL = "http://127.0.0.1:8080";

export interface MeteredOptions {
  /** A secret key, `sk_test_...` or `sk_live_...` (`metered keys create` prints one). */
  apiKey: string;
  /** Default http://127.0.0.1:8080. */
  baseUrl?: string;
  /** Retries of a failed call (network errors, 409, 429, 5xx); default 3. */
  maxRetries?: number;
  /** Per attempt; default 30,000 ms. */
  timeoutMs?: number;
  /** Default: the global `fetch`. */
  fetch?: Fetch;
  /** The background sender of `events.send()`. */
  events?: EventSenderOptions;
}

/**
 * A metered server, through its HTTP API. Share one client across your program; call
 * `close()` before exiting when you use `events.send()`, so that buffered events are sent.
 */
export class Metered {
  readonly baseUrl: string;
  readonly customers: Customers;
  readonly meters: Meters;
  /** Meter events: `send()` in the background, `create()`, `sendBatch()`, `cancel()`. */
  readonly events: MeterEvents;
  /** The same object as `events`, by Stripe's name. */
  readonly meterEvents: MeterEvents;
  readonly meterEventAdjustments: MeterEventAdjustments;
  readonly products: Products;
  readonly prices: Prices;
  readonly subscriptions: Subscriptions;
  readonly subscriptionItems: SubscriptionItems;
  readonly invoices: Invoices;
  readonly creditGrants: CreditGrants;
  readonly creditBalanceSummary: CreditBalanceSummaries;
  readonly creditBalanceTransactions: CreditBalanceTransactions;
  readonly creditHolds: CreditHolds;
  readonly alerts: Alerts;
  readonly testClocks: TestClocks;
  readonly webhookEndpoints: WebhookEndpoints;
  /** Stripe's Event objects (`/v1/events`): what webhooks deliver. */
  readonly webhookEvents: WebhookEvents;

  constructor(options: MeteredOptions) {
    if (!options.apiKey) {
      throw new AuthenticationError("No API key: pass apiKey (`metered keys create` prints one).");
    }
    const transport = new Transport({
      apiKey: options.apiKey,
      baseUrl: options.baseUrl ?? DEFAULT_BASE_URL,
      timeoutMs: options.timeoutMs ?? 30_000,
      retry: {
        ...DEFAULT_RETRY_POLICY,
        maxRetries: options.maxRetries ?? DEFAULT_RETRY_POLICY.maxRetries,
      },
      fetch: options.fetch ?? ((url, init) => fetch(url, init)),
    });
    this.baseUrl = transport.baseUrl;
    this.customers = new Customers(transport);
    this.meters = new Meters(transport);
    this.events = new MeterEvents(transport, options.events);
    this.meterEvents = this.events;
    this.meterEventAdjustments = new MeterEventAdjustments(transport);
    this.products = new Products(transport);
    this.prices = new Prices(transport);
    this.subscriptions = new Subscriptions(transport);
    this.subscriptionItems = new SubscriptionItems(transport);
    this.invoices = new Invoices(transport);
    this.creditGrants = new CreditGrants(transport);
    this.creditBalanceSummary = new CreditBalanceSummaries(transport);
    this.creditBalanceTransactions = new CreditBalanceTransactions(transport);
    this.creditHolds = new CreditHolds(transport);
    this.alerts = new Alerts(transport);
    this.testClocks = new TestClocks(transport);
    this.webhookEndpoints = new WebhookEndpoints(transport);
    this.webhookEvents = new WebhookEvents(transport);
  }

  /**
   * Send the events `events.send()` buffered, wait for their answers and stop the sender. With
   * `timeoutMs`, give up on what is unanswered by then (reported to `onError`, and rejects).
   */
  close(options: { timeoutMs?: number } = {}): Promise<void> {
    return this.events.close(options);
  }
}
