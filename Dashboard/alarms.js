// Alarms: the live list (filter, acknowledge in one click, shelve in two), the banner and counts
// that every page shows, the alarm-performance page (ISA-18.2 figures) and the rule editor with
// validation and a backtest preview.
import { api, liveSocket } from "/assets/api.js";
import { may, setConnection } from "/assets/app.js";
import { el, actionForm, duration, time } from "/assets/ui.js";

const severities = ["critical", "high", "medium", "low", "diagnostic"];
const stateNames = {
  normal: "Normal", active_unacknowledged: "Active, unacknowledged", active_acknowledged: "Active, acknowledged",
  returned_unacknowledged: "Cleared, unacknowledged", latched: "Latched", shelved: "Shelved", suppressed: "Suppressed",
  out_of_service: "Out of service",
};

/**
 * A link to what an alarm stands for: its machine's page, or for a rule on line or site KPIs (kept
 * under `…/line/_line` and `site/_site/_site`) the line's or site's OEE view.
 */
function assetLink(path) {
  const asset = path.endsWith("/_site/_site") ? path.slice(0, -12) : path.endsWith("/_line") ? path.slice(0, -6) : null;
  return asset ? el("a", { href: `#/oee/${asset}` }, asset) : el("a", { href: `#/machine/${path}` }, path);
}

// -- The standing alarms every page knows about (banner, floor tiles, machine page) -------------

let standing = [];
let stream = null;
const listeners = new Set();

/** Opens the tenant's live alarm stream once per sign-in; `listener` gets the standing alarms now and at every change. */
export function watchAlarms(listener) {
  listeners.add(listener);
  listener(standing);
  return () => listeners.delete(listener);
}

/** Starts (or stops, when signed out) the stream that feeds the banner and the listeners. */
export function alarmStream(signedIn) {
  if (!signedIn) { stream?.close(); stream = null; standing = []; showBanner(); return; }
  if (stream) return;
  stream = liveSocket("/api/v1/live/alarms?state=standing", {
    onMessage: (frame) => {
      standing = frame.items;
      showBanner();
      for (const listener of listeners) listener(standing);
    },
  });
}

function showBanner() {
  const banner = document.getElementById("alarm-banner");
  if (!banner) return;
  const unacknowledged = standing.filter((alarm) => !alarm.acknowledged);
  const worst = severities.find((severity) => standing.some((alarm) => alarm.severity === severity));
  banner.hidden = standing.length === 0;
  banner.dataset.severity = worst ?? "";
  banner.replaceChildren(el("a", { href: "#/alarms" },
    `⚠ ${standing.length} alarm${standing.length === 1 ? "" : "s"}`, unacknowledged.length ? ` · ${unacknowledged.length} unacknowledged` : ""));
}

/** The standing alarms of one machine, most severe first. */
export function alarmsOf(alarms, machine) { return alarms.filter((alarm) => alarm.machine === machine); }

// -- The alarm list ----------------------------------------------------------------------------

export async function renderAlarms(main) {
  const filter = el("select", { id: "alarm-filter", "aria-label": "Show" },
    el("option", { value: "standing" }, "Standing alarms"), el("option", { value: "all" }, "Every alarm"),
    ...Object.entries(stateNames).map(([value, name]) => el("option", { value }, name)));
  const search = el("input", { type: "search", id: "alarm-search", placeholder: "Machine or rule", "aria-label": "Search alarms" });
  const severity = el("select", { id: "alarm-severity", "aria-label": "Severity" },
    el("option", { value: "" }, "Any severity"), ...severities.map((name) => el("option", { value: name }, name)));
  const body = el("tbody", { id: "alarm-rows" });
  const table = el("table", { class: "alarms" },
    el("thead", {}, el("tr", {}, ...["Severity", "Alarm", "Machine", "State", "Since", "Value", ""].map((name) => el("th", {}, name)))), body);
  const links = el("p", {}, el("a", { href: "#/alarms/performance" }, "Alarm performance"),
    may("configure") ? [" · ", el("a", { href: "#/rules" }, "Rules")] : null);
  main.replaceChildren(el("div", { class: "toolbar" }, el("h1", {}, "Alarms"), filter, severity, search), links, table);

  let items = [];
  const shelving = new Map();  // alarms whose shelve form is open (rule + machine → its choice): kept when the list is drawn again
  const show = () => {
    const text = search.value.trim().toLowerCase();
    const rows = items.filter((alarm) => (!severity.value || alarm.severity === severity.value)
      && (!text || alarm.machine.toLowerCase().includes(text) || alarm.rule_name.toLowerCase().includes(text)));
    body.replaceChildren(...(rows.length ? rows.map((alarm) => row(alarm, shelving)) : [el("tr", {}, el("td", { colspan: 7, class: "empty" }, "No alarms."))]));
  };
  search.addEventListener("input", show);
  severity.addEventListener("change", show);
  let socket = null;
  const open = () => {
    socket?.close();
    socket = liveSocket(`/api/v1/live/alarms?state=${encodeURIComponent(filter.value)}`, {
      onMessage: (frame) => { items = frame.items; show(); }, onState: setConnection,
    });
  };
  filter.addEventListener("change", open);
  open();
  return () => socket?.close();
}

