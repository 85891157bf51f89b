// Experiments: name, run count, last activity; each links to its runs.

import { api } from "../api.js";
import { formatAgo, formatTime, h, link, paths, plural, replace } from "../dom.js";

export async function render(main) {
  document.title = "Experiments · autolog";
  const { experiments } = await api.experimentSummaries();
  const filter = h("input", { type: "search", class: "filter-input", placeholder: "Filter experiments by name",
    "aria-label": "Filter experiments by name" });
  const body = h("tbody");
  const count = h("span", { class: "muted" });
  const table = h("table", { class: "grid experiments" },
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "Name"),
      h("th", { scope: "col", class: "num" }, "Runs"),
      h("th", { scope: "col", class: "num" }, "Running"),
      h("th", { scope: "col" }, "Last activity"),
      h("th", { scope: "col" }, "Created"))),
    body);

  function show() {
    const needle = filter.value.trim().toLowerCase();
    const shown = experiments.filter((e) => !needle || e.name.toLowerCase().includes(needle));
    replace(body, shown.map((e) => h("tr", {},
      h("td", {}, link(paths.experiment(e.experiment_id), e.name), h("span", { class: "muted id" }, ` #${e.experiment_id}`)),
      h("td", { class: "num" }, e.run_count.toLocaleString()),
      h("td", { class: "num" }, e.running_count ? h("span", { class: "status status-running" }, e.running_count.toLocaleString()) : "0"),
      h("td", { title: formatTime(e.last_activity) }, e.last_activity ? formatAgo(e.last_activity) : "never"),
      h("td", {}, formatTime(e.creation_time)))));
    if (!shown.length) body.append(h("tr", {}, h("td", { colspan: "5", class: "empty" },
      experiments.length ? "No experiment matches." : "No experiments yet: log a run with autolog and it shows up here.")));
    count.textContent = plural(experiments.length, "experiment");
  }
  filter.addEventListener("input", show);
  show();
  replace(main,
    h("div", { class: "page-head" }, h("h1", {}, "Experiments"), count),
    h("div", { class: "toolbar" }, filter),
    h("div", { class: "table-wrap" }, table));
}
