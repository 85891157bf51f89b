// Metric charts: uPlot, fed with the server's downsampled series.
//
// A chart holds one or more series (one per run). Each series keeps the points of the whole
// range (`base`, grown by live updates) and, while zoomed in, the finer points the server sent
// for the visible step range (`zoomed`). What is drawn is derived from those on every change:
// the x axis (step, wall time or time since the run started), smoothing and the log scale
// never need another request.

import uPlot from "../vendor/uplot/uPlot.esm.js";
import { formatDuration, formatNumber, formatTime, h, replace } from "./dom.js";

export const PALETTE = [
  "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
  "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
];

export const X_MODES = {
  step: "Step",
  time: "Wall time",
  relative: "Relative time",
};

const HEIGHT = 220;

/** TensorBoard's smoothing: an exponential moving average, debiased at the start. */
export function smooth(values, weight) {
  if (!(weight > 0)) return values;
  const out = new Array(values.length);
  let last = 0;
  let count = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || !Number.isFinite(v)) {
      out[i] = null;
      continue;
    }
    last = last * weight + (1 - weight) * v;
    count += 1;
    out[i] = last / (1 - weight ** count);
  }
  return out;
}

function cssVar(name, fallback) {
  const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return value || fallback;
}

function withAlpha(hex, alpha) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}

/** Points of one series as parallel arrays, ordered by x for the x mode. */
function project(points, mode, startTime) {
  const { steps, times, values } = points;
  const n = steps.length;
  let xs;
  if (mode === "step") xs = steps;
  else if (mode === "time") xs = times.map((t) => t / 1000);
  else xs = times.map((t) => (t - startTime) / 1000);
  let order = null;
  for (let i = 1; i < n; i++) {
    if (xs[i] < xs[i - 1]) {
      order = [...Array(n).keys()].sort((a, b) => xs[a] - xs[b] || a - b);
      break;
    }
  }
  if (!order) return { xs, steps, times, values };
  return {
    xs: order.map((i) => xs[i]),
    steps: order.map((i) => steps[i]),
    times: order.map((i) => times[i]),
    values: order.map((i) => values[i]),
  };
}

export class MetricChart {
  /**
   * @param {HTMLElement} container where the chart goes (its width is the chart's width)
   * @param {object} options {title, key, xMode, log, smoothing, onZoom(chart, xmin, xmax)}
   */
  constructor(container, options) {
    this.options = options;
    this.xMode = options.xMode || "step";
    this.log = Boolean(options.log);
    this.smoothing = options.smoothing || 0;
    this.series = [];
    this.zoom = null; // {xmin, xmax} while zoomed in
    this.cursorIndex = null;
    this.root = h("figure", { class: "chart", tabindex: "0", "data-metric": options.key || options.title,
      "aria-label": `Chart of ${options.title}. Arrow keys move the cursor, + and - zoom, 0 resets.` });
    this.header = h("figcaption", { class: "chart-title" }, h("span", { class: "chart-name", text: options.title }));
    this.status = h("span", { class: "chart-status" });
    this.resetButton = h("button", { type: "button", class: "small ghost", hidden: true, text: "Reset zoom",
      onclick: () => this.resetZoom() });
    this.header.append(this.status, this.resetButton);
    this.plotBox = h("div", { class: "chart-plot" });
    this.readout = h("div", { class: "chart-readout", "aria-live": "off" });
    this.root.append(this.header, this.plotBox, this.readout);
    this.root.__chart = this; // lets tests and the benchmark read what is drawn
    container.append(this.root);
    this.root.addEventListener("keydown", (event) => this.onKey(event));
    this.plotBox.addEventListener("dblclick", () => this.resetZoom());
    this.resize = new ResizeObserver(() => this.fit());
    this.resize.observe(this.plotBox);
  }

  /** The plot's width in CSS pixels: what the server downsamples for. */
  get width() {
    return Math.max(100, Math.floor(this.plotBox.clientWidth || this.root.clientWidth || 600));
  }

  /** Set the series: [{label, color, runStart, points: {steps, times, values}, total}]. */
  setSeries(series) {
    this.series = series.map((s, i) => ({ color: PALETTE[i % PALETTE.length], ...s, base: s.points, zoomed: null }));
    this.zoom = null;
    this.redraw(true);
  }

  /** Add live points (after the last step held) to series `index`. */
  append(index, points, total) {
    const s = this.series[index];
    if (!s || !points.steps.length) return;
    s.base = {
      steps: s.base.steps.concat(points.steps),
      times: s.base.times.concat(points.times),
      values: s.base.values.concat(points.values),
    };
    if (total !== undefined) s.total = total;
    if (!this.zoom) this.redraw(true);
  }

  /** How many points the chart holds for series `index` (grows with live updates). */
  pointCount(index) {
    const s = this.series[index];
    return s ? s.base.steps.length : 0;
  }

  lastStep(index) {
    const s = this.series[index];
    if (!s || !s.base.steps.length) return null;
    return s.base.steps[s.base.steps.length - 1];
  }

