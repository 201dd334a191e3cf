/**
 * The background event sender against a live server: 10,000 events counted exactly once
 * through a lost answer, batching by size and by time, a full buffer, rejections reported,
 * undeliverable batches reported; and the direct calls (create, sendBatch, cancel).
 */

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import {
  ApiConnectionError,
  BufferFullError,
  EventDeliveryError,
  EventRejectedError,
  InvalidRequestError,
  Metered,
  type MeteredError,
  type MeteredOptions,
  type PreparedMeterEvent,
  SenderClosedError,
} from "@metered/client";
import { eventsIn, gated, isBatch, losingAnswers, recording, window } from "./faults.js";
import { type LiveServer, startServer } from "./server.js";

let server: LiveServer;
let admin: Metered;
let customerId: string;
const clients: Metered[] = [];

/** A client of the live server; closed after the tests. */
function connect(options: Partial<MeteredOptions> = {}): Metered {
  const client = new Metered({ apiKey: server.apiKey, baseUrl: server.baseUrl, ...options });
  clients.push(client);
  return client;
}

/** A fetch for a server that is down. */
const down: MeteredOptions["fetch"] = () => Promise.reject(new TypeError("fetch failed"));

/** A fresh meter (summing `value`) and its event name. */
async function meter(): Promise<{ id: string; eventName: string }> {
  const eventName = `tokens_${crypto.randomUUID().slice(0, 8)}`;
  const created = await admin.meters.create({
    display_name: "Tokens",
    event_name: eventName,
    default_aggregation: { formula: "sum" },
  });
  return { id: created.id, eventName };
}

/** The customer's usage of the last hour, exactly as the server sums it. */
async function usage(meterId: string): Promise<string> {
  const page = await admin.meters.eventSummaries(meterId, { customer: customerId, ...window() });
  assert.equal(page.data.length, 1, "one summary for the whole range");
  return page.data[0]!.aggregated_value;
}

before(async () => {
  server = await startServer();
  admin = connect();
  customerId = (await admin.customers.create({ name: "Sender" })).id;
});

after(async () => {
  for (const client of clients) await client.close().catch(() => undefined);
  await server?.stop();
});

