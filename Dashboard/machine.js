// One machine: trend charts of chosen tags (live or a chosen range, drag to zoom), the state
// timeline, counters, the current order, and the stop list where an operator gives a reason in two clicks.
import { api, liveSocket } from "/assets/api.js";
import { may, setConnection } from "/assets/app.js";
import { trendChart, stateTimeline } from "/assets/chart.js";
import { orderPanel, qualityCard, settingsCard } from "/assets/production.js";
import { actionForm, el, duration, time } from "/assets/ui.js";
import { watchAlarms, alarmsOf } from "/assets/alarms.js";

const ranges = [["1 h", 3600e3], ["8 h", 8 * 3600e3], ["24 h", 24 * 3600e3], ["7 days", 7 * 86400e3]];

export async function renderMachine(main, path) {
  const [tags, reasons, settings, quality, maintenance, detectors] = await Promise.all([api(`/api/v1/tags?machine=${encodeURIComponent(path)}`), api("/api/v1/reasons"),
    settingsCard(path), qualityCard(path), maintenanceCard(path), api("/api/v1/detectors")]);
  const watching = detectors.items.filter((detector) => detector.machines.includes(path));
  const numeric = tags.tags.filter((tag) => ["double", "int"].includes(tag.value_type)).map((tag) => tag.name);
  let chosen = numeric.filter((name) => ["spindle_temp", "speed", "power"].includes(name)).slice(0, 2);
  if (chosen.length === 0) chosen = numeric.slice(0, 1);
  let span = 3600e3, fixed = null;

  const chooser = el("fieldset", { class: "chips" }, el("legend", {}, "Tags"),
    ...numeric.map((name) => el("label", {}, el("input", { type: "checkbox", value: name, checked: chosen.includes(name),
      onchange: (event) => { chosen = event.target.checked ? [...chosen, name] : chosen.filter((n) => n !== name); refresh(); } }), name)));
  /** Shows the last `span` ms live (`range` null) or a past range {from, to} (a drag across a chart, or dates typed in). */
  const show = (range) => {
    fixed = range;
    for (const button of rangeButtons.children) button.setAttribute("aria-pressed", String(!fixed && Number(button.dataset.span) === span));
    live.hidden = !fixed;
    refresh();
  };
  const rangeButtons = el("div", { class: "buttons", role: "group", "aria-label": "Range" },
    ...ranges.map(([label, ms]) => el("button", { type: "button", class: "secondary", "data-span": ms, "aria-pressed": String(ms === span),
      onclick: () => { span = ms; show(null); } }, label)));
  const live = el("button", { type: "button", class: "small", id: "back-to-live", hidden: true, onclick: () => show(null) }, "Back to live");
  // The next quarter of the range forecast with a 90 % band (numeric tags; off by default).
  let forecasting = false;
  const forecastButton = el("button", { type: "button", class: "small secondary", id: "forecast", "aria-pressed": "false",
    onclick: () => { forecasting = !forecasting; forecastButton.setAttribute("aria-pressed", String(forecasting)); drawCharts(); } }, "Forecast");
  const rangeFrom = el("input", { type: "datetime-local", id: "range-from", required: true, "aria-label": "From" });
  const rangeTo = el("input", { type: "datetime-local", id: "range-to", required: true, "aria-label": "To" });
  const rangeForm = actionForm({ id: "range-form" }, () => {
    const from = new Date(rangeFrom.value).getTime(), to = new Date(rangeTo.value).getTime();
    if (!(from < to)) throw new Error("The start must come before the end.");
    show({ from, to });
  }, el("label", { for: "range-from" }, "From"), rangeFrom, el("label", { for: "range-to" }, "to"), rangeTo,
    el("button", { type: "submit", class: "small secondary" }, "Show"));
  const charts = el("div", { class: "charts" });
  const timeline = el("div", { class: "timeline", "aria-label": "Stops on the time line" });
  const counters = el("dl", { class: "values counters" });
  const health = el("dl", { class: "values", id: "machine-health" });
  const order = el("div", { id: "machine-order" });
  const stopList = el("div", { class: "stops" });
  const alarmList = el("ul", { class: "machine-alarms" });
  const stopAlarms = watchAlarms((alarms) => {
    const mine = alarmsOf(alarms, path);
    alarmList.parentElement && (alarmList.parentElement.hidden = mine.length === 0);
    alarmList.replaceChildren(...mine.map((alarm) => el("li", { "data-rule": alarm.rule },
      el("span", { class: `severity ${alarm.severity}` }, alarm.severity), " ", alarm.rule_name, ` · ${alarm.state.replaceAll("_", " ")}`,
      alarm.active_since ? ` · since ${time(alarm.active_since)}` : "", " ", el("a", { href: "#/alarms" }, "Alarms"))));
  });
  main.replaceChildren(
    el("div", { class: "toolbar" }, el("h1", {}, path), el("a", { href: "#/floor" }, "← Floor"),
      el("a", { href: `#/oee/${encodeURIComponent(path)}`, id: "machine-oee" }, "OEE of this machine")),
    el("section", { class: "card", id: "machine-alarms", hidden: true }, el("h2", {}, "Active alarms"), alarmList),
    el("section", { class: "card" }, el("h2", {}, "Now"), counters, order),
    el("section", { class: "card", hidden: watching.length === 0 }, el("h2", {}, "Health"), health,
      el("p", { class: "hint" }, "Anomaly scores (0–1) and remaining life from the detectors watching this machine; tick their tags under Trends to chart them.")),
    el("section", { class: "card" }, el("h2", {}, "Trends"), chooser, rangeButtons, rangeForm,
      el("p", { class: "hint" }, "Drag across a chart to zoom. ", live, " ", forecastButton), charts),
    el("section", { class: "card" }, el("h2", {}, "State timeline"), timeline),
    el("section", { class: "card" }, el("h2", {}, "Stops"), stopList), ...[maintenance, quality, settings].filter(Boolean));

  const trends = new Map();    // tag → chart, for live points
  const counterValues = new Map();  // tag → <dd>, for live values
  const isCounter = (tag) => /count|state|fault/.test(tag);

  /** Charts for the chosen tags over the range, from the server's downsampled history. */
  async function drawCharts() {
    const to = fixed ? fixed.to : Date.now();
    const from = fixed ? fixed.from : to - span;
    const history = chosen.length
      ? await api(`/api/v1/history?machine=${encodeURIComponent(path)}&${chosen.map((t) => `tag=${t}`).join("&")}&from=${from}&to=${to}&points=600`)
      : { series: [] };
    charts.replaceChildren();
    trends.clear();
    const forecasts = forecasting && !fixed ? await Promise.all(history.series.map((series) => forecastOf(series, to - from))) : [];
    for (const [index, series] of history.series.entries()) {
      const canvas = el("canvas", { class: "chart", "data-tag": series.tag, "aria-label": `${series.tag} trend` });
      const forecast = forecasts[index];
      const note = forecast?.error ?? (forecast?.measuredCoverage !== undefined
        ? `forecast: its 90 % band held ${Math.round(forecast.measuredCoverage * 100)} % of the time on the last 7 days` : "");
      charts.append(el("h3", {}, `${series.tag}${series.unit ? ` (${series.unit})` : ""}`),
        note ? el("p", { class: "hint", "data-forecast-note": series.tag }, note) : "", canvas);
      trends.set(series.tag, trendChart(canvas, { series: [series], from, to, label: series.unit, forecast: forecast?.points ?? [],
                                                  onZoom: (from, to) => show({ from, to }) }));
    }
  }

  /** A numeric tag's forecast over the next quarter of `span`, or why there is none. */
  async function forecastOf(series, span) {
    if (series.value_type === "string") return null;
    const minutes = Math.max(1, Math.ceil(span / 240 / 60000));
    try {
      return await api(`/api/v1/forecast?machine=${encodeURIComponent(path)}&tag=${encodeURIComponent(series.tag)}&step=${minutes}m&steps=60`);
    } catch (error) { return { error: error.message }; }
  }

  /**
   * Stops, the timeline, counters and the order; every 10 s while live. The periodic refresh
   * (`periodic`) leaves alone what a person is working in: an open reason picker or split form, a focused order form.
   */
  async function refreshState({ periodic = false } = {}) {
    const to = fixed ? fixed.to : Date.now();
    const from = fixed ? fixed.from : to - span;
    const explained = watching.some((detector) => detector.kind === "pca");
    const [stops, latest, orders, events] = await Promise.all([
      api(`/api/v1/stops?machine=${encodeURIComponent(path)}&from=${from}&to=${to}`),
      api(`/api/v1/latest?machine=${encodeURIComponent(path)}`),
      api(`/api/v1/orders?machine=${encodeURIComponent(path)}&from=${to - 1}&to=${to}`),
      explained ? api(`/api/v1/detector-events?machine=${encodeURIComponent(path)}&from=${to - 7 * 86400000}&limit=50`) : { items: [] },
    ]);
    stateTimeline(timeline, { stops: stops.stops, from, to });
    counterValues.clear();
    counters.replaceChildren(...latest.values.filter((v) => isCounter(v.tag)).flatMap((v) => {
      const value = el("dd", { "data-quality": v.quality }, String(v.v));
      counterValues.set(v.tag, value);
      return [el("dt", {}, v.tag.replace("_", " ")), value];
    }));
    health.replaceChildren(...healthFigures(watching, latest.values, events.items));
    const busy = (node) => periodic && (node.contains(document.activeElement) || node.querySelector('[aria-expanded="true"]'));
    if (!busy(order)) orderPanel(order, orders.orders.findLast((o) => o.end === undefined || o.end === null || o.end > to), path, refreshState);
    if (!busy(stopList)) renderStops(stopList, stops.stops.slice().reverse(), reasons.reasons, path, refresh);
  }

  async function refresh() { await Promise.all([drawCharts(), refreshState()]); }

  // Live: the machine's samples extend the charts (unless a past range is shown) and update the counters, once per frame.
  let queued = [], frame = 0;
  const applyLive = () => {
    frame = 0;
    const to = Date.now();
    for (const [tag, chart] of trends) if (!fixed) chart.add(queued.filter((s) => s.tag === tag), to - span, to);
    for (const sample of queued) {
      const value = counterValues.get(sample.tag);
      if (value) { value.textContent = String(sample.v); value.dataset.quality = sample.quality; }
    }
    queued = [];
  };
  const socket = liveSocket(`/api/v1/live?machine=${encodeURIComponent(path)}`, {
    onMessage: (message) => { queued.push(...(message.samples || [])); if (!frame) frame = requestAnimationFrame(applyLive); },
    onState: setConnection,
  });
  await refresh();
  const timer = setInterval(() => { if (!fixed) refreshState({ periodic: true }).catch(() => {}); }, 10000);
  return () => { clearInterval(timer); socket.close(); cancelAnimationFrame(frame); stopAlarms(); };
}

