// Maintenance: the work-order board, one order with its evidence, decision log and the steps the
// signed-in role may take (decide, schedule, start, complete), the detectors with their events,
// labels and figures, and the preventive plans.
import { api } from "/assets/api.js";
import { may } from "/assets/app.js";
import { el, actionForm, duration, table, time } from "/assets/ui.js";

const columns = [
  ["Waiting for a decision", ["proposed", "deferred"]],
  ["Approved", ["approved"]],
  ["Scheduled", ["scheduled"]],
  ["In progress", ["in_progress"]],
  ["Done", ["done"]],
];

export async function renderMaintenance(main, id) {
  if (id?.startsWith("detector/")) return renderDetector(main, decodeURIComponent(id.slice("detector/".length)));
  if (id) return renderWorkOrder(main, id);
  const [orders, detectors, plans] = await Promise.all([
    api("/api/v1/work-orders?limit=300"), api("/api/v1/detectors"), api("/api/v1/maintenance/plans"),
  ]);
  const closed = orders.items.filter((order) => ["rejected", "cancelled"].includes(order.status)).length;
  const board = el("div", { class: "board", id: "work-order-board" }, ...columns.map(([title, statuses]) => {
    const cards = orders.items.filter((order) => statuses.includes(order.status));
    return el("section", { class: "column", "data-column": statuses[0] }, el("h2", {}, `${title} (${cards.length})`), ...cards.map(card));
  }));
  const closedNote = closed ? el("p", { class: "note" }, `${closed} rejected or cancelled.`) : "";
  main.replaceChildren(el("div", { class: "toolbar" }, el("h1", {}, "Maintenance"), may("operate") ? proposeForm() : null),
    board, closedNote, await detectorsCard(detectors.items), plansCard(plans.items));
}

function card(order) {
  return el("a", { class: `work-order priority-${order.priority}`, href: `#/maintenance/${order.id}`, "data-id": order.id },
    el("strong", {}, `${order.id} · ${order.title}`), el("span", {}, order.machine),
    el("span", { class: "note" }, `${order.kind} · ${order.priority}`,
      order.schedule ? ` · ${time(order.schedule.start)}` : "", order.deferredUntil ? ` · deferred until ${time(order.deferredUntil)}` : ""));
}

/** A person reports work: machine, title, kind. */
function proposeForm() {
  const machine = el("input", { id: "wo-machine", placeholder: "site/line/machine", required: true, "aria-label": "Machine" });
  const title = el("input", { id: "wo-title", placeholder: "What needs doing", required: true, "aria-label": "Title" });
  const kind = el("select", { id: "wo-kind", "aria-label": "Kind" }, ...["corrective", "inspection", "predictive", "preventive"].map((k) => el("option", { value: k }, k)));
  return actionForm({ id: "propose" }, async () => {
    const order = await api("/api/v1/work-orders", { method: "POST", body: { machine: machine.value, title: title.value, kind: kind.value } });
    location.hash = `#/maintenance/${order.id}`;
    return `${order.id} proposed`;
  }, machine, title, kind, el("button", { type: "submit" }, "Propose work"));
}

// -- One work order ---------------------------------------------------------------------------

async function renderWorkOrder(main, id) {
  const [order, decisions] = await Promise.all([api(`/api/v1/work-orders/${encodeURIComponent(id)}`),
    api(`/api/v1/work-orders/${encodeURIComponent(id)}/decisions`)]);
  const reload = () => renderWorkOrder(main, id);
  main.replaceChildren(...[
    el("p", {}, el("a", { href: "#/maintenance" }, "← Maintenance")),
    el("h1", {}, `${order.id} · ${order.title}`),
    el("p", { id: "wo-status", "data-status": order.status }, `${order.status.replace("_", " ")} · ${order.kind} · ${order.priority} priority · `,
      el("a", { href: `#/machine/${order.machine}` }, order.machine)),
    el("section", { class: "card" }, el("h2", {}, "Proposal"),
      el("p", {}, `By ${order.proposedBy} at ${time(order.proposedAt)}`, order.origin.reference ? ` (${order.origin.source} ${order.origin.reference})` : ""),
      order.details ? el("p", {}, order.details) : null, evidence(order.evidence)),
    order.schedule ? el("section", { class: "card" }, el("h2", {}, "Schedule"),
      el("p", {}, `${time(order.schedule.start)} for ${order.schedule.plannedMinutes} min`, order.schedule.assignee ? `, ${order.schedule.assignee}` : "")) : null,
    order.completion ? el("section", { class: "card", id: "wo-outcome" }, el("h2", {}, "Outcome"), outcome(order)) : null,
    el("section", { class: "card", id: "wo-actions" }, el("h2", {}, "Next step"), ...steps(order, reload)),
    el("section", { class: "card" }, el("h2", {}, "Decision log"),
      table(["When", "Who", "Step", "From → to", "Why", "Detail"], decisions.items.map((d) => [
        time(d.time), d.actor, d.action, `${d.from} → ${d.to}`, d.rationale ?? "", d.detail ?? ""]))),
  ].filter(Boolean));
}

