import type { ListParams } from "../pagination.js";
import type { ExpandParams, Expandable, Metadata, MetadataParam, Timestamp } from "./common.js";

export interface Product {
  id: string;
  object: "product";
  active: boolean;
  created: Timestamp;
  updated: Timestamp;
  name: string;
  description: string | null;
  default_price: Expandable<Price> | null;
  metadata: Metadata;
  unit_label: string | null;
  livemode: boolean;
  type: "service";
  images: string[];
  marketing_features: unknown[];
  package_dimensions: unknown;
  shippable: boolean | null;
  statement_descriptor: string | null;
  tax_code: string | null;
  url: string | null;
}

export interface ProductCreateParams extends ExpandParams {
  /** A custom id; default `prod_...`. */
  id?: string;
  name: string;
  description?: string;
  active?: boolean;
  metadata?: MetadataParam;
  unit_label?: string;
  default_price_data?: {
    currency: string;
    unit_amount?: number;
    unit_amount_decimal?: string;
    recurring?: { interval: RecurringInterval; interval_count?: number };
    metadata?: MetadataParam;
  };
}

export interface ProductUpdateParams extends ExpandParams {
  name?: string;
  description?: string | null;
  active?: boolean;
  metadata?: MetadataParam | null;
  unit_label?: string | null;
  default_price?: string;
}

export interface ProductListParams extends ListParams {
  active?: boolean;
  ids?: string[];
}

export type RecurringInterval = "day" | "week" | "month" | "year";

export interface PriceTier {
  /** The last tier's `up_to` is null (`"inf"` on create). */
  up_to: number | null;
  unit_amount: number | null;
  unit_amount_decimal: string | null;
  flat_amount: number | null;
  flat_amount_decimal: string | null;
}

export interface PriceRecurring {
  interval: RecurringInterval;
  interval_count: number;
  usage_type: "licensed" | "metered";
  /** The billing meter of a metered price. */
  meter: string | null;
  aggregate_usage: null;
  trial_period_days: number | null;
}

/** Native: rates by the meter's dimensions, and bounds on one billing period's cost. */
export interface PriceMetered {
  dimension_keys: string[];
  rates: { dimensions: Record<string, string>; unit_amount_decimal: string }[];
  minimum_amount: number | null;
  maximum_amount: number | null;
}

export interface Price {
  id: string;
  object: "price";
  active: boolean;
  created: Timestamp;
  currency: string;
  product: Expandable<Product>;
  type: "one_time" | "recurring";
  billing_scheme: "per_unit" | "tiered";
  /** Null when the amount has a fraction of the minor unit: see `unit_amount_decimal`. */
  unit_amount: number | null;
  unit_amount_decimal: string | null;
  tiers: PriceTier[] | null;
  tiers_mode: "graduated" | "volume" | null;
  transform_quantity: { divide_by: number; round: "up" | "down" } | null;
  recurring: PriceRecurring | null;
  lookup_key: string | null;
  nickname: string | null;
  metadata: Metadata;
  metered: PriceMetered | null;
  livemode: boolean;
  custom_unit_amount: null;
  tax_behavior: string;
}

export interface PriceTierParam {
  up_to: number | "inf";
  unit_amount?: number;
  unit_amount_decimal?: string;
  flat_amount?: number;
  flat_amount_decimal?: string;
}

export interface PriceCreateParams extends ExpandParams {
  currency: string;
  product?: string;
  product_data?: { name: string; metadata?: MetadataParam; unit_label?: string; active?: boolean };
  unit_amount?: number;
  /** Up to 12 decimal places of the minor unit, plain notation: "0.0003". */
  unit_amount_decimal?: string;
  billing_scheme?: "per_unit" | "tiered";
  tiers_mode?: "graduated" | "volume";
  tiers?: PriceTierParam[];
  transform_quantity?: { divide_by: number; round: "up" | "down" };
  recurring?: {
    interval: RecurringInterval;
    interval_count?: number;
    usage_type?: "licensed" | "metered";
    meter?: string;
  };
  lookup_key?: string;
  transfer_lookup_key?: boolean;
  nickname?: string;
  metadata?: MetadataParam;
  active?: boolean;
  /** Native dimensional rates and per-period bounds of a metered price. */
  metered?: {
    dimension_keys?: string[];
    rates?: { dimensions: Record<string, string>; unit_amount_decimal: string }[];
    minimum_amount?: number;
    maximum_amount?: number;
  };
}

export interface PriceUpdateParams extends ExpandParams {
  active?: boolean;
  metadata?: MetadataParam | null;
  nickname?: string | null;
  lookup_key?: string | null;
  transfer_lookup_key?: boolean;
}

export interface PriceListParams extends ListParams {
  active?: boolean;
  currency?: string;
  product?: string;
  type?: "one_time" | "recurring";
  lookup_keys?: string[];
  recurring?: { interval?: RecurringInterval; usage_type?: "licensed" | "metered"; meter?: string };
}
