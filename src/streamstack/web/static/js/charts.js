// Line charts in inline SVG: a fixed one-hour time axis, gaps where a value is undefined, a hover readout.

import { h } from "./dom.js";
import { clock } from "./format.js";

const SVG = "http://www.w3.org/2000/svg";
const HEIGHT = 180;
const PAD = { top: 10, right: 12, bottom: 24, left: 52 };
export const PALETTE = ["#4f46e5", "#0d9488", "#d97706", "#e11d48", "#0284c7", "#64748b"];

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, value);
  el.append(...children);
  return el;
}

const GRID_LINES = 4;
const TIME_STEPS = [10, 15, 30, 60, 120, 300, 600, 900, 1800];

/** The top of the y axis: 4 gridlines a "round" step apart (1, 2, 2.5 or 5 × 10ⁿ; whole numbers for counts). */
export function niceMax(value, integer = false) {
  if (!(value > 0)) return integer ? GRID_LINES : 1;
  const raw = value / GRID_LINES;
  const power = 10 ** Math.floor(Math.log10(raw));
  let step = [1, 2, 2.5, 5, 10].find((m) => m * power >= raw - 1e-12) * power;
  if (integer) step = Math.max(1, Math.ceil(step));
  return step * GRID_LINES;
}

function timeStep(span) {
  return TIME_STEPS.find((step) => span / step <= 6) || 3600;
}

function stats(series) {
  let max = 0;
  let points = 0;
  let nonZero = 0;
  for (const s of series) {
    for (const v of s.values) {
      if (v === null || v === undefined) continue;
      points += 1;
      if (v !== 0) nonZero += 1;
      max = Math.max(max, v);
    }
  }
  return { max, points, nonZero };
}

function pathOf(values, t, x, y) {
  let d = "";
  let pen = false;
  values.forEach((v, i) => {
    if (v === null || v === undefined) {
      pen = false;
      return;
    }
    d += `${pen ? "L" : "M"}${x(t[i]).toFixed(1)},${y(v).toFixed(1)}`;
    pen = true;
  });
  return d;
}

/** Indexes of values with no defined neighbour: a line cannot show them, so they get a dot. */
function isolated(values) {
  const defined = (i) => values[i] !== null && values[i] !== undefined;
  return values.map((_, i) => i).filter((i) => defined(i) && !defined(i - 1) && !defined(i + 1));
}

/** Closes each drawn run of a line down to the baseline, for a light fill under the first series. */
function areaOf(line, baseline) {
  return line.split("M").filter(Boolean).map((run) => {
    const points = run.split("L");
    const first = points[0].split(",")[0];
    const last = points[points.length - 1].split(",")[0];
    return `M${first},${baseline}L${run}L${last},${baseline}Z`;
  }).join("");
}

function axes(width, x, y, yMax, from, to, format) {
  const group = svg("g", { class: "axes" });
  for (let i = 0; i <= GRID_LINES; i += 1) {
    const value = (yMax * i) / GRID_LINES;
    const py = y(value);
    group.append(svg("line", { x1: PAD.left, x2: width - PAD.right, y1: py, y2: py, class: "grid" }));
    group.append(svg("text", { x: PAD.left - 8, y: py + 4, "text-anchor": "end", class: "tick" }, format(value)));
  }
  const step = timeStep(to - from);
  for (let tick = Math.ceil(from / step) * step; tick <= to; tick += step) {
    group.append(svg("text", { x: x(tick), y: HEIGHT - 6, "text-anchor": "middle", class: "tick" },
      clock(tick, step < 60)));
  }
  return group;
}

function latest(values) {
  for (let i = values.length - 1; i >= 0; i -= 1) {
    if (values[i] !== null && values[i] !== undefined) return values[i];
  }
  return null;
}