function row(alarm, shelving) {
  const since = alarm.active_since ?? alarm.last_change;
  const tr = el("tr", { "data-rule": alarm.rule, "data-machine": alarm.machine, "data-state": alarm.state },
    el("td", {}, el("span", { class: `severity ${alarm.severity}` }, alarm.severity)),
    el("td", {}, alarm.rule_name, alarm.chattering ? el("span", { class: "tag", title: "Activating often: notifications held" }, " chattering") : null),
    el("td", {}, assetLink(alarm.machine)),
    el("td", {}, stateNames[alarm.state] ?? alarm.state, alarm.shelved ? ` until ${new Date(alarm.shelved.until).toLocaleTimeString()}` : ""),
    el("td", { title: time(since) }, `${duration(Math.max(0, Date.now() - since))} ago`),
    el("td", {}, alarm.value ?? "–"),
    el("td", { class: "actions" }, actions(alarm, shelving)));
  return tr;
}

/** Acknowledge (one click), shelve (two: choose, confirm) and propose work (one, then the work order's page) for operators. */
function actions(alarm, shelving) {
  if (!may("operate")) return [];
  const target = { rule: alarm.rule, machine: alarm.machine };
  const status = el("span", { role: "status", class: "error" });
  const act = async (path, extra = {}) => {
    try { await api(`/api/v1/alarms/${path}`, { method: "POST", body: { ...target, ...extra } }); status.textContent = ""; } catch (error) { status.textContent = error.message; }
  };
  const buttons = [];
  if (!alarm.acknowledged && alarm.state !== "shelved" && alarm.state !== "out_of_service") {
    buttons.push(el("button", { type: "button", class: "ack", onclick: () => act("acknowledge") }, "Acknowledge"));
  }
  if (alarm.state === "shelved") {
    buttons.push(el("button", { type: "button", class: "unshelve", onclick: () => act("unshelve") }, "Unshelve"));
  } else if (alarm.state !== "out_of_service") {
    const key = `${alarm.rule}\u0000${alarm.machine}`;
    const choice = shelving.get(key);
    const minutes = el("select", { "aria-label": "Shelve for", onchange: () => remember() }, ...[[15, "15 min"], [60, "1 h"], [240, "4 h"], [480, "8 h"]]
      .map(([value, label]) => el("option", { value, selected: choice?.minutes === String(value) }, label)));
    const reason = el("input", { type: "text", value: choice?.reason ?? "Maintenance", "aria-label": "Reason", size: 12, oninput: () => remember() });
    const remember = () => shelving.set(key, { minutes: minutes.value, reason: reason.value });
    const form = el("span", { class: "shelve-form", hidden: !choice }, minutes, reason,
      el("button", { type: "button", class: "confirm-shelve", onclick: () => {
        shelving.delete(key);
        act("shelve", { minutes: Number(minutes.value), reason: reason.value || "Shelved" });
      } }, "Shelve"));
    buttons.push(el("button", { type: "button", class: "shelve", hidden: Boolean(choice),
      onclick: (event) => { event.target.hidden = true; form.hidden = false; remember(); } }, "Shelve…"), form);
  }
  buttons.push(el("button", { type: "button", class: "propose-work", onclick: async () => {
    try {
      const order = await api("/api/v1/work-orders/from-alarm", { method: "POST", body: target });
      location.hash = `#/maintenance/${order.id}`;
    } catch (error) { status.textContent = error.message; }
  } }, "Propose work"));
  return [...buttons, status];
}

// -- Alarm performance ---------------------------------------------------------------------------

