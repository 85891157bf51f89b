// One registered model: its versions, aliases, source runs and how to load each.

import { api } from "../api.js";
import { copyText, formatTime, h, link, paths, replace } from "../dom.js";

export async function render(main, { name }) {
  document.title = `${name} · Models · autolog`;
  const { versions } = await api.modelVersions(name);
  if (!versions.length) {
    replace(main,
      h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, link(paths.models(), "Models"), " / ", h("span", { text: name })),
      h("div", { class: "error-box", role: "alert" }, h("strong", { text: "Not found" }),
        h("p", { text: `No registered model is named ${name}.` })));
    return;
  }
  const rows = [...versions].sort((a, b) => b.version - a.version).map((v) => {
    const uri = `models:/${v.name}/${v.version}`;
    const line = `autolog.load_model("${uri}")`;
    const copy = h("button", { type: "button", class: "small ghost", text: "Copy" });
    copy.addEventListener("click", async () => {
      copy.textContent = (await copyText(line)) ? "Copied" : "Copy failed";
      setTimeout(() => { copy.textContent = "Copy"; }, 1500);
    });
    return h("tr", {},
      h("td", { class: "num" }, h("strong", { text: `v${v.version}` })),
      h("td", {}, v.aliases.map((a) => h("span", { class: "badge", text: `@${a}` }))),
      h("td", {}, formatTime(v.creation_time)),
      h("td", {}, v.run_id ? link(paths.run(v.run_id), v.run_name || v.run_id.slice(0, 12)) : h("span", { class: "muted", text: "—" })),
      h("td", {}, h("code", { class: "source", title: v.source, text: v.source })),
      h("td", {}, h("code", { text: line }), copy));
  });
  replace(main,
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, link(paths.models(), "Models"), " / ", h("span", { text: name })),
    h("div", { class: "page-head" }, h("h1", { text: name }), h("span", { class: "muted", text: `${versions.length} ${versions.length === 1 ? "version" : "versions"}` })),
    h("div", { class: "table-wrap" }, h("table", { class: "grid versions" },
      h("thead", {}, h("tr", {}, ["Version", "Aliases", "Registered", "Source run", "Source", "Load it"].map((t, i) =>
        h("th", { scope: "col", class: i === 0 ? "num" : "", text: t })))),
      h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: "6", class: "empty", text: "No versions." }))))));
}
