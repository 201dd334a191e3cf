/** The pure parts: Stripe's form encoding, exact decimals in answers, the retry policy and the
 * error mapping. No server. */

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  ApiError,
  AuthenticationError,
  IdempotencyError,
  InvalidRequestError,
  RateLimitError,
  encodeForm,
} from "@metered/client";
import { errorFromAnswer } from "../dist/errors.js";
import { nextChunkLength, utf8Length } from "../dist/events/batching.js";
import { DEFAULT_RETRY_POLICY, parseRetryAfterMs, retryDelayMs } from "../dist/retries.js";
import { parseAnswer } from "../dist/wire/json.js";

describe("encodeForm", () => {
  test("nests objects and arrays with brackets, as Stripe's SDKs do", () => {
    const body = encodeForm({
      a: { b: [{ c: "v" }, { c: "w", d: 2 }] },
      expand: ["test_clock"],
      metadata: { plan: "pro plan", é: "ü&=" },
    });
    assert.equal(
      body,
      "a[b][0][c]=v&a[b][1][c]=w&a[b][1][d]=2&expand[0]=test_clock" +
        "&metadata[plan]=pro%20plan&metadata[%C3%A9]=%C3%BC%26%3D",
    );
  });

  test("leaves out undefined and empty collections; null clears a field", () => {
    assert.equal(encodeForm({ a: undefined, b: null, c: [], d: {}, e: "" }), "b=&e=");
  });

  test("writes booleans, Dates as Unix seconds and numbers in plain notation", () => {
    const when = new Date(Date.UTC(2025, 0, 1, 0, 0, 30, 900));
    assert.equal(
      encodeForm({ t: true, f: false, when, n: 0.25, big: 12n }),
      "t=true&f=false&when=1735689630&n=0.25&big=12",
    );
  });

  test("refuses numbers that JavaScript would write with an exponent", () => {
    assert.throws(() => encodeForm({ unit_amount_decimal: 1e-7 }), /decimal string/);
    assert.throws(() => encodeForm({ x: Number.NaN }), TypeError);
  });
});

describe("parseAnswer", () => {
  test("keeps usage values exact, as strings", () => {
    const text =
      '{"data":[{"aggregated_value":12345678901234.567890123456,"end_time":60},' +
      '{"aggregated_value": 0.3},{"aggregated_value":-7}],"note":"\\"aggregated_value\\":1.5"}';
    const parsed = parseAnswer(text) as {
      data: { aggregated_value: string; end_time?: number }[];
      note: string;
    };
    assert.deepEqual(
      parsed.data.map((d) => d.aggregated_value),
      ["12345678901234.567890123456", "0.3", "-7"],
    );
    assert.equal(parsed.data[0]?.end_time, 60);
    assert.equal(parsed.note, '"aggregated_value":1.5');
  });
});

describe("retries", () => {
  test("full jitter under a doubling ceiling", () => {
    assert.equal(
      retryDelayMs(DEFAULT_RETRY_POLICY, 0, null, 0, () => 0.999_999),
      499.9995,
    );
    assert.equal(
      retryDelayMs(DEFAULT_RETRY_POLICY, 2, null, 0, () => 0.5),
      1000,
    );
    assert.equal(
      retryDelayMs(DEFAULT_RETRY_POLICY, 10, null, 0, () => 1),
      8000,
    );
    assert.equal(
      retryDelayMs(DEFAULT_RETRY_POLICY, 0, null, 0, () => 0),
      0,
    );
  });

  test("Retry-After is honoured when longer, up to a minute", () => {
    assert.equal(
      retryDelayMs(DEFAULT_RETRY_POLICY, 0, "3", 0, () => 0.5),
      3000,
    );
    assert.equal(
      retryDelayMs(DEFAULT_RETRY_POLICY, 3, "1", 0, () => 0.5),
      2000,
    );
    assert.equal(
      retryDelayMs(DEFAULT_RETRY_POLICY, 0, "3600", 0, () => 0.5),
      60_000,
    );
    const now = Date.UTC(2025, 0, 1);
    assert.equal(parseRetryAfterMs("Wed, 01 Jan 2025 00:00:05 GMT", now), 5000);
    assert.equal(parseRetryAfterMs("soon", now), undefined);
    assert.equal(parseRetryAfterMs(null, now), undefined);
  });
});

describe("errorFromAnswer", () => {
  test("maps Stripe's error types, keeping code, param and request id", () => {
    const body = {
      error: {
        type: "invalid_request_error",
        code: "resource_missing",
        param: "id",
        message: "No such customer",
      },
    };
    const error = errorFromAnswer(404, body, "req_1");
    assert.ok(error instanceof InvalidRequestError);
    assert.deepEqual(
      [error.status, error.code, error.param, error.requestId, error.message],
      [404, "resource_missing", "id", "req_1", "No such customer"],
    );
    const kinds: [number, string, Function][] = [
      [401, "authentication_error", AuthenticationError],
      [400, "idempotency_error", IdempotencyError],
      [409, "idempotency_error", IdempotencyError],
      [429, "rate_limit_error", RateLimitError],
      [503, "api_error", ApiError],
    ];
    for (const [status, type, Class] of kinds) {
      assert.ok(
        errorFromAnswer(status, { error: { type, message: "m" } }, undefined) instanceof Class,
        type,
      );
    }
  });

  test("falls back on the status when the body is not an error body", () => {
    assert.ok(errorFromAnswer(502, undefined, undefined) instanceof ApiError);
    assert.ok(errorFromAnswer(401, "nope", undefined) instanceof AuthenticationError);
    assert.ok(
      errorFromAnswer(429, { error: { type: "api_error" } }, undefined) instanceof RateLimitError,
    );
    assert.ok(errorFromAnswer(413, {}, undefined) instanceof InvalidRequestError);
  });
});

describe("batching", () => {
  test("chunks by count and by bytes; a single oversized event goes alone", () => {
    const sizes = [10, 10, 10, 10, 10];
    assert.equal(
      nextChunkLength((i) => sizes[i] ?? 0, 5, 3),
      3,
    );
    assert.equal(
      nextChunkLength((i) => sizes[i] ?? 0, 5, 10, 2 + 11 * 2),
      2,
    );
    assert.equal(
      nextChunkLength(() => 1000, 5, 10, 100),
      1,
    );
    assert.equal(utf8Length("aé€😀"), 1 + 2 + 3 + 4);
  });
});

describe("portability", () => {
  test("the built package uses no Node-only API", async () => {
    const { readdir, readFile } = await import("node:fs/promises");
    const dist = new URL("../dist/", import.meta.url);
    const files = (await readdir(dist, { recursive: true })).filter((f) => f.endsWith(".js"));
    assert.ok(files.length > 10);
    for (const file of files) {
      const code = await readFile(new URL(file, dist), "utf8");
      assert.doesNotMatch(
        code,
        /from "node:|require\(|\bprocess\.|\bBuffer\b(?!Full)|__dirname/,
        file,
      );
    }
  });
});
