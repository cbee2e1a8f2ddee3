// OEE: A/P/Q/OEE per shift, day or week for a machine, line or site, over the last days or chosen
// dates; the trend; the downtime Pareto; TEEP, MTBF, MTTR. The layout prints; the figures download as CSV.
import { api } from "/assets/api.js";
import { barChart, ratioLines } from "/assets/chart.js";
import { el, percent, duration, saveFile, time } from "/assets/ui.js";

/** The OEE view; `chosen` (from `#/oee/<asset path>`) preselects a site, area, line or machine. */
export async function renderOEE(main, chosen = "") {
  const { sites } = await api("/api/v1/assets");
  const assets = [];
  const collect = (node) => {
    if (typeof node === "string") { assets.push(node); return; }
    if (node.path) assets.push(node.path);
    for (const key of ["areas", "lines", "machines"]) for (const child of node[key] || []) collect(child);
  };
  sites.forEach(collect);
  const asset = el("select", { id: "oee-asset", "aria-label": "Asset" }, el("option", { value: "" }, "All machines"),
    ...assets.map((a) => el("option", { value: a, selected: a === chosen }, a)));
  const period = el("select", { id: "oee-period", "aria-label": "Period" },
    ...[["shift", "Per shift"], ["day", "Per day"], ["week", "Per week"]].map(([v, l]) => el("option", { value: v }, l)));
  const days = el("select", { id: "oee-days", "aria-label": "Range" },
    ...[[1, "Last 24 h"], [7, "Last 7 days"], [30, "Last 30 days"], ["custom", "Dates…"]].map(([v, l]) => el("option", { value: v }, l)));
  const today = localDate(new Date());
  const first = el("input", { type: "date", id: "oee-from", "aria-label": "First day", value: today, max: today });
  const last = el("input", { type: "date", id: "oee-to", "aria-label": "Last day", value: today, max: today });
  const dates = el("span", { class: "dates", hidden: true }, first, "–", last);
  const output = el("div", { id: "oee-output" });
  let report = null;
  const csv = el("button", { type: "button", class: "secondary", id: "oee-csv", onclick: () => report && saveFile(reportCSV(report), "oee.csv", "text/csv") },
    "Download CSV");
  main.replaceChildren(el("div", { class: "toolbar" }, el("h1", {}, "OEE"), asset, period, days, dates,
    el("button", { type: "button", onclick: () => window.print() }, "Print"), csv), output);
  /** The range asked for: the last days up to now, or whole local days from the first date to the last. */
  const range = () => {
    if (days.value !== "custom") { const to = Date.now(); return { from: to - Number(days.value) * 86400e3, to }; }
    const from = new Date(`${first.value}T00:00`), to = new Date(`${last.value}T00:00`);
    to.setDate(to.getDate() + 1);
    return { from: from.getTime(), to: Math.min(to.getTime(), Date.now()) };
  };
  const load = async () => {
    dates.hidden = days.value !== "custom";
    const { from, to } = range();
    if (!(from < to)) { output.replaceChildren(el("p", { class: "error", role: "alert" }, "The first day must not be after the last.")); return; }
    output.replaceChildren(el("p", { class: "loading" }, "Loading…"));
    report = null;
    try {
      report = await api(`/api/v1/oee?asset=${encodeURIComponent(asset.value)}&period=${period.value}&from=${from}&to=${to}`);
      output.replaceChildren(...renderReport(report));
      output.dataset.from = String(report.from);   // what the figures cover, for checking them against the API
      output.dataset.to = String(report.to);
    } catch (error) { output.replaceChildren(el("p", { class: "error", role: "alert" }, error.message)); }
  };
  for (const control of [asset, period, days, first, last]) control.addEventListener("change", load);
  await load();
  return () => {};
}