describe("events.send (background sender)", () => {
  test("10,000 events count exactly once, though an answer was lost and resent", async () => {
    const { id, eventName } = await meter();
    const lossy = losingAnswers(isBatch, 1);
    const wire = recording(lossy.fetch);
    const errors: MeteredError[] = [];
    const client = connect({ fetch: wire.fetch, events: { onError: (e) => errors.push(e) } });

    let expectedTenths = 0n;
    const started = Date.now();
    for (let i = 0; i < 10_000; i++) {
      const tenths = (i % 97) * 10 + 5; // 0.5, 1.5, ... 96.5
      expectedTenths += BigInt(tenths);
      await client.events.send(eventName, { stripe_customer_id: customerId, value: `${i % 97}.5` });
    }
    await client.events.flush();
    const elapsed = Date.now() - started;

    assert.equal(lossy.lost(), 1, "the first batch's answer was dropped");
    assert.deepEqual(errors, []);
    const stats = client.events.stats;
    assert.equal(stats.accepted + stats.duplicate, 10_000);
    assert.equal(stats.failed + stats.rejected + stats.pending, 0);

    const batches = wire.sent.filter((s) => s.path === "/v1/metered/events/batch");
    assert.equal(batches.length, 11, "10 batches of 1000, one of them sent twice");
    assert.equal(new Set(batches.map((b) => b.idempotencyKey)).size, 10);
    const first = batches[0]!;
    const retry = batches.slice(1).find((b) => b.idempotencyKey === first.idempotencyKey);
    assert.ok(retry, "the lost batch was sent again with the same Idempotency-Key");
    assert.equal(retry.body, first.body, "... and the same identifiers");
    assert.equal(eventsIn(first.body).length, 1000);

    const expected = (Number(expectedTenths) / 10).toString();
    assert.equal(await usage(id), expected);
    assert.ok(elapsed < 60_000, `took ${elapsed} ms`);
  });

  test("without the Idempotency-Key replay, identifiers alone prevent a double count", async () => {
    const { id, eventName } = await meter();
    // Drop the answer, then strip the Idempotency-Key of the retry: the server sees a new
    // request carrying identifiers it already counted, and answers them `duplicate`.
    const lossy = losingAnswers(isBatch, 1);
    const stripKey: typeof lossy.fetch = (url, init) => {
      const headers = new Headers(init.headers);
      if (isBatch(url, init)) headers.set("Idempotency-Key", crypto.randomUUID());
      return lossy.fetch(url, { ...init, headers });
    };
    const client = connect({ fetch: stripKey });
    for (let i = 0; i < 300; i++)
      await client.events.send(eventName, { stripe_customer_id: customerId, value: "2" });
    await client.events.flush();
    assert.equal(lossy.lost(), 1);
    assert.deepEqual(client.events.stats, {
      accepted: 0,
      duplicate: 300,
      rejected: 0,
      failed: 0,
      pending: 0,
    });
    assert.equal(await usage(id), "600");
  });

  test("a partial batch goes when the oldest event has waited flushIntervalMs", async () => {
    const { id, eventName } = await meter();
    const wire = recording();
    const client = connect({ fetch: wire.fetch, events: { flushIntervalMs: 300 } });
    const sentAt = Date.now();
    const identifier = await client.events.send(eventName, {
      stripe_customer_id: customerId,
      value: "4",
    });
    await client.events.send(
      eventName,
      { stripe_customer_id: customerId, value: "3" },
      { identifier: "fixed-1" },
    );
    assert.match(identifier, /^[0-9a-f-]{36}$/);
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(wire.sent.length, 0, "not sent before the interval");
    await new Promise((r) => setTimeout(r, 600)); // no flush(): the timer sends it
    assert.equal(wire.sent.length, 1);
    const batch = wire.sent[0]!;
    assert.ok(batch.at - sentAt >= 290, `sent after ${batch.at - sentAt} ms`);
    assert.deepEqual(
      eventsIn(batch.body).map((e) => e.identifier),
      [identifier, "fixed-1"],
    );
    await client.events.flush();
    assert.equal(await usage(id), "7");
  });

  test("a full batch goes at once; flush() sends the rest without waiting", async () => {
    const { id, eventName } = await meter();
    const wire = recording();
    const client = connect({
      fetch: wire.fetch,
      events: { batchSize: 50, flushIntervalMs: 60_000 },
    });
    for (let i = 0; i < 120; i++)
      await client.events.send(eventName, { stripe_customer_id: customerId, value: "1" });
    const started = Date.now();
    await client.events.flush();
    assert.ok(Date.now() - started < 10_000);
    assert.deepEqual(
      wire.sent.map((s) => eventsIn(s.body).length),
      [50, 50, 20],
    );
    assert.equal(await usage(id), "120");
  });

  test("a full buffer throws in throw mode, and blocks in block mode", async () => {
    const { id, eventName } = await meter();
    const payload = { stripe_customer_id: customerId, value: "1" };

    const held = gated();
    const throwing = connect({
      fetch: held.fetch,
      events: { batchSize: 50, maxBufferedEvents: 100, onFull: "throw" },
    });
    for (let i = 0; i < 100; i++) await throwing.events.send(eventName, payload);
    await assert.rejects(
      throwing.events.send(eventName, payload),
      (e: unknown) => e instanceof BufferFullError && e.code === "buffer_full",
    );
    assert.equal(throwing.events.stats.pending, 100);
    held.open();
    await throwing.events.flush();
    await throwing.events.send(eventName, payload); // room again
    await throwing.events.flush();
    assert.equal(throwing.events.stats.accepted, 101);

    const held2 = gated();
    const blocking = connect({
      fetch: held2.fetch,
      events: { batchSize: 50, maxBufferedEvents: 100 },
    });
    for (let i = 0; i < 100; i++) await blocking.events.send(eventName, payload);
    let admitted = false;
    const waiting = blocking.events.send(eventName, payload).then(() => (admitted = true));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(admitted, false, "send() waits while the buffer is full");
    assert.equal(blocking.events.stats.pending, 101);
    held2.open();
    await waiting;
    await blocking.events.flush();
    assert.equal(blocking.events.stats.accepted, 101);
    assert.equal(await usage(id), "202");
  });

  test("rejected events go to onError; the others count", async () => {
    const { id, eventName } = await meter();
    const reported: { error: MeteredError; events: PreparedMeterEvent[] }[] = [];
    const client = connect({
      events: { onError: (error, events) => reported.push({ error, events }) },
    });
    await client.events.send(eventName, { stripe_customer_id: customerId, value: "5" });
    const bad = await client.events.send(eventName, {
      stripe_customer_id: "cus_nobody",
      value: "1",
    });
    await client.events.send(eventName, { stripe_customer_id: customerId, value: "1e400" });
    await client.events.send(`${eventName}_nometer`, {
      stripe_customer_id: customerId,
      value: "1",
    });
    await client.events.flush();

    assert.equal(reported.length, 3);
    const [customer, digits, noMeter] = reported;
    assert.ok(customer?.error instanceof EventRejectedError);
    assert.equal(customer.error.code, "meter_event_customer_not_found");
    assert.equal(customer.error.param, "payload[stripe_customer_id]");
    assert.equal(customer.error.identifier, bad);
    assert.equal(customer.events[0]?.identifier, bad);
    assert.deepEqual(customer.events[0]?.payload, { stripe_customer_id: "cus_nobody", value: "1" });
    assert.ok(digits?.error.code?.startsWith("meter_event_"), digits?.error.code);
    assert.equal(noMeter?.error.code, "no_meter");
    assert.deepEqual(
      { ...client.events.stats },
      { accepted: 1, duplicate: 0, rejected: 3, failed: 0, pending: 0 },
    );
    assert.equal(await usage(id), "5");
  });

  test("a batch out of retries goes to onError and fails flush(); resent, counts once", async () => {
    const { id, eventName } = await meter();
    const reported: { error: MeteredError; events: PreparedMeterEvent[] }[] = [];
    const client = connect({
      fetch: down,
      events: { maxRetries: 1, onError: (error, events) => reported.push({ error, events }) },
    });
    for (let i = 0; i < 3; i++)
      await client.events.send(eventName, { stripe_customer_id: customerId, value: "10" });
    await assert.rejects(
      client.events.flush(),
      (e: unknown) => e instanceof EventDeliveryError && e.failedEvents === 3,
    );
    assert.equal(reported.length, 1);
    assert.ok(reported[0]?.error instanceof ApiConnectionError);
    assert.equal(client.events.stats.failed, 3);

    const events = reported[0]?.events ?? [];
    const again = await admin.events.sendBatch([...events, ...events]);
    assert.deepEqual([again.accepted, again.duplicate], [3, 3]);
    assert.equal(await usage(id), "30");
  });

  test("close({timeoutMs}) gives up on a server that never answers, reporting every event", async () => {
    const { eventName } = await meter();
    const reported: { error: MeteredError; events: PreparedMeterEvent[] }[] = [];
    const client = connect({
      fetch: down, // retried until answered (the default): never
      events: {
        batchSize: 2,
        maxBufferedEvents: 4,
        onError: (error, events) => reported.push({ error, events }),
      },
    });
    const payload = { stripe_customer_id: customerId, value: "1" };
    for (let i = 0; i < 4; i++) await client.events.send(eventName, payload);
    const waiting = client.events.send(eventName, payload); // no room: waits
    await new Promise((r) => setTimeout(r, 50));
    await assert.rejects(
      client.close({ timeoutMs: 300 }),
      (e: unknown) => e instanceof EventDeliveryError && e.failedEvents === 4,
    );
    await assert.rejects(waiting, (e: unknown) => e instanceof SenderClosedError);
    assert.deepEqual(new Set(reported.map((r) => r.error.code)), new Set(["not_sent"]));
    assert.equal(reported.flatMap((r) => r.events).length, 4);
    assert.deepEqual(client.events.stats, {
      accepted: 0,
      duplicate: 0,
      rejected: 0,
      failed: 4,
      pending: 0,
    });
  });

  test("close() flushes, and send() after it rejects", async () => {
    const { id, eventName } = await meter();
    const client = connect({ events: { flushIntervalMs: 60_000 } });
    await client.events.send(eventName, { stripe_customer_id: customerId, value: "8" });
    await client.close();
    assert.equal(await usage(id), "8");
    await assert.rejects(
      client.events.send(eventName, { stripe_customer_id: customerId, value: "1" }),
      SenderClosedError,
    );
  });
});

