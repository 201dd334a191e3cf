/** `client.prices` (`/v1/prices`): per-unit, package, tiered and (native) dimensional prices. */

import type { ListRequest } from "../pagination.js";
import type { RequestOptions } from "../transport.js";
import type { ExpandParams } from "../types/common.js";
import type {
  Price,
  PriceCreateParams,
  PriceListParams,
  PriceUpdateParams,
} from "../types/products.js";
import { path, Resource } from "./resource.js";

export class Prices extends Resource {
  create(params: PriceCreateParams, options?: RequestOptions): Promise<Price> {
    return this.post("/v1/prices", params, options);
  }

  retrieve(id: string, params?: ExpandParams, options?: RequestOptions): Promise<Price> {
    return this.get(path`/v1/prices/${id}`, params, options);
  }

  update(id: string, params: PriceUpdateParams, options?: RequestOptions): Promise<Price> {
    return this.post(path`/v1/prices/${id}`, params, options);
  }

  list(params?: PriceListParams, options?: RequestOptions): ListRequest<Price> {
    return this.listAt("/v1/prices", params, options);
  }
}
