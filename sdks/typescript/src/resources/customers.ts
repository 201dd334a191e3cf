/** `client.customers`: create, retrieve, update, delete and list (`/v1/customers`). */

import type { ListRequest } from "../pagination.js";
import type { RequestOptions } from "../transport.js";
import type { DeletedObject, ExpandParams } from "../types/common.js";
import type {
  Customer,
  CustomerCreateParams,
  CustomerListParams,
  CustomerUpdateParams,
} from "../types/customers.js";
import { path, Resource } from "./resource.js";

export class Customers extends Resource {
  create(params: CustomerCreateParams = {}, options?: RequestOptions): Promise<Customer> {
    return this.post("/v1/customers", params, options);
  }

  /** A deleted customer answers `{id, object, deleted: true}`, as on Stripe. */
  retrieve(
    id: string,
    params?: ExpandParams,
    options?: RequestOptions,
  ): Promise<Customer | DeletedObject<"customer">> {
    return this.get(path`/v1/customers/${id}`, params, options);
  }

  /** Change the fields given; `null` clears one, and a metadata key set to null is removed. */
  update(id: string, params: CustomerUpdateParams, options?: RequestOptions): Promise<Customer> {
    return this.post(path`/v1/customers/${id}`, params, options);
  }

  del(id: string, options?: RequestOptions): Promise<DeletedObject<"customer">> {
    return this.delete(path`/v1/customers/${id}`, undefined, options);
  }

  /** Newest first. Await it for a page, or `for await` over it for every customer. */
  list(params?: CustomerListParams, options?: RequestOptions): ListRequest<Customer> {
    return this.listAt("/v1/customers", params, options);
  }
}
