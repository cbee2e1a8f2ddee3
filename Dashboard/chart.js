// Charts drawn here: a canvas trend with hover values and drag-to-zoom, a state timeline, and SVG
// charts of KPIs per period (lines) and of downtime by reason (bars).
import { stateClass } from "/assets/ui.js";

const colours = () => {
  const style = getComputedStyle(document.documentElement);
  return { line: style.getPropertyValue("--accent").trim() || "#2563eb", grid: style.getPropertyValue("--grid").trim() || "#ddd",
           text: style.getPropertyValue("--text").trim() || "#222", band: style.getPropertyValue("--band").trim() || "rgba(37,99,235,.15)" };
};

function prepare(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth, height = canvas.clientHeight;
  canvas.width = width * ratio;
  canvas.height = height * ratio;
  const context = canvas.getContext("2d");
  context.setTransform(ratio, 0, 0, ratio, 0, 0);
  return { context, width, height };
}

/**
 * A trend of points [{t, v}] or buckets [{start, min, max, avg}] over [from, to]. Hovering shows the
 * value under the pointer (mouse, pen or touch); dragging selects a range and calls onZoom(from, to). Returns `add`,
 * which appends live points [{t, v}] and moves the window to [from, to]. A `forecast` [{t, v, low, high}]
 * is drawn after the data as a dashed line in its band, the window stretched to its end.
 */
export function trendChart(canvas, { series, from, to, onZoom, label, forecast = [] }) {
  const pad = { left: 56, right: 12, top: 12, bottom: 24 };
  if (forecast.length) to = Math.max(to, forecast.at(-1).t);
  canvas.dataset.forecast = String(forecast.length);
  let points = series.flatMap((s) => (s.points || []).map((p) => ({ t: p.t, v: p.v, min: p.v, max: p.v }))
    .concat((s.buckets || []).map((b) => ({ t: b.start, v: b.avg, min: b.min, max: b.max }))))
    .filter((p) => typeof p.v === "number").sort((a, b) => a.t - b.t);
  let hover = null, drag = null;
  const draw = () => {
    const { context, width, height } = prepare(canvas);
    Object.assign(canvas.dataset, { last: points.at(-1)?.t ?? "", from, to });  // what is drawn (tests watch it)
    const c = colours();
    context.clearRect(0, 0, width, height);
    context.font = "12px system-ui, sans-serif";
    context.fillStyle = c.text;
    if (points.length === 0) { context.fillText("No data in this range", pad.left, height / 2); return; }
    let low = Math.min(...points.map((p) => p.min), ...forecast.map((p) => p.low));
    let high = Math.max(...points.map((p) => p.max), ...forecast.map((p) => p.high));
    if (high === low) { high += 1; low -= 1; }
    const x = (t) => pad.left + (t - from) / (to - from) * (width - pad.left - pad.right);
    const y = (v) => pad.top + (high - v) / (high - low) * (height - pad.top - pad.bottom);
    context.strokeStyle = c.grid;
    for (let i = 0; i <= 4; i++) {
      const v = low + (high - low) * i / 4;
      context.beginPath(); context.moveTo(pad.left, y(v)); context.lineTo(width - pad.right, y(v)); context.stroke();
      context.fillText(v.toFixed(1), 4, y(v) + 4);
    }
    context.fillText(new Date(from).toLocaleTimeString(), pad.left, height - 6);
    const end = new Date(to).toLocaleTimeString();
    context.fillText(end, width - pad.right - context.measureText(end).width, height - 6);
    context.fillStyle = c.band;
    for (const p of points) if (p.max > p.min) context.fillRect(x(p.t), y(p.max), 1.5, Math.max(1, y(p.min) - y(p.max)));
    context.strokeStyle = c.line;
    context.lineWidth = 1.5;
    context.beginPath();
    points.forEach((p, i) => (i ? context.lineTo(x(p.t), y(p.v)) : context.moveTo(x(p.t), y(p.v))));
    context.stroke();
    if (forecast.length) {
      context.fillStyle = c.band;
      context.beginPath();
      forecast.forEach((p, i) => (i ? context.lineTo(x(p.t), y(p.high)) : context.moveTo(x(p.t), y(p.high))));
      forecast.slice().reverse().forEach((p) => context.lineTo(x(p.t), y(p.low)));
      context.closePath();
      context.fill();
      context.setLineDash([5, 4]);
      context.beginPath();
      forecast.forEach((p, i) => (i ? context.lineTo(x(p.t), y(p.v)) : context.moveTo(x(p.t), y(p.v))));
      context.stroke();
      context.setLineDash([]);
    }
    if (drag) { context.fillStyle = c.band; context.fillRect(Math.min(drag.a, drag.b), pad.top, Math.abs(drag.b - drag.a), height - pad.top - pad.bottom); }
    if (hover) {
      const near = points.reduce((best, p) => Math.abs(x(p.t) - hover) < Math.abs(x(best.t) - hover) ? p : best, points[0]);
      context.fillStyle = c.text;
      context.beginPath(); context.arc(x(near.t), y(near.v), 3, 0, 7); context.fill();
      const text = `${new Date(near.t).toLocaleTimeString()}  ${near.v.toFixed(2)}${label ? " " + label : ""}`;
      context.fillText(text, Math.min(x(near.t) + 6, width - context.measureText(text).width - 4), pad.top + 12);
    }
  };
  // Pointer events: the same hover and drag-to-zoom with a mouse, a pen or a finger (a tablet on the floor).
  const position = (event) => event.clientX - canvas.getBoundingClientRect().left;
  canvas.onpointermove = (event) => { hover = position(event); if (drag) drag.b = hover; draw(); };
  canvas.onpointerleave = () => { if (!drag) { hover = null; draw(); } };
  canvas.onpointercancel = () => { hover = null; drag = null; draw(); };
  canvas.onpointerdown = (event) => { canvas.setPointerCapture(event.pointerId); drag = { a: position(event), b: position(event) }; };
  canvas.onpointerup = () => {
    if (drag && Math.abs(drag.b - drag.a) > 8 && onZoom) {
      const width = canvas.clientWidth - pad.left - pad.right;
      const t = (px) => from + (Math.min(Math.max(px, pad.left), canvas.clientWidth - pad.right) - pad.left) / width * (to - from);
      onZoom(Math.round(t(Math.min(drag.a, drag.b))), Math.round(t(Math.max(drag.a, drag.b))));
    }
    drag = null;
    draw();
  };
  draw();
  return {
    add(live, newFrom, newTo) {
      for (const p of live) if (typeof p.v === "number" && p.t > (points.at(-1)?.t ?? -Infinity)) points.push({ t: p.t, v: p.v, min: p.v, max: p.v });
      from = newFrom;
      to = forecast.length ? Math.max(newTo, forecast.at(-1).t) : newTo;
      if (points.length && points[0].t < from) points = points.filter((p) => p.t >= from);
      draw();
    },
  };
}

