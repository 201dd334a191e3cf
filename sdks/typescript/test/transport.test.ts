/** Retries, timeouts and errors over a fake fetch: no server. */

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  ApiConnectionError,
  ApiError,
  AuthenticationError,
  type Fetch,
  InvalidRequestError,
  Metered,
  RateLimitError,
} from "@metered/client";

const CUSTOMER = { id: "cus_1", object: "customer", name: "A" };

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", "request-id": `req_${status}`, ...headers },
  });
}

/** A fetch answering from `answers` in turn (a function throws instead), recording each call. */
function scripted(answers: (Response | (() => never))[]): {
  fetch: Fetch;
  calls: { url: string; init: RequestInit; at: number }[];
} {
  const calls: { url: string; init: RequestInit; at: number }[] = [];
  const fetch: Fetch = async (url, init) => {
    calls.push({ url, init, at: Date.now() });
    const next = answers.shift();
    if (next === undefined) throw new Error("no more scripted answers");
    if (typeof next === "function") return next();
    return next;
  };
  return { fetch, calls };
}

const header = (init: RequestInit, name: string): string | null =>
  new Headers(init.headers).get(name);
const networkDown = (): never => {
  throw new TypeError("fetch failed");
};

describe("transport", () => {
  test("retries 503 and a dropped connection with the same Idempotency-Key and body", async () => {
    const { fetch, calls } = scripted([
      json(503, { error: { type: "api_error", message: "busy" } }),
      networkDown,
      json(200, CUSTOMER),
    ]);
    const client = new Metered({ apiKey: "sk_test_x", baseUrl: "http://metered.test/", fetch });
    const customer = await client.customers.create({ name: "A", metadata: { k: "v" } });
    assert.equal(customer.id, "cus_1");
    assert.equal(calls.length, 3);
    const keys = new Set(calls.map((c) => header(c.init, "idempotency-key")));
    assert.equal(keys.size, 1);
    assert.match([...keys][0] ?? "", /^[0-9a-f-]{36}$/);
    assert.deepEqual(
      calls.map((c) => c.init.body),
      Array(3).fill("name=A&metadata[k]=v"),
    );
    assert.equal(calls[0]?.url, "http://metered.test/v1/customers");
    assert.equal(header(calls[0]!.init, "authorization"), "Bearer sk_test_x");
    assert.equal(header(calls[0]!.init, "content-type"), "application/x-www-form-urlencoded");
  });

  test("waits as long as Retry-After asks", async () => {
    const { fetch, calls } = scripted([
      json(
        429,
        { error: { type: "rate_limit_error", message: "slow down" } },
        { "retry-after": "0.3" },
      ),
      json(200, CUSTOMER),
    ]);
    const client = new Metered({ apiKey: "sk_test_x", fetch });
    await client.customers.retrieve("cus_1");
    assert.equal(calls.length, 2);
    assert.ok(
      calls[1]!.at - calls[0]!.at >= 290,
      `retried after ${calls[1]!.at - calls[0]!.at} ms`,
    );
  });

  test("gives up after maxRetries with the last error", async () => {
    const limited = json(
      429,
      { error: { type: "rate_limit_error", message: "slow down" } },
      { "retry-after": "0" },
    );
    const { fetch, calls } = scripted([limited, json(429, { error: { message: "again" } })]);
    const client = new Metered({ apiKey: "sk_test_x", fetch, maxRetries: 1 });
    const error = await client.customers.retrieve("cus_1").then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(error instanceof RateLimitError);
    assert.equal(error.message, "again");
    assert.equal(error.status, 429);
    assert.equal(calls.length, 2);

    const down = scripted([networkDown, networkDown]);
    const offline = new Metered({ apiKey: "sk_test_x", fetch: down.fetch, maxRetries: 1 });
    await assert.rejects(offline.customers.list(), ApiConnectionError);
    assert.equal(down.calls.length, 2);
  });

  test("does not retry a 400, nor a 2xx that is not JSON", async () => {
    const bad = {
      error: {
        type: "invalid_request_error",
        code: "parameter_missing",
        param: "display_name",
        message: "Missing",
      },
    };
    const { fetch, calls } = scripted([json(400, bad), new Response("<html>", { status: 200 })]);
    const client = new Metered({ apiKey: "sk_test_x", fetch });
    await assert.rejects(
      client.meters.retrieve("mtr_1"),
      (e: unknown) =>
        e instanceof InvalidRequestError && e.param === "display_name" && e.requestId === "req_400",
    );
    await assert.rejects(client.meters.retrieve("mtr_1"), ApiError);
    assert.equal(calls.length, 2);
  });

  test("times out each attempt", async () => {
    const hanging: Fetch = (_url, init) =>
      new Promise((_resolve, reject) => {
        init.signal?.addEventListener("abort", () =>
          reject(new DOMException("aborted", "AbortError")),
        );
      });
    const client = new Metered({
      apiKey: "sk_test_x",
      fetch: hanging,
      timeoutMs: 50,
      maxRetries: 0,
    });
    await assert.rejects(client.customers.retrieve("cus_1"), /timed out after 50 ms/);
  });

  test("an AbortSignal stops the call and its retries", async () => {
    const { fetch, calls } = scripted([json(503, {}), json(503, {}), json(503, {})]);
    const client = new Metered({ apiKey: "sk_test_x", fetch, maxRetries: 5 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error("stop")), 20);
    await assert.rejects(
      client.customers.retrieve("cus_1", undefined, { signal: controller.signal }),
      /stop/,
    );
    assert.ok(calls.length <= 2);
  });

  test("ids are escaped in paths, list filters go in the query", async () => {
    const { fetch, calls } = scripted([
      json(200, CUSTOMER),
      json(200, { object: "list", data: [], has_more: false, url: "/v1/prices" }),
    ]);
    const client = new Metered({ apiKey: "sk_test_x", fetch });
    await client.customers.retrieve("cus/../x", { expand: ["test_clock"] });
    await client.prices.list({
      recurring: { usage_type: "metered" },
      lookup_keys: ["a b"],
      limit: 3,
    });
    assert.equal(
      calls[0]?.url,
      "http://127.0.0.1:8080/v1/customers/cus%2F..%2Fx?expand[0]=test_clock",
    );
    assert.equal(
      calls[1]?.url,
      "http://127.0.0.1:8080/v1/prices?recurring[usage_type]=metered&lookup_keys[0]=a%20b&limit=3",
    );
    assert.equal(calls[1]?.init.body, undefined);
  });

  test("bad configuration fails at construction", () => {
    assert.throws(() => new Metered({ apiKey: "" }), AuthenticationError);
    assert.throws(
      () => new Metered({ apiKey: "sk_test_x", events: { batchSize: 20_000 } }),
      /batchSize must be an integer from 1 to 10000/,
    );
    assert.throws(
      () => new Metered({ apiKey: "sk_test_x", events: { maxRetries: -1 } }),
      RangeError,
    );
  });
});
