// One run: overview, metrics (latest/min/max), a chart per metric key, system metrics
// (`system/...`) in a section of their own, params and tags, how to reproduce the run (see
// reproduce.js), artifacts with previews, and a card for each logged model. A RUNNING run's
// charts grow.
// The run can be renamed, described, tagged, deleted and restored from here, through the
// client's own routes: the server's rules and token scopes apply, and its refusals are shown.

import { api } from "../api.js";
import { renderArtifacts } from "../artifacts.js";
import { chartControls } from "../controls.js";
import { MetricChart } from "../chart.js";
import {
  copyText, formatAgo, formatDuration, formatNumber, formatTime, h, link, paths, plural, qs, replace, statusBadge,
  toNumber,
} from "../dom.js";
import { fetchSeries, growSeries, zoomHandler } from "../series.js";
import { act, confirmButton, editForm, errorLine } from "../edit.js";
import { markdown } from "../markdown.js";
import { reproducePanel } from "../reproduce.js";

const LIVE_MS = 1000;
const EAGER_CHARTS = 6;
/** The tag a run's description is kept in: MLflow's, so a description written by either tool
 * shows in both (and an imported run keeps its own). */
export const NOTE_TAG = "mlflow.note.content";
/** Tags the library keeps on a run while its process runs (autolog/context.py: TAG_RUNNER,
 * TAG_HEARTBEAT): they say nothing once the run has ended. */
const LIVE_TAGS = new Set(["autolog.runner", "autolog.heartbeat"]);
/** Tags the page shows in their own place: the parent in the overview, the description. */
const SHOWN_ELSEWHERE = new Set(["autolog.parentRunId", NOTE_TAG]);
/** Metrics of the machine the run ran on (autolog.system_metrics): a section of their own. */
const SYSTEM_PREFIX = "system/";
const isSystemMetric = (key) => key.startsWith(SYSTEM_PREFIX);

/** The tags the tags table lists for a run: none shown elsewhere, no live ones once it ended. */
export function listedTags(run) {
  const running = run.info.status === "RUNNING";
  return Object.entries(run.data.tags).filter(([k]) => !SHOWN_ELSEWHERE.has(k) && (running || !LIVE_TAGS.has(k)));
}

function copyButton(text, label = "Copy") {
  const button = h("button", { type: "button", class: "small ghost", text: label });
  button.addEventListener("click", async () => {
    const done = await copyText(text);
    button.textContent = done ? "Copied" : "Copy failed";
    setTimeout(() => { button.textContent = label; }, 1500);
  });
  return button;
}

function overview(run, experiment) {
  const { info, data } = run;
  const tags = data.tags;
  const end = info.end_time ?? (info.status === "RUNNING" ? Date.now() : null);
  const commit = tags["autolog.git.commit"];
  const dirty = tags["autolog.git.dirty"];
  const versions = Object.keys(tags).filter((k) => k.startsWith("autolog.versions.")).sort()
    .map((k) => `${k.slice("autolog.versions.".length)} ${tags[k]}`);
  const rows = [
    ["Status", statusBadge(info.status)],
    ["Experiment", link(paths.experiment(info.experiment_id), experiment ? experiment.name : info.experiment_id)],
    ["Start", h("span", { title: formatAgo(info.start_time) }, formatTime(info.start_time))],
    ["End", info.end_time ? formatTime(info.end_time) : info.status === "RUNNING" ? "running" : ""],
    ["Duration", end === null ? "" : formatDuration(end - info.start_time)],
    ["Source", tags["autolog.source.name"] ? h("span", {}, tags["autolog.source.name"],
      tags["autolog.source.type"] ? h("span", { class: "muted", text: ` (${tags["autolog.source.type"]})` }) : "") : ""],
    ["Git commit", commit ? h("span", {}, h("code", { text: commit }),
      tags["autolog.git.branch"] ? h("span", { class: "muted", text: ` on ${tags["autolog.git.branch"]}` }) : "",
      dirty === "true" ? h("span", { class: "badge warn", text: "uncommitted changes" })
        : dirty === "false" ? h("span", { class: "badge ok", text: "clean" }) : "") : ""],
    ["User", tags["autolog.user"] || ""],
    ["Host", tags["autolog.host"] || ""],
    ["Python", [tags["autolog.python"], tags["autolog.platform"]].filter(Boolean).join(" · ")],
    ["Run id", h("span", {}, h("code", { text: info.run_id }), copyButton(info.run_id))],
    ["Libraries", versions.join(", ")],
  ];
  if (info.parent_run_id) rows.splice(2, 0, ["Parent run", link(paths.run(info.parent_run_id), info.parent_run_id.slice(0, 12))]);
  const wide = new Set(["Libraries", "Source", "Git commit"]);
  return h("dl", { class: "facts" }, rows.filter(([, v]) => v !== "" && v !== undefined).map(([k, v]) =>
    h("div", { class: wide.has(k) ? "fact wide" : "fact" }, h("dt", { text: k }), h("dd", {}, v))));
}

