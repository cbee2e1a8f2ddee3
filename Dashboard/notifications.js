// Notifications: the list of what was sent to whom (everyone), one's own preferences (every
// signed-in person), and for admins the channels, policies with their escalation chains, on-call
// rosters and everyone's preferences.
import { api } from "/assets/api.js";
import { may } from "/assets/app.js";
import { el, form, removeButton, table, time } from "/assets/ui.js";

const severities = ["low", "medium", "high", "critical", "diagnostic"];
const kinds = ["log", "webhook", "slack", "teams", "email", "mqtt"];
const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";

export async function renderNotifications(main) {
  const sent = el("section", { class: "card", id: "notification-list" }, ...await sentCard());
  const admin = may("manageTenant") ? [channelsCard(), policiesCard(), rostersCard(), peopleCard()] : [];
  const built = await Promise.all([preferencesCard(), ...admin]);   // fetched side by side
  main.replaceChildren(el("h1", {}, "Notifications"), sent, ...built);
  // The list follows what is sent; a failed refresh is tried again at the next one.
  const timer = setInterval(async () => { try { sent.replaceChildren(...await sentCard()); } catch { /* next time */ } }, 5000);
  return () => clearInterval(timer);
}

/** Comma-separated text as a list (empty entries dropped). */
const list = (text) => (text ?? "").split(",").map((s) => s.trim()).filter(Boolean);

let shownStatus = "";

async function sentCard() {
  const query = shownStatus ? `?status=${shownStatus}&limit=100` : "?limit=100";
  const sent = await api(`/api/v1/notifications${query}`);
  const filter = el("select", { id: "notification-filter", "aria-label": "Show" },
    ...[["", "All"], ["pending", "Waiting"], ["delivered", "Delivered"], ["dead", "Dead letters"]]
      .map(([value, label]) => el("option", { value, selected: value === shownStatus }, label)));
  filter.addEventListener("change", async () => {
    shownStatus = filter.value;
    filter.closest("section").replaceChildren(...await sentCard());
  });
  const rows = sent.items.map((n) => {
    const replay = n.status === "dead" && may("manageTenant")
      ? el("button", { type: "button", class: "small", onclick: async () => {
        try { await api(`/api/v1/notifications/${n.id}/replay`, { method: "POST" }); } catch (error) { alert(error.message); }
      } }, "Send again") : "";
    return [time(n.created_at), n.type.replace(/^alarm\./, ""), n.channel, n.recipient ?? "–",
      el("span", { class: `status ${n.status}`, "data-status": n.status }, n.status), String(n.attempts), n.last_error ?? "", replay];
  });
  const body = table(["Queued", "Event", "Channel", "To", "Status", "Attempts", "Last error", ""], rows, { empty: "Nothing sent yet." });
  body.querySelectorAll?.("tbody tr").forEach((row, index) => { row.dataset.id = sent.items[index].id; row.dataset.recipient = sent.items[index].recipient ?? ""; });
  return [el("h2", {}, "Sent and waiting"), el("label", { for: "notification-filter" }, "Show "), filter, body];
}

async function preferencesCard() {
  let mine = null;
  try { mine = await api("/api/v1/me/notification-preferences"); } catch (error) { if (error.status !== 404) throw error; }
  const quiet = mine?.quiet_hours;
  return el("section", { class: "card", id: "my-preferences" }, el("h2", {}, "How you are told"),
    el("p", { class: "note" }, mine ? `Channels: ${mine.channels.join(", ") || "none"}; from ${mine.minimum_severity}.`
      : "You have no preferences yet: policies and rosters that name you cannot reach you."),
    form("Save my preferences", [
      { name: "channels", label: "Channels (ids, comma-separated)", value: mine?.channels.join(", ") ?? "" },
      { name: "email", label: "E-mail address (your sign-in address when empty)", optional: true, value: mine?.email ?? "" },
      { name: "minimum_severity", label: "From severity", choices: severities, value: mine?.minimum_severity ?? "low" },
      { name: "quiet_start", label: "Quiet from (HH:MM)", optional: true, value: quiet?.start ?? "" },
      { name: "quiet_end", label: "Quiet until (HH:MM)", optional: true, value: quiet?.end ?? "" },
      { name: "time_zone", label: "Time zone", value: quiet?.time_zone ?? zone },
    ], async (values) => {
      const body = { channels: list(values.channels), minimum_severity: values.minimum_severity };
      if (values.email) body.email = values.email;
      if (values.quiet_start || values.quiet_end) body.quiet_hours = { start: values.quiet_start, end: values.quiet_end, time_zone: values.time_zone };
      await api("/api/v1/me/notification-preferences", { method: "PUT", body });
      return "Saved.";
    }, { id: "preferences-form", prefix: "me-" }));
}

