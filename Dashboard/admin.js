// Administration, for the roles allowed: people and invitations, API keys, device credentials,
// assets, reason codes, shift calendars, tenant limits and the audit log. Each section shows only what the role may do.
import { api, download } from "/assets/api.js";
import { may, me } from "/assets/app.js";
import { assetsCard } from "/assets/assets.js";
import { calendarCard } from "/assets/calendar.js";
import { actionForm, el, form, removeButton, table, time } from "/assets/ui.js";

const roles = ["viewer", "operator", "maintenance_lead", "engineer", "admin", "owner"];
const grantable = roles.slice(0, 5);   // owners are made by an owner's role change, not by invitation or key

/** The sections in page order, each with the permission that offers it. */
const sections = [["manageUsers", () => people()], ["manageAPIKeys", () => keys()], ["manageDevices", () => devices()],
  ["configure", () => assetsCard()], ["configure", () => reasons()], ["configure", () => calendarCard()], ["manageTenant", () => limits()], ["readAudit", () => audit()]];

export async function renderAdmin(main) {
  const built = await Promise.all(sections.filter(([permission]) => may(permission)).map(([, build]) => build()));  // fetched side by side
  main.replaceChildren(el("h1", {}, "Administration"), ...built);
  return () => {};
}

async function people() {
  const [members, invitations] = await Promise.all([api("/api/v1/members"), api("/api/v1/invitations")]);
  const pending = invitations.items.filter((i) => i.accepted_at === null && i.expires_at > Date.now());
  return el("section", { class: "card", id: "admin-people" }, el("h2", {}, "People"),
    table(["Name", "E-mail", "Role", ""], members.items.map((m) => [m.display_name, m.email, roleSelect(m),
      m.id === me?.id ? el("span", { class: "note" }, "you")
        : removeButton("Remove", `Remove ${m.email} from this tenant? They can no longer sign in here.`, `/api/v1/members/${encodeURIComponent(m.id)}`)])),
    el("h3", {}, "Open invitations"),
    table(["E-mail", "Role", "Expires", ""], pending.map((i) => [i.email, i.role, time(i.expires_at),
      removeButton("Withdraw", `Withdraw the invitation for ${i.email}? Its code stops working.`, `/api/v1/invitations/${encodeURIComponent(i.id)}`)]),
    { empty: "No open invitations." }),
    form("Invite", [{ name: "email", label: "E-mail" }, { name: "role", label: "Role", choices: grantable }], async (values) => {
      const invitation = await api("/api/v1/invitations", { method: "POST", body: values });
      const link = new URL(`#/join/${encodeURIComponent(invitation.token)}`, location.href).href;
      return el("span", {}, `Invitation for ${invitation.email} (shown once): send them the link `, el("code", { class: "secret" }, link),
        ` or the code `, el("code", { class: "secret", id: "invitation-code" }, invitation.token), `.`);
    }, { id: "invite-form" }));
}

/** A member's role, changeable in place (the server refuses what the caller may not grant). */
function roleSelect(member) {
  const select = el("select", { "aria-label": `Role of ${member.email}` }, ...roles.map((r) => el("option", { value: r, selected: r === member.role }, r)));
  select.addEventListener("change", async () => {
    try { await api(`/api/v1/members/${encodeURIComponent(member.id)}`, { method: "PUT", body: { role: select.value } }); member.role = select.value; }
    catch (error) { alert(error.message); select.value = member.role; }
  });
  return select;
}

async function keys() {
  const list = await api("/api/v1/api-keys");
  return el("section", { class: "card", id: "admin-keys" }, el("h2", {}, "API keys"),
    table(["Name", "Role", "Created", "Last used", ""], list.items.filter((k) => !k.revoked_at)
      .map((k) => [k.name, k.role, time(k.created_at), k.last_used_at ? time(k.last_used_at) : "never",
        removeButton("Revoke", `Revoke the key "${k.name}"? Whatever uses it stops working.`, `/api/v1/api-keys/${encodeURIComponent(k.id)}`)])),
    form("Create key", [{ name: "name", label: "Name" }, { name: "role", label: "Role", choices: grantable }], async (values) => {
      const key = await api("/api/v1/api-keys", { method: "POST", body: values });
      return `Key (shown once): ${key.key}`;
    }));
}

async function devices() {
  const list = await api("/api/v1/devices");
  return el("section", { class: "card", id: "admin-devices" }, el("h2", {}, "Device credentials"),
    el("p", { class: "hint" }, "A device signs in to MQTT or HTTP with its username and secret and may only publish for machines under its subtree."),
    table(["Username", "Subtree", "Last used", ""], list.items.filter((d) => !d.revoked_at).map((d) => [d.username, d.subtree || "all machines",
      d.last_used_at ? time(d.last_used_at) : "never",
      removeButton("Revoke", `Revoke the credential "${d.username}"? The device is disconnected and refused from now on.`,
        `/api/v1/devices/${encodeURIComponent(d.id)}`)])),
    form("Create credential", [{ name: "username", label: "Username" }, { name: "subtree", label: "Subtree (site/area/line)", optional: true }],
      async (values) => {
        const device = await api("/api/v1/devices", { method: "POST", body: values });
        return `Secret for ${device.username} (shown once): ${device.secret}`;
      }, { id: "device-form" }));
}

