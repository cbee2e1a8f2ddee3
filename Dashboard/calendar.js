// The shift calendar of a site as a form: time zone, shifts (name, weekdays, start, end, breaks)
// and exceptions (a day without production, an extra shift). The server checks the calendar and
// names the field it refuses; the message is shown as it comes.
import { api } from "/assets/api.js";
import { el } from "/assets/ui.js";

const weekdays = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];  // ISO 1…7

/** The administration card: pick a site, edit its calendar, save it. */
export async function calendarCard() {
  const { machines } = await api("/api/v1/machines");
  const sites = [...new Set(machines.map((machine) => machine.site))].sort();
  const site = el("select", { id: "calendar-site", "aria-label": "Site" }, ...sites.map((name) => el("option", { value: name }, name)));
  const editor = el("div", { class: "calendar" });
  const message = el("p", { role: "status" });
  let current = null;
  const load = async () => {
    message.textContent = "";
    if (!site.value) { editor.replaceChildren(el("p", { class: "empty" }, "No sites yet. Sites appear with their machines.")); return; }
    try {
      current = calendarForm(await api(`/api/v1/calendars/${encodeURIComponent(site.value)}`));
      editor.replaceChildren(current.node);
    } catch (error) { editor.replaceChildren(el("p", { class: "error", role: "alert" }, error.message)); }
  };
  site.addEventListener("change", load);
  const save = el("button", { type: "button", id: "calendar-save", onclick: async () => {
    try {
      await api(`/api/v1/calendars/${encodeURIComponent(site.value)}`, { method: "PUT", body: current.value() });
      message.textContent = "Saved. The site's KPIs follow the new calendar.";
    } catch (error) { message.textContent = error.message; }
  } }, "Save calendar");
  await load();
  return el("section", { class: "card", id: "admin-calendars" }, el("h2", {}, "Shift calendars"),
    el("p", { class: "hint" }, "Times are local to the site's time zone; a shift that ends before it starts runs past midnight."),
    el("div", { class: "toolbar" }, el("label", { for: "calendar-site" }, "Site"), site), editor, save, message);
}

/** The form for one calendar; `value()` reads it back in the API's shape. */
function calendarForm(calendar) {
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  const zone = el("input", { id: "calendar-zone", list: "calendar-zones", value: calendar.timeZone, required: true });
  const shifts = list("Shifts", "calendar-shifts", calendar.patterns.map(shiftRow), () => shiftRow(newShift()), "Add shift");
  const exceptions = list("Days that differ", "calendar-exceptions", calendar.exceptions.map(exceptionRow),
    () => exceptionRow({ noProduction: { date: "" } }), "Add day");
  return {
    node: el("div", {}, el("label", { for: "calendar-zone" }, "Time zone"), zone,
      el("datalist", { id: "calendar-zones" }, ...zones.map((name) => el("option", { value: name }))), shifts.node, exceptions.node),
    value: () => ({ timeZone: zone.value.trim(), patterns: shifts.values(), exceptions: exceptions.values() }),
  };
}

/** A titled list of editable rows with an add button; each row has `node` and `value()`. */
function list(title, id, rows, make, addLabel) {
  const body = el("div", { class: "rows", id });
  const entries = [];
  const add = (row) => {
    const remove = el("button", { type: "button", class: "small secondary", "aria-label": `Remove from ${title.toLowerCase()}`,
      onclick: () => { entries.splice(entries.indexOf(row), 1); wrapper.remove(); } }, "Remove");
    const wrapper = el("div", { class: "row" }, row.node, remove);
    entries.push(row);
    body.append(wrapper);
  };
  rows.forEach(add);
  return {
    node: el("fieldset", { class: "group" }, el("legend", {}, title), body,
      el("button", { type: "button", class: "small", onclick: () => add(make()) }, addLabel)),
    values: () => entries.map((row) => row.value()),
  };
}

function newShift() { return { name: "", weekdays: [1, 2, 3, 4, 5], start: "06:00", end: "14:00", breaks: [] }; }

/** One shift pattern: name, weekdays, start, end and its breaks. */
function shiftRow(pattern) {
  const name = el("input", { "aria-label": "Shift name", value: pattern.name, required: true, size: 10, "data-field": "name" });
  const days = weekdays.map((label, index) => el("input", { type: "checkbox", value: index + 1, "aria-label": label,
    checked: pattern.weekdays.includes(index + 1) }));
  const start = timeInput("Start", pattern.start);
  const end = timeInput("End", pattern.end);
  const breaks = list("Breaks", null, pattern.breaks.map(breakRow), () => breakRow({ start: "", end: "" }), "Add break");
  return {
    node: el("div", { class: "shift", "data-shift": pattern.name }, name,
      el("span", { class: "days" }, ...days.map((box, index) => el("label", {}, box, weekdays[index]))),
      el("label", {}, "from ", start), el("label", {}, "to ", end), breaks.node),
    value: () => ({ name: name.value.trim(), weekdays: days.filter((box) => box.checked).map((box) => Number(box.value)),
                    start: start.value, end: end.value, breaks: breaks.values() }),
  };
}

function breakRow(range) {
  const start = timeInput("Break start", range.start), end = timeInput("Break end", range.end);
  return { node: el("span", {}, start, " – ", end), value: () => ({ start: start.value, end: end.value }) };
}

/** A day without production, or a day with an extra shift. */
function exceptionRow(exception) {
  const extra = exception.extraShift;
  const date = el("input", { type: "date", "aria-label": "Date", value: (extra ?? exception.noProduction).date, required: true });
  const kind = el("select", { "aria-label": "What differs" },
    el("option", { value: "none", selected: !extra }, "No production"), el("option", { value: "extra", selected: !!extra }, "Extra shift"));
  const shift = shiftRow(extra?.shift ?? { ...newShift(), name: "Extra", weekdays: [] });
  const shiftBox = el("div", { hidden: !extra }, shift.node);
  shiftBox.querySelector(".days").hidden = true;  // an extra shift falls on its date, not on weekdays
  kind.addEventListener("change", () => { shiftBox.hidden = kind.value !== "extra"; });
  return {
    node: el("div", {}, date, kind, shiftBox),
    value: () => kind.value === "extra"
      ? { extraShift: { date: date.value, shift: { ...shift.value(), weekdays: [] } } }
      : { noProduction: { date: date.value } },
  };
}

function timeInput(label, value) {
  // A time input stops at 23:59; the end of the day is midnight, which a shift ending "before" its start reaches anyway.
  return el("input", { type: "time", "aria-label": label, value: value === "24:00" ? "00:00" : value, required: true });
}
