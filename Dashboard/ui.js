// Small DOM helpers shared by the views.
import { api } from "/assets/api.js";

/** Creates an element: attributes (on* become listeners, null is skipped) and children (strings or nodes). */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children.flat().filter((child) => child !== null && child !== undefined));
  return node;
}

/**
 * A form whose status line shows what `submit()` returns (text or a node) or, when it throws, the
 * error's words. `attributes` go on the form (its class defaults to "inline"); `children` come before the status line.
 */
export function actionForm(attributes, submit, ...children) {
  const status = el("p", { role: "status" });
  return el("form", { class: "inline", ...attributes, onsubmit: async (event) => {
    event.preventDefault();
    try { status.replaceChildren(await submit() ?? ""); } catch (error) { status.textContent = error.message; }
  } }, ...children, status);
}

/** Shows an error in plain words in place of a view. */
export function showError(container, error) {
  container.replaceChildren(el("p", { class: "error", role: "alert" }, error.message || String(error)));
}

/** Hands a blob (or text) to the browser as a file named `filename`. */
export function saveFile(content, filename, type = "application/octet-stream") {
  const blob = content instanceof Blob ? content : new Blob([content], { type });
  const link = el("a", { href: URL.createObjectURL(blob), download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

/** A KPI as a percentage with one decimal, or "–" when it is undefined. */
export function percent(kpi) {
  if (!kpi || kpi.value === null || kpi.value === undefined) return "–";
  return `${(kpi.value * 100).toFixed(1)} %`;
}

/** A duration in the largest units that read well: seconds, minutes, or hours and minutes. */
export function duration(ms) {
  if (ms < 60000) return `${Math.round(ms / 1000)} s`;
  const minutes = Math.floor(ms / 60000);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  return `${hours} h ${minutes % 60} min`;
}

/** A time in the browser's locale. */
export function time(ms) { return new Date(ms).toLocaleString(); }

/** The colour class of a machine state category. */
export function stateClass(category) {
  if (!category) return "producing";
  if (category === "planned_stop" || category === "not_scheduled") return "planned";
  if (category === "unknown") return "unknown";
  if (["producing", "reduced_speed"].includes(category)) return "producing";
  return "unplanned";
}

/** A table of rows, in a box that scrolls sideways on a narrow screen; `empty` when there are none. */
export function table(headers, rows, { empty = "None yet." } = {}) {
  if (rows.length === 0) return el("p", { class: "empty" }, empty);
  return el("div", { class: "scroll" }, el("table", {}, el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, ...rows.map((cells) => el("tr", {}, ...cells.map((c) => el("td", {}, c)))))));
}

/**
 * A small form: fields are `{ name, label, choices, optional, value, type }` (choices make a select;
 * `value` fills the field in); field ids are `f-<prefix><name>`. `submit(values)` returns the message
 * to show (text or a node), or throws an error whose words are shown.
 */
export function form(title, fields, submit, { id, prefix = "" } = {}) {
  const inputs = fields.map((field) => {
    const fieldID = `f-${prefix}${field.name}`;
    const input = field.choices
      ? el("select", { id: fieldID }, ...field.choices.map((c) => el("option", { value: c, selected: c === field.value }, c)))
      : el("input", { id: fieldID, type: field.type ?? "text", required: !field.optional, value: field.value ?? null,
        placeholder: field.optional ? "optional" : null });
    return { ...field, input, fieldID };
  });
  const values = () => Object.fromEntries(inputs.filter((f) => f.input.value !== "" || !f.optional).map((f) => [f.name, f.input.value]));
  return actionForm({ id }, () => submit(values()), el("h3", {}, title),
    ...inputs.flatMap((f) => [el("label", { for: f.fieldID }, f.label), f.input]), el("button", { type: "submit" }, title));
}

/** A button that asks first, then DELETEs `path` and takes its table row away; the server's refusal is shown. */
export function removeButton(label, question, path) {
  return el("button", { type: "button", class: "small danger", onclick: async (event) => {
    if (!confirm(question)) return;
    const row = event.target.closest("tr");
    try { await api(path, { method: "DELETE" }); row.remove(); } catch (error) { alert(error.message); }
  } }, label);
}