  setXMode(mode) {
    if (mode === this.xMode) return;
    this.xMode = mode;
    this.zoom = null;
    for (const s of this.series) s.zoomed = null;
    this.rebuild();
  }

  setLog(log) {
    if (log === this.log) return;
    this.log = log;
    this.rebuild();
  }

  setSmoothing(weight) {
    this.smoothing = weight;
    this.redraw(false);
  }

  /** Replace the zoomed-in points of series `index` with finer ones from the server. */
  setZoomed(index, points) {
    const s = this.series[index];
    if (!s || !this.zoom) return;
    s.zoomed = points;
    this.redraw(false);
  }

  resetZoom() {
    if (!this.zoom) return;
    this.zoom = null;
    for (const s of this.series) s.zoomed = null;
    this.resetButton.hidden = true;
    this.redraw(true);
  }

  /** The step range [lo, hi] of series `index` shown for x in [xmin, xmax], one point beyond
   * each end so lines run to the edges. */
  stepRange(index, xmin, xmax) {
    const s = this.series[index];
    const p = project(s.base, this.xMode, s.runStart);
    let lo = null;
    let hi = null;
    for (let i = 0; i < p.xs.length; i++) {
      if (p.xs[i] < xmin) lo = p.steps[i];
      else if (p.xs[i] <= xmax) {
        if (lo === null) lo = p.steps[i];
        hi = p.steps[i];
      } else {
        hi = p.steps[i];
        break;
      }
    }
    if (lo === null || hi === null) return null;
    return [Math.min(lo, hi), Math.max(lo, hi)];
  }

  // --------------------------------------------------------------------------- drawing

  data() {
    const tables = [];
    this.projected = [];
    for (const s of this.series) {
      const p = project(s.zoomed || s.base, this.xMode, s.runStart);
      let values = p.values.map((v) => (v === null || !Number.isFinite(v) ? null : v));
      if (this.log) values = values.map((v) => (v !== null && v > 0 ? v : null));
      const smoothed = smooth(values, this.smoothing);
      this.projected.push(p);
      tables.push(this.smoothing > 0 ? [p.xs, smoothed, values] : [p.xs, values]);
    }
    if (tables.length === 1) return tables[0];
    if (!tables.length) return [[]];
    return uPlot.join(tables);
  }

  seriesOptions() {
    const out = [{ label: X_MODES[this.xMode] }];
    for (const s of this.series) {
      out.push({ label: s.label, stroke: s.color, width: 1.5, spanGaps: true, points: { size: 5 } });
      if (this.smoothing > 0) {
        out.push({ label: `${s.label} (raw)`, stroke: withAlpha(s.color, 0.25), width: 1, spanGaps: true,
          points: { show: false } });
      }
    }
    return out;
  }

  rebuild() {
    if (this.u) {
      this.u.destroy();
      this.u = null;
    }
    this.redraw(true);
  }

  redraw(resetScales) {
    const data = this.data();
    const structure = `${this.series.length}:${this.smoothing > 0}`;
    if (this.u && this.structure !== structure) {
      this.u.destroy();
      this.u = null;
    }
    this.structure = structure;
    if (!this.u) {
      this.u = new uPlot(this.uplotOptions(), data, this.plotBox);
    } else {
      this.u.setData(data, resetScales);
      if (!resetScales && this.zoom) this.setScaleQuietly(this.zoom.xmin, this.zoom.xmax);
    }
    this.updateStatus();
    this.updateReadout();
  }

  updateStatus() {
    const totals = this.series.map((s) => s.total || s.base.steps.length);
    const shown = this.series.map((s) => (s.zoomed || s.base).steps.length);
    const total = totals.reduce((a, b) => a + b, 0);
    const drawn = shown.reduce((a, b) => a + b, 0);
    this.status.textContent = drawn < total
      ? `${total.toLocaleString()} points (${drawn.toLocaleString()} drawn, every spike kept)`
      : `${total.toLocaleString()} ${total === 1 ? "point" : "points"}`;
  }

  uplotOptions() {
    const axisColor = cssVar("--muted", "#667");
    const gridColor = cssVar("--grid", "rgba(128,128,128,0.15)");
    const relative = this.xMode === "relative";
    return {
      width: this.width,
      height: HEIGHT,
      legend: { show: false },
      scales: {
        // a single x value (one point, or one step) gets room around it instead of none
        x: { time: this.xMode === "time", range: (u, min, max) => (min === max ? [min - 1, max + 1] : [min, max]) },
        y: this.log ? { distr: 3, log: 10 } : { auto: true },
      },
      axes: [
        {
          stroke: axisColor,
          grid: { stroke: gridColor, width: 1 },
          ticks: { stroke: gridColor },
          values: relative ? (u, vals) => vals.map((v) => formatDuration(v * 1000)) : undefined,
        },
        {
          stroke: axisColor,
          size: 64,
          grid: { stroke: gridColor, width: 1 },
          ticks: { stroke: gridColor },
          values: (u, vals) => vals.map((v) => formatNumber(v)),
        },
      ],
      series: this.seriesOptions(),
      cursor: {
        drag: { x: true, y: false, setScale: true },
        bind: { dblclick: () => null },
        points: { size: 7 },
      },
      hooks: {
        setCursor: [(u) => {
          this.cursorIndex = u.cursor.idx;
          this.updateReadout();
        }],
        setScale: [(u, key) => {
          if (key === "x" && !this.quiet) this.onUserScale(u);
        }],
        // when the chart last drew points (ms since navigation): what tests and benchmarks wait on
        draw: [(u) => {
          if (u.data[0].length) this.root.dataset.drawnAt = performance.now().toFixed(1);
        }],
      },
    };
  }

