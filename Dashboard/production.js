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
