// Parallel coordinates: one vertical axis per param that differs between the compared runs
// (numeric or categorical) and a last one for a chosen metric; each run is a line through its
// values, in its colour of the page. Drawn as SVG from text nodes only, like the rest of the UI.

import { PALETTE } from "./chart.js";
import { formatNumber, h, replace, svg, toNumber } from "./dom.js";

/** Beyond this many param axes the lines are too tangled to read; the most telling are kept. */
export const MAX_AXES = 10;

/** A number where the value is one (params are text: "0.1" is numeric), else null. */
export function numeric(value) {
  if (value === undefined || value === null || value === "") return null;
  const n = toNumber(value);
  return Number.isFinite(n) ? n : null;
}

/** Round ticks between lo and hi: steps of 1, 2 or 5 times a power of ten, about n of them. */
export function niceTicks(lo, hi, n) {
  const raw = (hi - lo) / n;
  if (!(raw > 0)) return [lo];
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) || raw;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

const short = (text, n = 18) => (text.length > n ? `${text.slice(0, n - 1)}…` : text);

/**
 * One axis over the values of `spec` in `runs` (`value(run)` reads one): numeric where every
 * present value is a number, else categorical with the values sorted. `at(run)` is the run's
 * position on the axis from 0 (bottom) to 1 (top), or null where it lacks the key.
 */
function makeAxis(spec, runs, value) {
  const values = runs.map(value);
  const present = values.filter((v) => v !== undefined && v !== null);
  if (present.length && present.every((v) => numeric(v) !== null)) {
    const numbers = present.map(numeric);
    let lo = Math.min(...numbers);
    let hi = Math.max(...numbers);
    if (lo === hi) {
      lo -= Math.abs(lo) * 0.1 || 1;
      hi += Math.abs(hi) * 0.1 || 1;
    }
    const at = (i) => (numeric(values[i]) === null ? null : (numeric(values[i]) - lo) / (hi - lo));
    const ticks = niceTicks(lo, hi, 4).map((v) => [(v - lo) / (hi - lo), formatNumber(v)]);
    return { spec, kind: "numeric", values, at, ticks };
  }
  const categories = [...new Set(present.map(String))].sort();
  const place = (k) => (categories.length === 1 ? 0.5 : k / (categories.length - 1));
  const at = (i) => (values[i] === undefined || values[i] === null ? null : place(categories.indexOf(String(values[i]))));
  return { spec, kind: "categorical", values, at, ticks: categories.map((c, k) => [place(k), c]) };
}

function draw(runs, axes, metricSpec) {
  const W = Math.max(720, 150 * axes.length);
  const H = 340;
  const M = { l: 56, r: 56, t: 50, b: 24 };
  const x = (k) => M.l + (axes.length === 1 ? 0.5 : k / (axes.length - 1)) * (W - M.l - M.r);
  const y = (position) => H - M.b - position * (H - M.t - M.b);
  const lines = runs.map((run, i) => {
    let d = "";
    let pen = false; // a run that lacks a key leaves a gap on that axis
    axes.forEach((axis, k) => {
      const position = axis.at(i);
      if (position === null) {
        pen = false;
        return;
      }
      d += `${pen ? "L" : "M"}${x(k).toFixed(1)},${y(position).toFixed(1)}`;
      pen = true;
    });
    const name = run.info.run_name || run.info.run_id.slice(0, 8);
    const text = [name, ...axes.map((a) => `${a.spec.replace(/^[a-z]+\./, "")} = ${a.values[i] === undefined ? "—" : a.kind === "numeric" ? formatNumber(a.values[i]) : a.values[i]}`)].join("\n");
    return svg("path", { d, class: `pc-line c${i % PALETTE.length}`, dataset: { run: run.info.run_id } }, svg("title", {}, text));
  });
  const axisNodes = axes.map((axis, k) => svg("g", {
    class: ["pc-axis", axis.spec === metricSpec ? "pc-metric" : ""], dataset: { axis: axis.spec, kind: axis.kind },
  },
  svg("line", { x1: x(k), x2: x(k), y1: y(0), y2: y(1), class: "axis" }),
  svg("text", { x: x(k), y: M.t - 28, class: "axis-label", "text-anchor": "middle" },
    short(axis.spec.replace(/^[a-z]+\./, "")), svg("title", {}, axis.spec)),
  svg("text", { x: x(k), y: M.t - 14, class: "tick", "text-anchor": "middle" }, axis.spec.startsWith("metrics.") ? "metric" : "param"),
  axis.ticks.map(([position, label]) => [
    svg("line", { x1: x(k) - 4, x2: x(k), y1: y(position), y2: y(position), class: "axis" }),
    svg("text", { x: x(k) - 7, y: y(position) + 4, class: "tick", "text-anchor": "end" }, short(label, 14)),
  ])));
  // drawn at its own size (text stays text-sized), narrower where the page is
  return svg("svg", {
    viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: "parallel-svg", role: "img",
    "aria-label": `Parallel coordinates of ${axes.map((a) => a.spec).join(", ")}`,
  }, lines, axisNodes);
}

/**
 * The parallel-coordinates view of `runs`: `paramKeys` (the params that differ, most telling
 * first) as axes, then the metric chosen in its select (`metricKeys`, `firstMetric` at first).
 * `metricValue(run, key)` is the value a run shows for a metric (its latest).
 */
export function parallelCoordinates(runs, paramKeys, metricKeys, firstMetric, metricValue) {
  if (!metricKeys.length && !paramKeys.length) return h("p", { class: "muted", text: "No params or metrics to draw." });
  const select = h("select", { "aria-label": "Parallel coordinates metric" },
    metricKeys.map((key) => h("option", { value: key, selected: key === firstMetric, text: key })));
  const plot = h("div", { class: "parallel" });
  const params = paramKeys.slice(0, MAX_AXES);
  const show = () => {
    const axes = params.map((key) => makeAxis(`params.${key}`, runs, (run) => run.data.params[key]));
    if (select.value) axes.push(makeAxis(`metrics.${select.value}`, runs, (run) => metricValue(run, select.value)));
    replace(plot, axes.length ? draw(runs, axes, `metrics.${select.value}`) : h("p", { class: "muted", text: "Nothing to draw." }));
  };
  select.addEventListener("change", show);
  show();
  const note = paramKeys.length > MAX_AXES ? h("span", { class: "muted", text: `the ${MAX_AXES} most telling of ${paramKeys.length} differing params` })
    : paramKeys.length ? null : h("span", { class: "muted", text: "No param differs between these runs." });
  return h("div", {}, h("div", { class: "chart-controls" }, metricKeys.length ? h("label", {}, "Metric ", select) : null, note), plot);
}
