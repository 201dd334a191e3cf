/** `client.alerts` (`/v1/billing/alerts`): usage thresholds, once per customer and period. */

import type { ListRequest } from "../pagination.js";
import type { RequestOptions } from "../transport.js";
import type { Alert, AlertCreateParams, AlertListParams } from "../types/alerts.js";
import type { ExpandParams } from "../types/common.js";
import { path, Resource } from "./resource.js";

export class Alerts extends Resource {
  create(params: AlertCreateParams, options?: RequestOptions): Promise<Alert> {
    return this.post("/v1/billing/alerts", params, options);
  }

  retrieve(id: string, params?: ExpandParams, options?: RequestOptions): Promise<Alert> {
    return this.get(path`/v1/billing/alerts/${id}`, params, options);
  }

  list(params?: AlertListParams, options?: RequestOptions): ListRequest<Alert> {
    return this.listAt("/v1/billing/alerts", params, options);
  }

  activate(id: string, options?: RequestOptions): Promise<Alert> {
    return this.post(path`/v1/billing/alerts/${id}/activate`, undefined, options);
  }

  deactivate(id: string, options?: RequestOptions): Promise<Alert> {
    return this.post(path`/v1/billing/alerts/${id}/deactivate`, undefined, options);
  }

  archive(id: string, options?: RequestOptions): Promise<Alert> {
    return this.post(path`/v1/billing/alerts/${id}/archive`, undefined, options);
  }
}
