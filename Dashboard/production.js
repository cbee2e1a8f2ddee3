// A machine's production on its page: the running order (operators start and end orders) and the
// settings its OEE is computed with (engineers set the ideal cycle time and the stop thresholds).
import { api } from "/assets/api.js";
import { may } from "/assets/app.js";
import { actionForm, el } from "/assets/ui.js";

/**
 * The current order, and for those who may operate: "End order" on a running one, a form to start
 * one otherwise. `changed()` runs after a change so the page shows it.
 */
export function orderPanel(container, running, path, changed) {
  const describe = running
    ? `Order ${running.id}: ${running.product}, target ${running.targetQuantity}, since ${new Date(running.start).toLocaleString()}`
    : "No production order running.";
  const parts = [el("p", { class: "order" }, describe)];
  if (may("operate") && running) {
    parts.push(actionForm({ id: "order-end" }, async () => {
      await api(`/api/v1/orders/${encodeURIComponent(running.id)}`, { method: "PUT", body: { ...running, end: Date.now() } });
      await changed();
    }, el("button", { type: "submit", class: "small secondary" }, "End order")));
  } else if (may("operate")) {
    const id = el("input", { id: "order-id", required: true, maxlength: 100, "aria-label": "Order number" });
    const product = el("input", { id: "order-product", required: true, "aria-label": "Product" });
    const target = el("input", { id: "order-target", type: "number", min: 0, required: true, "aria-label": "Target quantity" });
    parts.push(actionForm({ id: "order-start" }, async () => {
      await api(`/api/v1/orders/${encodeURIComponent(id.value.trim())}`, { method: "PUT",
        body: { machine: path, product: product.value.trim(), targetQuantity: Number(target.value), start: Date.now() } });
      await changed();
    }, el("h3", {}, "Start an order"), el("label", { for: "order-id" }, "Order"), id, el("label", { for: "order-product" }, "Product"), product,
    el("label", { for: "order-target" }, "Target"), target, el("button", { type: "submit" }, "Start order")));
  }
  container.replaceChildren(...parts);
}

/** Seconds in a form field ↔ milliseconds in the API. */
const seconds = (ms) => (ms === null || ms === undefined ? "" : String(ms / 1000));
const milliseconds = (text) => (text.trim() === "" ? null : Math.round(Number(text) * 1000));

/** The card with the machine's OEE settings, for those who may configure; null for everyone else. */
export async function settingsCard(path) {
  if (!may("configure")) return null;
  const query = `/api/v1/production-settings?machine=${encodeURIComponent(path)}`;
  let settings = await api(query);
  const number = (id, value, attributes = {}) => el("input", { id, type: "number", step: "any", min: 0, value: seconds(value), ...attributes });
  const cycle = number("setting-cycle", settings.idealCycleTime, { placeholder: "not set" });
  const microstop = number("setting-microstop", settings.microstopThreshold, { required: true });
  const timeout = number("setting-timeout", settings.noDataTimeout, { required: true });
  return el("section", { class: "card", id: "machine-settings" }, el("h2", {}, "Production settings"),
    el("p", { class: "hint" }, "Performance needs the ideal cycle time: the fastest a unit can be made. Stops shorter than the microstop threshold count against performance, not availability."),
    actionForm({}, async () => {
      const idealCycleTime = milliseconds(cycle.value);  // null: not set (the server reads null as absent)
      if (idealCycleTime !== null && idealCycleTime <= 0) throw new Error("The ideal cycle time must be more than 0 s.");
      settings = await api(query, { method: "PUT", body: { ...settings, idealCycleTime,
        microstopThreshold: milliseconds(microstop.value), noDataTimeout: milliseconds(timeout.value) } });
      return "Saved. The machine's KPIs follow.";
    },
    el("label", { for: "setting-cycle" }, "Ideal cycle time (s per unit)"), cycle,
    el("label", { for: "setting-microstop" }, "Microstop threshold (s)"), microstop,
    el("label", { for: "setting-timeout" }, "No data after (s, 0: never)"), timeout,
    el("button", { type: "submit" }, "Save settings")));
}

/**
 * The card where operators record scrap or rework found on the machine, with the last day's
 * entries (each withdrawable); null for those who may not operate.
 */
export async function qualityCard(path) {
  if (!may("operate")) return null;
  const list = el("ul", { id: "quality-entries", class: "entries" });
  const show = async () => {
    const to = Date.now();
    const { entries } = await api(`/api/v1/quality-entries?machine=${encodeURIComponent(path)}&from=${to - 86400e3}&to=${to + 1}`);
    list.replaceChildren(...entries.slice().reverse().map((entry) => el("li", { "data-id": entry.id },
      `${new Date(entry.time).toLocaleString()}: ${entry.quantity} ${entry.kind} (${entry.reason})${entry.note ? ` – ${entry.note}` : ""}, ${entry.enteredBy} `,
      el("button", { type: "button", class: "small secondary", onclick: async () => {
        await api(`/api/v1/quality-entries/${encodeURIComponent(entry.id)}`, { method: "DELETE" });
        await show();
      } }, "Withdraw"))));
    if (entries.length === 0) list.replaceChildren(el("li", { class: "empty" }, "Nothing recorded in the last 24 h."));
  };
  const kind = el("select", { id: "quality-kind", "aria-label": "Kind" }, el("option", { value: "scrap" }, "Scrap"), el("option", { value: "rework" }, "Rework"));
  const quantity = el("input", { id: "quality-quantity", type: "number", min: 1, max: 1000000, required: true, "aria-label": "Units" });
  const reason = el("input", { id: "quality-reason", required: true, maxlength: 64, pattern: "[A-Za-z0-9_.\\-]+", "aria-label": "Defect code",
    placeholder: "porosity" });
  const note = el("input", { id: "quality-note", maxlength: 500, "aria-label": "Note" });
  await show();
  return el("section", { class: "card", id: "machine-quality" }, el("h2", {}, "Quality"),
    el("p", { class: "hint" }, "Scrap is taken from the good units; rework stays good but lowers first-pass yield."),
    actionForm({ id: "quality-form" }, async () => {
      const entry = await api("/api/v1/quality-entries", { method: "POST",
        body: { machine: path, kind: kind.value, quantity: Number(quantity.value), reason: reason.value.trim(), ...(note.value.trim() ? { note: note.value.trim() } : {}) } });
      quantity.value = "";
      note.value = "";
      await show();
      return `Recorded ${entry.quantity} ${entry.kind} (${entry.reason}).`;
    }, el("label", { for: "quality-kind" }, "Kind"), kind, el("label", { for: "quality-quantity" }, "Units"), quantity,
    el("label", { for: "quality-reason" }, "Defect"), reason, el("label", { for: "quality-note" }, "Note"), note,
    el("button", { type: "submit" }, "Record")), list);
}
