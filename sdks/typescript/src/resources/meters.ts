/** `client.meters`: billing meters, their event summaries and the native usage query. */

import type { ListRequest } from "../pagination.js";
import type { RequestOptions } from "../transport.js";
import type { ExpandParams } from "../types/common.js";
import type {
  Meter,
  MeterCreateParams,
  MeterEventSummary,
  MeterEventSummaryListParams,
  MeterListParams,
  MeterUpdateParams,
  Usage,
  UsageParams,
} from "../types/meters.js";
import { path, Resource } from "./resource.js";

export class Meters extends Resource {
  create(params: MeterCreateParams, options?: RequestOptions): Promise<Meter> {
    return this.post("/v1/billing/meters", params, options);
  }

  retrieve(id: string, params?: ExpandParams, options?: RequestOptions): Promise<Meter> {
    return this.get(path`/v1/billing/meters/${id}`, params, options);
  }

  update(id: string, params: MeterUpdateParams, options?: RequestOptions): Promise<Meter> {
    return this.post(path`/v1/billing/meters/${id}`, params, options);
  }

  list(params?: MeterListParams, options?: RequestOptions): ListRequest<Meter> {
    return this.listAt("/v1/billing/meters", params, options);
  }

  /** Events of a deactivated meter are rejected (`archived_meter`). */
  deactivate(id: string, options?: RequestOptions): Promise<Meter> {
    return this.post(path`/v1/billing/meters/${id}/deactivate`, undefined, options);
  }

  reactivate(id: string, options?: RequestOptions): Promise<Meter> {
    return this.post(path`/v1/billing/meters/${id}/reactivate`, undefined, options);
  }

  /**
   * One customer's usage over [start_time, end_time), one summary per window (the whole range
   * without `value_grouping_window`); `group_by` (native) splits them by dimension values.
   * Values are exact decimal strings. Reflects every event acknowledged before the call.
   */
  eventSummaries(
    id: string,
    params: MeterEventSummaryListParams,
    options?: RequestOptions,
  ): ListRequest<MeterEventSummary> {
    return this.listAt(path`/v1/billing/meters/${id}/event_summaries`, params, options);
  }

  /** Native: every group and window of a range in one answer, for one customer or all. */
  usage(id: string, params: UsageParams, options?: RequestOptions): Promise<Usage> {
    return this.get(path`/v1/metered/meters/${id}/usage`, params, options);
  }
}
