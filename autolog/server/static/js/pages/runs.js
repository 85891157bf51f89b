// The runs table of one experiment: server-side sort, filter and paging, virtual scrolling
// (only the rows in view exist in the page, so 100,000 runs cost what 30 do), child runs under
// their parents, live status of running runs, a column picker and selection for compare.
//
// The columns shown by default are the params and metrics that differ between the runs of the
// first page (varying.js); the ones shown are part of the page's address with its filter and
// sort (`?col=params.lr&col=metrics.acc`), so a shared link shows what its sender saw.

import { api, ApiError } from "../api.js";
import { navigate, showError } from "../app.js";
import {
  debounce, formatAgo, formatDuration, formatNumber, formatTime, h, link, paths, plural, qs, replace, statusBadge,
} from "../dom.js";
import { defaultColumns, isColumnSpec } from "../varying.js";

const ROW_HEIGHT = 34;
const PAGE_SIZE = 100;
const CHILD_PAGE = 200;
const OVERSCAN = 10;
const LIVE_MS = 2000; // while a run in view is RUNNING
const IDLE_MS = 10000; // otherwise: new runs still show up

/** Quote a key for the filter and order_by syntax. */
export function ident(entity, key) {
  if (/^[A-Za-z0-9_]+$/.test(key)) return `${entity}.${key}`;
  return key.includes("`") ? `${entity}."${key}"` : `${entity}.\`${key}\``;
}

const BASE_COLUMNS = [
  { id: "status", label: "Status", width: 104, order: "attributes.status", cell: (run) => statusBadge(run.info.status) },
  { id: "start", label: "Start", width: 172, order: "attributes.start_time",
    cell: (run) => h("span", { title: formatAgo(run.info.start_time) }, formatTime(run.info.start_time)) },
  { id: "duration", label: "Duration", width: 96, order: "attributes.duration", numeric: true,
    cell: (run) => {
      const end = run.info.end_time ?? (run.info.status === "RUNNING" ? Date.now() : null);
      return end === null ? "" : formatDuration(end - run.info.start_time);
    } },
  { id: "user", label: "User", width: 110, order: ident("tags", "autolog.user"), cell: (run) => run.data.tags["autolog.user"] || "" },
  { id: "source", label: "Source", width: 170, order: ident("tags", "autolog.source.name"),
    cell: (run) => {
      const source = run.data.tags["autolog.source.name"] || "";
      const short = source.split(/[\\/]/).pop();
      return h("span", { title: source }, short);
    } },
  { id: "commit", label: "Commit", width: 96, order: ident("tags", "autolog.git.commit"),
    cell: (run) => {
      const commit = run.data.tags["autolog.git.commit"];
      if (!commit) return "";
      const dirty = run.data.tags["autolog.git.dirty"] === "true";
      return h("code", { title: dirty ? `${commit} (uncommitted changes)` : commit }, commit.slice(0, 8), dirty ? "*" : "");
    } },
];

function keyColumn(spec) {
  const [entity, ...rest] = spec.split(".");
  const key = rest.join(".");
  const label = { params: "param", metrics: "metric", tags: "tag" }[entity] || entity;
  return {
    id: spec,
    label: key,
    kind: label,
    // wide enough for the key and its kind label, within reason
    width: Math.min(260, Math.max(120, 100 + key.length * 8)),
    numeric: entity === "metrics",
    order: ident(entity, key),
    cell: (run) => {
      const value = run.data[entity] ? run.data[entity][key] : undefined;
      if (value === undefined) return "";
      return entity === "metrics" ? formatNumber(value) : h("span", { title: value }, value);
    },
  };
}

function storageKey(experimentId) {
  return `autolog.columns.${experimentId}`;
}

/** The URL's value for "no extra column" (an empty `col` would be dropped from the URL). */
const NO_COLUMNS = "-";

/** The columns the address names, or null where it names none: a link's choice wins over what
 * this browser saved, which wins over the defaults. */
function urlColumns(query) {
  if (!query.has("col")) return null;
  return query.getAll("col").filter(isColumnSpec);
}