/** Draws (or redraws) a chart into `figure`; `series` is [{name, values}], `t` the shared timestamps. */
export function drawChart(figure, { t, series, format, now, span = 3600, yMax, integer = false, emptyMax }) {
  const width = Math.max(figure.querySelector(".chart-plot").clientWidth || 480, 240);
  const { max, points, nonZero } = stats(series);
  const top = yMax ?? (max > 0 || emptyMax === undefined ? niceMax(max, integer) : emptyMax);
  const from = now - span;
  const x = (ts) => PAD.left + ((ts - from) / span) * (width - PAD.left - PAD.right);
  const y = (v) => HEIGHT - PAD.bottom - (Math.min(v, top) / top) * (HEIGHT - PAD.top - PAD.bottom);
  const plot = svg("svg", { viewBox: `0 0 ${width} ${HEIGHT}`, width, height: HEIGHT, role: "img",
    "aria-label": figure.dataset.title || "chart" });
  plot.append(axes(width, x, y, top, from, now, format));
  series.forEach((s, i) => {
    const color = s.color || PALETTE[i % PALETTE.length];
    const line = pathOf(s.values, t, x, y);
    if (i === 0 && line) plot.append(svg("path", { d: areaOf(line, y(0)), fill: color, class: "area" }));
    plot.append(svg("path", { d: line, stroke: color, fill: "none", class: "line" }));
    for (const i of isolated(s.values)) {
      plot.append(svg("circle", { cx: x(t[i]), cy: y(s.values[i]), r: 2.5, fill: color }));
    }
  });
  if (!points) {
    plot.append(svg("text", { x: width / 2, y: HEIGHT / 2, "text-anchor": "middle", class: "empty" },
      "No data in the last hour yet"));
  }
  Object.assign(figure.dataset, { points: String(points), nonzero: String(nonZero), max: String(max) });
  figure.querySelector("svg")?.remove();
  figure.querySelector(".chart-plot").append(plot);
  attachHover(figure, plot, { t, series, format, x, width });
  drawLegend(figure, series);
  showCurrent(figure, series, format);
}

function attachHover(figure, plot, { t, series, format, x, width }) {
  const tip = figure.querySelector(".chart-tip");
  const cursor = svg("line", { y1: PAD.top, y2: HEIGHT - PAD.bottom, class: "cursor", visibility: "hidden" });
  plot.append(cursor);
  plot.addEventListener("mousemove", (event) => {
    if (!t.length) return;
    const px = (event.offsetX / plot.clientWidth) * width;
    let best = 0;
    t.forEach((ts, i) => { if (Math.abs(x(ts) - px) < Math.abs(x(t[best]) - px)) best = i; });
    cursor.setAttribute("x1", x(t[best]));
    cursor.setAttribute("x2", x(t[best]));
    cursor.setAttribute("visibility", "visible");
    tip.replaceChildren(h("strong", new Date(t[best] * 1000).toLocaleTimeString()),
      ...series.map((s) => h("span", `${s.name}: ${format(s.values[best])}`)));
    tip.hidden = false;
  });
  plot.addEventListener("mouseleave", () => {
    cursor.setAttribute("visibility", "hidden");
    tip.hidden = true;
  });
}

/** The card around a chart: title, current value of the first series, a legend, the plot. */
export function chartCard({ id, title, subtitle }) {
  return h("figure.card.chart", { dataset: { chart: id, title } },
    h("figcaption.chart-head",
      h("div", h("h3", title), subtitle ? h("p.chart-subtitle", subtitle) : null),
      h("span.chart-value", "–")),
    h("ul.legend"),
    h("div.chart-plot"),
    h("div.chart-tip", { hidden: true }));
}

function drawLegend(figure, series) {
  figure.querySelector(".legend").replaceChildren(...series.map((s, i) => {
    const swatch = h("span.swatch");
    swatch.style.background = s.color || PALETTE[i % PALETTE.length];
    return h("li", swatch, s.name);
  }));
}

function showCurrent(figure, series, format) {
  figure.querySelector(".chart-value").textContent = format(latest(series[0]?.values || []));
}
