// The floor: every machine as a tile grouped by site / area / line, coloured by state, with the
// current shift's OEE and A/P/Q, the running stop and key values, live over the WebSocket.
import { api, liveSocket } from "/assets/api.js";
import { setConnection } from "/assets/app.js";
import { el, percent, duration, stateClass } from "/assets/ui.js";
import { watchAlarms, alarmsOf } from "/assets/alarms.js";

const defaultTags = ["speed", "spindle_temp", "total_count"];
const storedTags = "gemba.floor.tags";

/** The tags this browser shows on the tiles (chosen under "Values", kept in local storage); the state always streams. */
function keyTags() {
  try {
    const tags = JSON.parse(localStorage.getItem(storedTags));
    return Array.isArray(tags) && tags.every((tag) => typeof tag === "string") ? tags : defaultTags;
  } catch { return defaultTags; }
}

const stateCategories = {
  producing: "producing", running: "producing", reduced_speed: "reduced_speed", idle: "idle", setup: "planned_stop",
  planned_stop: "planned_stop", breakdown: "unplanned_stop", jam: "unplanned_stop", material_shortage: "unplanned_stop",
};

export async function renderFloor(main) {
  const search = el("input", { type: "search", id: "floor-search", placeholder: "Search machines", "aria-label": "Search machines" });
  const filter = el("select", { id: "floor-filter", "aria-label": "Show" },
    el("option", { value: "" }, "All states"), el("option", { value: "unplanned" }, "Unplanned stops"),
    el("option", { value: "planned" }, "Planned stops"), el("option", { value: "producing" }, "Producing"),
    el("option", { value: "unknown" }, "Unknown / stale"));
  const grid = el("div", { class: "floor", id: "floor" });
  let shown = keyTags();
  const chooser = tagChooser(shown, (tags) => { shown = tags; showTags(); });
  main.replaceChildren(el("div", { class: "toolbar" }, el("h1", {}, "Floor"), search, filter, chooser), grid);

  const { machines } = await api("/api/v1/machines");
  if (machines.length === 0) {
    grid.append(el("p", { class: "empty" }, "No machines yet. Machines appear as soon as they send data."));
    chooser.hidden = true;
    return () => {};
  }
  const sight = nearTheScreen();
  const { tiles, add } = layOut(grid, () => shown, sight.watch);
  machines.forEach(add);
  const applyFilter = () => {
    const text = search.value.trim().toLowerCase();
    for (const tile of tiles.values()) {
      tile.node.hidden = (text && !tile.path.toLowerCase().includes(text)) || (filter.value && tile.node.dataset.state !== filter.value);
    }
  };
  search.addEventListener("input", applyFilter);
  filter.addEventListener("change", applyFilter);

  // Latest values first (fast), then the OEE figures; both refresh, the values live.
  const query = () => ["state", ...shown].map((tag) => `tag=${encodeURIComponent(tag)}`).join("&");
  const showLatest = async () => {
    const latest = await api(`/api/v1/latest?${query()}`);
    for (const value of latest.values) tiles.get(value.machine)?.value(value.tag, value.v, value.quality);
  };
  await showLatest();
  performance.mark("floor-painted");  // first meaningful paint: every tile with its state and values
  const onStateChange = () => { if (filter.value) applyFilter(); };
  // A machine that starts sending while the floor is open gets its tile (the list is asked again at most every 2 s).
  let asking = null;
  const onUnknownMachine = () => {
    asking ??= new Promise((resolve) => setTimeout(resolve, 2000)).then(async () => {
      const { machines } = await api("/api/v1/machines");
      const added = machines.filter((machine) => !tiles.has(machine.path));
      added.forEach(add);
      if (added.length) { applyFilter(); await showLatest(); }
    }).catch(() => {}).finally(() => { asking = null; });
  };
  const openStream = () => liveValues(tiles, `/api/v1/live?${query()}`, onStateChange, onUnknownMachine);
  let stream = openStream();
  function showTags() {  // a new choice of values: new columns, a new stream
    localStorage.setItem(storedTags, JSON.stringify(shown));
    for (const tile of tiles.values()) tile.clearValues();
    stream.close();
    stream = openStream();
    showLatest().catch(() => {});
  }
  const stopOEE = refreshOEE(tiles);
  const stopAlarms = watchAlarms((alarms) => { for (const tile of tiles.values()) tile.alarms(alarmsOf(alarms, tile.path)); });
  return () => { stopOEE(); stopAlarms(); stream.close(); sight.stop(); };
}