function evidence(evidence) {
  if (!evidence) return el("p", { class: "note" }, "No evidence attached.");
  const estimate = evidence.estimate;
  return el("div", { id: "wo-evidence" },
    evidence.summary ? el("p", {}, evidence.summary) : null,
    evidence.scores.length ? table(["Tag", "Score", "At", "Detector"], evidence.scores.map((s) => [s.tag, s.score.toFixed(2), time(s.time), s.detector ?? ""])) : null,
    evidence.contributions.length ? table(["Signal", "Share"], evidence.contributions.map((c) => [c.signal, `${(c.share * 100).toFixed(0)} %`])) : null,
    estimate ? el("p", { class: "estimate" },
      `${estimate.quantity.replace("_", " ")}: ${number(estimate.value)} ${estimate.unit} (${number(estimate.low)}–${estimate.high === undefined ? "no upper bound" : number(estimate.high)}, ${(estimate.coverage * 100).toFixed(0)} % interval)`) : null,
    evidence.window ? el("p", {}, `Chart: ${evidence.window.tags.join(", ")} from ${time(evidence.window.from)} to ${time(evidence.window.to)}`) : null);
}

/** A figure with the digits it needs: 30, 4.2, 0.35. */
function number(value) { return value >= 10 ? value.toFixed(0) : value >= 1 ? value.toFixed(1) : value.toFixed(2); }

function outcome(order) {
  const done = order.completion;
  const confirmed = done.predictionConfirmed === true ? "prediction confirmed" : done.predictionConfirmed === false ? "prediction not confirmed" : "";
  return el("div", {},
    el("p", {}, done.findings), el("p", {}, [done.failureMode ? `Failure mode ${done.failureMode}` : "No failure mode",
      `${done.minutesSpent} min`, confirmed].filter(Boolean).join(" · ")),
    done.parts.length ? table(["Part", "Quantity"], done.parts.map((p) => [p.name, String(p.quantity)])) : null,
    order.startedAt && order.finishedAt ? el("p", { class: "note" }, `Machine time ${duration(order.finishedAt - order.startedAt)}`) : null);
}

/** The steps the order's status allows and the signed-in role holds; each reloads the page when taken. */
function steps(order, reload) {
  const post = (step, body) => async () => {
    await api(`/api/v1/work-orders/${encodeURIComponent(order.id)}/${step}`, { method: "POST", body });
    reload();
  };
  const decide = may("decideMaintenance");
  const result = [];
  if (decide && ["proposed", "deferred"].includes(order.status)) result.push(decisionForm(order, post));
  if (decide && ["approved", "scheduled"].includes(order.status)) result.push(scheduleForm(order, post));
  if (may("operate") && order.status === "scheduled") {
    result.push(el("button", { type: "button", id: "wo-start", onclick: () => post("start", {})().catch((e) => alert(e.message)) }, "Start work"));
  }
  if (may("operate") && order.status === "in_progress") result.push(completeForm(post));
  if (decide && ["approved", "scheduled", "in_progress"].includes(order.status)) {
    const rationale = el("input", { id: "wo-cancel-rationale", placeholder: "Why cancel", required: true, "aria-label": "Why cancel" });
    result.push(actionForm({ id: "wo-cancel" }, () => post("cancel", { rationale: rationale.value })(), rationale,
      el("button", { type: "submit", class: "danger" }, "Cancel work")));
  }
  return result.length ? result : [el("p", { class: "note" }, order.status === "done" || order.status === "rejected" || order.status === "cancelled"
    ? "Closed." : "Nothing your role may do now.")];
}

