// The metered dashboard: one page, four tabs, each reading the JSON API with the secret key the
// user typed (kept in sessionStorage: it leaves with the tab). No framework; Chart.js draws.
"use strict";

const KEY_STORAGE = "metered.key";
const $ = (selector) => document.querySelector(selector);
const charts = {};

// --- the API --------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, error, path) {
    super(`${error.message || "Request failed"}`);
    this.status = status;
    this.error = error;
    this.path = path;
  }
}

async function api(method, path, params) {
  const query = params ? "?" + new URLSearchParams(params).toString() : "";
  let response;
  try {
    response = await fetch(path + query, {
      method,
      headers: { Authorization: "Bearer " + sessionStorage.getItem(KEY_STORAGE) },
    });
  } catch (exc) {
    throw new ApiError(0, { type: "network_error", message: `The server did not answer (${exc.message}).` }, path);
  }
  let body;
  try {
    body = await response.json();
  } catch (exc) {
    throw new ApiError(response.status, { type: "api_error", message: `Not JSON (HTTP ${response.status}).` }, path);
  }
  if (!response.ok) throw new ApiError(response.status, body.error || {}, path);
  return body;
}

function showError(exc) {
  const box = $("#error");
  if (exc instanceof ApiError) {
    const e = exc.error;
    box.textContent = `${exc.path} answered HTTP ${exc.status}: ${e.type || "error"}` +
      (e.code ? ` (${e.code})` : "") + (e.param ? ` on ${e.param}` : "") + `\n${e.message || ""}`;
  } else {
    box.textContent = String(exc && exc.stack ? exc.message : exc);
  }
  box.hidden = false;
}

function clearError() {
  $("#error").hidden = true;
  $("#error").textContent = "";
}

// --- formatting -----------------------------------------------------------------------------

function money(minorUnits, currency) {
  if (minorUnits === null || minorUnits === undefined) return "—";
  const format = new Intl.NumberFormat("en-US", { style: "currency", currency: currency.toUpperCase() });
  const digits = format.resolvedOptions().maximumFractionDigits;
  return format.format(Number(minorUnits) / 10 ** digits);
}

function utc(seconds, withTime = true) {
  if (!seconds) return "—";
  const text = new Date(seconds * 1000).toISOString().replace("T", " ");
  return withTime ? text.slice(0, 16) : text.slice(0, 10);
}

