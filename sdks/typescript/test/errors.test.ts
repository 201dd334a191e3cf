/** Stripe's error bodies, as typed errors, from a live server. */

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import {
  AuthenticationError,
  IdempotencyError,
  InvalidRequestError,
  Metered,
  MeteredError,
  type MeterFormula,
} from "@metered/client";
import { type LiveServer, startServer } from "./server.js";

let server: LiveServer;
let client: Metered;

before(async () => {
  server = await startServer();
  client = new Metered({ apiKey: server.apiKey, baseUrl: server.baseUrl });
});

after(async () => {
  await client?.close();
  await server?.stop();
});

/** The error `call` rejects with (failing the test if it resolves). */
async function failure(call: Promise<unknown>): Promise<MeteredError> {
  const outcome = await call.then(
    () => undefined,
    (error: unknown) => error,
  );
  assert.ok(outcome instanceof MeteredError, `expected a MeteredError, got ${String(outcome)}`);
  return outcome;
}

describe("typed errors", () => {
  test("404 resource_missing", async () => {
    const error = await failure(client.meters.retrieve("mtr_does_not_exist"));
    assert.ok(error instanceof InvalidRequestError);
    assert.equal(error.name, "InvalidRequestError");
    assert.equal(error.status, 404);
    assert.equal(error.type, "invalid_request_error");
    assert.equal(error.code, "resource_missing");
    assert.equal(error.param, "id");
    assert.match(error.message, /mtr_does_not_exist/);
    assert.match(error.requestId ?? "", /^req_/);
  });

  test("400 with the offending param", async () => {
    const missing = await failure(
      client.meters.create({ display_name: "x", event_name: "x" } as Parameters<
        typeof client.meters.create
      >[0]),
    );
    assert.ok(missing instanceof InvalidRequestError);
    assert.equal(missing.status, 400);
    assert.equal(missing.code, "parameter_missing");
    assert.equal(missing.param, "default_aggregation");

    const nested = await failure(
      client.meters.create({
        display_name: "x",
        event_name: "x",
        default_aggregation: { formula: "median" as MeterFormula },
      }),
    );
    assert.equal(nested.status, 400);
    assert.equal(nested.param, "default_aggregation[formula]");

    const price = await failure(
      client.prices.create({
        currency: "usd",
        unit_amount_decimal: "1E-3",
        product_data: { name: "x" },
      }),
    );
    assert.equal(price.param, "unit_amount_decimal");
  });

  test("401 for an unknown key", async () => {
    const stranger = new Metered({ apiKey: "sk_test_unknown", baseUrl: server.baseUrl });
    const error = await failure(stranger.customers.list());
    assert.ok(error instanceof AuthenticationError);
    assert.equal(error.status, 401);
    assert.equal(error.type, "authentication_error");
  });

  test("an Idempotency-Key reused with another body", async () => {
    const key = crypto.randomUUID();
    const first = await client.customers.create({ name: "once" }, { idempotencyKey: key });
    const replay = await client.customers.create({ name: "once" }, { idempotencyKey: key });
    assert.equal(replay.id, first.id, "the same call is replayed, not repeated");
    const error = await failure(
      client.customers.create({ name: "twice" }, { idempotencyKey: key }),
    );
    assert.ok(error instanceof IdempotencyError);
    assert.equal(error.type, "idempotency_error");
  });
});
