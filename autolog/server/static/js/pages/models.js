// Registered models: each with its versions, aliases and latest version's source run, and a
// form registering a run's model as a new version (POST /model-versions, as the client's
// register_model: the server's rules and token scopes apply, and a refusal is shown).

import { api } from "../api.js";
import { navigate } from "../app.js";
import { formatAgo, formatTime, h, link, paths, plural, replace } from "../dom.js";
import { act, errorLine } from "../edit.js";

const RUN_ID = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * The source URI and run id of what was typed: a "runs:/<run id>/<path>" URI, or a run id
 * alone for its model at "model".
 */
export function modelSource(text) {
  const typed = text.trim();
  if (RUN_ID.test(typed)) return { source: `runs:/${typed}/model`, runId: typed };
  const m = typed.match(/^runs:\/([^/]+)\/.+$/);
  return { source: typed, runId: m && RUN_ID.test(m[1]) ? m[1] : null };
}

function registerForm(models, prefill) {
  const source = h("input", { type: "text", name: "source", placeholder: "runs:/<run id>/model", autocomplete: "off",
    spellcheck: "false", "aria-label": "Model to register: runs:/<run id>/<path>, or a run id" });
  source.value = prefill || "";
  const names = h("datalist", { id: "model-names" }, models.map((m) => h("option", { value: m.name })));
  const name = h("input", { type: "text", name: "name", placeholder: "model name", autocomplete: "off", list: "model-names",
    "aria-label": "Registered model name (a new one, or an existing one for its next version)" });
  const submit = h("button", { type: "submit", class: "primary small", text: "Register" });
  const error = errorLine();
  const form = h("form", { class: "card register-form", "aria-label": "Register a model" },
    h("strong", { text: "Register a run's model" }), source, name, names, submit, error);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const { source: uri, runId } = modelSource(source.value);
    if (!uri || !name.value.trim()) return error.show(new Error("Give the model's runs:/ URI (or its run id) and a name."));
    return act(submit, error, async () => {
      const version = await api.registerModel(name.value.trim(), uri, runId);
      navigate(paths.model(version.name));
    });
  });
  return form;
}

export async function render(main, { query }) {
  document.title = "Models · autolog";
  const { models } = await api.registeredModels();
  const filter = h("input", { type: "search", class: "filter-input", placeholder: "Filter models by name", "aria-label": "Filter models by name" });
  const body = h("tbody");
  const show = () => {
    const needle = filter.value.trim().toLowerCase();
    const shown = models.filter((m) => !needle || m.name.toLowerCase().includes(needle));
    replace(body, shown.map((m) => h("tr", {},
      h("td", {}, link(paths.model(m.name), m.name),
        m.description ? h("div", { class: "muted", text: m.description.split("\n")[0].slice(0, 120) }) : ""),
      h("td", { class: "num", text: m.latest_version === null || m.latest_version === undefined ? "—" : String(m.latest_version) }),
      h("td", {}, Object.entries(m.aliases).sort().map(([alias, version]) =>
        h("span", { class: "badge", title: `version ${version}`, text: `@${alias} → v${version}` }))),
      h("td", {}, m.latest_run_id ? link(paths.run(m.latest_run_id), m.latest_run_name || m.latest_run_id.slice(0, 8)) : h("span", { class: "muted", text: "—" })),
      h("td", { title: formatTime(m.last_updated) }, formatAgo(m.last_updated)))));
    if (!shown.length) body.append(h("tr", {}, h("td", { colspan: "5", class: "empty",
      text: models.length ? "No model matches." : "No registered models yet: register a run's model above, or autolog.register_model(\"runs:/<run_id>/model\", \"name\")." })));
  };
  filter.addEventListener("input", show);
  show();
  replace(main,
    h("div", { class: "page-head" }, h("h1", {}, "Models"), h("span", { class: "muted", text: plural(models.length, "registered model") })),
    registerForm(models, query.get("register")),
    h("div", { class: "toolbar" }, filter),
    h("div", { class: "table-wrap" }, h("table", { class: "grid" },
      h("thead", {}, h("tr", {}, ["Name", "Latest version", "Aliases", "Latest source run", "Last updated"].map((t, i) =>
        h("th", { scope: "col", class: i === 1 ? "num" : "", text: t })))), body)));
}
