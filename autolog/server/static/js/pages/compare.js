// Compare runs. Curves come first: every metric logged at more than one step, overlaid per
// metric. Metrics with one value per run (final scores) follow in one grouped table of bars,
// not a chart of dots each. Then the params side by side, only those that differ unless asked
// (with the latest values of the curves), parallel coordinates of the differing params against
// a chosen metric, and a scatter of any param or metric against any metric. Where the runs
// recorded their environments, how those differ (packages, Python, platform, variables).

import { api } from "../api.js";
import { navigate } from "../app.js";
import { MetricChart, PALETTE } from "../chart.js";
import { chartControls } from "../controls.js";
import { showEnvironmentDiff } from "../envdiff.js";
import { TAG } from "../recorded.js";
import { formatNumber, h, link, paths, replace, statusBadge, svg, toNumber } from "../dom.js";
import { niceTicks, numeric, parallelCoordinates } from "../parallel.js";
import { fetchSeries, zoomHandler } from "../series.js";
import { varyingKeys } from "../varying.js";

const EAGER_CHARTS = 8;

function sortedKeys(runs, entity) {
  const keys = new Set();
  for (const run of runs) for (const key of Object.keys(run.data[entity])) keys.add(key);
  return [...keys].sort();
}

function same(values) {
  return values.every((v) => v === values[0]);
}

const runName = (run) => run.info.run_name || run.info.run_id.slice(0, 8);

/** The head row of a table with one column per run, in the runs' colours. */
function runHeads(runs, first) {
  return h("thead", {}, h("tr", {}, h("th", { scope: "col", text: first }), runs.map((r, i) =>
    h("th", { scope: "col" }, h("span", { class: "swatch", dataset: { color: String(i % PALETTE.length) } }),
      link(paths.run(r.info.run_id), runName(r))))));
}

/**
 * Metrics with a single value per run, as one table: a row per metric, a cell per run with
 * the value and a bar of its size against the row's largest magnitude (negative values draw
 * their bar in another colour), so the runs' final scores read at a glance.
 */
function singleValues(runs, keys) {
  const row = (key) => {
    const values = runs.map((r) => (key in r.data.metrics ? toNumber(r.data.metrics[key]) : undefined));
    const finite = values.filter((v) => v !== undefined && Number.isFinite(v));
    const top = Math.max(0, ...finite.map(Math.abs));
    return h("tr", { dataset: { metric: key }, class: same(values.map(String)) ? "" : "differs" },
      h("th", { scope: "row", class: "key", text: key }),
      values.map((v, i) => {
        if (v === undefined) return h("td", { class: "missing", text: "—" });
        const size = top > 0 && Number.isFinite(v) ? (Math.abs(v) / top) * 100 : 0;
        return h("td", { class: "num" },
          svg("svg", { class: "bar", viewBox: "0 0 100 8", preserveAspectRatio: "none", "aria-hidden": "true" },
            svg("rect", { x: 0, y: 0, width: size.toFixed(2), height: 8, class: v < 0 ? "negative" : `c${i % PALETTE.length}` })),
          h("span", { class: "value", title: String(v), text: formatNumber(v) }));
      }));
  };
  return h("div", {},
    h("div", { class: "section-head" }, h("h2", {}, "Single values"),
      h("span", { class: "muted", text: "metrics logged once per run; bars scale to the largest magnitude of each row" })),
    h("div", { class: "table-wrap" }, h("table", { class: "grid singles" }, runHeads(runs, "Metric"),
      h("tbody", {}, keys.map(row)))));
}

/** Params side by side (only those that differ, unless "Only differences" is unticked), then
 * the latest values of the curves. */