/** Stops as coloured bars over [from, to]; a bar's title names its reason. */
export function stateTimeline(container, { stops, from, to }) {
  container.replaceChildren();
  container.classList.add("timeline");
  for (const stop of stops) {
    const left = Math.max(0, (stop.start - from) / (to - from)) * 100;
    const right = Math.min(1, (stop.end - from) / (to - from)) * 100;
    if (right <= left) continue;
    const bar = document.createElement("span");
    bar.className = `bar ${stateClass(stop.category)}`;
    bar.style.left = `${left}%`;
    bar.style.width = `${Math.max(0.3, right - left)}%`;
    bar.title = `${stop.reason_name} · ${new Date(stop.start).toLocaleTimeString()}–${new Date(stop.end).toLocaleTimeString()}`;
    container.append(bar);
  }
}

const ns = "http://www.w3.org/2000/svg";

/** An SVG element with attributes. */
function svgNode(tag, attributes = {}, text) {
  const node = document.createElementNS(ns, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * Ratios per period as lines on a 0–100 % scale: `labels` name the periods, each of `series`
 * ({name, className, values: [fraction|null]}) is a line with a dot per period (its title gives the value);
 * the first series' values are written over its dots while they fit. A gap in a line is a period without a value.
 */
export function ratioLines(labels, series) {
  const width = 1000, height = 240, pad = { left: 60, right: 60, top: 18, bottom: 22 };  // room for centred period labels
  const svg = svgNode("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "lines" });
  const x = (i) => pad.left + (labels.length === 1 ? 0.5 : i / (labels.length - 1)) * (width - pad.left - pad.right);
  const y = (v) => pad.top + (1 - Math.min(Math.max(v, 0), 1.2) / 1.2) * (height - pad.top - pad.bottom);
  for (const level of [0, 0.5, 1]) {
    svg.append(svgNode("line", { x1: pad.left, x2: width - pad.right, y1: y(level), y2: y(level), class: "grid" }),
      svgNode("text", { x: 0, y: y(level) + 4 }, `${level * 100} %`));
  }
  const step = Math.ceil(labels.length / 8);  // at most about eight period labels under the axis
  labels.forEach((label, i) => { if (i % step === 0) svg.append(svgNode("text", { x: x(i), y: height - 4, "text-anchor": "middle" }, label)); });
  series.forEach((line, index) => {
    let d = "", open = false;
    line.values.forEach((value, i) => {
      if (value === null || value === undefined) { open = false; return; }
      d += `${open ? "L" : "M"}${x(i).toFixed(1)},${y(value).toFixed(1)}`;
      open = true;
    });
    const group = svgNode("g", { class: line.className });
    group.append(svgNode("path", { d }));
    line.values.forEach((value, i) => {
      if (value === null || value === undefined) return;
      const dot = svgNode("circle", { cx: x(i), cy: y(value), r: index === 0 ? 3.5 : 2.5 });
      dot.append(svgNode("title", {}, `${labels[i]} · ${line.name} ${(value * 100).toFixed(1)} %`));
      group.append(dot);
      if (index === 0 && labels.length <= 31) group.append(svgNode("text", { x: x(i), y: y(value) - 7, "text-anchor": "middle" }, `${(value * 100).toFixed(1)}`));
    });
    svg.append(group);
  });
  return svg;
}

/** A horizontal bar chart (the downtime Pareto) as SVG: [{label, value, text}]. */
export function barChart(bars) {
  const svg = svgNode("svg", { viewBox: `0 0 720 ${22 * bars.length + 4}`, role: "img", class: "bars" });
  const max = Math.max(1, ...bars.map((b) => b.value));
  bars.forEach((bar, index) => {
    const top = 4 + index * 22, length = bar.value / max * 280;
    svg.append(svgNode("rect", { x: 220, y: top, width: Math.max(1, length), height: 16 }),
      svgNode("text", { x: 0, y: top + 13 }, bar.label), svgNode("text", { x: 226 + length, y: top + 13 }, bar.text));
  });
  return svg;
}