function renderStops(container, stops, reasons, path, refresh) {
  if (stops.length === 0) { container.replaceChildren(el("p", { class: "empty" }, "No stops in this range.")); return; }
  const stopReasons = reasons.filter((r) => !["producing", "reduced_speed", "not_scheduled", "unknown"].includes(r.category));
  const rows = stops.map((stop) => {
    const cell = el("td", {}, stop.reason_name);
    if (may("operate")) {
      const picker = el("div", { class: "picker", hidden: true });
      for (const reason of stopReasons) {
        picker.append(el("button", { type: "button", "data-reason": `${reason.category}/${reason.code}`, onclick: async () => {
          try {
            await api("/api/v1/stops/reason", { method: "POST", body: { machine: path, start: stop.start, reason: `${reason.category}/${reason.code}` } });
            await refresh();
          } catch (error) { picker.replaceChildren(el("p", { class: "error", role: "alert" }, error.message)); }
        } }, reason.name));
      }
      const splitter = splitForm(stop, stopReasons, path, refresh);
      cell.append(" ", toggle("Set reason", picker, stop.start), " ", toggle("Split", splitter, stop.start), picker, splitter);
    }
    return el("tr", { "data-start": stop.start },
      el("td", {}, time(stop.start)), el("td", {}, stop.open ? `${duration(stop.duration_ms)} (running)` : duration(stop.duration_ms)),
      cell, el("td", {}, stop.fault_code || ""), el("td", {}, stop.assigned_by || "machine"));
  });
  container.replaceChildren(el("table", {},
    el("thead", {}, el("tr", {}, ...["Start", "Duration", "Reason", "Fault", "Reason from"].map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, ...rows)));
}

/** A small button that shows and hides `panel`. */
function toggle(label, panel, start) {
  return el("button", { type: "button", class: "small", "data-start": start, "data-action": label, "aria-expanded": "false",
    onclick: (event) => { panel.hidden = !panel.hidden; event.target.setAttribute("aria-expanded", String(!panel.hidden)); } }, label);
}

/** Splits a stop in two at a minute from its start, each part with its own reason (a jam that became a breakdown). */
function splitForm(stop, reasons, path, refresh) {
  const options = () => reasons.map((reason) => el("option", { value: `${reason.category}/${reason.code}` }, reason.name));
  const longest = Math.max(1, Math.floor(stop.duration_ms / 60000) - 1);
  const minutes = el("input", { type: "number", min: 1, max: longest, value: Math.min(5, longest), required: true, "aria-label": "Minutes from the start" });
  const first = el("select", { "aria-label": "Reason of the first part" }, ...options());
  const rest = el("select", { "aria-label": "Reason of the rest" }, ...options());
  return actionForm({ class: "inline split", hidden: true }, async () => {
    const parts = [{ end: stop.start + Number(minutes.value) * 60000, reason: first.value }, { reason: rest.value }];
    await api("/api/v1/stops/split", { method: "POST", body: { machine: path, start: stop.start, parts } });
    await refresh();
  }, el("label", {}, "First ", minutes, " min: "), first, el("label", {}, "then: "), rest,
    el("button", { type: "submit", class: "small" }, "Split stop"));
}

/** The machine's work orders, newest first, each linked to its page; the board proposes new work. */
async function maintenanceCard(path) {
  const orders = await api(`/api/v1/work-orders?machine=${encodeURIComponent(path)}&limit=20`);
  const rows = orders.items.map((order) => el("li", { "data-id": order.id },
    el("a", { href: `#/maintenance/${order.id}` }, `${order.id} · ${order.title}`), ` · ${order.kind} · ${order.status.replace("_", " ")}`,
    order.finishedAt ? ` · done ${time(order.finishedAt)}` : ""));
  return el("section", { class: "card", id: "machine-maintenance" }, el("h2", {}, "Maintenance"),
    rows.length ? el("ul", {}, ...rows) : el("p", { class: "empty" }, "No work orders yet."),
    el("p", {}, el("a", { href: "#/maintenance" }, "Maintenance board")));
}

/** Hours as people read them: minutes below one hour. */
function lifeText(hours) {
  return hours === undefined ? "–" : hours < 1 ? `${Math.round(hours * 60)} min` : `${Number(hours).toFixed(1)} h`;
}

/**
 * Each detector's latest anomaly score and, with a failure threshold, the remaining life it estimates;
 * for a detector of several signals, what its latest event of the week was made of (the explanation);
 * for a fleet model, the remaining life it estimates from the machine's signals.
 */
function healthFigures(detectors, values, events) {
  const latest = (tag) => values.find((value) => value.tag === tag)?.v;
  return detectors.flatMap((detector) => {
    if (detector.kind === "fleet_rul") {
      return [el("dt", {}, `remaining life by the fleet model (${detector.id}${detector.status === "shadow" ? ` v${detector.version}, shadow` : ""})`),
        el("dd", { "data-tag": detector.output }, lifeText(latest(detector.output)))];
    }
    const score = latest(detector.output);
    const name = detector.signals ? `${detector.signals.join(" + ")} together` : `${detector.tag} anomaly`;
    const figures = [el("dt", {}, `${name} (${detector.id}${detector.status === "shadow" ? ` v${detector.version}, shadow` : ""})`),
      el("dd", { "data-tag": detector.output }, score === undefined ? "–" : `${Number(score).toFixed(2)}${score >= detector.threshold ? " ⚠" : ""}`)];
    const explained = detector.signals && events.find((event) => event.detector === detector.id && event.contributions);
    if (explained) {
      figures.push(el("dt", {}, `why, at ${time(explained.peakTime)}`),
        el("dd", { "data-explanation": detector.id }, explained.contributions.map((c) => `${c.signal} ${Math.round(c.share * 100)} %`).join(", ")));
    }
    if (detector.failure) {
      const life = latest(detector.failure.output);
      figures.push(el("dt", {}, `remaining life to ${detector.tag} ${detector.failure.threshold}`),
        el("dd", { "data-tag": detector.failure.output }, lifeText(life)));
    }
    return figures;
  });
}