function diffTable(runs, curveKeys) {
  const onlyDiff = h("input", { type: "checkbox", checked: true });
  const body = h("tbody");
  const rows = [];
  const section = (title, entity, keys, format) => {
    if (!keys.length) return;
    rows.push({ heading: title, entity });
    for (const key of keys) {
      const values = runs.map((r) => (key in r.data[entity] ? String(r.data[entity][key]) : undefined));
      rows.push({ key, entity, values, format, differs: !same(values) });
    }
  };
  section("Params", "params", sortedKeys(runs, "params"), (v) => v);
  section("Metrics (latest)", "metrics", curveKeys, (v) => formatNumber(v));
  const count = (entity, differing) => rows.filter((r) => r.entity === entity && !r.heading && (!differing || r.differs)).length;
  const summary = h("span", { class: "muted" });
  const show = () => {
    const params = count("params", false);
    const differing = count("params", true);
    summary.textContent = `${differing} of ${params} ${params === 1 ? "param differs" : "params differ"}`;
    const shown = rows.filter((r) => r.heading || !onlyDiff.checked || r.differs);
    replace(body, shown.map((r) => {
      if (r.heading) return h("tr", { class: "group" }, h("th", { colspan: String(runs.length + 1), scope: "colgroup", text: r.heading }));
      return h("tr", { class: r.differs ? "differs" : "" },
        h("th", { scope: "row", class: "key" }, r.key, r.differs ? h("span", { class: "sr-only", text: " (differs)" }) : ""),
        r.values.map((v) => h("td", { class: v === undefined ? "missing" : "" }, v === undefined ? "—" : h("span", { title: v, text: r.format(v) }))));
    }));
    if (onlyDiff.checked && params && !differing) {
      body.prepend(h("tr", {}, h("td", { colspan: String(runs.length + 1), class: "empty", text: `All ${params} params are the same in these runs.` })));
    }
  };
  onlyDiff.addEventListener("change", show);
  show();
  return h("div", {},
    h("div", { class: "section-head" }, h("h2", {}, "Params"), summary,
      h("label", { class: "check", title: "Untick to show every param" }, onlyDiff, " Only differences")),
    h("div", { class: "table-wrap" }, h("table", { class: "grid diff" }, runHeads(runs, "Key"), body)));
}

/** Which metrics are curves (more than one value in some run) and which single values. */
function splitMetrics(keys, summaries) {
  const curves = [];
  const singles = [];
  for (const key of keys) {
    const counts = summaries.map((s) => (s[key] ? s[key].count : 0));
    (counts.some((n) => n > 1) ? curves : singles).push(key);
  }
  return { curves, singles };
}