/** The value cell of a tag row, with an Edit button where `onSet(key, value)` is given, and
 * a Delete button where `onDelete(key)` is (the server's refusal shown under them). */
function valueCell(key, value, onSet, onDelete) {
  const cell = h("td", { class: "value" });
  const show = () => {
    if (!onSet) return replace(cell, h("span", { class: "pre", text: value }));
    const edit = h("button", { type: "button", class: "small ghost row-edit", text: "Edit", "aria-label": `Edit tag ${key}` });
    edit.addEventListener("click", () => {
      const form = editForm({ fields: [{ name: "value", label: `Value of ${key}`, value }],
        onSave: ({ value: changed }) => onSet(key, changed), onDone: show });
      replace(cell, form);
      form.focusFirst();
    });
    if (!onDelete) return replace(cell, h("span", { class: "pre", text: value }), edit);
    const error = errorLine();
    const remove = h("button", { type: "button", class: "small ghost danger row-edit row-delete", text: "Delete", "aria-label": `Delete tag ${key}` });
    remove.addEventListener("click", () => act(remove, error, () => onDelete(key)));
    return replace(cell, h("span", { class: "pre", text: value }), edit, remove, error);
  };
  show();
  return cell;
}

/** A form adding a tag (`onSet(key, value)`), shown under the tags table. */
function addTagForm(onSet) {
  const key = h("input", { type: "text", name: "key", placeholder: "key", "aria-label": "New tag key", autocomplete: "off" });
  const value = h("input", { type: "text", name: "value", placeholder: "value", "aria-label": "New tag value", autocomplete: "off" });
  const add = h("button", { type: "submit", class: "small", text: "Add tag" });
  const error = errorLine();
  const form = h("form", { class: "tag-add" }, key, value, add, error);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!key.value.trim()) return error.show(new Error("A tag needs a key."));
    return act(add, error, () => onSet(key.value.trim(), value.value));
  });
  return form;
}

