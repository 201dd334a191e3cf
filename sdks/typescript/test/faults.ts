/** fetch wrappers for the tests: record what is sent, fail on purpose, hold answers back. */

import type { Fetch } from "@metered/client";

export interface Sent {
  readonly method: string;
  readonly path: string;
  readonly idempotencyKey: string | null;
  readonly body: string;
  readonly at: number;
}

/** Every request sent through `inner` (the global fetch by default), in order. */
export function recording(inner: Fetch = (url, init) => fetch(url, init)): {
  fetch: Fetch;
  sent: Sent[];
} {
  const sent: Sent[] = [];
  const wrapped: Fetch = (url, init) => {
    const headers = new Headers(init.headers);
    sent.push({
      method: init.method ?? "GET",
      path: new URL(url).pathname,
      idempotencyKey: headers.get("idempotency-key"),
      body: typeof init.body === "string" ? init.body : "",
      at: Date.now(),
    });
    return inner(url, init);
  };
  return { fetch: wrapped, sent };
}

/**
 * Lets the first `times` requests matching `matches` reach the server, waits for its answer,
 * then throws as if the connection had dropped: the server applied them, the client never
 * heard.
 */
export function losingAnswers(
  matches: (url: string, init: RequestInit) => boolean,
  times = 1,
  inner: Fetch = (url, init) => fetch(url, init),
): { fetch: Fetch; lost: () => number } {
  let lost = 0;
  const wrapped: Fetch = async (url, init) => {
    const response = await inner(url, init);
    if (lost < times && matches(url, init)) {
      lost++;
      await response.arrayBuffer();
      throw new TypeError("fetch failed", { cause: new Error("socket hang up (injected)") });
    }
    return response;
  };
  return { fetch: wrapped, lost: () => lost };
}

/** Holds every request until `open()` is called (then lets them all through). */
export function gated(inner: Fetch = (url, init) => fetch(url, init)): {
  fetch: Fetch;
  open: () => void;
  held: () => number;
} {
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => (release = r));
  let held = 0;
  const wrapped: Fetch = async (url, init) => {
    held++;
    await gate;
    return inner(url, init);
  };
  return { fetch: wrapped, open: () => release(), held: () => held };
}

export const isBatch = (url: string, init: RequestInit): boolean =>
  init.method === "POST" && new URL(url).pathname === "/v1/metered/events/batch";

/** The events in a batch request body. */
export function eventsIn(body: string): { identifier: string; payload: Record<string, string> }[] {
  return JSON.parse(body) as { identifier: string; payload: Record<string, string> }[];
}

/** Minute boundaries around now, for usage queries. */
export function window(): { start_time: number; end_time: number } {
  const minute = Math.floor(Date.now() / 60_000) * 60;
  return { start_time: minute - 3600, end_time: minute + 120 };
}
