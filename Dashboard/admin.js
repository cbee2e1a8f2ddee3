// Administration, for the roles allowed: people and invitations, API keys, device credentials,
// shift calendars, reason codes, tenant limits. Each section shows only what the role may do.
import { api } from "/assets/api.js";
import { may } from "/assets/app.js";
import { calendarCard } from "/assets/calendar.js";
import { el, time } from "/assets/ui.js";

const roles = ["viewer", "operator", "engineer", "admin", "owner"];

export async function renderAdmin(main) {
  const sections = [];
  if (may("manageUsers")) sections.push(await people());
  if (may("manageAPIKeys")) sections.push(await keys());
  if (may("manageDevices")) sections.push(await devices());
  if (may("configure")) sections.push(await reasons(), await calendarCard());
  if (may("manageTenant")) sections.push(await limits());
  main.replaceChildren(el("h1", {}, "Administration"), ...sections);
  return () => {};
}

function table(headers, rows) {
  if (rows.length === 0) return el("p", { class: "empty" }, "None yet.");
  return el("table", {}, el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, ...rows.map((cells) => el("tr", {}, ...cells.map((c) => el("td", {}, c))))));
}

function form(title, fields, submit) {
  const message = el("p", { role: "status" });
  const inputs = fields.map(([name, label, options]) => {
    const input = options ? el("select", { id: `f-${name}` }, ...options.map((o) => el("option", { value: o }, o)))
      : el("input", { id: `f-${name}`, required: true });
    return [name, label, input];
  });
  return el("form", { class: "inline", onsubmit: async (event) => {
    event.preventDefault();
    try { message.textContent = await submit(Object.fromEntries(inputs.map(([n, , i]) => [n, i.value]))); }
    catch (error) { message.textContent = error.message; }
  } }, el("h3", {}, title), ...inputs.flatMap(([name, label, input]) => [el("label", { for: `f-${name}` }, label), input]),
  el("button", { type: "submit" }, title), message);
}

async function people() {
  const [members, invitations] = await Promise.all([api("/api/v1/members"), api("/api/v1/invitations")]);
  return el("section", { class: "card", id: "admin-people" }, el("h2", {}, "People"),
    table(["Name", "E-mail", "Role"], members.items.map((m) => [m.display_name, m.email, roleSelect(m)])),
    el("h3", {}, "Invitations"),
    table(["E-mail", "Role", "Expires"], invitations.items.map((i) => [i.email, i.role, time(i.expires_at)])),
    form("Invite", [["email", "E-mail"], ["role", "Role", roles.slice(0, 4)]], async (values) => {
      const invitation = await api("/api/v1/invitations", { method: "POST", body: values });
      return `Invitation code for ${invitation.email} (shown once): ${invitation.token}`;
    }));
}

/** A member's role, changeable in place (the server refuses what the caller may not grant). */
function roleSelect(member) {
  const select = el("select", { "aria-label": `Role of ${member.email}` }, ...roles.map((r) => el("option", { value: r, selected: r === member.role }, r)));
  select.addEventListener("change", async () => {
    try { await api(`/api/v1/members/${encodeURIComponent(member.id)}`, { method: "PUT", body: { role: select.value } }); }
    catch (error) { alert(error.message); select.value = member.role; }
  });
  return select;
}

async function keys() {
  const list = await api("/api/v1/api-keys");
  return el("section", { class: "card", id: "admin-keys" }, el("h2", {}, "API keys"),
    table(["Name", "Role", "Created", "Last used", ""], list.items.filter((k) => !k.revoked_at)
      .map((k) => [k.name, k.role, time(k.created_at), k.last_used_at ? time(k.last_used_at) : "never",
        el("button", { type: "button", class: "small", onclick: async (event) => {
          if (!confirm(`Revoke the key "${k.name}"? Whatever uses it stops working.`)) return;
          try { await api(`/api/v1/api-keys/${encodeURIComponent(k.id)}`, { method: "DELETE" }); event.target.closest("tr").remove(); }
          catch (error) { alert(error.message); }
        } }, "Revoke")])),
    form("Create key", [["name", "Name"], ["role", "Role", roles.slice(0, 4)]], async (values) => {
      const key = await api("/api/v1/api-keys", { method: "POST", body: values });
      return `Key (shown once): ${key.key}`;
    }));
}

async function devices() {
  const list = await api("/api/v1/devices");
  return el("section", { class: "card", id: "admin-devices" }, el("h2", {}, "Device credentials"),
    table(["Username", "Subtree"], list.items.map((d) => [d.username, d.subtree || "all machines"])),
    form("Create credential", [["username", "Username"]], async (values) => {
      const device = await api("/api/v1/devices", { method: "POST", body: values });
      return `Secret (shown once): ${device.secret}`;
    }));
}

async function reasons() {
  const list = await api("/api/v1/reasons");
  return el("section", { class: "card", id: "admin-reasons" }, el("h2", {}, "Reason codes"),
    table(["Reason", "Name", "Loss class"], list.reasons.map((r) => [`${r.category}/${r.code}`, r.name, r.lossClass])),
    form("Add or change a reason", [["category", "Category", ["unplanned_stop", "planned_stop", "idle", "not_scheduled", "microstop", "reduced_speed"]],
      ["code", "Code"], ["name", "Name"], ["lossClass", "Loss class", ["availability", "performance", "excluded", "none"]]], async (values) => {
      await api("/api/v1/reasons", { method: "PUT", body: { ...values, isFailure: false, isSetup: false } });
      return "Saved. The KPIs follow.";
    }));
}

async function limits() {
  const tenant = await api("/api/v1/tenant");
  const machines = el("input", { id: "limit-machines", type: "number", min: 1, value: tenant.limits.max_machines });
  const tags = el("input", { id: "limit-tags", type: "number", min: 1, value: tenant.limits.max_tags_per_machine });
  const message = el("p", { role: "status" });
  return el("section", { class: "card", id: "admin-limits" }, el("h2", {}, `Tenant ${tenant.id}: limits`),
    el("form", { class: "inline", onsubmit: async (event) => {
      event.preventDefault();
      try {
        await api("/api/v1/tenant/limits", { method: "PUT", body: { max_machines: Number(machines.value), max_tags_per_machine: Number(tags.value) } });
        message.textContent = "Saved.";
      } catch (error) { message.textContent = error.message; }
    } }, el("label", { for: "limit-machines" }, "Machines"), machines, el("label", { for: "limit-tags" }, "Tags per machine"), tags,
    el("button", { type: "submit" }, "Save limits"), message));
}