/** Approve, reject or defer, always with a rationale. */
function decisionForm(order, post) {
  const rationale = el("textarea", { id: "wo-rationale", rows: 2, cols: 60, required: true, placeholder: "Why (kept in the decision log)" });
  const until = el("input", { id: "wo-defer-until", type: "datetime-local", "aria-label": "Defer until" });
  const button = (label, id, make) => el("button", { type: "button", id, onclick: async () => {
    if (!rationale.value.trim()) { status.textContent = "A rationale is required."; return; }
    try { await make()(); } catch (error) { status.textContent = error.message; }
  } }, label);
  const status = el("p", { role: "status", class: "error" });
  return el("div", { id: "wo-decision", class: "narrow" }, el("label", { for: "wo-rationale" }, "Rationale"), rationale,
    el("div", { class: "buttons" },
      button("Approve", "wo-approve", () => post("approve", { rationale: rationale.value })),
      button("Reject", "wo-reject", () => post("reject", { rationale: rationale.value })),
      until, button("Defer", "wo-defer", () => post("defer", { rationale: rationale.value, until: new Date(until.value).getTime() }))),
    status);
}

function scheduleForm(order, post) {
  const start = el("input", { id: "wo-start-at", type: "datetime-local", required: true, "aria-label": "Start" });
  start.value = localInput(order.schedule?.start ?? Date.now() + 3600000);
  const minutes = el("input", { id: "wo-minutes", type: "number", min: 1, max: 43200, value: order.schedule?.plannedMinutes ?? 60, "aria-label": "Planned minutes" });
  const assignee = el("input", { id: "wo-assignee", placeholder: "Assignee", value: order.schedule?.assignee ?? null, "aria-label": "Assignee" });
  return actionForm({ id: "wo-schedule" }, () => post("schedule", {
    start: new Date(start.value).getTime(), plannedMinutes: Number(minutes.value), ...(assignee.value ? { assignee: assignee.value } : {}),
  })(), start, minutes, assignee, el("button", { type: "submit" }, order.status === "scheduled" ? "Re-plan" : "Schedule"));
}

function completeForm(post) {
  const findings = el("textarea", { id: "wo-findings", rows: 2, cols: 60, required: true, placeholder: "What was found and done" });
  const failureMode = el("input", { id: "wo-failure-mode", placeholder: "Failure mode (optional)", "aria-label": "Failure mode" });
  const minutes = el("input", { id: "wo-spent", type: "number", min: 0, required: true, "aria-label": "Minutes spent" });
  const confirmed = el("select", { id: "wo-confirmed", "aria-label": "Prediction" },
    el("option", { value: "" }, "No prediction / cannot tell"), el("option", { value: "true" }, "Prediction confirmed"),
    el("option", { value: "false" }, "Prediction not confirmed"));
  return actionForm({ id: "wo-complete", class: "narrow" }, () => post("complete", {
    findings: findings.value, minutesSpent: Number(minutes.value), ...(failureMode.value ? { failureMode: failureMode.value } : {}),
    ...(confirmed.value ? { predictionConfirmed: confirmed.value === "true" } : {}),
  })(), el("label", { for: "wo-findings" }, "Findings"), findings, failureMode, minutes, confirmed, el("button", { type: "submit" }, "Complete"));
}

/** A time as a datetime-local input's value, in the browser's time zone. */
function localInput(ms) {
  const date = new Date(ms - new Date(ms).getTimezoneOffset() * 60000);
  return date.toISOString().slice(0, 16);
}

// -- Detectors and plans -----------------------------------------------------------------------

async function detectorsCard(detectors) {
  const events = await api(`/api/v1/detector-events?from=${Date.now() - 7 * 86400000}&limit=50`);
  const figures = await Promise.all(detectors.map((d) => d.status === "shadow" ? null
    : api(`/api/v1/detectors/${encodeURIComponent(d.id)}/performance?from=${Date.now() - 28 * 86400000}`)));
  const link = (d) => el("a", { href: `#/maintenance/detector/${encodeURIComponent(d.id)}`, "data-detector": d.id }, d.id);
  return el("section", { class: "card", id: "detectors" }, el("h2", {}, "Anomaly detectors"),
    table(["Detector", "Version", "Kind", "Tag(s)", "Threshold", "Machines", "Proposes work", "Precision", "Recall", "Median lead"],
      detectors.map((d, i) => [link(d), `v${d.version} · ${d.status}`, d.kind, (d.signals ?? [d.tag]).join(", "), String(d.threshold), String(d.machines.length),
        d.propose ? "yes" : "no", ratio(figures[i]?.total.precision), ratio(figures[i]?.total.recall),
        figures[i]?.total.medianLeadTime ? duration(figures[i].total.medianLeadTime) : "–"]),
      { empty: "No detectors yet." }),
    may("configure") ? newDetectorForm() : null,
    el("h3", {}, "Events of the last week"),
    table(["Start", "Detector", "Machine", "Peak", "Work order", "Label", ""], events.items.map((e) => [
      time(e.start), e.detector, el("a", { href: `#/machine/${e.machine}` }, e.machine),
      e.peak.toFixed(2) + (e.contributions ? ` (${e.contributions.slice(0, 3).map((c) => `${c.signal} ${Math.round(c.share * 100)} %`).join(", ")})` : ""),
      e.workOrder ? el("a", { href: `#/maintenance/${e.workOrder}` }, e.workOrder) : "", e.label?.replace("_", " ") ?? "", labelButtons(e)]),
    { empty: "No events." }));
}