function keyValueTable(title, entries, searchBox, { system = () => false, onSet = null, onDelete = null, signal } = {}) {
  const body = h("tbody");
  const count = h("span", { class: "muted" });
  const show = () => {
    const needle = searchBox.value.trim().toLowerCase();
    const shown = entries.filter(([k, v]) => !needle || k.toLowerCase().includes(needle) || String(v).toLowerCase().includes(needle));
    replace(body, shown.map(([k, v]) => h("tr", { class: system(k) ? "system" : "", dataset: { key: k } },
      h("th", { scope: "row", class: "key", text: k }), valueCell(k, v, system(k) ? null : onSet, system(k) ? null : onDelete))));
    if (!shown.length) body.append(h("tr", {}, h("td", { colspan: "2", class: "empty", text: entries.length ? "Nothing matches." : `No ${title.toLowerCase()}.` })));
    count.textContent = needle ? `${shown.length} of ${entries.length}` : String(entries.length);
  };
  searchBox.addEventListener("input", show, { signal });
  show();
  return h("div", { class: "kv" }, h("h3", {}, title, " ", count),
    h("table", { class: "grid kv-table" }, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Key"), h("th", { scope: "col" }, "Value"))), body),
    onSet ? addTagForm(onSet) : null);
}

export async function render(main, { runId }) {
  const controller = new AbortController();
  const run = await api.run(runId, controller.signal);
  const experimentPromise = api.experiment(run.info.experiment_id).catch(() => null);
  document.title = `${run.info.run_name || runId} · autolog`;

  const state = { run, charts: new Map(), timer: null, destroyed: false, summary: {} };
  const controls = chartControls(() => state.charts.values());

  // ------------------------------------------------------------------------------- layout
  const name = run.info.run_name || runId.slice(0, 12);
  const crumbName = h("span", { text: name });
  const crumbs = h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, link(paths.experiments(), "Experiments"), " / ",
    link(paths.experiment(run.info.experiment_id), "…"), " / ", crumbName);
  const titleSlot = h("span", { class: "title-slot" });
  const actionsSlot = h("span", { class: "page-actions" });
  const descriptionBox = h("section", { id: "description", class: "card description" });
  const statusSlot = h("span", {}, statusBadge(run.info.status));
  const liveDot = h("span", { class: "live-dot", title: "Updating live", hidden: run.info.status !== "RUNNING" });
  const overviewBox = h("section", { id: "overview", class: "card" });
  const metricsBody = h("tbody");
  const chartGrid = h("div", { class: "chart-grid" });
  const singleGrid = h("div", { class: "chart-grid" });
  const singleBox = h("details", { class: "singles", hidden: true }, h("summary", {}, "Single-value metrics"), singleGrid);
  const systemBody = h("tbody");
  const systemGrid = h("div", { class: "chart-grid" });
  const systemLink = h("a", { href: "#system", hidden: true }, "System");
  const systemBox = h("section", { id: "system", class: "card", hidden: true },
    h("div", { class: "section-head" }, h("h2", {}, "System"),
      h("span", { class: "muted", text: "CPU, memory, disk, network and GPU of the machine, sampled while the run ran" })),
    h("div", { class: "scroll-x" }, h("table", { class: "grid metrics-table system-table" },
      h("thead", {}, h("tr", {}, ["Key", "Latest", "Min", "Max", "Values", "Last step"].map((t, i) =>
        h("th", { scope: "col", class: i ? "num" : "", text: t })))), systemBody)),
    systemGrid);
  const reproduceLink = h("a", { href: "#reproduce", hidden: true }, "Reproduce");
  const reproduce = reproducePanel(runId, { signal: controller.signal, onShown: () => { reproduceLink.hidden = false; } });
  const paramSearch = h("input", { type: "search", placeholder: "Search params and tags", "aria-label": "Search params and tags" });
  const kvBox = h("div", { class: "kv-grid" });
  const artifactsBox = h("div", { class: "artifacts" });
  const modelsBox = h("div", { class: "models" });
  const childrenLink = h("span");

  replace(main,
    crumbs,
    h("div", { class: "page-head" }, titleSlot, statusSlot, liveDot, childrenLink, actionsSlot),
    h("nav", { class: "subnav", "aria-label": "Sections" },
      h("a", { href: "#overview" }, "Overview"), h("a", { href: "#metrics" }, "Metrics"),
      systemLink, h("a", { href: "#params" }, "Params & tags"), reproduceLink, h("a", { href: "#artifacts" }, "Artifacts")),
    overviewBox,
    descriptionBox,
    h("section", { id: "metrics", class: "card" },
      h("div", { class: "section-head" }, h("h2", {}, "Metrics"), controls.element),
      h("div", { class: "scroll-x" }, h("table", { class: "grid metrics-table" },
        h("thead", {}, h("tr", {}, ["Key", "Latest", "Min", "Max", "Values", "Last step"].map((t, i) =>
          h("th", { scope: "col", class: i ? "num" : "", text: t })))), metricsBody)),
      chartGrid, singleBox),
    systemBox,
    h("section", { id: "params", class: "card" }, h("div", { class: "section-head" }, h("h2", {}, "Params & tags"), paramSearch), kvBox),
    reproduce.element,
    h("section", { id: "artifacts", class: "card" }, h("h2", {}, "Artifacts"), modelsBox, artifactsBox));

  // ------------------------------------------------------------------------------- filling
  function fillStatic(current, experiment) {
    replace(overviewBox, h("h2", { class: "sr-only" }, "Overview"), overview(current, experiment));
    replace(statusSlot, statusBadge(current.info.status));
    liveDot.hidden = current.info.status !== "RUNNING";
  }

  let listeners = new AbortController();
  function fillParams(current) {
    listeners.abort(); // the search box's listeners of the tables replaced
    listeners = new AbortController();
    const params = Object.entries(current.data.params).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const tags = listedTags(current).sort(([a], [b]) => {
      const sa = a.startsWith("autolog.");
      const sb = b.startsWith("autolog.");
      return sa !== sb ? (sa ? 1 : -1) : a < b ? -1 : a > b ? 1 : 0;
    });
    replace(kvBox, keyValueTable("Params", params, paramSearch, { signal: listeners.signal }),
      keyValueTable("Tags", tags, paramSearch, { system: (k) => k.startsWith("autolog."), signal: listeners.signal,
        onSet: (key, value) => change(() => api.setRunTags(runId, { [key]: value })),
        onDelete: (key) => change(() => api.deleteRunTag(runId, key)) }));
  }

  // ------------------------------------------------------------------------------- changes
  /** Send a change, then show the run as the server now holds it. */
  async function change(send) {
    await send();
    const current = await api.run(runId, controller.signal);
    state.run = current;
    fillHead(current);
    fillStatic(current, experiment);
    fillDescription(current);
    fillParams(current);
  }

  function fillHead(current) {
    const shown = current.info.run_name || runId.slice(0, 12);
    document.title = `${shown} · autolog`;
    crumbName.textContent = shown;
    const rename = h("button", { type: "button", class: "small ghost", text: "Rename", "aria-label": "Rename the run" });
    rename.addEventListener("click", () => {
      const form = editForm({ className: "rename-form", fields: [{ name: "name", label: "Run name", value: current.info.run_name }],
        onSave: ({ name: changed }) => change(() => api.renameRun(runId, changed.trim())), onDone: () => fillHead(state.run) });
      replace(titleSlot, form);
      form.focusFirst();
    });
    replace(titleSlot, h("h1", { text: shown }), rename);
    if (current.info.deleted_time) {
      const restore = h("button", { type: "button", class: "small", text: "Restore" });
      const error = errorLine();
      restore.addEventListener("click", () => act(restore, error, () => change(() => api.restoreRun(runId))));
      replace(actionsSlot, h("span", { class: "badge warn deleted-badge", title: `Deleted ${formatTime(current.info.deleted_time)}`, text: "deleted" }),
        restore, error);
    } else {
      replace(actionsSlot, confirmButton({ label: "Delete run", question: "Delete this run? It can be restored until it is purged.",
        confirmLabel: "Delete", onConfirm: () => change(() => api.deleteRun(runId)) }));
    }
  }

  function fillDescription(current) {
    const text = current.data.tags[NOTE_TAG] || "";
    const edit = h("button", { type: "button", class: "small", text: text ? "Edit" : "Add a description" });
    edit.addEventListener("click", () => {
      const form = editForm({ className: "description-form",
        fields: [{ name: "text", label: "Description (Markdown)", value: text, multiline: true, placeholder: "What this run tried, and what it showed. Markdown: **bold**, `code`, lists, [links](https://…)." }],
        onSave: ({ text: changed }) => change(() => api.setRunTags(runId, { [NOTE_TAG]: changed })),
        onDone: () => fillDescription(state.run) });
      replace(descriptionBox, h("h2", {}, "Description"), form);
      form.focusFirst();
    });
    replace(descriptionBox, h("div", { class: "section-head" }, h("h2", {}, "Description"), edit),
      text ? markdown(text) : h("p", { class: "muted", text: "No description." }));
  }

  /** The table rows of `keys`: latest, min, max, count, last step. */
  function metricRows(keys) {
    return keys.map((key) => {
      const s = state.summary[key] || {};
      const latest = state.run.data.metrics[key];
      return h("tr", {},
        h("th", { scope: "row" }, h("a", { href: `#chart-${encodeURIComponent(key)}`, text: key })),
        h("td", { class: "num", text: formatNumber(latest) }),
        h("td", { class: "num", text: s.min === undefined ? "" : formatNumber(s.min) }),
        h("td", { class: "num", text: s.max === undefined ? "" : formatNumber(s.max) }),
        h("td", { class: "num", text: s.count === undefined ? "" : s.count.toLocaleString() }),
        h("td", { class: "num", text: s.last_step === undefined || s.last_step === null ? "" : s.last_step.toLocaleString() }));
    });
  }

  function fillMetrics() {
    const all = Object.keys(state.run.data.metrics).sort();
    const keys = all.filter((k) => !isSystemMetric(k));
    const system = all.filter(isSystemMetric);
    replace(metricsBody, metricRows(keys));
    if (!keys.length) metricsBody.append(h("tr", {}, h("td", { colspan: "6", class: "empty", text: "No metrics logged." })));
    replace(systemBody, metricRows(system));
    systemBox.hidden = !system.length;
    systemLink.hidden = !system.length;
  }

  // -------------------------------------------------------------------------------- charts
  const lazy = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      if (!entry.isIntersecting) continue;
      lazy.unobserve(entry.target);
      const key = entry.target.dataset.key;
      const chart = state.charts.get(key);
      if (chart && !chart.loaded) loadChart(key);
    }
  }, { rootMargin: "300px" });

  function addChart(key, eager) {
    const holder = h("div", { class: "chart-holder", id: `chart-${encodeURIComponent(key)}`, dataset: { key } });
    if (!isSystemMetric(key)) chartGrid.querySelector(":scope > p.muted")?.remove(); // "Charts appear here…"
    (isSystemMetric(key) ? systemGrid : chartGrid).append(holder);
    const chart = new MetricChart(holder, {
      title: key, key, xMode: controls.xMode, log: controls.log, smoothing: controls.smoothing,
      onZoom: zoomHandler([runId], key),
    });
    chart.loaded = false;
    state.charts.set(key, chart);
    if (eager) return loadChart(key);
    lazy.observe(holder);
    return null;
  }

  async function loadChart(key) {
    const chart = state.charts.get(key);
    chart.loaded = true;
    const [found] = await fetchSeries([runId], key, chart.width, {}, controller.signal);
    chart.setSeries([{ label: key, runStart: state.run.info.start_time, points: found.points, total: found.total }]);
    if (found.total === 1 && state.run.info.status !== "RUNNING" && !isSystemMetric(key)) {
      // one value: a chart says little, so it waits in the folded "single values" part
      singleGrid.append(chart.root.parentElement);
      singleBox.hidden = false;
    }
  }

  /** A chart for every metric key not charted yet; the first few load at once. */
  function syncCharts() {
    const all = Object.keys(state.run.data.metrics).sort();
    const keys = all.filter((k) => !isSystemMetric(k));
    const loads = [];
    // the run's own metrics first; the system's load as their section comes into view
    for (const key of [...keys, ...all.filter(isSystemMetric)]) {
      if (!state.charts.has(key)) loads.push(addChart(key, !isSystemMetric(key) && loads.length < EAGER_CHARTS));
    }
    if (!keys.length && !chartGrid.querySelector(".chart-holder")) replace(chartGrid, h("p", { class: "muted", text: "Charts appear here once the run logs metrics." }));
    return Promise.all(loads.filter(Boolean)).catch(() => null);
  }

  async function loadSummary() {
    state.summary = (await api.metricSummary(runId, controller.signal)).metrics;
    fillMetrics();
  }

  // ---------------------------------------------------------------------------------- live
  async function poll() {
    if (state.destroyed) return;
    try {
      if (!document.hidden) {
        const current = await api.run(runId, controller.signal);
        const newKeys = Object.keys(current.data.metrics).filter((k) => !(k in state.run.data.metrics));
        state.run = current;
        fillStatic(current, experiment);
        if (newKeys.length) {
          await loadSummary();
          syncCharts();
        }
        await Promise.all([...state.charts.entries()].filter(([, c]) => c.loaded && c.series.length).map(async ([key, chart]) => {
          const before = chart.pointCount(0);
          const reload = await growSeries(chart, 0, runId, key, controller.signal);
          const s = state.summary[key];
          if (s) {
            const values = chart.series[0].base.values.slice(before).filter((v) => Number.isFinite(v));
            for (const v of values) {
              s.min = s.min === undefined || v < toNumber(s.min) ? v : s.min;
              s.max = s.max === undefined || v > toNumber(s.max) ? v : s.max;
            }
            s.count = (s.count || 0) + (chart.pointCount(0) - before);
            s.last_step = chart.lastStep(0);
          }
          if (reload) loadChart(key);
        }));
        fillMetrics();
        if (current.info.status !== "RUNNING") {
          fillHead(current);
          fillDescription(current);
          fillParams(current);
          renderArtifacts(artifactsBox, modelsBox, runId);
          loadReproduce(current);
          return; // finished: nothing more will come
        }
      }
    } catch (error) {
      if (error.name === "AbortError") return;
      console.warn("live update failed", error);
    }
    state.timer = setTimeout(poll, LIVE_MS);
  }

  function loadReproduce(current) {
    reproduce.load(current).catch((error) => { if (error.name !== "AbortError") console.warn("the Reproduce panel:", error); });
  }

  // --------------------------------------------------------------------------------- start
  // The charts first: what is slow to read (every value, for min and max) comes after them.
  let experiment = null;
  fillHead(run);
  fillDescription(run);
  fillStatic(run, experiment);
  fillMetrics();
  fillParams(run);
  const charted = syncCharts();
  experimentPromise.then((found) => {
    experiment = found;
    if (!found || state.destroyed) return;
    replace(crumbs.children[1], found.name);
    fillStatic(state.run, found);
  });
  charted.then(() => {
    if (state.destroyed) return;
    loadSummary().catch((error) => { if (error.name !== "AbortError") console.warn(error); });
    renderArtifacts(artifactsBox, modelsBox, runId);
    loadReproduce(state.run);
  });
  api.searchPage({ experiment_ids: [run.info.experiment_id], filter: `attributes.parent_run_id = '${runId}'`, offset: 0, limit: 0 })
    .then((answer) => {
      if (answer.total) {
        replace(childrenLink, link(`${paths.experiment(run.info.experiment_id)}${qs({ filter: `attributes.parent_run_id = '${runId}'`, flat: "1" })}`,
          plural(answer.total, "child run")));
      }
    }, () => {});
  if (run.info.status === "RUNNING") state.timer = setTimeout(poll, LIVE_MS);

  return () => {
    state.destroyed = true;
    clearTimeout(state.timer);
    controller.abort();
    listeners.abort();
    lazy.disconnect();
    for (const chart of state.charts.values()) chart.destroy();
  };
}