function quantity(value) {
  return Number(value).toLocaleString("en-US", { maximumFractionDigits: 12 });
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function emptyRow(tbody, columns, text) {
  const row = tbody.insertRow();
  const td = cell(row, text, "muted");
  td.colSpan = columns;
}

function drawChart(name, canvas, config) {
  if (charts[name]) charts[name].destroy();
  charts[name] = new Chart(canvas, config);
}

// --- tab 1: usage over time -----------------------------------------------------------------

let meters = [];

async function loadUsageControls() {
  meters = (await api("GET", "/v1/billing/meters", { limit: 100 })).data;
  const select = $("#usage-meter");
  select.replaceChildren(...meters.map((m) => new Option(`${m.display_name} (${m.event_name})`, m.id)));
  if (meters.length === 0) select.appendChild(new Option("no meters yet", ""));
  updateGroupChoices();
  if (meters.length) await showUsage();
}

function updateGroupChoices() {
  const meter = meters.find((m) => m.id === $("#usage-meter").value);
  const keys = (meter && meter.dimension_payload_keys) || [];
  $("#usage-group").replaceChildren(new Option("none", ""), ...keys.map((k) => new Option(k, k)));
}

async function showUsage() {
  const meterId = $("#usage-meter").value;
  if (!meterId) return;
  const grouping = $("#usage-window").value;
  const unit = grouping === "day" ? 86400 : 3600;
  const end = Math.floor(Date.now() / 1000 / unit) * unit + unit;  // the current window too
  const start = end - Math.ceil(Number($("#usage-range").value) / unit) * unit;
  const params = new URLSearchParams({ start_time: start, end_time: end, value_grouping_window: grouping });
  const customer = $("#usage-customer").value.trim();
  if (customer) params.set("customer", customer);
  const group = $("#usage-group").value;
  if (group) params.append("group_by[]", group);
  const usage = await api("GET", `/v1/metered/meters/${encodeURIComponent(meterId)}/usage`, params);
  renderUsage(usage, start, end, unit, group);
}

function renderUsage(usage, start, end, unit, group) {
  const label = (row) => (group ? `${group}=${row.dimensions ? row.dimensions[group] ?? "(none)" : "(none)"}` : "all");
  const windows = [];
  for (let t = start; t < end; t += unit) windows.push(t);
  const series = new Map();
  let total = 0;
  for (const row of usage.data) {
    const name = label(row);
    if (!series.has(name)) series.set(name, new Map());
    series.get(name).set(row.start_time, Number(row.aggregated_value));
    total += Number(row.aggregated_value);
  }
  const palette = ["#3d6fd6", "#e07b39", "#3a9d5d", "#b04ab8", "#c9a227", "#4ab0b0", "#d64545"];
  const datasets = [...series.entries()].map(([name, values], i) => ({
    label: name,
    data: windows.map((t) => values.get(t) ?? 0),
    borderColor: palette[i % palette.length],
    backgroundColor: palette[i % palette.length],
    tension: 0.2,
  }));
  drawChart("usage", $("#usage-chart"), {
    type: unit === 86400 ? "bar" : "line",
    data: { labels: windows.map((t) => utc(t, unit !== 86400)), datasets },
    options: {
      animation: false, maintainAspectRatio: false,
      scales: { x: { stacked: unit === 86400 }, y: { beginAtZero: true, stacked: unit === 86400 } },
      plugins: { title: { display: true, text: `${usage.meter} · ${usage.formula} per ${unit === 86400 ? "day" : "hour"}` } },
    },
  });
  $("#usage-total").textContent = usage.formula === "sum" || usage.formula === "count"
    ? `Total over the range: ${quantity(total)}` : `Formula: ${usage.formula}`;
  const tbody = $("#usage-table tbody");
  tbody.replaceChildren();
  for (const row of usage.data) {
    const tr = tbody.insertRow();
    cell(tr, utc(row.start_time));
    cell(tr, label(row));
    cell(tr, quantity(row.aggregated_value), "num");
  }
  if (usage.data.length === 0) emptyRow(tbody, 3, "No usage in this range.");
}

// --- tab 2: customers -----------------------------------------------------------------------

const CREDIT_FILTER = { "filter[type]": "applicability_scope", "filter[applicability_scope][price_type]": "metered" };

async function loadCustomers() {
  const customers = (await api("GET", "/v1/customers", { limit: 100 })).data;
  const tbody = $("#customers-table tbody");
  tbody.replaceChildren();
  if (customers.length === 0) emptyRow(tbody, 6, "No customers yet.");
  const rows = await Promise.all(customers.map(async (customer) => {
    const [preview, credit] = await Promise.all([
      api("POST", "/v1/invoices/create_preview", { customer: customer.id }).catch((exc) => exc),
      api("GET", "/v1/billing/credit_balance_summary", { customer: customer.id, ...CREDIT_FILTER }).catch((exc) => exc),
    ]);
    return { customer, preview, credit };
  }));
  for (const { customer, preview, credit } of rows) {
    const tr = tbody.insertRow();
    tr.dataset.customer = customer.id;
    const who = cell(tr, customer.name || customer.email || customer.id);
    who.appendChild(document.createElement("br"));
    const id = document.createElement("code");
    id.textContent = customer.id;
    who.appendChild(id);
    if (preview instanceof ApiError) {
      cell(tr, "no open period", "muted").title = preview.message;
      cell(tr, "—", "muted").title = preview.message;
      cell(tr, "—", "num muted").title = preview.message;
    } else {
      cell(tr, `${utc(preview.period_start, false)} → ${utc(preview.period_end, false)}`);
      const usage = preview.lines.data.filter((l) => l.metered && l.metered.kind === "usage");
      cell(tr, usage.map((l) => l.description || `${quantity(l.quantity_decimal)} units`).join("\n") || "none");
      const credits = preview.total_pretax_credit_amounts.reduce((sum, c) => sum + c.amount, 0);
      cell(tr, money(preview.total, preview.currency) + (credits ? `\n(${money(preview.subtotal, preview.currency)}` +
        ` less ${money(credits, preview.currency)} of credit)` : ""), "num preview-total");
    }
    if (credit instanceof ApiError) {
      cell(tr, credit.message, "muted");
      cell(tr, "—", "num muted");
    } else {
      const balances = credit.balances.map((b) => money(b.available_balance.monetary.value, b.available_balance.monetary.currency));
      cell(tr, balances.join(", ") || "none", "num credit-balance");
      const live = credit.metered.balances.map((b) => money(b.real_time_available, b.currency));
      cell(tr, live.join(", ") || "—", "num");
    }
  }
}

// --- tab 3: invoices ------------------------------------------------------------------------

async function loadInvoices() {
  const invoices = (await api("GET", "/v1/invoices", { limit: 100 })).data;
  const tbody = $("#invoices-table tbody");
  tbody.replaceChildren();
  if (invoices.length === 0) emptyRow(tbody, 7, "No invoices yet.");
  for (const invoice of invoices) {
    const tr = tbody.insertRow();
    tr.className = "invoice";
    tr.dataset.invoice = invoice.id;
    cell(tr, invoice.number || invoice.id);
    cell(tr, invoice.customer_name || invoice.customer);
    const status = cell(tr, "");
    const badge = document.createElement("span");
    badge.className = `status ${invoice.status}`;
    badge.textContent = invoice.status;
    status.appendChild(badge);
    cell(tr, `${utc(invoice.period_start, false)} → ${utc(invoice.period_end, false)}`);
    cell(tr, money(invoice.subtotal, invoice.currency), "num");
    const credits = invoice.total_pretax_credit_amounts.reduce((sum, c) => sum + c.amount, 0);
    cell(tr, credits ? "−" + money(credits, invoice.currency) : "—", "num");
    cell(tr, money(invoice.total, invoice.currency), "num invoice-total");
    tr.addEventListener("click", () => toggleLines(tr, invoice).catch(showError));
  }
}

async function toggleLines(tr, invoice) {
  const next = tr.nextElementSibling;
  if (next && next.classList.contains("lines")) {
    next.remove();
    return;
  }
  const lines = (await api("GET", `/v1/invoices/${encodeURIComponent(invoice.id)}/lines`, { limit: 100 })).data;
  const holder = document.createElement("tr");
  holder.className = "lines";
  const td = cell(holder, "");
  td.colSpan = 7;
  const table = document.createElement("table");
  table.innerHTML = "<thead><tr><th>Line</th><th>Kind</th><th>Period</th><th class=num>Quantity</th><th class=num>Unit amount (minor units)</th><th class=num>Amount</th></tr></thead>";
  const body = table.createTBody();
  for (const line of lines) {
    const row = body.insertRow();
    cell(row, line.description || line.id);
    cell(row, (line.metered && line.metered.kind) || "");
    cell(row, `${utc(line.period.start, false)} → ${utc(line.period.end, false)}`);
    cell(row, quantity(line.quantity_decimal), "num");
    const unit = line.pricing && line.pricing.unit_amount_decimal;
    cell(row, unit === null || unit === undefined ? "—" : unit, "num");
    cell(row, money(line.amount, line.currency), "num");
  }
  if (lines.length === 0) emptyRow(body, 6, "No lines.");
  td.appendChild(table);
  tr.after(holder);
}

// --- tab 4: rejected events -----------------------------------------------------------------

async function loadRejected() {
  const events = (await api("GET", "/v1/events", { type: "v1.billing.meter.error_report_triggered", limit: 100 })).data;
  const tbody = $("#rejected-table tbody");
  tbody.replaceChildren();
  const byCode = new Map();
  for (const event of events) {
    const report = event.data.object;
    for (const type of report.reason.error_types) {
      byCode.set(type.code, (byCode.get(type.code) || 0) + type.error_count);
      const tr = tbody.insertRow();
      tr.dataset.code = type.code;
      cell(tr, utc(event.created));
      cell(tr, report.event_name || "—");
      cell(tr, report.meter || "—");
      cell(tr, type.code);
      cell(tr, String(type.error_count), "num");
      cell(tr, type.sample_errors.map((s) => s.error_message + (s.request.identifier ? ` [${s.request.identifier}]` : "")).join("\n"));
    }
  }
  if (events.length === 0) emptyRow(tbody, 6, "No refused events reported.");
  drawChart("rejected", $("#rejected-chart"), {
    type: "bar",
    data: { labels: [...byCode.keys()], datasets: [{ label: "refused events", data: [...byCode.values()], backgroundColor: "#d64545" }] },
    options: { animation: false, maintainAspectRatio: false, indexAxis: "y", scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } },
  });
}