function ratio(value) { return value === undefined || value === null ? "–" : `${(value * 100).toFixed(0)} %`; }

/** Engineers name a new detector; its first version is made on its page. */
function newDetectorForm() {
  const id = el("input", { id: "new-detector", placeholder: "detector id", required: true, pattern: "[A-Za-z0-9._\\-]{1,64}", "aria-label": "New detector" });
  return actionForm({ id: "new-detector-form" }, async () => { location.hash = `#/maintenance/detector/${encodeURIComponent(id.value)}`; },
    id, el("button", { type: "submit" }, "New detector"));
}

// -- One detector: its versions (the registry) -------------------------------------------------

async function renderDetector(main, id) {
  const path = `/api/v1/detectors/${encodeURIComponent(id)}`;
  let versions = [];
  try { versions = (await api(`${path}/versions`)).items; } catch (error) { if (error.status !== 404) throw error; }
  const reload = () => renderDetector(main, id);
  const engineer = may("configure");
  const from = el("input", { type: "datetime-local", id: "range-from", value: localInput(Date.now() - 7 * 86400000), "aria-label": "From" });
  const to = el("input", { type: "datetime-local", id: "range-to", value: localInput(Date.now()), "aria-label": "To" });
  const status = el("p", { role: "status", id: "registry-status" });
  const step = (version, name, body) => async () => {
    status.textContent = `${name}…`;
    try {
      await api(`${path}/versions/${version.version}/${name}`, { method: "POST", body: body?.() ?? {} });
      await reload();
      document.getElementById("registry-status").textContent = `v${version.version}: ${name} done`;
    } catch (error) { status.textContent = error.message; }
  };
  const range = () => ({ from: new Date(from.value).getTime(), to: new Date(to.value).getTime() });
  // A fleet model trained elsewhere (gemba detect train-rul --no-age --model) in place of training.
  const modelLoader = (v) => el("label", { class: "small" }, "Load model file ",
    el("input", { type: "file", accept: "application/json,.json", "data-load-model": v.version, onchange: async (event) => {
      const file = event.target.files[0];
      if (!file) return;
      status.textContent = `loading ${file.name}…`;
      let model;
      try { model = JSON.parse(await file.text()); } catch { status.textContent = `${file.name} is not a JSON file`; return; }
      try {
        await api(`${path}/versions/${v.version}/model`, { method: "PUT", body: model });
        await reload();
        document.getElementById("registry-status").textContent = `v${v.version}: model loaded from ${file.name}`;
      } catch (error) { status.textContent = error.message; }
    } }));
  const buttons = (v) => {
    if (!engineer) return "";
    const button = (name, label, applies, body) => applies.includes(v.status)
      ? el("button", { type: "button", class: "small", "data-step": name, onclick: step(v, name, body) }, label) : null;
    return el("span", { class: "buttons", "data-version": v.version },
      button("train", "Train on range", ["draft", "trained", "failed"], range),
      v.configuration?.kind === "fleet_rul" && ["draft", "trained", "failed"].includes(v.status) ? modelLoader(v) : null,
      button("evaluate", "Evaluate on range", ["draft", "trained", "shadow", "active", "retired"], range),
      button("shadow", "Shadow", ["draft", "trained", "retired"]),
      button("promote", "Promote", ["draft", "trained", "shadow", "retired"]),
      button("retire", "Retire", ["active", "shadow"]));
  };
  const evaluation = (v) => {
    const e = v.evaluations.at(-1);
    if (!e) return "–";
    const f = e.figures;
    return `${f.events} events · precision ${ratio(f.precision)} · recall ${ratio(f.recall)} (${f.caught}/${f.failures})`
      + (f.medianLeadTime ? ` · lead ${duration(f.medianLeadTime)}` : "") + ` · ${e.labelledRanges} labelled`
      + (e.inSample ? " · on its training data" : "");
  };
  const configured = (c) => c.kind === "fleet_rul"
    ? `fleet_rul on ${c.signals.join(", ")}, cycles of ${c.life.cycle}, horizon ${c.life.horizon}`
    : `${c.kind} on ${(c.signals ?? [c.tag]).join(", ")}, threshold ${c.threshold}`;
  // A fleet model learns runs to failure (cycles); its cross-validation is its error on machines it did not learn.
  const trained = (t) => {
    if (t.imported) return `a model loaded from a file, ${time(t.at)} · ${t.samples} training cycles`;
    const range = `${time(t.from)} – ${time(t.to)} · `;
    if (t.runs === undefined || t.runs === null) return `${range}${t.samples} samples on ${t.machines} machines`;
    const cv = t.crossValidation;
    return `${range}${t.runs} runs to failure (${t.samples} cycles) on ${t.machines} machines`
      + (cv ? ` · cross-validated RMSE ${cv.rmseCycles.toFixed(1)} cycles (${duration(cv.rmseHours * 3600000)}), interval held ${Math.round(cv.intervalCoverage * 100)} %` : "");
  };
  const rows = versions.slice().reverse().map((v) => [
    `v${v.version}`, el("span", { "data-status": v.status }, v.status),
    v.configuration ? configured(v.configuration) : "",
    `${v.createdBy}, ${time(v.createdAt)}${v.note ? ` — ${v.note}` : ""}`,
    v.training ? trained(v.training) : "–",
    evaluation(v), v.error ?? "", buttons(v)]);
  const active = versions.find((v) => v.status === "active") ?? versions.at(-1);
  main.replaceChildren(...[
    el("p", {}, el("a", { href: "#/maintenance" }, "← Maintenance")),
    el("h1", {}, `Detector ${id}`),
    engineer && versions.length ? el("p", {}, el("label", {}, "History range ", from), " ", el("label", {}, "to ", to), " ",
      el("button", { type: "button", id: "rollback", onclick: async () => {
        try { await api(`${path}/rollback`, { method: "POST", body: {} }); await reload(); } catch (error) { status.textContent = error.message; }
      } }, "Roll back")) : null,
    status,
    table(["Version", "Status", "Configuration", "Made", "Trained on", "Last evaluation", "Error", ""], rows,
      { empty: "No versions yet." }),
    engineer ? versionForm(path, active?.configuration, reload) : null,
  ].filter(Boolean));
}

