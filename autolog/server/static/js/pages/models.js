// Registered models: each with its versions, aliases and latest version's source run.

import { api } from "../api.js";
import { formatAgo, formatTime, h, link, paths, plural, replace } from "../dom.js";

export async function render(main) {
  document.title = "Models · autolog";
  const { models } = await api.registeredModels();
  const filter = h("input", { type: "search", class: "filter-input", placeholder: "Filter models by name", "aria-label": "Filter models by name" });
  const body = h("tbody");
  const show = () => {
    const needle = filter.value.trim().toLowerCase();
    const shown = models.filter((m) => !needle || m.name.toLowerCase().includes(needle));
    replace(body, shown.map((m) => h("tr", {},
      h("td", {}, link(paths.model(m.name), m.name)),
      h("td", { class: "num", text: String(m.latest_version) }),
      h("td", {}, Object.entries(m.aliases).sort().map(([alias, version]) =>
        h("span", { class: "badge", title: `version ${version}`, text: `@${alias} → v${version}` }))),
      h("td", {}, m.latest_run_id ? link(paths.run(m.latest_run_id), m.latest_run_name || m.latest_run_id.slice(0, 8)) : h("span", { class: "muted", text: "—" })),
      h("td", { title: formatTime(m.last_updated) }, formatAgo(m.last_updated)))));
    if (!shown.length) body.append(h("tr", {}, h("td", { colspan: "5", class: "empty",
      text: models.length ? "No model matches." : "No registered models yet: autolog.register_model(\"runs:/<run_id>/model\", \"name\") adds one." })));
  };
  filter.addEventListener("input", show);
  show();
  replace(main,
    h("div", { class: "page-head" }, h("h1", {}, "Models"), h("span", { class: "muted", text: plural(models.length, "registered model") })),
    h("div", { class: "toolbar" }, filter),
    h("div", { class: "table-wrap" }, h("table", { class: "grid" },
      h("thead", {}, h("tr", {}, ["Name", "Latest version", "Aliases", "Latest source run", "Last updated"].map((t, i) =>
        h("th", { scope: "col", class: i === 1 ? "num" : "", text: t })))), body)));
}