function scatter(runs) {
  const options = [...sortedKeys(runs, "metrics").map((k) => `metrics.${k}`), ...sortedKeys(runs, "params").map((k) => `params.${k}`)];
  const metricOptions = options.filter((o) => o.startsWith("metrics."));
  if (!metricOptions.length) return h("p", { class: "muted", text: "No metrics to plot." });
  const pick = (label, choices, chosen) => h("select", { "aria-label": label },
    choices.map((c) => h("option", { value: c, selected: c === chosen, text: c })));
  // start with what tells the runs apart: a param that differs, against a metric that does
  const differs = (spec) => {
    const [entity, ...rest] = spec.split(".");
    const values = runs.map((r) => r.data[entity][rest.join(".")]);
    return !same(values.map(String));
  };
  const firstX = options.find((o) => o.startsWith("params.") && differs(o)) || options.find((o) => o.startsWith("params.")) || options[0];
  const firstY = metricOptions.find((o) => o !== firstX && differs(o)) || metricOptions[0];
  const xSelect = pick("Scatter x axis", options, firstX);
  const ySelect = pick("Scatter y axis", metricOptions, firstY);
  const plot = h("div", { class: "scatter" });
  const value = (run, spec) => {
    const [entity, ...rest] = spec.split(".");
    return run.data[entity][rest.join(".")];
  };
  const draw = () => {
    const W = 560;
    const H = 320;
    const M = { l: 64, r: 16, t: 12, b: 48 };
    const xs = runs.map((r) => value(r, xSelect.value));
    const ys = runs.map((r) => numeric(value(r, ySelect.value)));
    const numericX = xs.every((x) => x === undefined || numeric(x) !== null);
    const categories = numericX ? null : [...new Set(xs.filter((x) => x !== undefined).map(String))].sort();
    const xv = xs.map((x) => (x === undefined ? null : numericX ? numeric(x) : categories.indexOf(String(x))));
    const points = runs.map((r, i) => ({ run: r, i, x: xv[i], y: ys[i] })).filter((p) => p.x !== null && p.y !== null);
    const range = (vals) => {
      let lo = Math.min(...vals);
      let hi = Math.max(...vals);
      if (lo === hi) {
        lo -= Math.abs(lo) * 0.1 || 1;
        hi += Math.abs(hi) * 0.1 || 1;
      }
      const pad = (hi - lo) * 0.08;
      return [lo - pad, hi + pad];
    };
    if (!points.length) {
      replace(plot, h("p", { class: "muted", text: "No run has both values." }));
      return;
    }
    const [x0, x1] = numericX ? range(points.map((p) => p.x)) : [-0.5, categories.length - 0.5];
    const [y0, y1] = range(points.map((p) => p.y));
    const sx = (x) => M.l + ((x - x0) / (x1 - x0)) * (W - M.l - M.r);
    const sy = (y) => H - M.b - ((y - y0) / (y1 - y0)) * (H - M.t - M.b);
    const xTicks = numericX ? niceTicks(x0, x1, 5).map((v) => [v, formatNumber(v)]) : categories.map((c, k) => [k, c]);
    const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "scatter-svg", role: "img",
      "aria-label": `Scatter of ${ySelect.value} against ${xSelect.value}` },
      svg("line", { x1: M.l, y1: H - M.b, x2: W - M.r, y2: H - M.b, class: "axis" }),
      svg("line", { x1: M.l, y1: M.t, x2: M.l, y2: H - M.b, class: "axis" }),
      xTicks.map(([v, label]) => svg("text", { x: sx(v), y: H - M.b + 16, class: "tick", "text-anchor": "middle" }, label.length > 14 ? `${label.slice(0, 13)}…` : label)),
      niceTicks(y0, y1, 4).map((v) => [svg("line", { x1: M.l, x2: W - M.r, y1: sy(v), y2: sy(v), class: "gridline" }),
        svg("text", { x: M.l - 6, y: sy(v) + 4, class: "tick", "text-anchor": "end" }, formatNumber(v))]),
      svg("text", { x: (M.l + W - M.r) / 2, y: H - 8, class: "axis-label", "text-anchor": "middle" }, xSelect.value),
      points.map((p) => {
        const name = p.run.info.run_name || p.run.info.run_id.slice(0, 8);
        const text = `${name}: ${xSelect.value} = ${xs[p.i]}, ${ySelect.value} = ${formatNumber(p.y)}`;
        const dot = svg("circle", { cx: sx(p.x), cy: sy(p.y), r: 6, class: `dot c${p.i % PALETTE.length}`, tabindex: "0",
          role: "link", "aria-label": text }, svg("title", {}, text));
        dot.addEventListener("click", () => navigate(paths.run(p.run.info.run_id)));
        dot.addEventListener("keydown", (e) => { if (e.key === "Enter") navigate(paths.run(p.run.info.run_id)); });
        return dot;
      }));
    replace(plot, chart);
  };
  xSelect.addEventListener("change", draw);
  ySelect.addEventListener("change", draw);
  draw();
  return h("div", {}, h("div", { class: "chart-controls" }, h("label", {}, "x ", xSelect), h("label", {}, "y ", ySelect)), plot);
}