const categories = ["unplanned_stop", "planned_stop", "idle", "not_scheduled", "microstop", "reduced_speed"];
const lossClasses = ["availability", "performance", "excluded", "none"];

/** Reason codes: each row can be loaded into the form and changed; failures count in MTBF/MTTR, setups in the setup rate. */
async function reasons() {
  const list = await api("/api/v1/reasons");
  const field = (id, node) => [el("label", { for: id }, node.dataset.label), node];
  const category = el("select", { id: "reason-category", "data-label": "Category" }, ...categories.map((c) => el("option", { value: c }, c)));
  const code = el("input", { id: "reason-code", "data-label": "Code", required: true, pattern: "[A-Za-z0-9_.\\-]+" });
  const name = el("input", { id: "reason-name", "data-label": "Name", required: true });
  const lossClass = el("select", { id: "reason-loss", "data-label": "Loss class" }, ...lossClasses.map((c) => el("option", { value: c }, c)));
  const failure = el("input", { type: "checkbox", id: "reason-failure" });
  const setup = el("input", { type: "checkbox", id: "reason-setup" });
  const edit = (reason) => {
    category.value = reason.category; code.value = reason.code; name.value = reason.name; lossClass.value = reason.lossClass;
    failure.checked = reason.isFailure; setup.checked = reason.isSetup;
    name.focus();
  };
  const flags = (r) => [r.isFailure ? "failure" : null, r.isSetup ? "setup" : null].filter(Boolean).join(", ");
  return el("section", { class: "card", id: "admin-reasons" }, el("h2", {}, "Reason codes"),
    table(["Reason", "Name", "Loss class", "Counts as", ""], list.reasons.map((r) => [`${r.category}/${r.code}`, r.name, r.lossClass, flags(r),
      el("button", { type: "button", class: "small secondary", "data-edit": `${r.category}/${r.code}`, onclick: () => edit(r) }, "Edit")])),
    actionForm({ id: "reason-form" }, async () => {
      await api("/api/v1/reasons", { method: "PUT", body: { category: category.value, code: code.value, name: name.value,
        lossClass: lossClass.value, isFailure: failure.checked, isSetup: setup.checked } });
      return `Saved ${category.value}/${code.value}. The KPIs follow.`;
    }, el("h3", {}, "Add or change a reason"), ...field("reason-category", category), ...field("reason-code", code),
    ...field("reason-name", name), ...field("reason-loss", lossClass),
    el("label", {}, failure, " Equipment failure (MTBF, MTTR)"), el("label", {}, setup, " Setup or changeover"),
    el("button", { type: "submit" }, "Save reason")));
}

async function limits() {
  const tenant = await api("/api/v1/tenant");
  const machines = el("input", { id: "limit-machines", type: "number", min: 1, value: tenant.limits.max_machines });
  const tags = el("input", { id: "limit-tags", type: "number", min: 1, value: tenant.limits.max_tags_per_machine });
  return el("section", { class: "card", id: "admin-limits" }, el("h2", {}, `Tenant ${tenant.id}: limits`),
    actionForm({}, async () => {
      await api("/api/v1/tenant/limits", { method: "PUT", body: { max_machines: Number(machines.value), max_tags_per_machine: Number(tags.value) } });
      return "Saved.";
    }, el("label", { for: "limit-machines" }, "Machines"), machines, el("label", { for: "limit-tags" }, "Tags per machine"), tags,
    el("button", { type: "submit" }, "Save limits")));
}

/** The newest audit events, filtered by action or actor; the whole filtered log as CSV. */
async function audit() {
  const action = el("input", { id: "audit-action", placeholder: "e.g. auth. or member.role", "aria-label": "Action" });
  const actor = el("input", { id: "audit-actor", placeholder: "name or id", "aria-label": "Actor" });
  const output = el("div", { id: "audit-output" });
  const query = (limit) => {
    const parameters = new URLSearchParams({ limit: String(limit) });
    if (action.value.trim()) parameters.set("action", action.value.trim());
    if (actor.value.trim()) parameters.set("actor", actor.value.trim());
    return parameters.toString();
  };
  const load = async () => {
    try {
      const events = await api(`/api/v1/audit?${query(100)}`);
      output.replaceChildren(table(["Time", "Actor", "Action", "Target", "Outcome", "From"], events.items.map((e) =>
        [time(e.t), e.actor || e.actor_id, e.action, e.target, e.outcome, e.source_ip]), { empty: "No events match." }));
    } catch (error) { output.replaceChildren(el("p", { class: "error", role: "alert" }, error.message)); }
  };
  await load();
  return el("section", { class: "card", id: "admin-audit" }, el("h2", {}, "Audit log"),
    el("form", { class: "inline", onsubmit: (event) => { event.preventDefault(); load(); } },
      el("label", { for: "audit-action" }, "Action"), action, el("label", { for: "audit-actor" }, "Actor"), actor,
      el("button", { type: "submit" }, "Show"),
      el("button", { type: "button", class: "secondary", onclick: () => download(`/api/v1/audit.csv?${query(10000)}`, "audit.csv").catch((e) => alert(e.message)) },
        "Download CSV")),
    el("p", { class: "hint" }, "The newest 100 events; the CSV holds up to 10,000."), output);
}
