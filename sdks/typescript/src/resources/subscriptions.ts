/** `client.subscriptions` and `client.subscriptionItems`: who pays which prices, and when. */

import type { ListRequest } from "../pagination.js";
import type { RequestOptions } from "../transport.js";
import type { DeletedObject, ExpandParams } from "../types/common.js";
import type {
  Subscription,
  SubscriptionCancelParams,
  SubscriptionCreateParams,
  SubscriptionItem,
  SubscriptionItemCreateParams,
  SubscriptionItemDeleteParams,
  SubscriptionItemListParams,
  SubscriptionItemUpdateParams,
  SubscriptionListParams,
  SubscriptionUpdateParams,
} from "../types/subscriptions.js";
import { path, Resource } from "./resource.js";

export class Subscriptions extends Resource {
  create(params: SubscriptionCreateParams, options?: RequestOptions): Promise<Subscription> {
    return this.post("/v1/subscriptions", params, options);
  }

  retrieve(id: string, params?: ExpandParams, options?: RequestOptions): Promise<Subscription> {
    return this.get(path`/v1/subscriptions/${id}`, params, options);
  }

  /** `items` changes close the item's current phase at this second (see docs/billing.md). */
  update(
    id: string,
    params: SubscriptionUpdateParams,
    options?: RequestOptions,
  ): Promise<Subscription> {
    return this.post(path`/v1/subscriptions/${id}`, params, options);
  }

  /** Cancel now; the usage so far is invoiced unless `invoice_now: false`. */
  cancel(
    id: string,
    params?: SubscriptionCancelParams,
    options?: RequestOptions,
  ): Promise<Subscription> {
    return this.delete(path`/v1/subscriptions/${id}`, params, options);
  }

  list(params?: SubscriptionListParams, options?: RequestOptions): ListRequest<Subscription> {
    return this.listAt("/v1/subscriptions", params, options);
  }
}

export class SubscriptionItems extends Resource {
  create(
    params: SubscriptionItemCreateParams,
    options?: RequestOptions,
  ): Promise<SubscriptionItem> {
    return this.post("/v1/subscription_items", params, options);
  }

  retrieve(id: string, params?: ExpandParams, options?: RequestOptions): Promise<SubscriptionItem> {
    return this.get(path`/v1/subscription_items/${id}`, params, options);
  }

  update(
    id: string,
    params: SubscriptionItemUpdateParams,
    options?: RequestOptions,
  ): Promise<SubscriptionItem> {
    return this.post(path`/v1/subscription_items/${id}`, params, options);
  }

  del(
    id: string,
    params?: SubscriptionItemDeleteParams,
    options?: RequestOptions,
  ): Promise<DeletedObject<"subscription_item">> {
    return this.delete(path`/v1/subscription_items/${id}`, params, options);
  }

  list(
    params: SubscriptionItemListParams,
    options?: RequestOptions,
  ): ListRequest<SubscriptionItem> {
    return this.listAt("/v1/subscription_items", params, options);
  }
}
