import type { ListParams } from "../pagination.js";
import type { ExpandParams, Timestamp } from "./common.js";

/** `sum`, `count` and `last` are Stripe's; `max` and `unique_count` are native. */
export type MeterFormula = "sum" | "count" | "last" | "max" | "unique_count";
export type ValueGroupingWindow = "hour" | "day";

export interface Meter {
  id: string;
  object: "billing.meter";
  created: Timestamp;
  updated: Timestamp;
  display_name: string;
  event_name: string;
  status: "active" | "inactive";
  default_aggregation: { formula: MeterFormula };
  customer_mapping: { event_payload_key: string; type: "by_id" };
  value_settings: { event_payload_key: string };
  /** Native: payload keys usage can be grouped and priced by. */
  dimension_payload_keys: string[];
  event_time_window: ValueGroupingWindow | null;
  status_transitions: { deactivated_at: Timestamp | null };
  livemode: boolean;
}

export interface MeterCreateParams extends ExpandParams {
  display_name: string;
  event_name: string;
  default_aggregation: { formula: MeterFormula };
  /** Default: the payload key `stripe_customer_id`. */
  customer_mapping?: { event_payload_key: string; type: "by_id" };
  /** Default: the payload key `value`. */
  value_settings?: { event_payload_key: string };
  dimension_payload_keys?: string[];
  event_time_window?: ValueGroupingWindow;
}

export interface MeterUpdateParams extends ExpandParams {
  display_name?: string;
}

export interface MeterListParams extends ListParams {
  status?: "active" | "inactive";
}

export interface MeterEventSummary {
  id: string;
  object: "billing.meter_event_summary";
  /** Exact decimal, as a string ("0.3", "1250"). */
  aggregated_value: string;
  start_time: Timestamp;
  end_time: Timestamp;
  meter: string;
  livemode: boolean;
  /** With `group_by` (native): the group's dimension values. */
  dimensions?: Record<string, string | null>;
}

export interface MeterEventSummaryListParams extends ListParams {
  customer: string;
  /** Minute-aligned (hour- or day-aligned with `value_grouping_window`). */
  start_time: Timestamp;
  end_time: Timestamp;
  value_grouping_window?: ValueGroupingWindow;
  /** Native: split the summaries by these dimension keys. */
  group_by?: string[];
}

export interface UsageRow {
  start_time: Timestamp;
  end_time: Timestamp;
  dimensions: Record<string, string | null> | null;
  /** Exact decimal, as a string. */
  aggregated_value: string;
}

/** The native usage answer: every group and window of a range at once, unpaginated. */
export interface Usage {
  object: "metered.usage";
  meter: string;
  customer: string | null;
  start_time: Timestamp;
  end_time: Timestamp;
  value_grouping_window: ValueGroupingWindow | null;
  group_by: string[];
  formula: MeterFormula;
  data: UsageRow[];
}

export interface UsageParams {
  start_time: Timestamp;
  end_time: Timestamp;
  /** All customers when absent. */
  customer?: string;
  group_by?: string[];
  value_grouping_window?: ValueGroupingWindow;
}
