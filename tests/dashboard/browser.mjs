// The dashboard in Debian's Chromium, driven by playwright-core (dashboard/node_modules):
// sign in, open every tab, check what it shows, save a screenshot of each.
// Run by tests/dashboard/test_dashboard.py, which starts the server and prepares the data;
// it passes DASHBOARD_URL, DASHBOARD_KEY, DASHBOARD_EXPECT (JSON), DASHBOARD_ARTIFACTS, CHROMIUM.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "..", "..", "dashboard", "package.json"));
const { chromium } = require("playwright-core");

const url = process.env.DASHBOARD_URL;
const key = process.env.DASHBOARD_KEY;
const expected = JSON.parse(process.env.DASHBOARD_EXPECT);
const artifacts = process.env.DASHBOARD_ARTIFACTS;
const profile = mkdtempSync(path.join(tmpdir(), "metered-dashboard-chromium-"));

// A fresh, empty profile (--user-data-dir, which Playwright passes for a persistent context).
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  viewport: { width: 1280, height: 860 },
  timeout: 30_000,
});
const problems = [];
const step = (name) => console.log(`[${(performance.now() / 1000).toFixed(1)}s] ${name}`);

try {
  const page = await browser.newPage();
  page.setDefaultTimeout(10_000);
  page.on("console", (msg) => { if (msg.type() === "error") problems.push(`console: ${msg.text()}`); });
  page.on("pageerror", (exc) => problems.push(`page error: ${exc.message}`));
  page.on("request", (req) => {  // everything local: no request leaves the server
    if (!req.url().startsWith(new URL(url).origin)) problems.push(`external request: ${req.url()}`);
  });
  const loaded = (tab) => page.waitForSelector(`body[data-loaded="${tab}"]`);
  const noError = async () => assert.equal(await page.isHidden("#error"), true,
                                             await page.textContent("#error"));
  const text = (selector) => page.locator(selector).innerText();

  // A wrong key: the API's error, shown.
  step("login");
  await page.goto(url);
  await page.fill("#key", "sk_test_wrong");
  await page.click("#login-form button");
  await page.waitForSelector("#error:not([hidden])");
  assert.match(await text("#error"), /HTTP 401: authentication_error/);
  await page.screenshot({ path: `${artifacts}/login.png` });

  // The right key: the usage tab opens on the meter, a day by the hour.
  await page.fill("#key", key);
  await page.click("#login-form button");
  await loaded("usage");
  await noError();
  assert.equal(await page.evaluate(() => sessionStorage.getItem("metered.key")), key);

  step("usage");
  assert.equal(await page.inputValue("#usage-meter"), expected.meter);
  assert.match(await text("#usage-total"), /Total over the range: 175$/);
  const drawn = () => page.evaluate(() => {
    const canvas = document.querySelector("#usage-chart");
    const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    let painted = 0;
    for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted += 1;
    return { painted, width: canvas.width, chart: !!Chart.getChart(canvas) };
  });
  let canvas = await drawn();
  assert.ok(canvas.chart && canvas.width > 100 && canvas.painted > 2000, JSON.stringify(canvas));
  // Grouped by model, a day by the day: two groups, 125 large and 50 small.
  await page.selectOption("#usage-group", "model");
  await page.selectOption("#usage-window", "day");
  await page.selectOption("#usage-range", "604800");
  await page.evaluate(() => { document.body.dataset.loaded = ""; });
  await page.click("#usage-form button");
  await loaded("usage");
  await noError();
  const rows = await page.locator("#usage-table tbody tr").allInnerTexts();
  const sums = {};
  for (const row of rows) {
    const [, group, value] = row.split("\t");
    sums[group] = (sums[group] || 0) + Number(value.replace(/,/g, ""));
  }
  assert.deepEqual(sums, { "model=large": 125, "model=small": 50 });
  canvas = await drawn();
  assert.ok(canvas.painted > 2000, JSON.stringify(canvas));
  await page.screenshot({ path: `${artifacts}/usage.png`, fullPage: true });
  // A customer that doesn't exist: the API's 404, shown.
  await page.fill("#usage-customer", "cus_missing");
  await page.evaluate(() => { document.body.dataset.loaded = ""; });
  await page.click("#usage-form button");
  await loaded("usage");
  assert.match(await text("#error"), /HTTP 404: invalid_request_error \(resource_missing\)/);
  await page.fill("#usage-customer", "");

  step("customers");
  await page.click('#tabs button[data-tab="customers"]');
  await loaded("customers");
  await noError();
  const acme = await page.locator(`tr[data-customer="${expected.acme}"]`).innerText();
  assert.match(acme, /Acme Wall/);
  assert.match(acme, /25 × /);           // this period's usage: the event sent after subscribing
  assert.match(acme, /\$0\.00\s+\(\$0\.50 less \$0\.50 of credit\)/);  // 25 tokens at 2 cents
  assert.match(acme, /\$10\.00/);        // the grant's balance
  assert.match(acme, /\$9\.50/);         // less the unbilled usage
  const globex = await page.locator(`tr[data-customer="${expected.globex}"]`).innerText();
  assert.match(globex, /Globex Clock/);
  assert.match(globex, /2025-02-01 → 2025-03-01/);
  await page.screenshot({ path: `${artifacts}/customers.png`, fullPage: true });

  step("invoices");
  await page.click('#tabs button[data-tab="invoices"]');
  await loaded("invoices");
  await noError();
  const invoice = page.locator(`tr[data-invoice="${expected.invoice}"]`);
  const row = await invoice.innerText();
  assert.match(row, new RegExp(expected.invoice_number));
  assert.match(row, /\$20\.00/);
  assert.match(row, /−\$5\.00/);
  assert.match(row, /\$15\.00/);
  await invoice.click();
  const lines = page.locator(`tr[data-invoice="${expected.invoice}"] + tr.lines`);
  await lines.waitFor();
  const linesText = await lines.innerText();
  assert.match(linesText, /usage/);
  assert.match(linesText, /1,000/);
  assert.match(linesText, /\$20\.00/);
  await page.screenshot({ path: `${artifacts}/invoices.png`, fullPage: true });

  step("rejected");
  await page.click('#tabs button[data-tab="rejected"]');
  await loaded("rejected");
  await noError();
  const notFound = await page.locator('#rejected-table tr[data-code="meter_event_customer_not_found"]').first().innerText();
  assert.match(notFound, /dash_tokens/);
  assert.match(notFound, /cus_nobody/);
  assert.match(notFound, /\[bad1\]/);
  const invalid = await page.locator('#rejected-table tr[data-code="meter_event_invalid_value"]').first().innerText();
  assert.match(invalid, /\[bad2\]/);
  const bars = await page.evaluate(() => Chart.getChart(document.querySelector("#rejected-chart")).data.datasets[0].data);
  assert.equal(bars.reduce((a, b) => a + b, 0), 2);
  await page.screenshot({ path: `${artifacts}/rejected.png`, fullPage: true });

  // The tab keeps the key: a reload signs in again; signing out forgets it.
  await page.reload();
  await loaded("usage");
  await page.click("#logout");
  await page.waitForSelector("#login:not([hidden])");
  assert.equal(await page.evaluate(() => sessionStorage.getItem("metered.key")), null);

  // The 401 of the wrong key is the only console error expected.
  const unexpected = problems.filter((p) => !/status of 40[14]/.test(p));
  assert.deepEqual(unexpected, []);
  step("done");
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
