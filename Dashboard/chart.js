// Charts drawn here on canvas: a trend with hover values and drag-to-zoom, and a state timeline.
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
 * which appends live points [{t, v}] and moves the window to [from, to].
 */
export function trendChart(canvas, { series, from, to, onZoom, label }) {
  const pad = { left: 56, right: 12, top: 12, bottom: 24 };
  let points = series.flatMap((s) => (s.points || []).map((p) => ({ t: p.t, v: p.v, min: p.v, max: p.v }))
    .concat((s.buckets || []).map((b) => ({ t: b.start, v: b.avg, min: b.min, max: b.max }))))
    .filter((p) => typeof p.v === "number").sort((a, b) => a.t - b.t);
  let hover = null, drag = null;
  const draw = () => {
    const { context, width, height } = prepare(canvas);
    canvas.dataset.last = points.at(-1)?.t ?? "";  // the newest point drawn (tests watch it move)
    const c = colours();
    context.clearRect(0, 0, width, height);
    context.font = "12px system-ui, sans-serif";
    context.fillStyle = c.text;
    if (points.length === 0) { context.fillText("No data in this range", pad.left, height / 2); return; }
    let low = Math.min(...points.map((p) => p.min)), high = Math.max(...points.map((p) => p.max));
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
      to = newTo;
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

/** A horizontal bar chart (the downtime Pareto) as SVG: [{label, value, text}]. */
export function barChart(bars) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  const height = 22 * bars.length + 4;
  svg.setAttribute("viewBox", `0 0 720 ${height}`);
  svg.setAttribute("role", "img");
  svg.classList.add("bars");
  const max = Math.max(1, ...bars.map((b) => b.value));
  bars.forEach((bar, index) => {
    const rect = document.createElementNS(ns, "rect");
    rect.setAttribute("x", "220"); rect.setAttribute("y", String(4 + index * 22));
    rect.setAttribute("width", String(Math.max(1, bar.value / max * 280))); rect.setAttribute("height", "16");
    const label = document.createElementNS(ns, "text");
    label.setAttribute("x", "0"); label.setAttribute("y", String(17 + index * 22)); label.textContent = bar.label;
    const value = document.createElementNS(ns, "text");
    value.setAttribute("x", String(226 + bar.value / max * 280)); value.setAttribute("y", String(17 + index * 22)); value.textContent = bar.text;
    svg.append(rect, label, value);
  });
  return svg;
}
