/** `client.products` (`/v1/products`): what prices belong to. */

import type { ListRequest } from "../pagination.js";
import type { RequestOptions } from "../transport.js";
import type { DeletedObject, ExpandParams } from "../types/common.js";
import type {
  Product,
  ProductCreateParams,
  ProductListParams,
  ProductUpdateParams,
} from "../types/products.js";
import { path, Resource } from "./resource.js";

export class Products extends Resource {
  create(params: ProductCreateParams, options?: RequestOptions): Promise<Product> {
    return this.post("/v1/products", params, options);
  }

  retrieve(id: string, params?: ExpandParams, options?: RequestOptions): Promise<Product> {
    return this.get(path`/v1/products/${id}`, params, options);
  }

  update(id: string, params: ProductUpdateParams, options?: RequestOptions): Promise<Product> {
    return this.post(path`/v1/products/${id}`, params, options);
  }

  /** Only a product without prices: archive the others with `update(id, {active: false})`. */
  del(id: string, options?: RequestOptions): Promise<DeletedObject<"product">> {
    return this.delete(path`/v1/products/${id}`, undefined, options);
  }

  list(params?: ProductListParams, options?: RequestOptions): ListRequest<Product> {
    return this.listAt("/v1/products", params, options);
  }
}