export async function render(main, { query }) {
  const ids = [...new Set((query.get("runs") || "").split(",").map((s) => s.trim()).filter(Boolean))];
  document.title = "Compare runs · autolog";
  if (ids.length < 1) {
    replace(main, h("h1", {}, "Compare runs"), h("p", { class: "muted" }, "Select runs in a runs table, then choose Compare."));
    return null;
  }
  const controller = new AbortController();
  const runs = await Promise.all(ids.map((id) => api.run(id, controller.signal)));
  const [experiment, summaries] = await Promise.all([
    api.experiment(runs[0].info.experiment_id).catch(() => null),
    Promise.all(ids.map((id) => api.metricSummary(id, controller.signal).then((answer) => answer.metrics))),
  ]);
  // system metrics (`system/...`: CPU, memory, GPUs) are charted in a section of their own,
  // out of the curves, the single values and the parallel axes
  const isSystem = (key) => key.startsWith("system/");
  const metricNames = sortedKeys(runs, "metrics");
  const systemKeys = metricNames.filter(isSystem);
  const { curves, singles } = splitMetrics(metricNames.filter((key) => !isSystem(key)), summaries);
  const charts = new Map();
  const controls = chartControls(() => charts.values());
  const grid = h("div", { class: "chart-grid" });
  const systemGrid = systemKeys.length ? h("div", { class: "chart-grid" }) : null;
  const remove = (id) => navigate(paths.compare(ids.filter((x) => x !== id)), { replaceState: true });
  const legend = h("ul", { class: "compare-legend" }, runs.map((r, i) => h("li", {},
    h("span", { class: "swatch", dataset: { color: String(i % PALETTE.length) } }),
    link(paths.run(r.info.run_id), runName(r)), " ", statusBadge(r.info.status),
    runs.length > 1 ? h("button", { type: "button", class: "small ghost", "aria-label": `Remove ${r.info.run_name} from the comparison`,
      text: "✕", onclick: () => remove(r.info.run_id) }) : null)));
  // the parallel axes: the differing params, most telling first; the metric: a differing
  // single value (a final score) where there is one
  const paramAxes = varyingKeys(runs, "params").map((k) => k.key);
  const differs = (key) => !same(runs.map((r) => String(r.data.metrics[key])));
  const metricKeys = [...singles, ...curves];
  const firstMetric = metricKeys.find(differs) || metricKeys[0];
  // only where some run recorded an environment: the others are named, not fetched for nothing
  const envBox = runs.length > 1 && runs.some((r) => TAG.environment in r.data.tags) ? h("div", { class: "env-box" }) : null;
  replace(main,
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, link(paths.experiments(), "Experiments"), " / ",
      link(paths.experiment(runs[0].info.experiment_id), experiment ? experiment.name : "Runs"), " / ",
      h("span", { text: "Compare" })),
    h("div", { class: "page-head" }, h("h1", {}, `Compare ${runs.length} runs`)),
    h("section", { class: "card" }, legend),
    h("section", { class: "card", id: "curves" }, h("div", { class: "section-head" }, h("h2", {}, "Curves"), controls.element), grid),
    singles.length ? h("section", { class: "card", id: "singles" }, singleValues(runs, singles)) : null,
    h("section", { class: "card", id: "diff" }, diffTable(runs, curves)),
    systemGrid ? h("section", { class: "card", id: "system" }, h("h2", {}, "System"), systemGrid) : null,
    envBox ? h("section", { class: "card", id: "environment" }, h("h2", {}, "Environment"), envBox) : null,
    h("section", { class: "card", id: "parallel" }, h("h2", {}, "Parallel coordinates"),
      parallelCoordinates(runs, paramAxes, metricKeys, firstMetric, (run, key) => run.data.metrics[key])),
    h("section", { class: "card", id: "scatter" }, h("h2", {}, "Scatter"), scatter(runs)));

  if (envBox) {
    showEnvironmentDiff(envBox, runs, { signal: controller.signal }).catch((error) => {
      if (error.name !== "AbortError") replace(envBox, h("p", { class: "error-text", text: error.message }));
    });
  }
  if (!curves.length) {
    grid.append(h("p", { class: "muted", text: singles.length ? "These runs logged no metric at more than one step." : "These runs logged no metrics." }));
  }
  const load = async (key) => {
    const chart = charts.get(key);
    chart.loaded = true;
    const having = runs.map((r, i) => [r, i]).filter(([r]) => key in r.data.metrics);
    const found = await fetchSeries(having.map(([r]) => r.info.run_id), key, chart.width, {}, controller.signal);
    chart.runIds = having.map(([r]) => r.info.run_id);
    chart.options.onZoom = zoomHandler(chart.runIds, key);
    chart.setSeries(having.map(([r, i], j) => ({
      label: runName(r), color: PALETTE[i % PALETTE.length],
      runStart: r.info.start_time, points: found[j].points, total: found[j].total,
    })));
    chart.root.dataset.ready = "true";
  };
  const lazy = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      if (!entry.isIntersecting) continue;
      lazy.unobserve(entry.target);
      const chart = charts.get(entry.target.dataset.key);
      if (chart && !chart.loaded) load(entry.target.dataset.key);
    }
  }, { rootMargin: "300px" });
  curves.forEach((key, n) => {
    const holder = h("div", { class: "chart-holder", dataset: { key } });
    grid.append(holder);
    charts.set(key, new MetricChart(holder, { title: key, key, xMode: controls.xMode, log: controls.log, smoothing: controls.smoothing }));
    if (n < EAGER_CHARTS) load(key);
    else lazy.observe(holder);
  });
  for (const key of systemKeys) {  // below the fold: drawn as they come into view
    const holder = h("div", { class: "chart-holder", dataset: { key } });
    systemGrid.append(holder);
    charts.set(key, new MetricChart(holder, { title: key, key, xMode: controls.xMode, log: controls.log, smoothing: controls.smoothing }));
    lazy.observe(holder);
  }
  return () => {
    controller.abort();
    lazy.disconnect();
    for (const chart of charts.values()) chart.destroy();
  };
}