function savedColumns(experimentId) {
  try {
    const saved = JSON.parse(localStorage.getItem(storageKey(experimentId)) || "null");
    return Array.isArray(saved) ? saved.filter(isColumnSpec) : null;
  } catch {
    return null;
  }
}

export async function render(main, { experimentId, query }) {
  const experiment = await api.experiment(experimentId);
  document.title = `${experiment.name} · autolog`;

  const state = {
    filter: query.get("filter") || "",
    order: query.get("sort") || "",
    descending: query.get("desc") !== "0",
    grouped: query.get("flat") !== "1",
    columns: null,
    knownKeys: { params: new Set(), metrics: new Set(), tags: new Set() },
    pages: new Map(), // page number -> runs (or a promise while loading)
    total: null,
    childCounts: new Map(),
    expanded: new Map(), // parent id -> {runs, total, loading}
    selected: new Set(),
    active: 0,
    generation: 0,
    timer: null,
    destroyed: false,
  };
  state.columns = urlColumns(query) ?? savedColumns(experimentId);

  // ------------------------------------------------------------------------ the page's parts
  const filterInput = h("input", {
    type: "search", class: "filter-input mono", value: state.filter, spellcheck: "false", autocomplete: "off",
    placeholder: "metrics.acc > 0.9 and params.model = 'rf'", "aria-label": "Filter runs",
    "aria-describedby": "filter-error",
  });
  const filterError = h("div", { id: "filter-error", class: "filter-error", role: "alert", hidden: true });
  const groupBox = h("input", { type: "checkbox", checked: state.grouped, id: "group-children" });
  const countText = h("span", { class: "muted", "aria-live": "polite" });
  const compareButton = h("button", { type: "button", class: "primary", disabled: true });
  const clearButton = h("button", { type: "button", class: "ghost", hidden: true, text: "Clear selection" });
  const columnsButton = h("button", { type: "button", "aria-expanded": "false", "aria-controls": "column-picker", text: "Columns" });
  const picker = h("div", { id: "column-picker", class: "popover", hidden: true });
  const liveDot = h("span", { class: "live-dot", title: "Running runs update live", hidden: true });

  const colgroup = h("colgroup");
  const headRow = h("tr");
  const body = h("tbody");
  const table = h("table", { class: "grid runs" }, colgroup, h("thead", {}, headRow), body);
  const scroller = h("div", {
    class: "vscroll", tabindex: "0", role: "grid", "aria-label": `Runs of ${experiment.name}`,
    "aria-multiselectable": "true",
  }, table);

  replace(main,
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, link(paths.experiments(), "Experiments"), " / ",
      h("span", { text: experiment.name })),
    h("div", { class: "page-head" }, h("h1", { text: experiment.name }), countText, liveDot),
    h("div", { class: "toolbar" },
      h("div", { class: "filter-box" }, filterInput, filterError),
      h("label", { class: "check" }, groupBox, " Group child runs"),
      h("div", { class: "picker-anchor" }, columnsButton, picker),
      clearButton, compareButton),
    scroller);

  // ------------------------------------------------------------------------------- columns
  /** Status, start and duration, then the params and metrics (what tells the runs apart, in
   * view without scrolling sideways), then who ran what from where. */
  function columns() {
    const chosen = (state.columns || []).map(keyColumn);
    return [...BASE_COLUMNS.slice(0, 3), ...chosen, ...BASE_COLUMNS.slice(3)];
  }

  function orderBy() {
    if (!state.order) return [];
    return [`${state.order} ${state.descending ? "DESC" : "ASC"}`];
  }

  function renderHead() {
    const cols = columns();
    replace(colgroup, h("col", { class: "col-select" }), h("col", { class: "col-name" }),
      cols.map((c) => h("col", { dataset: { width: String(c.width) }, class: `w${c.width}` })));
    const sortButton = (label, order, extra) => {
      const active = state.order === order;
      const arrow = active ? (state.descending ? " ▼" : " ▲") : "";
      return h("th", {
        scope: "col", class: extra, "aria-sort": active ? (state.descending ? "descending" : "ascending") : "none",
      }, h("button", {
        type: "button", class: "sort", title: `Sort by ${label}`,
        onclick: () => setOrder(order),
      }, label, h("span", { class: "arrow", "aria-hidden": "true", text: arrow })));
    };
    replace(headRow,
      h("th", { scope: "col", class: "sticky-0" }, h("span", { class: "sr-only" }, "Select")),
      sortButton("Name", "attributes.run_name", "sticky-1"),
      cols.map((c) => {
        const th = sortButton(c.label, c.order, c.numeric ? "num" : "");
        if (c.kind) th.firstChild.prepend(h("span", { class: `kind kind-${c.kind}`, text: c.kind }));
        return th;
      }));
    let width = 36 + 260;
    for (const c of cols) width += c.width;
    table.style.width = `${width}px`;
    for (const col of colgroup.querySelectorAll("col[data-width]")) col.style.width = `${col.dataset.width}px`;
  }

  function setOrder(order) {
    if (state.order === order) {
      if (state.descending) state.descending = false;
      else {
        state.order = "";
        state.descending = true;
      }
    } else {
      state.order = order;
      state.descending = true;
    }
    reload();
  }

  // ---------------------------------------------------------------------- column picker
  function renderPicker() {
    const search = h("input", { type: "search", placeholder: "Find a key", "aria-label": "Find a column" });
    const lists = h("div", { class: "picker-lists" });
    const chosen = new Set(state.columns || []);
    const reset = h("button", {
      type: "button", class: "small", text: "Varying columns",
      title: "Show the params and metrics that differ between the runs in view",
      onclick: () => {
        localStorage.removeItem(storageKey(experimentId));
        setColumns(defaultColumns(loadedRuns()));
        chosen.clear();
        for (const spec of state.columns) chosen.add(spec);
        fill();
      },
    });
    const fill = () => {
      const needle = search.value.trim().toLowerCase();
      const groups = [["params", "Params"], ["metrics", "Metrics"], ["tags", "Tags"]].map(([entity, title]) => {
        const listed = new Set(state.knownKeys[entity]);
        for (const spec of chosen) if (spec.startsWith(`${entity}.`)) listed.add(spec.slice(entity.length + 1));
        const keys = [...listed].sort().filter((k) => !needle || k.toLowerCase().includes(needle));
        if (!keys.length) return null;
        return h("fieldset", {}, h("legend", { text: title }), keys.map((key) => {
          const spec = `${entity}.${key}`;
          const box = h("input", { type: "checkbox", checked: chosen.has(spec), onchange: () => {
            if (box.checked) chosen.add(spec);
            else chosen.delete(spec);
            localStorage.setItem(storageKey(experimentId), JSON.stringify([...chosen]));
            setColumns([...chosen]);
          } });
          return h("label", { class: "check" }, box, " ", h("span", { text: key }));
        }));
      });
      replace(lists, groups.some(Boolean) ? groups : h("p", { class: "muted", text: "No keys in the runs loaded so far." }));
    };
    search.addEventListener("input", fill);
    fill();
    replace(picker, h("div", { class: "picker-head" }, search, reset), lists);
    return search;
  }

  /** Show `specs` as the extra columns, and say so in the address. */
  function setColumns(specs) {
    state.columns = specs;
    syncUrl();
    renderHead();
    renderRows(true);
  }

  /** The top-level runs loaded so far, in table order. */
  function loadedRuns() {
    return [...state.pages.entries()].filter(([, page]) => Array.isArray(page))
      .sort(([a], [b]) => a - b).flatMap(([, page]) => page);
  }

  columnsButton.addEventListener("click", () => {
    const open = picker.hidden;
    picker.hidden = !open;
    columnsButton.setAttribute("aria-expanded", String(open));
    if (open) renderPicker().focus();
  });
  picker.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      picker.hidden = true;
      columnsButton.setAttribute("aria-expanded", "false");
      columnsButton.focus();
    }
  });
  document.addEventListener("click", onOutsideClick);
  function onOutsideClick(event) {
    if (!picker.hidden && !picker.contains(event.target) && event.target !== columnsButton) {
      picker.hidden = true;
      columnsButton.setAttribute("aria-expanded", "false");
    }
  }

  function learnKeys(runs) {
    for (const run of runs) {
      for (const entity of ["params", "metrics", "tags"]) {
        for (const key of Object.keys(run.data[entity] || {})) {
          if (entity === "tags" && key.startsWith("autolog.")) continue;
          state.knownKeys[entity].add(key);
        }
      }
    }
  }

  // --------------------------------------------------------------------------------- data
  function request(offset, limit, extraFilter, topLevel, base = state.filter) {
    const filter = [base.trim(), extraFilter].filter(Boolean).join(" and ");
    return api.searchPage({
      experiment_ids: [experimentId], filter, order_by: orderBy(), offset, limit, top_level: topLevel,
    });
  }

  function loadPage(number) {
    if (state.pages.has(number)) return state.pages.get(number);
    const generation = state.generation;
    const promise = request(number * PAGE_SIZE, PAGE_SIZE, "", state.grouped).then((answer) => {
      if (generation !== state.generation) return null;
      state.pages.set(number, answer.runs);
      state.total = answer.total;
      for (const [id, n] of Object.entries(answer.child_counts)) state.childCounts.set(id, n);
      learnKeys(answer.runs);
      if (state.columns === null) setColumns(defaultColumns(answer.runs));
      return answer.runs;
    });
    state.pages.set(number, promise);
    promise.catch(() => state.pages.delete(number));
    return promise;
  }

  async function loadChildren(parentId, more = false) {
    const entry = state.expanded.get(parentId) || { runs: [], total: null, loading: false };
    if (entry.loading) return;
    entry.loading = true;
    state.expanded.set(parentId, entry);
    renderRows(true);
    const generation = state.generation;
    try {
      const answer = await request(more ? entry.runs.length : 0, CHILD_PAGE, `${ident("attributes", "parent_run_id")} = '${parentId.replaceAll("'", "''")}'`, false);
      if (generation !== state.generation || !state.expanded.has(parentId)) return;
      entry.runs = more ? entry.runs.concat(answer.runs) : answer.runs;
      entry.total = answer.total;
      learnKeys(answer.runs);
    } finally {
      entry.loading = false;
    }
    renderRows(true);
  }

  function topRun(index) {
    const page = state.pages.get(Math.floor(index / PAGE_SIZE));
    return Array.isArray(page) ? page[index % PAGE_SIZE] : undefined;
  }

  /** Expanded parents in table order, with how many rows each adds under itself. */
  function expansions() {
    const list = [];
    for (const [parentId, entry] of state.expanded) {
      let topIndex = -1;
      for (const [number, page] of state.pages) {
        if (!Array.isArray(page)) continue;
        const i = page.findIndex((run) => run.info.run_id === parentId);
        if (i >= 0) {
          topIndex = number * PAGE_SIZE + i;
          break;
        }
      }
      if (topIndex < 0) continue;
      const more = entry.total !== null && entry.runs.length < entry.total;
      const rows = entry.loading && !entry.runs.length ? 1 : entry.runs.length + (more || entry.loading ? 1 : 0);
      list.push({ parentId, entry, topIndex, rows });
    }
    return list.sort((a, b) => a.topIndex - b.topIndex);
  }

  function rowCount(list) {
    return (state.total || 0) + list.reduce((sum, e) => sum + e.rows, 0);
  }

  function entryAt(i, list) {
    let shift = 0;
    for (const e of list) {
      const at = e.topIndex + shift;
      if (i <= at) return { kind: "top", index: i - shift };
      if (i <= at + e.rows) {
        const childIndex = i - at - 1;
        if (childIndex < e.entry.runs.length) return { kind: "child", run: e.entry.runs[childIndex], parentId: e.parentId };
        return { kind: "more", parentId: e.parentId, entry: e.entry };
      }
      shift += e.rows;
    }
    return { kind: "top", index: i - shift };
  }

  // ------------------------------------------------------------------------------ rendering
  let scheduled = false;
  function renderRows(force = false) {
    if (force) {
      draw();
      return;
    }
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => {
      scheduled = false;
      draw();
    });
  }

  function runRow(run, index, depth) {
    const id = run.info.run_id;
    const selected = state.selected.has(id);
    const box = h("input", {
      type: "checkbox", checked: selected, "aria-label": `Select ${run.info.run_name || id}`, tabindex: "-1",
      onchange: () => toggleSelect(id, box.checked),
    });
    const children = state.childCounts.get(id) || 0;
    const open = state.expanded.has(id);
    const toggle = depth === 0 && state.grouped && children
      ? h("button", {
        type: "button", class: "expander", tabindex: "-1", "aria-expanded": String(open),
        "aria-label": `${open ? "Hide" : "Show"} ${plural(children, "child run")}`,
        onclick: () => toggleChildren(id),
      }, open ? "▾" : "▸", h("span", { class: "child-count", text: String(children) }))
      : h("span", { class: depth ? "indent" : "no-expander" });
    const name = run.info.run_name || id.slice(0, 8);
    const cells = columns().map((c) => h("td", { class: c.numeric ? "num" : "" }, c.cell(run)));
    const tr = h("tr", {
      id: `row-${index}`, role: "row", "aria-rowindex": String(index + 2), "aria-selected": String(selected),
      class: [depth ? "child" : "", index === state.active ? "active" : "", selected ? "selected" : ""],
      dataset: { runId: id, index: String(index) },
    },
    h("td", { class: "sticky-0" }, box),
    h("td", { class: "sticky-1 name" }, toggle, link(paths.run(id), name)),
    cells);
    return tr;
  }

  function placeholderRow(index, text) {
    return h("tr", { id: `row-${index}`, class: ["placeholder", index === state.active ? "active" : ""], dataset: { index: String(index) } },
      h("td", { class: "sticky-0" }), h("td", { class: "sticky-1 muted", text }), h("td", { colspan: String(columns().length) }));
  }

  function draw() {
    if (state.destroyed) return;
    const list = expansions();
    const count = rowCount(list);
    scroller.setAttribute("aria-rowcount", String(count + 1));
    const viewTop = scroller.scrollTop;
    const height = scroller.clientHeight || 600;
    const first = Math.max(0, Math.floor(viewTop / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(count, Math.ceil((viewTop + height) / ROW_HEIGHT) + OVERSCAN);
    const rows = [];
    const missing = new Set();
    let running = false;
    for (let i = first; i < last; i++) {
      const e = entryAt(i, list);
      if (e.kind === "top") {
        const run = topRun(e.index);
        if (run) {
          rows.push(runRow(run, i, 0));
          running ||= run.info.status === "RUNNING";
        } else {
          rows.push(placeholderRow(i, "…"));
          missing.add(Math.floor(e.index / PAGE_SIZE));
        }
      } else if (e.kind === "child") {
        rows.push(runRow(e.run, i, 1));
        running ||= e.run.info.status === "RUNNING";
      } else {
        const { entry, parentId } = e;
        const more = entry.total !== null ? entry.total - entry.runs.length : 0;
        rows.push(h("tr", { id: `row-${i}`, class: ["child", "more", i === state.active ? "active" : ""], dataset: { index: String(i), more: parentId } },
          h("td", { class: "sticky-0" }),
          h("td", { class: "sticky-1" }, h("span", { class: "indent" }), entry.loading ? "Loading…"
            : h("button", { type: "button", class: "link-button", tabindex: "-1", onclick: () => loadChildren(parentId, true) },
              `Show ${Math.min(more, CHILD_PAGE)} more of ${more.toLocaleString()}`)),
          h("td", { colspan: String(columns().length) })));
      }
    }
    const before = h("tr", { class: "spacer", "aria-hidden": "true" }, h("td", { colspan: String(columns().length + 2) }));
    const after = h("tr", { class: "spacer", "aria-hidden": "true" }, h("td", { colspan: String(columns().length + 2) }));
    before.style.height = `${first * ROW_HEIGHT}px`;
    after.style.height = `${Math.max(0, count - last) * ROW_HEIGHT}px`;
    replace(body, before, rows, after);
    if (state.total === 0) {
      body.append(h("tr", {}, h("td", { colspan: String(columns().length + 2), class: "empty" },
        state.filter ? (state.grouped ? "No top-level run matches the filter (child runs may: untick “Group child runs”)." : "No run matches the filter.")
          : "No runs in this experiment yet.")));
    }
    scroller.setAttribute("aria-activedescendant", `row-${state.active}`);
    if (rows.length && !missing.size) {
      // when rows of the current search were last drawn: what tests and benchmarks wait on
      scroller.dataset.generation = String(state.generation);
      scroller.dataset.renderedAt = performance.now().toFixed(1);
    }
    for (const number of missing) loadPage(number).then(() => renderRows(), () => {});
    state.running = running;
    updateCount();
  }

  function updateCount() {
    if (state.total === null) {
      countText.textContent = "";
      return;
    }
    const what = state.grouped ? "top-level run" : "run";
    countText.textContent = `${plural(state.total, what)}${state.filter ? " match" + (state.total === 1 ? "es" : "") : ""}`;
    const n = state.selected.size;
    compareButton.disabled = n < 2;
    compareButton.textContent = n ? `Compare ${n} runs` : "Compare";
    compareButton.title = n < 2 ? "Select two or more runs to compare" : "";
    clearButton.hidden = n === 0;
    liveDot.hidden = !state.running;
  }

  // ----------------------------------------------------------------------------- behaviour
  function toggleSelect(id, on) {
    if (on) state.selected.add(id);
    else state.selected.delete(id);
    renderRows(true);
  }

  function toggleChildren(id) {
    if (state.expanded.has(id)) {
      state.expanded.delete(id);
      renderRows(true);
    } else {
      loadChildren(id);
    }
  }

  compareButton.addEventListener("click", () => navigate(paths.compare([...state.selected])));
  clearButton.addEventListener("click", () => {
    state.selected.clear();
    renderRows(true);
  });

  function syncUrl() {
    const params = {};
    if (state.filter.trim()) params.filter = state.filter.trim();
    if (state.order) {
      params.sort = state.order;
      if (!state.descending) params.desc = "0";
    }
    if (!state.grouped) params.flat = "1";
    if (state.columns !== null) params.col = state.columns.length ? state.columns : NO_COLUMNS;
    history.replaceState(null, "", `${location.pathname}${qs(params)}`);
  }

  /** Search again from the first row (a new filter, order or grouping). A filter the server
   * refuses is shown with its error, and the rows of the last good search stay. */
  async function reload(filter = state.filter) {
    const generation = ++state.generation;
    scroller.dataset.requestedAt = performance.now().toFixed(1);
    let answer;
    try {
      answer = await request(0, PAGE_SIZE, "", state.grouped, filter);
    } catch (error) {
      if (generation !== state.generation) return;
      if (error instanceof ApiError && error.status === 400) {
        setFilterError(error.message);
        return;
      }
      showError(main, error);
      return;
    }
    if (generation !== state.generation) return;
    state.filter = filter;
    setFilterError(null);
    state.pages = new Map([[0, answer.runs]]);
    state.total = answer.total;
    state.childCounts = new Map(Object.entries(answer.child_counts));
    state.expanded = new Map();
    state.active = 0;
    learnKeys(answer.runs);
    if (state.columns === null) state.columns = defaultColumns(answer.runs);
    syncUrl();
    renderHead();
    scroller.scrollTop = 0;
    renderRows(true);
  }

  function setFilterError(message) {
    filterError.hidden = !message;
    filterError.textContent = message || "";
    if (message) filterInput.setAttribute("aria-invalid", "true");
    else filterInput.removeAttribute("aria-invalid");
  }

  const applyFilter = () => {
    if (filterInput.value === state.filter && filterError.hidden) return;
    reload(filterInput.value);
  };
  const applySoon = debounce(applyFilter, 500);
  filterInput.addEventListener("input", applySoon);
  filterInput.addEventListener("keydown", (event) => {
    if (event.key === "Enter") applyFilter();
  });
  groupBox.addEventListener("change", () => {
    state.grouped = groupBox.checked;
    reload();
  });
  scroller.addEventListener("scroll", () => renderRows());
  const resize = new ResizeObserver(() => renderRows());
  resize.observe(scroller);

  // keyboard: the grid holds the focus, arrows move the active row
  scroller.addEventListener("keydown", (event) => {
    const count = rowCount(expansions());
    if (!count) return;
    const pageRows = Math.max(1, Math.floor(scroller.clientHeight / ROW_HEIGHT) - 1);
    const moves = { ArrowDown: 1, ArrowUp: -1, PageDown: pageRows, PageUp: -pageRows, Home: -Infinity, End: Infinity };
    if (event.key in moves) {
      state.active = Math.max(0, Math.min(count - 1, state.active + moves[event.key]));
      const top = state.active * ROW_HEIGHT;
      const headHeight = table.tHead ? table.tHead.offsetHeight : ROW_HEIGHT;
      if (top < scroller.scrollTop) scroller.scrollTop = top;
      else if (top + ROW_HEIGHT > scroller.scrollTop + scroller.clientHeight - headHeight) {
        scroller.scrollTop = top + ROW_HEIGHT - scroller.clientHeight + headHeight;
      }
      renderRows(true);
      event.preventDefault();
      return;
    }
    const row = body.querySelector(`tr[data-index="${state.active}"]`);
    if (!row) return;
    const id = row.dataset.runId;
    if (event.key === "Enter") {
      if (id) navigate(paths.run(id));
      else if (row.dataset.more) loadChildren(row.dataset.more, true);
    } else if (event.key === " " && id) {
      toggleSelect(id, !state.selected.has(id));
    } else if (event.key === "ArrowRight" && id && state.childCounts.get(id) && !state.expanded.has(id)) {
      loadChildren(id);
    } else if (event.key === "ArrowLeft" && id && state.expanded.has(id)) {
      toggleChildren(id);
    } else {
      return;
    }
    event.preventDefault();
  });
  scroller.addEventListener("click", (event) => {
    const row = event.target.closest("tr[data-index]");
    if (row) {
      state.active = Number(row.dataset.index);
      for (const r of body.querySelectorAll("tr.active")) r.classList.remove("active");
      row.classList.add("active");
      scroller.setAttribute("aria-activedescendant", row.id);
    }
  });

  // live: refresh what is in view, often while something in view runs
  async function poll() {
    if (state.destroyed) return;
    if (!document.hidden && state.total !== null) {
      const generation = state.generation;
      const first = Math.floor(scroller.scrollTop / ROW_HEIGHT);
      const numbers = new Set([Math.floor(first / PAGE_SIZE), Math.floor((first + 40) / PAGE_SIZE)]);
      try {
        const answers = await Promise.all([...numbers].map((n) => request(n * PAGE_SIZE, PAGE_SIZE, "", state.grouped).then((a) => [n, a])));
        if (generation === state.generation) {
          for (const [n, answer] of answers) {
            state.pages.set(n, answer.runs);
            state.total = answer.total;
            for (const [id, count] of Object.entries(answer.child_counts)) state.childCounts.set(id, count);
          }
          for (const number of [...state.pages.keys()]) if (!numbers.has(number)) state.pages.delete(number);
          for (const [id, entry] of state.expanded) {
            if (entry.runs.some((r) => r.info.status === "RUNNING")) loadChildren(id);
          }
          renderRows(true);
        }
      } catch (error) {
        console.warn("refreshing runs failed", error);
      }
    }
    state.timer = setTimeout(poll, state.running ? LIVE_MS : IDLE_MS);
  }

  renderHead();
  await reload();
  state.timer = setTimeout(poll, LIVE_MS);

  return () => {
    state.destroyed = true;
    clearTimeout(state.timer);
    resize.disconnect();
    document.removeEventListener("click", onOutsideClick);
  };
}