/** A table that reads its rows again from `load()` when `reload()` is called (after a form saved). */
async function liveTable(load, render) {
  const box = el("div", {}, render(await load()));
  box.reload = async () => box.replaceChildren(render(await load()));
  return box;
}

async function channelsCard() {
  const load = async () => (await api("/api/v1/notification-channels")).items;
  const target = (c) => c.url ?? (c.email ? `${c.email.host} → ${c.email.to.join(", ")}` : c.mqtt ? `topic ${c.mqtt.topic}` : "the log");
  const test = (c) => el("button", { type: "button", class: "small", onclick: async (event) => {
    try { await api(`/api/v1/notification-channels/${c.id}/test`, { method: "POST" }); event.target.textContent = "Queued"; }
    catch (error) { alert(error.message); }
  } }, "Test");
  const rows = await liveTable(load, (channels) => table(["Id", "Name", "Kind", "Goes to", "State", ""], channels.map((c) => [c.id, c.name,
    c.kind, target(c), c.enabled ? "enabled" : `disabled: ${c.disabled_reason ?? ""}`,
    el("span", {}, test(c), " ", removeButton("Delete", `Delete channel ${c.id}? Messages queued for it become dead letters.`,
      `/api/v1/notification-channels/${c.id}`))])));
  return el("section", { class: "card", id: "notification-channels" }, el("h2", {}, "Channels"),
    rows,
    form("Add a channel", [
      { name: "id", label: "Id" }, { name: "name", label: "Name" }, { name: "kind", label: "Kind", choices: kinds },
      { name: "url", label: "URL (webhook, Slack, Teams; mqtt://host:port for another broker)", optional: true },
      { name: "host", label: "SMTP server (e-mail)", optional: true }, { name: "port", label: "SMTP port", optional: true },
      { name: "from", label: "From (e-mail)", optional: true }, { name: "to", label: "To (e-mail, comma-separated)", optional: true },
      { name: "username", label: "User name (e-mail, MQTT)", optional: true },
      { name: "password", label: "Password (e-mail, MQTT; stored encrypted)", optional: true, type: "password" },
      { name: "topic", label: "Topic (MQTT, e.g. andon/{{machine}})", optional: true },
    ], async (values) => {
      const body = { name: values.name, kind: values.kind };
      if (values.url) body.url = values.url;
      if (values.kind === "email") {
        body.email = { host: values.host, from: values.from, to: list(values.to) };
        if (values.port) body.email.port = Number(values.port);
        if (values.username) body.email.username = values.username;
      }
      if (values.kind === "mqtt") body.mqtt = { topic: values.topic, ...(values.username ? { username: values.username } : {}) };
      if (values.password) body.password = values.password;
      const saved = await api(`/api/v1/notification-channels/${encodeURIComponent(values.id)}`, { method: "PUT", body });
      await rows.reload();
      return saved.secret ? el("span", {}, "Saved. Its signing secret (shown once): ", el("code", { class: "secret" }, saved.secret)) : "Saved.";
    }, { id: "channel-form", prefix: "channel-" }));
}

/** An escalation chain as people write it: `10m: user:ben@plant.example, roster:maintenance; 30m: lead-mail`. */
function parseChain(text) {
  return (text ?? "").split(";").map((s) => s.trim()).filter(Boolean).map((step) => {
    const colon = step.indexOf(":");
    if (colon < 0) throw new Error(`"${step}" is not a step: write after: who, e.g. 10m: user:ben@plant.example`);
    const targets = list(step.slice(colon + 1));
    return { after: step.slice(0, colon).trim(), channels: targets.filter((t) => !/^(user|roster):/.test(t)),
      recipients: targets.filter((t) => /^(user|roster):/.test(t)) };
  });
}

function chainText(steps) {
  return steps.map((s) => `${s.after}: ${[...s.channels, ...s.recipients].join(", ")}`).join("; ");
}

