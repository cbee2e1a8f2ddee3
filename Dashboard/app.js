// The dashboard shell: hash routes, the signed-in user, navigation by role, the connection badge.
import { api, session } from "/assets/api.js";
import { renderLogin, renderAccount } from "/assets/login.js";
import { renderFloor } from "/assets/floor.js";
import { renderMachine } from "/assets/machine.js";
import { renderOEE } from "/assets/oee.js";
import { renderAdmin } from "/assets/admin.js";
import { renderAlarms, renderAlarmPerformance, renderRules, alarmStream } from "/assets/alarms.js";
import { renderNotifications } from "/assets/notifications.js";
import { renderMaintenance } from "/assets/maintenance.js";
import { el, showError } from "/assets/ui.js";

const main = document.getElementById("main");
let current = null;   // the running view's cleanup
let retry = 0;        // a timer that opens the page again when the server could not be reached
export let me = null;

/** Administration is offered to whoever holds one of these (each section checks its own). */
const adminPermissions = ["manageUsers", "manageAPIKeys", "manageDevices", "configure", "manageTenant"];

const routes = [
  { pattern: /^#\/login$/, view: renderLogin, open: true },
  { pattern: /^#\/join\/(.+)$/, view: renderLogin, open: true },
  { pattern: /^#\/floor$/, view: renderFloor },
  { pattern: /^#\/machine\/(.+)$/, view: renderMachine },
  { pattern: /^#\/oee(?:\/(.+))?$/, view: renderOEE },
  { pattern: /^#\/alarms$/, view: renderAlarms },
  { pattern: /^#\/alarms\/performance$/, view: renderAlarmPerformance },
  { pattern: /^#\/rules(?:\/(.+))?$/, view: renderRules, permissions: ["configure"] },
  { pattern: /^#\/notifications$/, view: renderNotifications },
  { pattern: /^#\/maintenance(?:\/(.+))?$/, view: renderMaintenance },
  { pattern: /^#\/admin$/, view: renderAdmin, permissions: adminPermissions },
  { pattern: /^#\/account$/, view: (main) => renderAccount(main, me) },
];

/** Whether the signed-in user's role holds a permission (what it may not do is not offered). */
export function may(permission) { return Boolean(me?.permissions?.includes(permission)); }

/** Connection state for everyone to see: live, reconnecting, offline. */
export function setConnection(state) {
  const badge = document.getElementById("connection");
  badge.textContent = { live: "● live", reconnecting: "● reconnecting…", closed: "" }[state] ?? "";
  badge.dataset.state = state;
}

function renderNav() {
  const nav = document.getElementById("nav");
  nav.replaceChildren();
  if (!me) return;
  const links = [["#/floor", "Floor"], ["#/oee", "OEE"], ["#/alarms", "Alarms"], ["#/maintenance", "Maintenance"], ["#/notifications", "Notifications"]];
  if (adminPermissions.some(may)) links.push(["#/admin", "Administration"]);
  for (const [href, label] of links) {
    const link = el("a", { href, "aria-current": location.hash.startsWith(href) ? "page" : null }, label);
    nav.append(link);
  }
  const who = document.getElementById("who");
  who.replaceChildren(el("a", { href: "#/account", title: "Your account and password" }, `${me.display_name || me.email} · ${me.role}`), " ",
    el("button", { type: "button", class: "link", onclick: signOut }, "Sign out"));
}

async function signOut() {
  try { await api("/api/v1/auth/logout", { method: "POST" }); } catch { /* signed out either way */ }
  session.clear();
  me = null;
  alarmStream(false);
  location.hash = "#/login";
}

/** Shows an error in place of the page; when the server could not be reached, tries the page again in 5 s. */
function failed(error, hash) {
  showError(main, error);
  if (error.status === 0) retry = setTimeout(() => { if ((location.hash || "#/floor") === hash) route(); }, 5000);
}

async function route() {
  current?.();
  current = null;
  clearTimeout(retry);
  const hash = location.hash || "#/floor";
  const match = routes.map((r) => ({ r, m: hash.match(r.pattern) })).find((x) => x.m);
  if (!match) { location.hash = "#/floor"; return; }
  if (!match.r.open) {
    if (!session.token) { location.hash = "#/login"; return; }
    if (!me) {
      try { me = await api("/api/v1/auth/me"); } catch (error) { failed(error, hash); return; }
    }
    alarmStream(true);
    if (match.r.permissions && !match.r.permissions.some(may)) {
      main.replaceChildren(el("h1", {}, "Not available"), el("p", { class: "error" }, "Your role does not include this page."));
      renderNav();
      return;
    }
  } else {
    me = null;
    alarmStream(false);
    document.getElementById("who").replaceChildren();
  }
  renderNav();
  main.replaceChildren(el("p", { class: "loading" }, "Loading…"));
  try {
    current = await match.r.view(main, ...match.m.slice(1).map((part) => part && decodeURIComponent(part)));
  } catch (error) {
    failed(error, hash);
  }
  main.focus();
}

window.addEventListener("hashchange", route);
route();