// --- the page -------------------------------------------------------------------------------

const LOADERS = { usage: loadUsageControls, customers: loadCustomers, invoices: loadInvoices, rejected: loadRejected };

async function openTab(name) {
  clearError();
  for (const button of document.querySelectorAll("#tabs button")) button.classList.toggle("active", button.dataset.tab === name);
  for (const section of document.querySelectorAll("section.tab")) section.hidden = section.id !== name;
  document.body.dataset.tab = name;
  document.body.dataset.loaded = "";
  try {
    await LOADERS[name]();
  } catch (exc) {
    showError(exc);
  } finally {
    document.body.dataset.loaded = name;  // the browser test waits on it
  }
}

async function signIn(key) {
  sessionStorage.setItem(KEY_STORAGE, key);
  try {
    await api("GET", "/v1/billing/meters", { limit: 1 });
  } catch (exc) {
    sessionStorage.removeItem(KEY_STORAGE);
    showError(exc);
    return;
  }
  clearError();
  $("#login").hidden = true;
  $("#tabs").hidden = false;
  $("#logout").hidden = false;
  $("#who").textContent = key.slice(0, 8) + "…" + key.slice(-4);
  await openTab("usage");
}

function signOut() {
  sessionStorage.removeItem(KEY_STORAGE);
  location.reload();
}

document.addEventListener("DOMContentLoaded", () => {
  $("#login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn($("#key").value.trim());
  });
  $("#logout").addEventListener("click", signOut);
  for (const button of document.querySelectorAll("#tabs button")) {
    button.addEventListener("click", () => openTab(button.dataset.tab));
  }
  $("#usage-meter").addEventListener("change", updateGroupChoices);
  $("#usage-form").addEventListener("submit", (event) => {
    event.preventDefault();
    clearError();
    document.body.dataset.loaded = "";
    showUsage().catch(showError).finally(() => { document.body.dataset.loaded = "usage"; });
  });
  const key = sessionStorage.getItem(KEY_STORAGE);
  if (key) signIn(key);
});