async function policiesCard() {
  const rows = await liveTable(async () => (await api("/api/v1/notification-policies")).items, (policies) =>
    table(["Id", "Name", "From", "Tells", "Reminds every", "Then, if nobody acknowledges", ""], policies.map((p) => [p.id, p.name, p.minimum_severity,
      [...p.channels, ...p.recipients].join(", "), p.repeat_every ?? "–", chainText(p.escalation) || "–",
      removeButton("Delete", `Delete policy ${p.id}?`, `/api/v1/notification-policies/${p.id}`)])));
  return el("section", { class: "card", id: "notification-policies" }, el("h2", {}, "Policies"), rows,
    form("Add a policy", [
      { name: "id", label: "Id" }, { name: "name", label: "Name" },
      { name: "minimum_severity", label: "From severity", choices: severities },
      { name: "tells", label: "Tells (channels, user:e-mail, roster:id; comma-separated)" },
      { name: "repeat_every", label: "Remind every (e.g. 30m) while unacknowledged", optional: true },
      { name: "escalation", label: "Escalation (10m: user:ben@plant.example; 30m: roster:leads)", optional: true },
    ], async (values) => {
      const tells = list(values.tells);
      const body = { name: values.name, minimum_severity: values.minimum_severity, channels: tells.filter((t) => !/^(user|roster):/.test(t)),
        recipients: tells.filter((t) => /^(user|roster):/.test(t)), escalation: parseChain(values.escalation) };
      if (values.repeat_every) body.repeat_every = values.repeat_every;
      await api(`/api/v1/notification-policies/${encodeURIComponent(values.id)}`, { method: "PUT", body });
      await rows.reload();
      return "Saved.";
    }, { id: "policy-form", prefix: "policy-" }));
}

/** Today at 06:00 in the browser's zone, as a datetime-local input holds it. */
function todayAtSix() {
  const d = new Date();
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T06:00`;
}

async function rostersCard() {
  const rows = await liveTable(async () => (await api("/api/v1/notification-rosters")).items, (rosters) =>
    table(["Id", "Name", "Turns", "People", "On call now", "Holidays", ""], rosters.map((r) => [r.id, r.name, r.turn, r.people.join(", "),
      el("strong", { class: "on-call", "data-roster": r.id }, r.on_call ?? "nobody"),
      r.holidays.length ? `${r.holidays.join(", ")} (cover: ${r.holiday_cover ?? "the rotation"})` : "–",
      removeButton("Delete", `Delete roster ${r.id}?`, `/api/v1/notification-rosters/${r.id}`)])));
  return el("section", { class: "card", id: "notification-rosters" }, el("h2", {}, "On-call rosters"), rows,
    form("Add a roster", [
      { name: "id", label: "Id" }, { name: "name", label: "Name" },
      { name: "people", label: "People in turn (sign-in e-mails, comma-separated)" },
      { name: "turn", label: "Each turn lasts (e.g. 7d)", value: "7d" },
      { name: "starts", label: "First turn starts", type: "datetime-local", value: todayAtSix() },
      { name: "time_zone", label: "Time zone (the site's)", value: zone },
      { name: "holidays", label: "Holidays (YYYY-MM-DD, comma-separated)", optional: true },
      { name: "holiday_cover", label: "On call on holidays", optional: true },
      { name: "quiet_start", label: "Quiet from (HH:MM; only critical alarms wake the person on call)", optional: true },
      { name: "quiet_end", label: "Quiet until (HH:MM)", optional: true },
    ], async (values) => {
      const starts = new Date(values.starts).getTime();
      if (!Number.isFinite(starts)) throw new Error("First turn starts: choose a date and time");
      const body = { name: values.name, people: list(values.people), turn: values.turn, rotation_start: starts, time_zone: values.time_zone,
        holidays: list(values.holidays) };
      if (values.holiday_cover) body.holiday_cover = values.holiday_cover;
      if (values.quiet_start || values.quiet_end) body.quiet_hours = { start: values.quiet_start, end: values.quiet_end, time_zone: values.time_zone };
      const saved = await api(`/api/v1/notification-rosters/${encodeURIComponent(values.id)}`, { method: "PUT", body });
      await rows.reload();
      return `Saved: ${saved.on_call ?? "nobody"} is on call now.`;
    }, { id: "roster-form", prefix: "roster-" }));
}

async function peopleCard() {
  const people = (await api("/api/v1/notification-people")).items;
  return el("section", { class: "card", id: "notification-people" }, el("h2", {}, "Everyone's preferences"),
    table(["Person", "Channels", "Address", "From", "Quiet hours", ""], people.map((p) => [p.id, p.channels.join(", "), p.email ?? p.id,
      p.minimum_severity, p.quiet_hours ? `${p.quiet_hours.start}–${p.quiet_hours.end} ${p.quiet_hours.time_zone}` : "–",
      removeButton("Delete", `Delete the preferences of ${p.id}?`, `/api/v1/notification-people/${encodeURIComponent(p.id)}`)]),
    { empty: "Nobody has set preferences yet." }));
}
