/**
 * `client.invoices`: invoices are made by the billing cycle; `createPreview` shows the one the
 * current period will close with, from the usage acknowledged so far.
 */

import type { ListRequest } from "../pagination.js";
import type { RequestOptions } from "../transport.js";
import type { ExpandParams } from "../types/common.js";
import type {
  Invoice,
  InvoiceCreatePreviewParams,
  InvoiceFinalizeParams,
  InvoiceLineItem,
  InvoiceListParams,
  InvoiceUpdateParams,
} from "../types/invoices.js";
import type { ListParams } from "../pagination.js";
import { path, Resource } from "./resource.js";

export class Invoices extends Resource {
  /** The invoice of the current period (`subscription`) or of all of a `customer`'s. */
  createPreview(params: InvoiceCreatePreviewParams, options?: RequestOptions): Promise<Invoice> {
    return this.post("/v1/invoices/create_preview", params, options);
  }

  retrieve(id: string, params?: ExpandParams, options?: RequestOptions): Promise<Invoice> {
    return this.get(path`/v1/invoices/${id}`, params, options);
  }

  update(id: string, params: InvoiceUpdateParams, options?: RequestOptions): Promise<Invoice> {
    return this.post(path`/v1/invoices/${id}`, params, options);
  }

  list(params?: InvoiceListParams, options?: RequestOptions): ListRequest<Invoice> {
    return this.listAt("/v1/invoices", params, options);
  }

  listLineItems(
    id: string,
    params?: ListParams,
    options?: RequestOptions,
  ): ListRequest<InvoiceLineItem> {
    return this.listAt(path`/v1/invoices/${id}/lines`, params, options);
  }

  /** Finalize a draft before its grace period ends: numbered, immutable, credits applied. */
  finalize(id: string, params?: InvoiceFinalizeParams, options?: RequestOptions): Promise<Invoice> {
    return this.post(path`/v1/invoices/${id}/finalize`, params, options);
  }

  /** Mark an open invoice paid (no payment is collected). */
  pay(
    id: string,
    params?: { paid_out_of_band?: boolean },
    options?: RequestOptions,
  ): Promise<Invoice> {
    return this.post(path`/v1/invoices/${id}/pay`, params, options);
  }

  /** Void an open invoice; its credits are given back and its usage is never billed again. */
  void(id: string, options?: RequestOptions): Promise<Invoice> {
    return this.post(path`/v1/invoices/${id}/void`, undefined, options);
  }

  markUncollectible(id: string, options?: RequestOptions): Promise<Invoice> {
    return this.post(path`/v1/invoices/${id}/mark_uncollectible`, undefined, options);
  }
}
