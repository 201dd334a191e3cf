import type { ListEnvelope, ListParams } from "../pagination.js";
import type { ExpandParams, Expandable, Metadata, MetadataParam, Timestamp } from "./common.js";
import type { Customer } from "./customers.js";

export type InvoiceStatus = "draft" | "open" | "paid" | "void" | "uncollectible";

/** What credit grants paid on a line (or on the whole invoice). */
export interface PretaxCreditAmount {
  type: "credit_balance_transaction";
  /** Minor units. */
  amount: number;
  /** Null on a preview or a draft: what the grants would pay if it were finalized now. */
  credit_balance_transaction: string | null;
  discount: null;
}

export interface InvoiceLineItem {
  id: string;
  object: "line_item";
  /** Minor units, rounded once (half away from zero). */
  amount: number;
  subtotal: number;
  currency: string;
  description: string | null;
  invoice: string | null;
  livemode: boolean;
  metadata: Metadata;
  period: { start: Timestamp; end: Timestamp };
  /** Null when the quantity has a fraction: see `quantity_decimal`. */
  quantity: number | null;
  /** The exact quantity. */
  quantity_decimal: string;
  pricing: {
    type: "price_details";
    price_details: { price: string; product: string | null };
    unit_amount_decimal: string | null;
  } | null;
  parent: {
    type: "subscription_item_details";
    invoice_item_details: null;
    subscription_item_details: {
      invoice_item: null;
      proration: boolean;
      proration_details: { credited_items: unknown };
      subscription: string;
      subscription_item: string | null;
    };
  } | null;
  pretax_credit_amounts: PretaxCreditAmount[];
  /** Native: what the line is, and its dimension group for dimensional prices. */
  metered: {
    kind: "usage" | "licensed" | "proration" | "adjustment" | "minimum" | "maximum";
    charge_group: string;
  };
  discount_amounts: unknown[];
  discountable: boolean;
  discounts: unknown[];
  taxes: unknown[];
}

export interface Invoice {
  /** Null for a preview. */
  id: string | null;
  object: "invoice";
  status: InvoiceStatus;
  billing_reason:
    | "subscription_create"
    | "subscription_cycle"
    | "subscription_update"
    | "upcoming"
    | "manual"
    | (string & {});
  customer: Expandable<Customer>;
  customer_email: string | null;
  customer_name: string | null;
  currency: string;
  created: Timestamp;
  period_start: Timestamp;
  period_end: Timestamp;
  lines: ListEnvelope<InvoiceLineItem>;
  subtotal: number;
  subtotal_excluding_tax: number;
  total: number;
  total_excluding_tax: number;
  amount_due: number;
  amount_paid: number;
  amount_remaining: number;
  amount_overpaid: number;
  amount_shipping: number;
  total_pretax_credit_amounts: PretaxCreditAmount[];
  number: string | null;
  description: string | null;
  metadata: Metadata;
  auto_advance: boolean;
  /** When a draft in its grace period is finalized. */
  automatically_finalizes_at: Timestamp | null;
  effective_at: Timestamp | null;
  ending_balance: number | null;
  starting_balance: number;
  status_transitions: {
    finalized_at: Timestamp | null;
    marked_uncollectible_at: Timestamp | null;
    paid_at: Timestamp | null;
    voided_at: Timestamp | null;
  };
  parent: {
    type: "subscription_details";
    quote_details: null;
    subscription_details: { metadata: Metadata; subscription: string };
  } | null;
  test_clock: string | null;
  livemode: boolean;
  collection_method: "charge_automatically" | "send_invoice";
  attempt_count: number;
  attempted: boolean;
  account_country: string | null;
  account_name: string | null;
  automatic_tax: { enabled: boolean; liability: unknown; status: string | null };
  default_payment_method: string | null;
  discounts: unknown[];
  due_date: Timestamp | null;
  hosted_invoice_url: string | null;
  invoice_pdf: string | null;
  next_payment_attempt: Timestamp | null;
  post_payment_credit_notes_amount: number;
  pre_payment_credit_notes_amount: number;
  total_discount_amounts: unknown[];
  total_taxes: unknown[];
  webhooks_delivered_at: Timestamp | null;
}

export interface InvoiceCreatePreviewParams extends ExpandParams {
  subscription?: string;
  customer?: string;
  currency?: string;
}

export interface InvoiceListParams extends ListParams {
  customer?: string;
  subscription?: string;
  status?: InvoiceStatus;
  collection_method?: "charge_automatically" | "send_invoice";
}

export interface InvoiceUpdateParams extends ExpandParams {
  description?: string | null;
  metadata?: MetadataParam | null;
  auto_advance?: boolean;
}

export interface InvoiceFinalizeParams extends ExpandParams {
  auto_advance?: boolean;
}
