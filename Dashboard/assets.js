// The asset model in administration: sites, areas, lines and machines with their display names,
// descriptions and metadata; machines created ahead of their data, moved, retired or deleted;
// and a tag's display name, unit, range and decimals.
import { api } from "/assets/api.js";
import { may } from "/assets/app.js";
import { actionForm, el, time } from "/assets/ui.js";

const levels = ["site", "area", "line", "machine"];

/** `key = value` lines ↔ a metadata object. */
const metadataText = (metadata) => Object.entries(metadata).map(([key, value]) => `${key} = ${value}`).join("\n");
function metadataObject(text) {
  const metadata = {};
  for (const [number, line] of text.split("\n").entries()) {
    if (!line.trim()) continue;
    const equals = line.indexOf("=");
    if (equals < 1) throw new Error(`Metadata line ${number + 1} needs the form key = value.`);
    metadata[line.slice(0, equals).trim()] = line.slice(equals + 1).trim();
  }
  return metadata;
}

export async function assetsCard() {
  const list = await api("/api/v1/asset-details");
  const field = (id, label, node) => [el("label", { for: id }, label), node];
  const level = el("select", { id: "asset-level" }, ...levels.map((l) => el("option", { value: l }, l)));
  const path = el("input", { id: "asset-path", required: true, placeholder: "plant1/press-shop/line3/press-9" });
  const name = el("input", { id: "asset-name", placeholder: "optional" });
  const description = el("input", { id: "asset-description", placeholder: "optional" });
  const metadata = el("textarea", { id: "asset-metadata", rows: 3, placeholder: "vendor = Schuler\nserial = SP-0042" });
  const edit = (asset) => {
    level.value = asset.level; path.value = asset.path; name.value = asset.display_name ?? "";
    description.value = asset.description ?? ""; metadata.value = metadataText(asset.metadata);
    name.focus();
  };
  const refresh = async (section) => section.replaceWith(await assetsCard());
  const act = (label, run, attributes = {}) => el("button", { type: "button", class: "small secondary", ...attributes, onclick: async (event) => {
    try { await run(); await refresh(event.target.closest("section")); } catch (error) { alert(error.message); }
  } }, label);
  const actions = (asset) => {
    const buttons = [el("button", { type: "button", class: "small secondary", "data-edit": asset.path, onclick: () => edit(asset) }, "Edit")];
    if (asset.level !== "machine") return buttons;
    const retired = asset.retired_at !== null;
    buttons.push(act(retired ? "Reactivate" : "Retire", () => api("/api/v1/machines/retire", { method: "POST",
      body: { machine: asset.path, retired: !retired } }), { "data-retire": asset.path }));
    buttons.push(act("Move", async () => {
      const to = prompt(`New path for ${asset.path} (site/[area/]line/machine). Its history, settings and stops move with it; `
        + "data sent to the old path afterwards makes a new machine.", asset.path);
      if (to && to !== asset.path) await api("/api/v1/machines/move", { method: "POST", body: { machine: asset.path, to } });
    }, { "data-move": asset.path }));
    if (may("manageTenant")) {
      buttons.push(act("Delete", async () => {
        const typed = prompt(`Delete ${asset.path} with all its data? This cannot be undone. Type the machine's path to confirm.`);
        if (typed === null) return;
        await api(`/api/v1/machines?${new URLSearchParams({ machine: asset.path, confirm: typed })}`, { method: "DELETE" });
      }, { class: "small danger", "data-delete": asset.path }));
    }
    return buttons;
  };
  const state = (asset) => asset.level !== "machine" ? "" : asset.retired_at !== null ? `retired ${time(asset.retired_at)}` : "in service";
  const rows = list.items.map((a) => [a.level, el("code", {}, a.path), a.display_name ?? "", a.description ?? "",
    metadataText(a.metadata), state(a), el("span", { class: "actions" }, ...actions(a))]);
  const table = rows.length === 0 ? el("p", { class: "empty" }, "No assets yet: they appear when machines send data, or add one below.")
    : el("div", { class: "scroll" }, el("table", { id: "asset-table" },
      el("thead", {}, el("tr", {}, ...["Level", "Path", "Name", "Description", "Metadata", "State", ""].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, ...rows.map((cells, index) => el("tr", { "data-path": list.items[index].path }, ...cells.map((c) => el("td", {}, c)))))));
  const section = el("section", { class: "card", id: "admin-assets" }, el("h2", {}, "Assets"),
    el("p", { class: "hint" }, "Machines appear when they send data; add one here to configure it first. Retired machines keep their history and refuse new data."),
    table,
    actionForm({ id: "asset-form" }, async () => {
      const saved = await api("/api/v1/asset-details", { method: "PUT", body: { level: level.value, path: path.value.trim(),
        display_name: name.value.trim() || null, description: description.value.trim() || null, metadata: metadataObject(metadata.value) } });
      setTimeout(() => refresh(section), 0);
      return `Saved ${saved.level} ${saved.path}.`;
    }, el("h3", {}, "Add or change an asset"), ...field("asset-level", "Level", level), ...field("asset-path", "Path", path),
    ...field("asset-name", "Display name", name), ...field("asset-description", "Description", description),
    ...field("asset-metadata", "Metadata (key = value per line)", metadata), el("button", { type: "submit" }, "Save asset")),
    tagForm());
  return section;
}

/** A tag's display name, unit, engineering range and decimals (its value type stays what its first value made it). */
function tagForm() {
  const input = (id, attributes = {}) => el("input", { id, ...attributes });
  const machine = input("tag-machine", { required: true, placeholder: "plant1/press-shop/line3/press-9" });
  const tag = input("tag-name", { required: true, placeholder: "spindle_temp" });
  const name = input("tag-display", { placeholder: "optional" });
  const unit = input("tag-unit", { placeholder: "optional" });
  const minimum = input("tag-min", { type: "number", step: "any" });
  const maximum = input("tag-max", { type: "number", step: "any" });
  const decimals = input("tag-decimals", { type: "number", min: 0, max: 10 });
  const number = (node) => node.value === "" ? null : Number(node.value);
  const field = (id, label, node) => [el("label", { for: id }, label), node];
  return actionForm({ id: "tag-form" }, async () => {
    const saved = await api("/api/v1/tags/details", { method: "PUT", body: { machine: machine.value.trim(), tag: tag.value.trim(),
      display_name: name.value.trim() || null, unit: unit.value.trim() || null, minimum: number(minimum), maximum: number(maximum),
      decimals: number(decimals) } });
    return `Saved ${saved.machine}/${saved.name}.`;
  }, el("h3", {}, "Tag details"), ...field("tag-machine", "Machine", machine), ...field("tag-name", "Tag", tag),
  ...field("tag-display", "Display name", name), ...field("tag-unit", "Unit", unit), ...field("tag-min", "Minimum", minimum),
  ...field("tag-max", "Maximum", maximum), ...field("tag-decimals", "Decimals", decimals), el("button", { type: "submit" }, "Save tag"));
}