describe("events: direct calls", () => {
  test("create, sendBatch with per-event outcomes, cancel", async () => {
    const { id, eventName } = await meter();
    const single = await admin.events.create({
      event_name: eventName,
      identifier: "req_1",
      payload: { stripe_customer_id: customerId, value: "0.1" },
    });
    assert.equal(single.identifier, "req_1");
    assert.equal(single.object, "billing.meter_event");
    await assert.rejects(
      admin.events.create({
        event_name: eventName,
        identifier: "req_1",
        payload: { stripe_customer_id: customerId, value: "0.1" },
      }),
      (e: unknown) => e instanceof InvalidRequestError && e.code === "duplicate_meter_event",
    );

    const result = await admin.events.sendBatch(
      [
        {
          event_name: eventName,
          identifier: "req_2",
          payload: { stripe_customer_id: customerId, value: "0.2" },
        },
        {
          event_name: eventName,
          identifier: "req_1",
          payload: { stripe_customer_id: customerId, value: "0.1" },
        },
        { event_name: eventName, payload: { stripe_customer_id: "cus_nobody", value: "1" } },
        {
          event_name: eventName,
          identifier: "req_3",
          payload: { stripe_customer_id: customerId, value: "7" },
        },
      ],
      { chunkSize: 2 },
    );
    assert.deepEqual([result.accepted, result.duplicate, result.rejected], [2, 1, 1]);
    assert.deepEqual(
      result.results.map((r) => [r.index, r.status]),
      [
        [0, "accepted"],
        [1, "duplicate"],
        [2, "rejected"],
        [3, "accepted"],
      ],
    );
    assert.equal(result.results[2]?.error?.code, "meter_event_customer_not_found");
    assert.equal(await usage(id), "7.3");

    const adjustment = await admin.events.cancel(eventName, "req_3");
    assert.equal(adjustment.cancel.identifier, "req_3");
    const viaStripeName = await admin.meterEventAdjustments.create({
      event_name: eventName,
      cancel: { identifier: "req_2" },
    });
    assert.equal(viaStripeName.object, "billing.meter_event_adjustment");
    assert.equal(await usage(id), "0.1");

    const grouped = await admin.meters.usage(id, { customer: customerId, ...window() });
    assert.equal(grouped.object, "metered.usage");
    assert.deepEqual(
      grouped.data.map((row) => row.aggregated_value),
      ["0.1"],
    );
  });
});
