import type { ListParams } from "../pagination.js";
import type { ExpandParams } from "./common.js";

export interface Alert {
  id: string;
  object: "billing.alert";
  alert_type: "usage_threshold";
  status: "active" | "inactive" | "archived";
  title: string;
  livemode: boolean;
  usage_threshold: {
    filters: { type: "customer"; customer: string }[];
    /** A whole number, or an exact decimal string. */
    gte: number | string;
    meter: string;
    recurrence: "one_time";
  };
}

export interface AlertCreateParams extends ExpandParams {
  alert_type: "usage_threshold";
  title: string;
  usage_threshold: {
    gte: number | string;
    meter: string;
    recurrence: "one_time";
    filters?: { type: "customer"; customer: string }[];
  };
}

export interface AlertListParams extends ListParams {
  alert_type?: "usage_threshold";
  meter?: string;
}
