import type { ListParams } from "../pagination.js";
import type { ExpandParams, Metadata, MetadataParam, MonetaryAmount, Timestamp } from "./common.js";

/** Which metered prices a grant pays for: every one, or the listed ones. */
export interface CreditApplicabilityScope {
  price_type: "metered" | null;
  prices: { id: string }[] | null;
}

export interface CreditGrant {
  id: string;
  object: "billing.credit_grant";
  amount: MonetaryAmount;
  applicability_config: { scope: CreditApplicabilityScope };
  category: "paid" | "promotional";
  created: Timestamp;
  updated: Timestamp;
  customer: string;
  customer_account: null;
  effective_at: Timestamp;
  expires_at: Timestamp | null;
  livemode: boolean;
  metadata: Metadata;
  name: string | null;
  /** 0 is used first; default 50. */
  priority: number;
  test_clock: string | null;
  voided_at: Timestamp | null;
}

export interface CreditGrantCreateParams extends ExpandParams {
  customer: string;
  /** Minor units: `{type: "monetary", monetary: {currency: "usd", value: 1000}}` is $10. */
  amount: MonetaryAmount;
  applicability_config: {
    scope: { price_type: "metered" } | { prices: { id: string }[] };
  };
  category: "paid" | "promotional";
  name?: string;
  priority?: number;
  effective_at?: Timestamp | Date;
  expires_at?: Timestamp | Date;
  metadata?: MetadataParam;
}

export interface CreditGrantUpdateParams extends ExpandParams {
  /** `null` removes the expiry. */
  expires_at?: Timestamp | Date | null;
  metadata?: MetadataParam | null;
}

export interface CreditGrantListParams extends ListParams {
  customer?: string;
}

export interface CreditBalance {
  /** The usable grants' balances. */
  ledger_balance: MonetaryAmount;
  /** The ledger balance less the credit holds in force. */
  available_balance: MonetaryAmount;
}

/** Native, per currency, in minor units. */
export interface RealTimeBalance {
  currency: string;
  /** Credit held by authorizations in force. */
  held: number;
  /** What the grants would pay for the usage not invoiced yet, rated now. */
  unbilled_usage: number;
  /** ledger - held - unbilled: the credit the customer can still spend. */
  real_time_available: number;
}

export interface CreditBalanceSummary {
  object: "billing.credit_balance_summary";
  customer: string;
  customer_account: null;
  balances: CreditBalance[];
  livemode: boolean;
  metered: { balances: RealTimeBalance[] };
}

export type CreditBalanceSummaryFilter =
  | { type: "credit_grant"; credit_grant: string }
  | {
      type: "applicability_scope";
      applicability_scope: { price_type: "metered" } | { prices: { id: string }[] };
    };

export interface CreditBalanceSummaryParams {
  customer: string;
  filter: CreditBalanceSummaryFilter;
}

export interface CreditBalanceTransaction {
  id: string;
  object: "billing.credit_balance_transaction";
  created: Timestamp;
  effective_at: Timestamp;
  credit_grant: string;
  type: "credit" | "debit";
  credit: {
    amount: MonetaryAmount;
    type: "credits_granted" | "credits_application_invoice_voided";
    credits_application_invoice_voided: { invoice: string; invoice_line_item: string } | null;
  } | null;
  debit: {
    amount: MonetaryAmount;
    type: "credits_applied" | "credits_expired" | "credits_voided";
    credits_applied: { invoice: string; invoice_line_item: string } | null;
  } | null;
  livemode: boolean;
  test_clock: string | null;
}

export interface CreditBalanceTransactionListParams extends ListParams {
  customer: string;
  credit_grant?: string;
}

/** Native: credit held before an expensive request (`/v1/metered/credit_holds`). */
export interface CreditHold {
  id: string;
  object: "metered.credit_hold";
  amount: number;
  captured_amount: number | null;
  created: Timestamp;
  currency: string;
  customer: string;
  expires_at: Timestamp;
  livemode: boolean;
  metadata: Metadata;
  status: "authorized" | "captured" | "released" | "expired";
}

export interface CreditHoldCreateParams {
  customer: string;
  /** Minor units; refused (402 `insufficient_credit`) beyond the real-time available balance. */
  amount: number;
  currency: string;
  /** Seconds; default 3600. */
  expires_in?: number;
  metadata?: MetadataParam;
}

export interface CreditHoldCaptureParams {
  /** What the request used, for the record. */
  amount?: number;
}

export interface CreditHoldListParams extends ListParams {
  customer?: string;
}