function renderReport(report) {
  const total = report.total;
  const count = report.machines.length;
  const per = { shift: ", per shift", day: ", per day", week: ", per week" }[report.period] ?? "";
  const what = `${report.asset || "All machines"} (${count} machine${count === 1 ? "" : "s"}), ${time(report.from)} – ${time(report.to)}${per}`;
  const big = (name, label) => el("div", { class: "kpi", "data-kpi": name },
    el("span", { class: "kpi-label" }, label), el("span", { class: "kpi-value" }, percent(total[name])),
    total[name]?.flagged ? el("span", { class: "flag", title: total[name].note }, "⚠ check the ideal cycle time") : null,
    total[name]?.value === null ? el("span", { class: "note" }, total[name].note) : null);
  const ms = (kpi) => (kpi?.value === null || kpi?.value === undefined ? "–" : duration(kpi.value));
  const kpis = el("div", { class: "kpis" }, big("oee", "OEE"), big("availability", "Availability"), big("performance", "Performance"),
    big("quality", "Quality"), big("first_pass_yield", "First-pass yield"), big("teep", "TEEP"),
    el("div", { class: "kpi" }, el("span", { class: "kpi-label" }, "MTBF"), el("span", { class: "kpi-value", "data-kpi": "mtbf" }, ms(total.mtbf_ms))),
    el("div", { class: "kpi" }, el("span", { class: "kpi-label" }, "MTTR"), el("span", { class: "kpi-value", "data-kpi": "mttr" }, ms(total.mttr_ms))));
  // How much of the range the figures rest on: time before a machine was monitored is no loss; unknown time is.
  const coverage = el("p", { class: "coverage" },
    el("span", { "data-time": "not-monitored", title: "Before the machine's first sample: neither planned nor a loss" },
      `Not monitored: ${duration(total.components.not_monitored_ms)}`), " · ",
    el("span", { "data-time": "unknown", title: "Monitored shift time without state data: counted as downtime" },
      `Unknown: ${duration(total.components.unknown_ms)}`));
  const table = el("table", { class: "periods" },
    el("thead", {}, el("tr", {}, ...["Period", "OEE", "A", "P", "Q", "Units", "Downtime", "Unknown", "Not monitored"]
      .map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, ...report.periods.map((p) => el("tr", {},
      el("td", {}, p.label), el("td", {}, percent(p.oee)), el("td", {}, percent(p.availability)), el("td", {}, percent(p.performance)),
      el("td", {}, percent(p.quality)), el("td", {}, String(p.components.total_count)), el("td", {}, duration(p.components.downtime_ms)),
      el("td", {}, duration(p.components.unknown_ms)), el("td", {}, duration(p.components.not_monitored_ms))))));
  const kinds = [["oee", "OEE"], ["availability", "Availability"], ["performance", "Performance"], ["quality", "Quality"]];
  const trend = report.periods.length
    ? el("figure", { class: "trend", "aria-label": "OEE, availability, performance and quality per period" },
        ratioLines(report.periods.map((p) => p.label), kinds.map(([key, name]) => ({ name, className: `kpi-${key}`, values: report.periods.map((p) => p[key].value) }))),
        el("figcaption", { class: "legend" }, ...kinds.map(([key, name]) => el("span", { class: `kpi-${key}` }, name))))
    : el("p", { class: "empty" }, "No periods in this range.");
  const pareto = total.downtime_pareto.length
    ? barChart(total.downtime_pareto.map((bar) => ({ label: bar.name, value: bar.time_ms, text: `${duration(bar.time_ms)} · ${(bar.share * 100).toFixed(0)} %` })))
    : el("p", { class: "empty" }, "No downtime in this range.");
  const scrap = total.quality_pareto.length
    ? barChart(total.quality_pareto.map((bar) => ({ label: bar.reason, value: bar.count, text: `${bar.count} units · ${(bar.share * 100).toFixed(0)} %` })))
    : el("p", { class: "empty" }, "No scrap in this range.");
  const perHour = (units, ms) => (ms > 0 ? (units * 3600e3 / ms).toFixed(1) : "–");
  const products = total.products.length
    ? el("table", { class: "periods", id: "oee-products" },
        el("thead", {}, el("tr", {}, ...["Product", "Run time", "Units", "Units/h", "Ideal units/h", "Performance"].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, ...total.products.map((p) => el("tr", { "data-product": p.product },
          el("td", {}, p.product), el("td", {}, duration(p.run_ms)), el("td", {}, String(p.total_count)),
          el("td", {}, perHour(p.total_count, p.run_ms)), el("td", {}, perHour(p.total_count, p.ideal_ms)), el("td", {}, percent(p.performance))))))
    : el("p", { class: "empty" }, "No production order ran in this range.");
  const orders = total.orders.length
    ? el("table", { class: "periods", id: "oee-orders" },
        el("thead", {}, el("tr", {}, ...["Order", "Product", "Run time", "Units", "Performance"].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, ...total.orders.map((o) => el("tr", { "data-order": o.order },
          el("td", {}, o.order), el("td", {}, o.product), el("td", {}, duration(o.run_ms)), el("td", {}, String(o.total_count)),
          el("td", {}, percent(o.performance))))))
    : null;
  const reworked = el("p", { class: "hint", "data-count": "rework" }, `Reworked: ${total.components.rework_count} of ${total.components.good_count} good units.`);
  return [el("p", { class: "covers" }, what), kpis, coverage, el("section", { class: "card" }, el("h2", {}, "Trend"), trend),
          el("section", { class: "card" }, el("h2", {}, "Periods"), table),
          el("section", { class: "card" }, el("h2", {}, "Downtime by reason"), pareto),
          el("section", { class: "card", id: "oee-quality" }, el("h2", {}, "Scrap by defect"), scrap, reworked),
          el("section", { class: "card" }, el("h2", {}, "Speed by product and order"), products, orders)];
}

/** `YYYY-MM-DD` of a date in the browser's time zone (what a date input holds). */
function localDate(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/** The report's periods and total as CSV for a spreadsheet: ratios as fractions, durations in minutes. */
function reportCSV(report) {
  const ratio = (kpi) => (kpi?.value === null || kpi?.value === undefined ? "" : kpi.value.toFixed(4));
  const minutes = (ms) => (ms === null || ms === undefined ? "" : (ms / 60000).toFixed(1));
  const quote = (text) => (/[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text);
  const header = ["period", "from", "to", "oee", "availability", "performance", "quality", "teep", "mtbf_min", "mttr_min",
    "planned_min", "run_min", "downtime_min", "unknown_min", "not_monitored_min", "total_count", "good_count", "scrap_count", "rework_count",
    "first_pass_yield", "failures"];
  const row = (label, p) => [label, new Date(p.from).toISOString(), new Date(p.to).toISOString(), ratio(p.oee), ratio(p.availability),
    ratio(p.performance), ratio(p.quality), ratio(p.teep), minutes(p.mtbf_ms?.value), minutes(p.mttr_ms?.value),
    minutes(p.components.planned_ms), minutes(p.components.run_ms), minutes(p.components.downtime_ms),
    minutes(p.components.unknown_ms), minutes(p.components.not_monitored_ms), p.components.total_count, p.components.good_count, p.components.scrap_count, p.components.rework_count, ratio(p.first_pass_yield),
    p.components.failures];
  const lines = [header, ...report.periods.map((p) => row(p.label, p)), row("total", { ...report.total, from: report.from, to: report.to })];
  return lines.map((cells) => cells.map((cell) => quote(String(cell))).join(",")).join("\r\n") + "\r\n";
}
