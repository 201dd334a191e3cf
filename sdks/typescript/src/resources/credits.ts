/**
 * Credits: `client.creditGrants` (prepaid amounts), `client.creditBalanceSummary` and
 * `client.creditBalanceTransactions` (the ledger), and the native `client.creditHolds`.
 */

import type { ListRequest } from "../pagination.js";
import type { RequestOptions } from "../transport.js";
import type { ExpandParams } from "../types/common.js";
import type {
  CreditBalanceSummary,
  CreditBalanceSummaryParams,
  CreditBalanceTransaction,
  CreditBalanceTransactionListParams,
  CreditGrant,
  CreditGrantCreateParams,
  CreditGrantListParams,
  CreditGrantUpdateParams,
  CreditHold,
  CreditHoldCaptureParams,
  CreditHoldCreateParams,
  CreditHoldListParams,
} from "../types/credits.js";
import { path, Resource } from "./resource.js";

export class CreditGrants extends Resource {
  create(params: CreditGrantCreateParams, options?: RequestOptions): Promise<CreditGrant> {
    return this.post("/v1/billing/credit_grants", params, options);
  }

  retrieve(id: string, params?: ExpandParams, options?: RequestOptions): Promise<CreditGrant> {
    return this.get(path`/v1/billing/credit_grants/${id}`, params, options);
  }

  update(
    id: string,
    params: CreditGrantUpdateParams,
    options?: RequestOptions,
  ): Promise<CreditGrant> {
    return this.post(path`/v1/billing/credit_grants/${id}`, params, options);
  }

  list(params?: CreditGrantListParams, options?: RequestOptions): ListRequest<CreditGrant> {
    return this.listAt("/v1/billing/credit_grants", params, options);
  }

  /** What is left expires now (`credits_expired`). */
  expire(id: string, options?: RequestOptions): Promise<CreditGrant> {
    return this.post(path`/v1/billing/credit_grants/${id}/expire`, undefined, options);
  }

  void(id: string, options?: RequestOptions): Promise<CreditGrant> {
    return this.post(path`/v1/billing/credit_grants/${id}/void`, undefined, options);
  }
}

export class CreditBalanceSummaries extends Resource {
  /** Per currency: ledger and available balances, and (native) the real-time balance. */
  retrieve(
    params: CreditBalanceSummaryParams,
    options?: RequestOptions,
  ): Promise<CreditBalanceSummary> {
    return this.get("/v1/billing/credit_balance_summary", params, options);
  }
}

export class CreditBalanceTransactions extends Resource {
  retrieve(id: string, options?: RequestOptions): Promise<CreditBalanceTransaction> {
    return this.get(path`/v1/billing/credit_balance_transactions/${id}`, undefined, options);
  }

  list(
    params: CreditBalanceTransactionListParams,
    options?: RequestOptions,
  ): ListRequest<CreditBalanceTransaction> {
    return this.listAt("/v1/billing/credit_balance_transactions", params, options);
  }
}

/** Native (`/v1/metered/credit_holds`): hold credit before an expensive request. */
export class CreditHolds extends Resource {
  /** Rejects with InvalidRequestError `insufficient_credit` (402) beyond the available credit. */
  create(params: CreditHoldCreateParams, options?: RequestOptions): Promise<CreditHold> {
    return this.post("/v1/metered/credit_holds", params, options);
  }

  retrieve(id: string, options?: RequestOptions): Promise<CreditHold> {
    return this.get(path`/v1/metered/credit_holds/${id}`, undefined, options);
  }

  list(params?: CreditHoldListParams, options?: RequestOptions): ListRequest<CreditHold> {
    return this.listAt("/v1/metered/credit_holds", params, options);
  }

  /** End the hold once the request's usage has been sent as meter events. */
  capture(
    id: string,
    params?: CreditHoldCaptureParams,
    options?: RequestOptions,
  ): Promise<CreditHold> {
    return this.post(path`/v1/metered/credit_holds/${id}/capture`, params, options);
  }

  release(id: string, options?: RequestOptions): Promise<CreditHold> {
    return this.post(path`/v1/metered/credit_holds/${id}/release`, undefined, options);
  }
}