/** A new version: the configuration as JSON (the active one's to start from) and why. */
function versionForm(path, configuration, reload) {
  const { id, tenant, ...rest } = configuration ?? { kind: "robust", tag: "vibration", threshold: 0.5, suppress: "30m", warmup: 100 };
  const text = el("textarea", { id: "version-config", rows: 8, cols: 70, "aria-label": "Configuration (JSON)" }, JSON.stringify(rest, null, 2));
  const note = el("input", { id: "version-note", placeholder: "Why this version", "aria-label": "Note" });
  return el("section", { class: "card" }, el("h2", {}, "New version"),
    actionForm({ id: "version-form" }, async () => {
      let body;
      try { body = JSON.parse(text.value); } catch { throw new Error("The configuration is not valid JSON."); }
      if (note.value) body.note = note.value;
      const made = await api(`${path}/versions`, { method: "POST", body });
      await reload();
      return `v${made.version} made`;
    }, text, note, el("button", { type: "submit" }, "Make version")));
}

/** Operators say whether an event was right. */
function labelButtons(event) {
  if (!may("operate")) return "";
  const label = (value) => async (click) => {
    try {
      await api(`/api/v1/detector-events/${event.id}/label`, { method: "POST", body: { label: value } });
      click.target.closest("td").previousSibling.textContent = value.replace("_", " ");
    } catch (error) { alert(error.message); }
  };
  return el("span", { class: "buttons" },
    el("button", { type: "button", class: "small", "data-label": "true_positive", onclick: label("true_positive") }, "Right"),
    el("button", { type: "button", class: "small", "data-label": "false_positive", onclick: label("false_positive") }, "Wrong"));
}

function plansCard(plans) {
  return el("section", { class: "card", id: "plans" }, el("h2", {}, "Preventive plans"),
    table(["Plan", "Machine", "Every", "Progress", "Open work order"], plans.map((p) => [
      `${p.plan.id} · ${p.plan.title}`, p.plan.machine, intervalText(p.plan.every), p.progressText,
      p.openWorkOrder ? el("a", { href: `#/maintenance/${p.openWorkOrder}` }, p.openWorkOrder) : ""]),
    { empty: "No plans yet." }));
}

function intervalText(every) {
  if (every.days) return `${every.days} days`;
  if (every.runHours) return `${every.runHours} run hours`;
  return `${every.count} ${every.counter}`;
}
