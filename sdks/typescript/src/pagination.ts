/**
 * Lists, Stripe style. A list call returns a `ListRequest`: `await` it for one `Page`
 * (`data`, `has_more`, `nextPage()`), or loop over it with `for await` to walk every object,
 * the next pages fetched as the loop goes (with `starting_after`, or backwards with
 * `ending_before` when the first page was asked for that way).
 */

import type { RequestOptions, Transport } from "./transport.js";

/** Stripe's list answer as it comes over the wire. */
export interface ListEnvelope<T> {
  object: "list";
  data: T[];
  has_more: boolean;
  url: string | null;
  total_count?: number;
}

/** The paging parameters every list endpoint takes. */
export interface ListParams {
  /** 1 to 100; the server's default is 10. */
  limit?: number;
  /** An object id: the page after it (older objects: lists are newest first). */
  starting_after?: string;
  /** An object id: the page before it (newer objects); auto-paging then goes backwards. */
  ending_before?: string;
  expand?: string[];
}

interface Identified {
  readonly id?: string | null;
}

type Cursor = { starting_after?: string } | { ending_before?: string };

/** One page of a list, which knows how to fetch the ones after it. */
export class Page<T extends Identified> implements AsyncIterable<T> {
  readonly object = "list" as const;
  readonly data: T[];
  readonly has_more: boolean;
  readonly url: string | null;
  /** True when the list was asked for with `ending_before`: paging goes towards newer objects. */
  readonly backwards: boolean;
  readonly #fetch: (cursor: Cursor) => Promise<Page<T>>;

  constructor(
    envelope: ListEnvelope<T>,
    backwards: boolean,
    fetch: (cursor: Cursor) => Promise<Page<T>>,
  ) {
    this.data = envelope.data;
    this.has_more = envelope.has_more;
    this.url = envelope.url;
    this.backwards = backwards;
    this.#fetch = fetch;
  }

  /** The next page in the direction of travel, or null at the end. */
  async nextPage(): Promise<Page<T> | null> {
    if (!this.has_more || this.data.length === 0) return null;
    const edge = this.backwards ? this.data[0] : this.data[this.data.length - 1];
    const id = edge?.id;
    if (typeof id !== "string") throw new TypeError("Cannot page on from an object without an id.");
    return this.#fetch(this.backwards ? { ending_before: id } : { starting_after: id });
  }

  /** Every object from this page on: newest first, or oldest first when going backwards. */
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    let page: Page<T> | null = this;
    while (page !== null) {
      const items = page.backwards ? [...page.data].reverse() : page.data;
      yield* items;
      page = await page.nextPage();
    }
  }
}

/**
 * A list call: a promise of its first page that is also an async iterable of every object.
 * Nothing is fetched until it is awaited or iterated.
 */
export class ListRequest<T extends Identified> implements Promise<Page<T>>, AsyncIterable<T> {
  readonly [Symbol.toStringTag] = "ListRequest";
  readonly #load: () => Promise<Page<T>>;
  #first: Promise<Page<T>> | undefined;

  constructor(load: () => Promise<Page<T>>) {
    this.#load = load;
  }

  /** The first page (fetched once, however often it is awaited). */
  firstPage(): Promise<Page<T>> {
    this.#first ??= this.#load();
    return this.#first;
  }

  then<R1 = Page<T>, R2 = never>(
    onfulfilled?: ((page: Page<T>) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.firstPage().then(onfulfilled, onrejected);
  }

  catch<R = never>(
    onrejected?: ((reason: unknown) => R | PromiseLike<R>) | null,
  ): Promise<Page<T> | R> {
    return this.firstPage().catch(onrejected);
  }

  finally(onfinally?: (() => void) | null): Promise<Page<T>> {
    return this.firstPage().finally(onfinally);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    yield* await this.firstPage();
  }

  /** Up to `limit` objects, every page fetched as needed. */
  async toArray({ limit }: { limit: number }): Promise<T[]> {
    const out: T[] = [];
    if (limit <= 0) return out;
    for await (const item of this) {
      out.push(item);
      if (out.length >= limit) break;
    }
    return out;
  }
}

/** A `ListRequest` for GET `path` with `params` (filters and paging). */
export function listRequest<T extends Identified>(
  transport: Transport,
  path: string,
  params: object = {},
  options?: RequestOptions,
): ListRequest<T> {
  const { starting_after, ending_before, ...filters } = params as Record<string, unknown>;
  const backwards = typeof ending_before === "string";
  const load = async (cursor: object): Promise<Page<T>> => {
    const query = { ...filters, ...cursor };
    const envelope = await transport.request<ListEnvelope<T>>(
      { method: "GET", path, query },
      options,
    );
    return new Page(envelope, backwards, load);
  };
  return new ListRequest(() => load({ starting_after, ending_before }));
}
