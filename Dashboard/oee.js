// OEE: A/P/Q/OEE per shift, day or week for a machine, line or site; the trend; the downtime
// Pareto; TEEP, MTBF, MTTR. The layout prints.
import { api } from "/assets/api.js";
import { barChart } from "/assets/chart.js";
import { el, percent, duration } from "/assets/ui.js";

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
    ...[[1, "Last 24 h"], [7, "Last 7 days"], [30, "Last 30 days"]].map(([v, l]) => el("option", { value: v }, l)));
  const output = el("div", { id: "oee-output" });
  main.replaceChildren(el("div", { class: "toolbar" }, el("h1", {}, "OEE"), asset, period, days,
    el("button", { type: "button", onclick: () => window.print() }, "Print")), output);
  const load = async () => {
    output.replaceChildren(el("p", { class: "loading" }, "Loading…"));
    try {
      const to = Date.now(), from = to - Number(days.value) * 86400e3;
      const report = await api(`/api/v1/oee?asset=${encodeURIComponent(asset.value)}&period=${period.value}&from=${from}&to=${to}`);
      output.replaceChildren(...renderReport(report));
      output.dataset.from = String(report.from);   // what the figures cover, for checking them against the API
      output.dataset.to = String(report.to);
    } catch (error) { output.replaceChildren(el("p", { class: "error", role: "alert" }, error.message)); }
  };
  for (const control of [asset, period, days]) control.addEventListener("change", load);
  await load();
  return () => {};
}

function renderReport(report) {
  const total = report.total;
  const big = (name, label) => el("div", { class: "kpi", "data-kpi": name },
    el("span", { class: "kpi-label" }, label), el("span", { class: "kpi-value" }, percent(total[name])),
    total[name]?.flagged ? el("span", { class: "flag", title: total[name].note }, "⚠ check the ideal cycle time") : null,
    total[name]?.value === null ? el("span", { class: "note" }, total[name].note) : null);
  const ms = (kpi) => (kpi?.value === null || kpi?.value === undefined ? "–" : duration(kpi.value));
  const kpis = el("div", { class: "kpis" }, big("oee", "OEE"), big("availability", "Availability"), big("performance", "Performance"),
    big("quality", "Quality"), big("teep", "TEEP"),
    el("div", { class: "kpi" }, el("span", { class: "kpi-label" }, "MTBF"), el("span", { class: "kpi-value", "data-kpi": "mtbf" }, ms(total.mtbf_ms))),
    el("div", { class: "kpi" }, el("span", { class: "kpi-label" }, "MTTR"), el("span", { class: "kpi-value", "data-kpi": "mttr" }, ms(total.mttr_ms))));
  const table = el("table", { class: "periods" },
    el("thead", {}, el("tr", {}, ...["Period", "OEE", "A", "P", "Q", "Units", "Downtime"].map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, ...report.periods.map((p) => el("tr", {},
      el("td", {}, p.label), el("td", {}, percent(p.oee)), el("td", {}, percent(p.availability)), el("td", {}, percent(p.performance)),
      el("td", {}, percent(p.quality)), el("td", {}, String(p.components.total_count)), el("td", {}, duration(p.components.downtime_ms))))));
  const trend = el("div", { class: "trend", role: "img", "aria-label": "OEE per period" },
    ...report.periods.map((p) => {
      const labelled = report.periods.length <= 31;  // values written on the columns while they fit
      const bar = el("span", { class: "column", title: `${p.label}: ${percent(p.oee)}` },
        labelled ? el("span", { class: "column-value" }, percent(p.oee)) : null);
      bar.style.height = `${Math.max(2, (p.oee.value ?? 0) * 100)}%`;
      return bar;
    }));
  const pareto = total.downtime_pareto.length
    ? barChart(total.downtime_pareto.map((bar) => ({ label: bar.name, value: bar.time_ms, text: `${duration(bar.time_ms)} · ${(bar.share * 100).toFixed(0)} %` })))
    : el("p", { class: "empty" }, "No downtime in this range.");
  return [kpis, el("section", { class: "card" }, el("h2", {}, "Trend"), trend),
          el("section", { class: "card" }, el("h2", {}, "Periods"), table),
          el("section", { class: "card" }, el("h2", {}, "Downtime by reason"), pareto)];
}
