import type { ListParams } from "../pagination.js";
import type { ExpandParams, Expandable, Metadata, MetadataParam, Timestamp } from "./common.js";
import type { TestClock } from "./testClocks.js";

export interface Customer {
  id: string;
  object: "customer";
  created: Timestamp;
  email: string | null;
  name: string | null;
  description: string | null;
  metadata: Metadata;
  livemode: boolean;
  /** The clock the customer lives on (`expand: ["test_clock"]` for the object). */
  test_clock: Expandable<TestClock> | null;
  invoice_prefix: string;
  next_invoice_sequence: number;
  balance: number;
  currency: string | null;
  delinquent: boolean;
  address: unknown;
  phone: string | null;
  shipping: unknown;
  preferred_locales: string[];
  tax_exempt: string;
  invoice_settings: Record<string, unknown>;
  default_source: string | null;
  discount: unknown;
  /** Absent on a live customer: a deleted one is a DeletedObject (`deleted: true`). */
  deleted?: undefined;
}

export interface CustomerCreateParams extends ExpandParams {
  email?: string;
  name?: string;
  description?: string;
  metadata?: MetadataParam;
  /** A test clock (test mode): the customer lives on its time, for good. */
  test_clock?: string;
}

export interface CustomerUpdateParams extends ExpandParams {
  /** `null` (or "") clears a field. */
  email?: string | null;
  name?: string | null;
  description?: string | null;
  metadata?: MetadataParam | null;
}

export interface CustomerListParams extends ListParams {
  email?: string;
}
