// Charts drawn as SVG: the volume histogram (drag to zoom) and stats series by time bucket.

const NS = "http://www.w3.org/2000/svg";
const PALETTE = [
  "#4e9af1", "#f1a94e", "#5cc98b", "#e05d6f", "#a67cf0",
  "#4ec9d1", "#d1c24e", "#f07cc2", "#8a9bb0", "#9ccf4e",
];
const HEIGHT = 110;
const PAD = { left: 48, right: 10, top: 8, bottom: 20 };

function el(name, attributes = {}, parent = null) {
  const node = document.createElementNS(NS, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (parent) parent.append(node);
  return node;
}

export function formatTime(ns, span) {
  const date = new Date(Number(BigInt(ns) / 1000000n));
  const iso = date.toISOString();
  if (span >= 2 * 86400e9) return iso.slice(5, 16).replace("T", " ");
  if (span >= 3600e9) return iso.slice(11, 16);
  return iso.slice(11, 19);
}

function niceMax(value) {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (value <= step * power) return step * power;
  return 10 * power;
}

function axes(svg, width, lower, upper, top) {
  const plot = width - PAD.left - PAD.right;
  const span = upper - lower;
  for (let k = 0; k <= 4; k++) {
    const y = PAD.top + ((HEIGHT - PAD.top - PAD.bottom) * k) / 4;
    el("line", { x1: PAD.left, x2: width - PAD.right, y1: y, y2: y, class: "grid" }, svg);
    const label = el("text", { x: PAD.left - 4, y: y + 3, class: "axis", "text-anchor": "end" }, svg);
    label.textContent = formatNumber(top * (1 - k / 4));
  }
  const ticks = Math.max(2, Math.floor(plot / 110));
  for (let k = 0; k <= ticks; k++) {
    const x = PAD.left + (plot * k) / ticks;
    const t = lower + (span * k) / ticks;
    const label = el("text", { x, y: HEIGHT - 5, class: "axis", "text-anchor": "middle" }, svg);
    label.textContent = formatTime(Math.round(t), span);
  }
}

export function formatNumber(value) {
  if (Math.abs(value) >= 1e6) return `${(value / 1e6).toFixed(1)}M`;
  if (Math.abs(value) >= 1e4) return `${(value / 1e3).toFixed(0)}k`;
  if (Math.abs(value) >= 1e3) return `${(value / 1e3).toFixed(1)}k`;
  return Number.isInteger(value) ? String(value) : String(Number(value.toFixed(1)));
}

// Drag across the plot to choose a time range: calls onZoom(fromNs, toNs).
function zoomable(svg, width, lower, upper, onZoom) {
  const plot = width - PAD.left - PAD.right;
  const band = el("rect", { class: "zoom-band", y: PAD.top, height: HEIGHT - PAD.top - PAD.bottom, width: 0, x: 0 }, svg);
  band.style.display = "none";
  let start = null;
  const xOf = (event) => {
    const box = svg.getBoundingClientRect();
    return Math.max(PAD.left, Math.min(width - PAD.right, ((event.clientX - box.left) / box.width) * width));
  };
  svg.addEventListener("mousedown", (event) => {
    start = xOf(event);
    band.style.display = "";
    band.setAttribute("x", start);
    band.setAttribute("width", 0);
    event.preventDefault();
  });
  svg.addEventListener("mousemove", (event) => {
    if (start === null) return;
    const x = xOf(event);
    band.setAttribute("x", Math.min(start, x));
    band.setAttribute("width", Math.abs(x - start));
  });
  const finish = (event) => {
    if (start === null) return;
    const x = xOf(event);
    const a = Math.min(start, x);
    const b = Math.max(start, x);
    start = null;
    band.style.display = "none";
    if (b - a < 3) return;
    const toNs = (px) => lower + ((px - PAD.left) / plot) * (upper - lower);
    onZoom(Math.floor(toNs(a)), Math.ceil(toNs(b)));
  };
  svg.addEventListener("mouseup", finish);
  svg.addEventListener("mouseleave", finish);
}

export function histogram(root, data, onZoom) {
  root.innerHTML = "";
  if (!data || !data.counts || !data.counts.length) {
    root.innerHTML = `<div class="chart-empty muted">${data && data.total === 0 ? "no matching records" : ""}</div>`;
    return;
  }
  const width = Math.max(300, root.clientWidth || 800);
  const svg = el("svg", { viewBox: `0 0 ${width} ${HEIGHT}`, class: "histogram", role: "img" }, root);
  const lower = data.start_ns;
  const upper = data.start_ns + data.bucket_ns * data.counts.length;
  const top = niceMax(Math.max(...data.counts));
  axes(svg, width, lower, upper, top);
  const plot = width - PAD.left - PAD.right;
  const barWidth = plot / data.counts.length;
  const inner = HEIGHT - PAD.top - PAD.bottom;
  data.counts.forEach((count, i) => {
    if (!count) return;
    const h = (count / top) * inner;
    const bar = el("rect", {
      x: PAD.left + i * barWidth + 0.5,
      y: PAD.top + inner - h,
      width: Math.max(1, barWidth - 1),
      height: h,
      class: "bar",
    }, svg);
    const title = el("title", {}, bar);
    title.textContent = `${formatTime(lower + i * data.bucket_ns, 1e18)} · ${count}`;
  });
  const caption = document.createElement("div");
  caption.className = "chart-caption muted";
  caption.textContent = `${data.total.toLocaleString()} records · ${data.label} · drag to zoom`;
  root.append(caption);
  zoomable(svg, width, lower, upper, onZoom);
}

// A `stats … by bin(timestamp, …)` result: one line per group, and a legend.
export function seriesChart(root, columns, rows, onZoom) {
  const time = columns.findIndex((c) => c.type === "timestamp");
  const numeric = columns.map((c, i) => (["int", "float"].includes(c.type) && i !== time ? i : -1)).filter((i) => i >= 0);
  if (time < 0 || !numeric.length || !rows.length) return false;
  const groupColumns = columns.map((c, i) => (c.type === "string" ? i : -1)).filter((i) => i >= 0);
  const series = new Map();
  const add = (name, t, v) => {
    if (!series.has(name)) series.set(name, []);
    series.get(name).push([t, v]);
  };
  const valueColumns = groupColumns.length ? numeric.slice(0, 1) : numeric;
  for (const row of rows) {
    if (row[time] === null) continue;
    const t = Date.parse(row[time]) * 1e6;
    const group = groupColumns.map((i) => String(row[i])).join(" · ");
    for (const i of valueColumns) {
      const name = groupColumns.length ? group : columns[i].name;
      if (row[i] !== null) add(name, t, Number(row[i]));
    }
  }
  root.innerHTML = "";
  const width = Math.max(300, root.clientWidth || 800);
  const svg = el("svg", { viewBox: `0 0 ${width} ${HEIGHT}`, class: "series", role: "img" }, root);
  const times = [...series.values()].flat().map((p) => p[0]);
  const lower = Math.min(...times);
  let upper = Math.max(...times);
  if (upper === lower) upper = lower + 60e9;
  const top = niceMax(Math.max(...[...series.values()].flat().map((p) => p[1])));
  axes(svg, width, lower, upper, top);
  const plot = width - PAD.left - PAD.right;
  const inner = HEIGHT - PAD.top - PAD.bottom;
  const legend = document.createElement("div");
  legend.className = "legend";
  [...series.entries()].slice(0, 30).forEach(([name, points], k) => {
    points.sort((a, b) => a[0] - b[0]);
    const color = PALETTE[k % PALETTE.length];
    const d = points
      .map(([t, v], i) => `${i ? "L" : "M"}${PAD.left + ((t - lower) / (upper - lower)) * plot},${PAD.top + inner - (v / top) * inner}`)
      .join(" ");
    el("path", { d, stroke: color, class: "line" }, svg);
    const item = document.createElement("span");
    item.className = "legend-item";
    const swatch = document.createElement("i");
    swatch.style.background = color;
    item.append(swatch, document.createTextNode(name || "(null)"));
    legend.append(item);
  });
  root.append(legend);
  zoomable(svg, width, lower, upper, onZoom);
  return true;
}
