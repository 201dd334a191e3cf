/** The base of every resource namespace: one method per API operation, each a thin call of
 * the transport naming the type its answer decodes to. */

import { type ListRequest, listRequest } from "../pagination.js";
import type { RequestOptions, Transport } from "../transport.js";

export abstract class Resource {
  protected readonly transport: Transport;

  constructor(transport: Transport) {
    this.transport = transport;
  }

  protected get<T>(path: string, query?: object, options?: RequestOptions): Promise<T> {
    return this.transport.request<T>({ method: "GET", path, query }, options);
  }

  protected post<T>(path: string, form?: object, options?: RequestOptions): Promise<T> {
    return this.transport.request<T>({ method: "POST", path, form }, options);
  }

  protected delete<T>(path: string, query?: object, options?: RequestOptions): Promise<T> {
    return this.transport.request<T>({ method: "DELETE", path, query }, options);
  }

  protected listAt<T extends { id?: string | null }>(
    path: string,
    params?: object,
    options?: RequestOptions,
  ): ListRequest<T> {
    return listRequest<T>(this.transport, path, params, options);
  }
}

/** A path from fixed parts and ids, each id percent-encoded. */
export function path(strings: TemplateStringsArray, ...ids: string[]): string {
  return strings.reduce(
    (out, part, i) => out + part + (i < ids.length ? encodeURIComponent(ids[i] as string) : ""),
    "",
  );
}