export async function renderAlarmPerformance(main) {
  const span = el("select", { id: "performance-span", "aria-label": "Range" },
    el("option", { value: 86400000 }, "Last 24 hours"), el("option", { value: 7 * 86400000 }, "Last 7 days"),
    el("option", { value: 30 * 86400000 }, "Last 30 days"));
  const asset = el("input", { type: "text", id: "performance-asset", placeholder: "Site or area (all)", "aria-label": "Asset" });
  const out = el("div", { id: "performance" });
  main.replaceChildren(el("div", { class: "toolbar" }, el("h1", {}, "Alarm performance"), span, asset), out);
  const load = async () => {
    const to = Date.now();
    const query = new URLSearchParams({ from: String(to - Number(span.value)), to: String(to) });
    if (asset.value.trim()) query.set("asset", asset.value.trim());
    try { out.replaceChildren(...performanceView(await api(`/api/v1/alarms/performance?${query}`))); } catch (error) { out.replaceChildren(el("p", { class: "error" }, error.message)); }
  };
  span.addEventListener("change", load);
  asset.addEventListener("change", load);
  await load();
  return () => {};
}

function performanceView(p) {
  const figure = (label, value, note, id) => el("div", { class: "figure", "data-figure": id }, el("div", { class: "value" }, value), el("div", {}, label), note ? el("small", {}, note) : null);
  const fixed = (number) => number.toFixed(number < 10 ? 2 : 1);
  const total = p.activations || 1;
  return [
    el("div", { class: "figures" },
      figure("alarms per 10 min", fixed(p.average_per_10_minutes), "ISA-18.2: ~1 acceptable, ≤ 2 manageable", "rate"),
      figure("alarms per day", fixed(p.average_per_day), `${p.activations} in the range`, "per-day"),
      figure("10-min periods in flood", `${p.flood_percent.toFixed(1)} %`, `${p.flood_periods} of ${p.periods} (> 10 alarms); target < 1 %`, "flood"),
      figure("peak in 10 min", String(p.peak_10_minutes), p.peak_start ? time(p.peak_start) : "", "peak"),
      figure("chattering alarms", String(p.chattering_alarms), `${p.chattering_activations} activations`, "chattering"),
      figure("fleeting activations", String(p.fleeting_activations), "cleared within 10 s", "fleeting"),
      figure("stale alarms", String(p.stale_alarms), "active > 24 h", "stale"),
      figure("top 10 share", `${(p.top_ten_share * 100).toFixed(0)} %`, "of all activations", "top-share"),
      figure("median time to acknowledge", p.median_time_to_acknowledge_ms === null ? "–" : duration(p.median_time_to_acknowledge_ms), "", "ack"),
      figure("shelved / out of service now", `${p.now.shelved} / ${p.now.out_of_service}`, `${p.shelve_actions} shelved, ${p.out_of_service_actions} taken out in the range`, "shelved")),
    el("h2", {}, "Priority distribution"),
    el("table", { class: "priorities" }, el("tbody", {}, ...severities.map((severity) => el("tr", {},
      el("td", {}, el("span", { class: `severity ${severity}` }, severity)), el("td", {}, String(p.by_severity[severity])),
      el("td", {}, `${((p.by_severity[severity] / total) * 100).toFixed(1)} %`))))),
    el("h2", {}, "Top contributors"),
    el("table", { class: "contributors" },
      el("thead", {}, el("tr", {}, el("th", {}, "Rule"), el("th", {}, "Machine"), el("th", {}, "Activations"), el("th", {}, "Share"))),
      el("tbody", {}, ...p.top_contributors.map((c) => el("tr", {}, el("td", {}, c.rule), el("td", {}, assetLink(c.machine)),
        el("td", {}, String(c.activations)), el("td", {}, `${(c.share * 100).toFixed(1)} %`))))),
    el("h2", {}, "Areas"),
    el("table", { class: "areas" },
      el("thead", {}, el("tr", {}, el("th", {}, "Area"), el("th", {}, "Activations"), el("th", {}, "Per 10 min"), el("th", {}, "Peak"), el("th", {}, "Flood"))),
      el("tbody", {}, ...p.areas.map((a) => el("tr", {}, el("td", {}, a.scope), el("td", {}, String(a.activations)), el("td", {}, fixed(a.average_per_10_minutes)),
        el("td", {}, String(a.peak_10_minutes)), el("td", {}, `${a.flood_percent.toFixed(1)} %`))))),
    p.truncated ? el("p", { class: "error" }, "The range holds more journal lines than are read: the figures cover its beginning.") : null,
  ].filter(Boolean);
}

// -- Rules: list, editor with validation, backtest preview ----------------------------------------