/** A section per line ("site / area / line") holding its machines' tiles; `add` places one more machine. */
function layOut(grid, shownTags, watch) {
  const tiles = new Map();
  const lines = new Map();  // "site / area / line" → { box, tiles }
  const add = (machine) => {
    const name = [machine.site, machine.area, machine.line].filter(Boolean).join(" / ");
    if (!lines.has(name)) {
      const box = el("div", { class: "tiles" });
      const linePath = [machine.site, machine.area, machine.line].filter(Boolean).join("/");
      const section = el("section", { class: "line", "data-group": name },
        el("h2", {}, name, " ", el("a", { href: `#/oee/${encodeURIComponent(linePath)}`, class: "line-oee" }, "OEE")), box);
      grid.append(section);
      const line = { box, tiles: [] };
      lines.set(name, line);
      watch(section, line.tiles);
    }
    const tile = makeTile(machine, shownTags);
    tiles.set(machine.path, tile);
    const line = lines.get(name);
    line.box.append(tile.node);
    line.tiles.push(tile);
  };
  return { tiles, add };
}

/** Lines far off screen keep their newest values aside and write them when scrolled near. */
function nearTheScreen() {
  const tilesOf = new Map();  // section → its tiles
  const sight = new IntersectionObserver((entries) => {
    for (const entry of entries) for (const tile of tilesOf.get(entry.target)) tile.show(entry.isIntersecting);
  }, { rootMargin: "600px 0px" });
  return {
    watch(section, tiles) { tilesOf.set(section, tiles); sight.observe(section); },
    stop() { sight.disconnect(); },
  };
}

/**
 * The live stream of the shown tags into the tiles, coalesced per animation frame: at 10,000
 * samples/s only the newest value of each tile and tag is drawn. Samples of a machine without a
 * tile call `onUnknownMachine`. Counts what arrived in `window.gembaFloorStats` (the benchmark reads it).
 */
function liveValues(tiles, path, onStateChange, onUnknownMachine) {
  let pending = new Map();
  let frame = 0, received = 0, skipped = 0;  // skipped: older values the server collapsed for a slow reader
  const flush = () => {
    frame = 0;
    let stateChanged = false;
    let unknown = false;
    for (const sample of pending.values()) {
      const tile = tiles.get(sample.machine);
      if (tile) stateChanged = tile.value(sample.tag, sample.v, sample.quality) || stateChanged;
      else unknown = true;
    }
    if (unknown) onUnknownMachine();
    const stats = window.gembaFloorStats ?? { frames: 0, samples: 0, skipped: 0 };
    window.gembaFloorStats = { frames: stats.frames + 1, samples: stats.samples + received, skipped: stats.skipped + skipped };
    received = 0;
    skipped = 0;
    pending = new Map();
    if (stateChanged) onStateChange();
  };
  const socket = liveSocket(path, {
    onMessage: (message) => {
      for (const sample of message.samples || []) pending.set(`${sample.machine}|${sample.tag}`, sample);
      received += message.samples?.length ?? 0;
      skipped += message.skipped ?? 0;
      if (!frame) frame = requestAnimationFrame(flush);
    },
    onState: setConnection,
  });
  return { close() { socket.close(); cancelAnimationFrame(frame); } };
}

/** The current shift's OEE of every tile, now and every 15 s; returns the stop. */
function refreshOEE(tiles) {
  let stopped = false, timer = 0;
  const refresh = async () => {
    try {
      const floor = await api("/api/v1/floor");
      for (const status of floor.machines) tiles.get(status.machine)?.oee(status);
    } catch { /* shown by the connection badge; retried */ }
    if (!stopped) timer = setTimeout(refresh, 15000);
  };
  timer = setTimeout(refresh, 0);
  return () => { stopped = true; clearTimeout(timer); };
}

