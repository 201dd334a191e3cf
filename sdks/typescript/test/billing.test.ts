/**
 * Billing against a live server, on a test clock: a metered price, subscriptions, an invoice
 * preview, a credit grant and its balance, then a month later the period's invoices
 * finalized, paid and voided; alerts, webhook endpoints and events along the way.
 */

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import {
  type CreditGrant,
  type Customer,
  type Invoice,
  type Meter,
  Metered,
  type Price,
  type Product,
  type TestClock,
} from "@metered/client";
import { type LiveServer, startServer } from "./server.js";

const JAN_1 = Date.UTC(2025, 0, 1) / 1000;
const FEB_1 = Date.UTC(2025, 1, 1) / 1000;

let server: LiveServer;
let client: Metered;

// Shared by the steps below, which run in order.
let clock: TestClock;
let meter: Meter;
let price: Price;
let a: Customer; // pays with credits
let b: Customer; // pays
let c: Customer; // has its invoice voided
let grant: CreditGrant;
const subscriptions = new Map<string, string>();

before(async () => {
  server = await startServer();
  client = new Metered({ apiKey: server.apiKey, baseUrl: server.baseUrl });
});

after(async () => {
  await client?.close();
  await server?.stop();
});

describe("billing on a test clock", () => {
  test("a metered price, customers on a clock, subscriptions", async () => {
    clock = await client.testClocks.create({
      frozen_time: new Date(JAN_1 * 1000),
      name: "January",
    });
    assert.equal(clock.frozen_time, JAN_1);
    assert.equal(clock.status, "ready");

    meter = await client.meters.create({
      display_name: "Tokens",
      event_name: "tokens",
      default_aggregation: { formula: "sum" },
      dimension_payload_keys: ["model"],
    });
    price = await client.prices.create({
      currency: "usd",
      unit_amount_decimal: "0.5",
      product_data: { name: "Tokens" },
      recurring: { interval: "month", usage_type: "metered", meter: meter.id },
      expand: ["product"],
    });
    assert.equal(price.unit_amount, null);
    assert.equal(price.unit_amount_decimal, "0.5");
    assert.equal(price.recurring?.meter, meter.id);
    assert.equal((price.product as Product).name, "Tokens");

    const customers: Customer[] = [];
    for (const name of ["A", "B", "C"]) {
      customers.push(await client.customers.create({ name, test_clock: clock.id }));
    }
    [a, b, c] = customers as [Customer, Customer, Customer];
    assert.equal(a.test_clock, clock.id);
    assert.equal(a.created, JAN_1);
    const withClock = await client.customers.retrieve(a.id, { expand: ["test_clock"] });
    assert.ok(!withClock.deleted && typeof withClock.test_clock === "object");

    for (const customer of customers) {
      const sub = await client.subscriptions.create({
        customer: customer.id,
        items: [{ price: price.id }],
      });
      assert.equal(sub.status, "active");
      assert.equal(sub.current_period_start, JAN_1);
      assert.equal(sub.current_period_end, FEB_1);
      assert.equal(sub.items.data[0]?.price.id, price.id);
      subscriptions.set(customer.id, sub.id);
    }
    const items = await client.subscriptionItems.list({
      subscription: subscriptions.get(a.id) as string,
    });
    assert.equal(items.data.length, 1);
  });

  test("a credit grant and an alert", async () => {
    grant = await client.creditGrants.create({
      customer: a.id,
      name: "Prepaid",
      category: "paid",
      amount: { type: "monetary", monetary: { currency: "usd", value: 1000 } },
      applicability_config: { scope: { price_type: "metered" } },
    });
    assert.match(grant.id, /^credgr_/);
    assert.equal(grant.effective_at, JAN_1);

    const alert = await client.alerts.create({
      alert_type: "usage_threshold",
      title: "B passed 500 tokens",
      usage_threshold: {
        gte: 500,
        meter: meter.id,
        recurrence: "one_time",
        filters: [{ type: "customer", customer: b.id }],
      },
    });
    assert.equal(alert.status, "active");
    assert.deepEqual(
      (await client.alerts.list({ meter: meter.id })).data.map((x) => x.id),
      [alert.id],
    );
  });

  test("the preview and the real-time balance reflect the usage just sent", async () => {
    // Usage at the clock's time (no timestamp): A 300, B 1000, C 200 tokens.
    const usage = { [a.id]: 300, [b.id]: 1000, [c.id]: 200 };
    const batch = await client.events.sendBatch(
      Object.entries(usage).flatMap(([customer, tokens]) =>
        Array.from({ length: tokens / 100 }, () => ({
          event_name: "tokens",
          payload: { stripe_customer_id: customer, value: "100", model: "large" },
        })),
      ),
    );
    assert.equal(batch.accepted, 15);

    const preview = await client.invoices.createPreview({
      subscription: subscriptions.get(a.id) as string,
    });
    assert.equal(preview.id, null);
    assert.equal(preview.billing_reason, "upcoming");
    assert.equal(preview.subtotal, 150); // 300 tokens x 0.5 cent
    assert.equal(preview.total, 0); // paid by the grant
    assert.deepEqual(
      preview.total_pretax_credit_amounts.map((x) => x.amount),
      [150],
    );
    const line = preview.lines.data[0];
    assert.equal(line?.amount, 150);
    assert.equal(line?.quantity_decimal, "300");
    assert.equal(line?.metered.kind, "usage");
    assert.equal(line?.pricing?.unit_amount_decimal, "0.5");
    assert.deepEqual([line?.period.start, line?.period.end], [JAN_1, FEB_1]);
    const previewB = await client.invoices.createPreview({ customer: b.id });
    assert.equal(previewB.amount_due, 500);

    const balance = await client.creditBalanceSummary.retrieve({
      customer: a.id,
      filter: { type: "applicability_scope", applicability_scope: { price_type: "metered" } },
    });
    assert.equal(balance.balances[0]?.ledger_balance.monetary.value, 1000);
    assert.equal(balance.balances[0]?.available_balance.monetary.value, 1000);
    assert.deepEqual(balance.metered.balances[0], {
      currency: "usd",
      held: 0,
      unbilled_usage: 150,
      real_time_available: 850,
    });

    const endpoint = await client.webhookEndpoints.create({
      url: "https://example.test/hooks",
      enabled_events: ["invoice.paid"],
    });
    assert.match(endpoint.secret ?? "", /^whsec_/);
    assert.equal((await client.webhookEndpoints.retrieve(endpoint.id)).secret, undefined);
    assert.deepEqual(await client.webhookEndpoints.del(endpoint.id), {
      id: endpoint.id,
      object: "webhook_endpoint",
      deleted: true,
    });
  });

  test("a month later: invoices finalized, paid by credits, paid, voided", async () => {
    // Half an hour after the period's end: its invoices are drafts in their grace period.
    const advanced = await client.testClocks.advance(clock.id, { frozen_time: FEB_1 + 1800 });
    assert.equal(advanced.frozen_time, FEB_1 + 1800);
    assert.equal(advanced.status, "ready");

    const cycleDraft = async (customer: Customer): Promise<Invoice> => {
      const drafts = await client.invoices.list({ customer: customer.id, status: "draft" });
      assert.equal(drafts.data.length, 1);
      const draft = drafts.data[0] as Invoice;
      assert.equal(draft.billing_reason, "subscription_cycle");
      assert.deepEqual([draft.period_start, draft.period_end], [JAN_1, FEB_1]);
      return draft;
    };

    const invoiceA = await client.invoices.finalize((await cycleDraft(a)).id as string);
    assert.equal(invoiceA.status, "paid"); // nothing due: the grant paid it
    assert.equal(invoiceA.subtotal, 150);
    assert.equal(invoiceA.amount_due, 0);
    assert.match(invoiceA.number ?? "", /-\d{4}$/);

    const draftB = await cycleDraft(b);
    assert.equal(draftB.total, 500);
    const openB = await client.invoices.finalize(draftB.id as string);
    assert.equal(openB.status, "open");
    assert.equal(openB.amount_remaining, 500);
    const paidB = await client.invoices.pay(openB.id as string);
    assert.equal(paidB.status, "paid");
    assert.equal(paidB.status_transitions.paid_at, FEB_1 + 1800);

    const openC = await client.invoices.finalize((await cycleDraft(c)).id as string);
    const voidC = await client.invoices.void(openC.id as string);
    assert.equal(voidC.status, "void");
    const lines = await client.invoices.listLineItems(voidC.id as string);
    assert.deepEqual(
      lines.data.map((l) => [l.quantity, l.amount]),
      [[200, 100]],
    );
  });

  test("the credit ledger, and the events the month recorded", async () => {
    const spent = await client.creditBalanceSummary.retrieve({
      customer: a.id,
      filter: { type: "credit_grant", credit_grant: grant.id },
    });
    assert.equal(spent.balances[0]?.ledger_balance.monetary.value, 850);
    const ledger: string[] = [];
    for await (const txn of client.creditBalanceTransactions.list({ customer: a.id, limit: 1 })) {
      ledger.push(
        [
          txn.type,
          (txn.credit ?? txn.debit)?.type,
          (txn.credit ?? txn.debit)?.amount.monetary.value,
        ].join(":"),
      );
    }
    assert.deepEqual(ledger, ["debit:credits_applied:150", "credit:credits_granted:1000"]);

    const invoiceEvents = await client.webhookEvents
      .list({ type: "invoice.*" })
      .toArray({ limit: 100 });
    const paidB = await client.invoices.list({ customer: b.id, status: "paid" });
    const paidIds = new Set(paidB.data.map((invoice) => invoice.id));
    assert.equal(paidIds.size, 2, "the $0 creation invoice and the cycle's");
    const paidEvents = invoiceEvents.filter(
      (e) => e.type === "invoice.paid" && paidIds.has((e.data.object as { id: string | null }).id),
    );
    assert.equal(paidEvents.length, 2);
    const alerts = await client.webhookEvents.list({ type: "billing.alert.triggered" });
    assert.equal(alerts.data.length, 1, "B's alert fired once, when the clock advanced");
  });
});