export async function renderRules(main, id) {
  const { items } = await api("/api/v1/rules");
  const list = el("ul", { class: "rules", id: "rule-list" }, ...items.map((rule) => el("li", {},
    el("a", { href: `#/rules/${encodeURIComponent(rule.id)}` }, rule.name), ` · ${rule.severity} · `, el("code", {}, rule.condition),
    rule.enabled ? "" : " (disabled)")));
  const rule = items.find((candidate) => candidate.id === id) ?? { id: id ?? "", name: "", severity: "medium", condition: "", enabled: true };
  main.replaceChildren(el("h1", {}, "Rules"), list, el("h2", {}, id ? `Rule ${id}` : "New rule"), editor(rule, !id));
  return () => {};
}

function editor(rule, isNew) {
  const field = (label, input) => el("label", {}, label, input);
  const ruleID = el("input", { type: "text", id: "rule-id", value: rule.id, required: true, pattern: "[A-Za-z0-9_\\-]{1,64}", readonly: isNew ? null : true });
  const name = el("input", { type: "text", id: "rule-name", value: rule.name, required: true });
  const severity = el("select", { id: "rule-severity" }, ...severities.map((s) => el("option", { value: s, selected: s === rule.severity }, s)));
  const condition = el("textarea", { id: "rule-condition", rows: 4, cols: 60, spellcheck: "false" }, rule.condition);
  const scope = el("input", { type: "text", id: "rule-scope", value: rule.scope ?? "", placeholder: "every machine" });
  const enabled = el("input", { type: "checkbox", id: "rule-enabled", checked: rule.enabled });
  const verdict = el("p", { id: "rule-verdict", role: "status" });
  const preview = el("div", { id: "backtest" });
  const body = () => ({ name: name.value, severity: severity.value, condition: condition.value, enabled: enabled.checked,
    ...(scope.value.trim() ? { scope: scope.value.trim() } : {}) });
  const validate = async () => {
    try {
      const answer = await api("/api/v1/rules/validate", { method: "POST", body: body() });
      verdict.className = "";
      verdict.textContent = answer.waiting_for.length ? `Valid; waiting for tags not seen yet: ${answer.waiting_for.join(", ")}` : "Valid";
      return true;
    } catch (error) { verdict.className = "error"; verdict.textContent = error.message; return false; }
  };
  condition.addEventListener("change", validate);
  const backtest = async () => {
    if (!(await validate())) return;
    const to = Date.now();
    try {
      preview.replaceChildren(backtestView(await api("/api/v1/rules/backtest", { method: "POST", body: { rule: body(), from: to - 86400000, to } })));
    } catch (error) { preview.replaceChildren(el("p", { class: "error" }, error.message)); }
  };
  const save = actionForm({ class: "rule-editor", id: "rule-form" }, async () => {
    const saved = await api(`/api/v1/rules/${encodeURIComponent(ruleID.value)}`, { method: "PUT", body: body() });
    if (isNew) location.hash = `#/rules/${encodeURIComponent(saved.id)}`;
    return "Saved";
  }, field("Id", ruleID), field("Name", name), field("Severity", severity), field("Condition", condition), field("Scope", scope),
  field("Enabled", enabled), el("div", {},
    el("button", { type: "button", id: "rule-validate", onclick: validate }, "Validate"), " ",
    el("button", { type: "button", id: "rule-backtest", onclick: backtest }, "Backtest last 24 h"), " ",
    el("button", { type: "submit", id: "rule-save" }, "Save")));
  return el("div", {}, save, verdict, preview);
}

/** The alarms a backtest found, each machine's drawn as bars on a 24-hour timeline. */
function backtestView(result) {
  const span = result.to - result.from;
  const lanes = result.machines.map((machine) => el("div", { class: "lane" },
    el("span", { class: "lane-name" }, `${machine.machine} (${machine.count})`),
    el("span", { class: "lane-track" }, ...machine.alarms.map((alarm) => bar(alarm, result.from, span, result.to)))));
  return el("div", { class: "backtest" }, el("p", { id: "backtest-summary" },
    `${result.alarms} alarm${result.alarms === 1 ? "" : "s"} in the last 24 h on ${result.machines.filter((m) => m.count).length} machine(s); nobody was notified.`), ...lanes);
}

/** One alarm as a bar on the track (placed through the CSSOM: the page's policy refuses style attributes). */
function bar(alarm, from, span, to) {
  const node = el("span", { class: `bar ${alarm.severity}`,
    title: `${time(alarm.start)}${alarm.duration_ms !== null ? `, ${duration(alarm.duration_ms)}` : ", still active"}` });
  node.style.left = `${(((alarm.start - from) / span) * 100).toFixed(2)}%`;
  node.style.width = `${Math.max(0.3, (((alarm.end ?? to) - alarm.start) / span) * 100).toFixed(2)}%`;
  return node;
}
