// Small DOM helpers shared by the views.

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