/** "Values": which tags the tiles show, from every tag the machines report. */
function tagChooser(shown, onChange) {
  const box = el("div", { class: "chips", id: "floor-tags" });
  const details = el("details", { class: "chooser" }, el("summary", {}, "Values"), box);
  details.addEventListener("toggle", async () => {
    if (!details.open || box.childElementCount) return;
    try {
      const { tags } = await api("/api/v1/tags");
      const names = [...new Set(tags.map((tag) => tag.name))].filter((name) => name !== "state").sort();
      box.replaceChildren(...names.map((name) => el("label", {}, el("input", { type: "checkbox", value: name, checked: shown.includes(name),
        onchange: () => onChange([...box.querySelectorAll("input:checked")].map((input) => input.value)) }), name)));
    } catch (error) { box.replaceChildren(el("p", { class: "error", role: "alert" }, error.message)); }
  });
  return details;
}

function makeTile(machine, shownTags) {
  const values = new Map();
  const waiting = new Map();  // tag → [value, quality] while the tile is far off screen
  let onScreen = true;
  const valueList = el("dl", { class: "values" });
  const state = el("span", { class: "state" }, "–");
  const oee = el("span", { class: "oee" }, "OEE –");
  const apq = el("span", { class: "apq" }, "A – · P – · Q –");
  const stop = el("span", { class: "stop" });
  const alarmBadge = el("span", { class: "alarm-count", hidden: true });
  const node = el("a", { class: "tile", href: `#/machine/${encodeURIComponent(machine.path)}`, "data-state": "unknown",
                         "data-machine": machine.path },
    el("strong", {}, machine.name), alarmBadge, state, oee, apq, stop, valueList);
  return {
    node, path: machine.path,
    /** Shows a new value; returns whether the tile's state colour changed. Unchanged text is not touched. */
    value(tag, v, quality) {
      if (tag === "state") {
        const category = quality === "bad" ? "unknown" : stateCategories[v] ?? (String(v).split("/")[0]);
        const colour = stateClass(category), label = quality === "bad" ? "stale" : String(v).replace("_", " ");
        if (state.textContent !== label) state.textContent = label;
        if (node.dataset.state === colour) return false;
        node.dataset.state = colour;
        return true;
      }
      if (!shownTags().includes(tag)) return false;
      if (onScreen) write(tag, v, quality); else waiting.set(tag, [v, quality]);
      return false;
    },
    /** Near the screen values are written as they come; away from it only the newest is kept until it comes back. */
    show(near) {
      onScreen = near;
      if (!near) return;
      for (const [tag, [v, quality]] of waiting) write(tag, v, quality);
      waiting.clear();
    },
    clearValues() { values.clear(); waiting.clear(); valueList.replaceChildren(); },
    /** The machine's standing alarms: a count coloured by the most severe. */
    alarms(list) {
      alarmBadge.hidden = list.length === 0;
      alarmBadge.textContent = list.length ? `⚠ ${list.length}` : "";
      alarmBadge.dataset.severity = list[0]?.severity ?? "";
      alarmBadge.title = list.map((alarm) => `${alarm.severity}: ${alarm.rule_name}`).join("\n");
    },
    oee(status) {
      oee.textContent = `OEE ${percent(status.oee)}`;
      apq.textContent = `A ${percent(status.availability)} · P ${percent(status.performance)} · Q ${percent(status.quality)}`;
      stop.textContent = status.stop ? `${status.stop.reason_name} · ${duration(status.stop.duration_ms)}` : "";
    },
  };

  function write(tag, v, quality) {
    let entry = values.get(tag);
    if (!entry) {
      entry = el("dd", {});
      values.set(tag, entry);
      valueList.append(el("dt", {}, tag.replace("_", " ")), entry);
    }
    const text = typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(1)) : String(v);
    if (entry.textContent !== text) entry.textContent = text;
    if (entry.dataset.quality !== quality) entry.dataset.quality = quality;
  }
}