  setScaleQuietly(min, max) {
    this.quiet = true;
    try {
      this.u.setScale("x", { min, max });
    } finally {
      this.quiet = false;
    }
  }

  onUserScale(u) {
    const { min, max } = u.scales.x;
    const xs = u.data[0];
    if (!xs.length || min === undefined || max === undefined) return;
    // a drag-select zooms in: remember the range and ask for finer points within it
    if (min <= xs[0] && max >= xs[xs.length - 1] && !this.zoom) return;
    this.zoom = { xmin: min, xmax: max };
    this.resetButton.hidden = false;
    if (this.options.onZoom) this.options.onZoom(this, min, max);
  }

  zoomTo(xmin, xmax) {
    if (!this.u) return;
    this.u.setScale("x", { min: xmin, max: xmax }); // fires onUserScale
  }

  fit() {
    if (!this.u) return;
    const width = this.width;
    if (Math.abs(width - this.u.width) > 1) this.u.setSize({ width, height: HEIGHT });
  }

  // ------------------------------------------------------------------- read-out and keys

  formatX(x) {
    if (x === null || x === undefined) return "";
    if (this.xMode === "step") return `step ${x.toLocaleString()}`;
    if (this.xMode === "time") return formatTime(x * 1000);
    return `${formatDuration(x * 1000)} after start`;
  }

  updateReadout() {
    const u = this.u;
    if (!u) return;
    let idx = this.cursorIndex;
    const xs = u.data[0];
    if (idx === null || idx === undefined) {
      // no cursor: the latest values
      idx = xs.length - 1;
    }
    if (idx < 0 || !xs.length) {
      replace(this.readout, "no values");
      return;
    }
    const parts = [h("span", { class: "readout-x", text: this.formatX(xs[idx]) })];
    const stride = this.smoothing > 0 ? 2 : 1;
    this.series.forEach((s, i) => {
      const column = 1 + i * stride;
      const value = u.data[column] ? u.data[column][idx] : null;
      if (value === null || value === undefined) return;
      const raw = stride === 2 ? u.data[column + 1][idx] : null;
      const text = stride === 2 && raw !== null && raw !== undefined
        ? `${formatNumber(value)} (raw ${formatNumber(raw)})`
        : formatNumber(value);
      const swatch = h("span", { class: "swatch" });
      swatch.style.background = s.color;
      parts.push(h("span", { class: "readout-item" }, swatch,
        this.series.length > 1 ? `${s.label}: ` : "", h("b", { text })));
    });
    replace(this.readout, parts);
  }

  onKey(event) {
    const u = this.u;
    if (!u || !u.data[0].length) return;
    const xs = u.data[0];
    const n = xs.length;
    let idx = this.cursorIndex ?? n - 1;
    const move = (to) => {
      idx = Math.max(0, Math.min(n - 1, to));
      const left = u.valToPos(xs[idx], "x");
      let top = HEIGHT / 2;
      const y = u.data[1] ? u.data[1][idx] : null;
      if (y !== null && y !== undefined) top = u.valToPos(y, "y");
      u.setCursor({ left, top });
    };
    const { min, max } = u.scales.x;
    const span = max - min;
    switch (event.key) {
      case "ArrowLeft": move(idx - (event.shiftKey ? 10 : 1)); break;
      case "ArrowRight": move(idx + (event.shiftKey ? 10 : 1)); break;
      case "Home": move(0); break;
      case "End": move(n - 1); break;
      case "+":
      case "=": {
        const center = xs[idx] ?? (min + max) / 2;
        this.zoomTo(center - span / 4, center + span / 4);
        break;
      }
      case "-": {
        if (!this.zoom) return;
        const center = (min + max) / 2;
        const whole = this.series.length ? project(this.series[0].base, this.xMode, this.series[0].runStart).xs : xs;
        if (center - span <= whole[0] && center + span >= whole[whole.length - 1]) this.resetZoom();
        else this.zoomTo(center - span, center + span);
        break;
      }
      case "0":
      case "Escape": this.resetZoom(); break;
      default: return;
    }
    event.preventDefault();
  }

  destroy() {
    this.resize.disconnect();
    if (this.u) this.u.destroy();
    this.root.remove();
  }
}
