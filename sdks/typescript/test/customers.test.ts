/** Customers against a live server: create, retrieve, update, delete, and auto-pagination. */

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { type Customer, InvalidRequestError, Metered } from "@metered/client";
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

describe("customers", () => {
  test("create, retrieve, update, delete", async () => {
    const created = await client.customers.create({
      name: "Acme AI",
      email: "billing@acme.ai",
      description: "first",
      metadata: { plan: "pro", region: "eu" },
    });
    assert.match(created.id, /^cus_/);
    assert.equal(created.object, "customer");
    assert.deepEqual(created.metadata, { plan: "pro", region: "eu" });
    assert.equal(created.test_clock, null);

    const fetched = await client.customers.retrieve(created.id);
    assert.ok(!fetched.deleted);
    assert.equal(fetched.email, "billing@acme.ai");

    const updated = await client.customers.update(created.id, {
      name: "Acme AI Ltd",
      description: null,
      metadata: { region: null, tier: "gold" },
    });
    assert.equal(updated.name, "Acme AI Ltd");
    assert.equal(updated.description, null);
    assert.deepEqual(updated.metadata, { plan: "pro", tier: "gold" });

    const byEmail = await client.customers.list({ email: "billing@acme.ai" });
    assert.deepEqual(
      byEmail.data.map((c) => c.id),
      [created.id],
    );

    const deleted = await client.customers.del(created.id);
    assert.deepEqual(deleted, { id: created.id, object: "customer", deleted: true });
    const gone = await client.customers.retrieve(created.id);
    assert.equal(gone.deleted, true);
  });

  test("auto-pagination walks every page, forwards and backwards", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 23; i++) {
      ids.push(
        (await client.customers.create({ name: `page ${i}`, email: `p${i}@pages.test` })).id,
      );
    }
    const newestFirst = [...ids].reverse();

    const page = await client.customers.list({ limit: 10 });
    assert.equal(page.data.length, 10);
    assert.equal(page.has_more, true);
    assert.deepEqual(
      page.data.map((c) => c.id),
      newestFirst.slice(0, 10),
    );
    const second = await page.nextPage();
    assert.deepEqual(
      second?.data.map((c) => c.id),
      newestFirst.slice(10, 20),
    );

    const walked: string[] = [];
    for await (const customer of client.customers.list({ limit: 4 })) walked.push(customer.id);
    assert.deepEqual(walked, newestFirst);

    const firstTwelve = await client.customers.list({ limit: 5 }).toArray({ limit: 12 });
    assert.deepEqual(
      firstTwelve.map((c: Customer) => c.id),
      newestFirst.slice(0, 12),
    );

    // Backwards from the oldest: the newer ones, oldest first.
    const backwards: string[] = [];
    for await (const customer of client.customers.list({
      limit: 4,
      ending_before: ids[0] as string,
    })) {
      backwards.push(customer.id);
    }
    assert.deepEqual(backwards, ids.slice(1));
  });

  test("an unknown id is a 404 resource_missing", async () => {
    await assert.rejects(
      client.customers.update("cus_missing", { name: "x" }),
      (error: unknown) => {
        assert.ok(error instanceof InvalidRequestError);
        assert.equal(error.status, 404);
        assert.equal(error.code, "resource_missing");
        return true;
      },
    );
  });
});
