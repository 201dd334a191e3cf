import type { ListEnvelope, ListParams } from "../pagination.js";
import type { ExpandParams, Expandable, Metadata, MetadataParam, Timestamp } from "./common.js";
import type { Customer } from "./customers.js";
import type { Price } from "./products.js";

export type SubscriptionStatus =
  | "active"
  | "trialing"
  | "canceled"
  | "incomplete"
  | "incomplete_expired"
  | "past_due"
  | "unpaid"
  | "paused";

export type ProrationBehavior = "create_prorations" | "none" | "always_invoice";

export interface SubscriptionItem {
  id: string;
  object: "subscription_item";
  created: Timestamp;
  current_period_start: Timestamp;
  current_period_end: Timestamp;
  price: Price;
  /** Seats of a licensed price; null for a metered one. */
  quantity: number | null;
  subscription: string;
  metadata: Metadata;
  discounts: unknown[];
  tax_rates: unknown[];
  plan: unknown;
}

export interface Subscription {
  id: string;
  object: "subscription";
  customer: Expandable<Customer>;
  status: SubscriptionStatus;
  currency: string;
  created: Timestamp;
  start_date: Timestamp;
  billing_cycle_anchor: Timestamp;
  current_period_start: Timestamp;
  current_period_end: Timestamp;
  items: ListEnvelope<SubscriptionItem>;
  cancel_at: Timestamp | null;
  cancel_at_period_end: boolean;
  canceled_at: Timestamp | null;
  ended_at: Timestamp | null;
  trial_start: Timestamp | null;
  trial_end: Timestamp | null;
  latest_invoice: string | null;
  test_clock: string | null;
  metadata: Metadata;
  description: string | null;
  collection_method: "charge_automatically" | "send_invoice";
  days_until_due: number | null;
  livemode: boolean;
  cancellation_details: { comment: string | null; feedback: string | null; reason: string | null };
  automatic_tax: { enabled: boolean; liability: unknown };
  billing_thresholds: unknown;
  default_payment_method: string | null;
  discounts: unknown[];
  pending_update: unknown;
  schedule: string | null;
  application: string | null;
  trial_settings: Record<string, unknown>;
}

export interface SubscriptionItemParam {
  price?: string;
  quantity?: number;
  metadata?: MetadataParam;
  /** On update: the item to change or delete. */
  id?: string;
  deleted?: boolean;
}

export interface SubscriptionCreateParams extends ExpandParams {
  customer: string;
  items: SubscriptionItemParam[];
  billing_cycle_anchor?: Timestamp | Date;
  trial_end?: Timestamp | Date | "now";
  trial_period_days?: number;
  cancel_at_period_end?: boolean;
  cancel_at?: Timestamp | Date;
  proration_behavior?: ProrationBehavior;
  days_until_due?: number;
  collection_method?: "charge_automatically" | "send_invoice";
  metadata?: MetadataParam;
}

export interface SubscriptionUpdateParams extends ExpandParams {
  items?: SubscriptionItemParam[];
  trial_end?: Timestamp | Date | "now";
  cancel_at_period_end?: boolean;
  cancel_at?: Timestamp | Date | null;
  proration_behavior?: ProrationBehavior;
  metadata?: MetadataParam | null;
}

export interface SubscriptionCancelParams {
  /** Invoice the usage so far at once (default true: usage is never left unbilled). */
  invoice_now?: boolean;
  /** Credit the unused licensed time. */
  prorate?: boolean;
}

export interface SubscriptionListParams extends ListParams {
  customer?: string;
  status?: SubscriptionStatus | "all" | "ended";
  price?: string;
}

export interface SubscriptionItemCreateParams extends ExpandParams {
  subscription: string;
  price: string;
  quantity?: number;
  metadata?: MetadataParam;
  proration_behavior?: ProrationBehavior;
}

export interface SubscriptionItemUpdateParams extends ExpandParams {
  price?: string;
  quantity?: number;
  metadata?: MetadataParam | null;
  proration_behavior?: ProrationBehavior;
}

export interface SubscriptionItemDeleteParams {
  proration_behavior?: ProrationBehavior;
}

export interface SubscriptionItemListParams extends ListParams {
  subscription: string;
}
