/**
 * `client.webhookEndpoints` (where events are delivered, signed) and `client.webhookEvents`
 * (Stripe's `/v1/events`: the events themselves; `client.events` is the meter events').
 */

import type { ListRequest } from "../pagination.js";
import type { RequestOptions } from "../transport.js";
import type { DeletedObject, ExpandParams } from "../types/common.js";
import type {
  Event,
  EventListParams,
  WebhookEndpoint,
  WebhookEndpointCreateParams,
  WebhookEndpointListParams,
  WebhookEndpointUpdateParams,
} from "../types/webhooks.js";
import { path, Resource } from "./resource.js";

export class WebhookEndpoints extends Resource {
  /** The answer carries the signing `secret` (`whsec_...`), this once. */
  create(params: WebhookEndpointCreateParams, options?: RequestOptions): Promise<WebhookEndpoint> {
    return this.post("/v1/webhook_endpoints", params, options);
  }

  retrieve(id: string, params?: ExpandParams, options?: RequestOptions): Promise<WebhookEndpoint> {
    return this.get(path`/v1/webhook_endpoints/${id}`, params, options);
  }

  update(
    id: string,
    params: WebhookEndpointUpdateParams,
    options?: RequestOptions,
  ): Promise<WebhookEndpoint> {
    return this.post(path`/v1/webhook_endpoints/${id}`, params, options);
  }

  del(id: string, options?: RequestOptions): Promise<DeletedObject<"webhook_endpoint">> {
    return this.delete(path`/v1/webhook_endpoints/${id}`, undefined, options);
  }

  list(params?: WebhookEndpointListParams, options?: RequestOptions): ListRequest<WebhookEndpoint> {
    return this.listAt("/v1/webhook_endpoints", params, options);
  }
}

export class WebhookEvents extends Resource {
  retrieve(id: string, options?: RequestOptions): Promise<Event> {
    return this.get(path`/v1/events/${id}`, undefined, options);
  }

  list(params?: EventListParams, options?: RequestOptions): ListRequest<Event> {
    return this.listAt("/v1/events", params, options);
  }
}
