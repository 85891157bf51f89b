// One registered model: its description and tags, its versions with their aliases, source runs
// and the lines that load them (by number, and by alias where a version has one). It can be
// changed here (renamed, described, tagged, deleted; a version's aliases, description and tags
// set, or the version deleted) through the client's own routes: the server's rules and token
// scopes apply, and a refusal is shown in the server's words.

import { api } from "../api.js";
import { navigate } from "../app.js";
import { copyText, formatTime, h, link, paths, plural, replace } from "../dom.js";
import { act, confirmButton, editForm, errorLine, tagEditor } from "../edit.js";
import { markdown } from "../markdown.js";

/** The ways to load a version: by its number, then by each of its aliases. */
export function loadLines(name, version) {
  return [`models:/${name}/${version.version}`, ...version.aliases.map((a) => `models:/${name}@${a}`)]
    .map((uri) => `autolog.load_model("${uri}")`);
}

function copyLine(line) {
  const copy = h("button", { type: "button", class: "small ghost", text: "Copy", "aria-label": `Copy ${line}` });
  copy.addEventListener("click", async () => {
    copy.textContent = (await copyText(line)) ? "Copied" : "Copy failed";
    setTimeout(() => { copy.textContent = "Copy"; }, 1500);
  });
  return h("div", {}, h("code", { text: line }), copy);
}

/** A description shown as Markdown, with a button editing it through `save(text)`. */
function describedBox(box, title, text, save) {
  const edit = h("button", { type: "button", class: "small", text: text ? "Edit description" : "Add a description" });
  edit.addEventListener("click", () => {
    const form = editForm({
      className: "description-form",
      fields: [{ name: "text", label: `${title} (Markdown)`, value: text, multiline: true }],
      onSave: ({ text: changed }) => save(changed),
      onDone: () => describedBox(box, title, text, save),
    });
    replace(box, h("h3", { text: title }), form);
    form.focusFirst();
  });
  replace(box, h("div", { class: "section-head" }, h("h3", { text: title }), edit),
    text ? markdown(text) : h("p", { class: "muted", text: "No description." }));
}

/** The aliases of a version: each removable, and a small form pointing another at it. */
function aliasCell(name, version, change) {
  const error = errorLine();
  const chips = version.aliases.map((alias) => {
    const remove = h("button", { type: "button", class: "ghost small", text: "×", title: `Remove @${alias}`,
      "aria-label": `Remove alias ${alias}` });
    remove.addEventListener("click", () => act(remove, error, () => change(() => api.deleteAlias(name, alias))));
    return h("span", { class: "alias-chip" }, h("span", { class: "badge", text: `@${alias}` }), remove);
  });
  const input = h("input", { type: "text", name: "alias", placeholder: "alias", autocomplete: "off",
    "aria-label": `New alias for version ${version.version}` });
  const set = h("button", { type: "submit", class: "small", text: "Set alias" });
  const form = h("form", { class: "alias-form" }, input, set);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const alias = input.value.trim();
    if (!alias) return error.show(new Error("An alias needs a name."));
    return act(set, error, () => change(() => api.setAlias(name, alias, version.version)));
  });
  return h("td", { class: "aliases" }, chips, form, error);
}

function versionRows(name, version, change) {
  const details = h("tr", { class: "version-details", hidden: true, dataset: { version: String(version.version) } });
  const toggle = h("button", { type: "button", class: "small ghost", text: "Details", "aria-expanded": "false" });
  const describe = h("div", { class: "version-description" });
  describedBox(describe, `Description of v${version.version}`, version.description || "",
    (text) => change(() => api.updateVersion(name, version.version, text || null)));
  replace(details, h("td", { colspan: "7" }, h("div", { class: "model-meta" }, describe,
    h("div", {}, h("h3", { text: `Tags of v${version.version}` }), tagEditor({
      tags: version.tags || {}, label: "version tag",
      onSet: (key, value) => change(() => api.setVersionTag(name, version.version, key, value)),
      onDelete: (key) => change(() => api.deleteVersionTag(name, version.version, key)),
    })))));
  toggle.addEventListener("click", () => {
    details.hidden = !details.hidden;
    toggle.setAttribute("aria-expanded", String(!details.hidden));
  });
  const tagCount = Object.keys(version.tags || {}).length;
  const row = h("tr", { class: "version", dataset: { version: String(version.version) } },
    h("td", { class: "num" }, h("strong", { text: `v${version.version}` })),
    aliasCell(name, version, change),
    h("td", {}, formatTime(version.creation_time)),
    h("td", {}, version.run_id ? link(paths.run(version.run_id), version.run_name || version.run_id.slice(0, 12))
      : h("span", { class: "muted", text: "—" })),
    h("td", {}, h("code", { class: "source", title: version.source, text: version.source })),
    h("td", {}, h("div", { class: "load-lines" }, loadLines(name, version).map(copyLine))),
    h("td", { class: "row-actions" }, toggle,
      version.description || tagCount ? h("span", { class: "muted", text: [version.description ? "described" : "", tagCount ? plural(tagCount, "tag") : ""].filter(Boolean).join(", ") }) : "",
      confirmButton({ label: "Delete", question: `Delete v${version.version}?`, confirmLabel: "Delete version",
        onConfirm: () => change(() => api.deleteVersion(name, version.version)) })));
  return [row, details];
}

/** The model called `name` in the UI API's list (no request that fails: an unknown name is
 * an answer of this page, not an error of the browser's), or null. */
async function findModel(name) {
  const { models } = await api.registeredModels();
  return models.find((m) => m.name === name) || null;
}

function notFound(main, name) {
  replace(main,
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, link(paths.models(), "Models"), " / ", h("span", { text: name })),
    h("div", { class: "error-box", role: "alert" }, h("strong", { text: "Not found" }),
      h("p", { text: `No registered model is named ${name}.` })));
}

export async function render(main, { name }) {
  document.title = `${name} · Models · autolog`;
  const [model, { versions }] = await Promise.all([findModel(name), api.modelVersions(name)]);
  if (!model) return notFound(main, name);
  const open = new Set(); // versions whose details are shown, kept over a redraw
  const head = h("div", { class: "page-head" });
  const describe = h("section", { class: "card model-description" });
  const tagsBox = h("section", { class: "card model-tags" });
  const table = h("div", { class: "table-wrap" });

  /** Send a change, then show the model as the server now holds it. */
  async function change(send) {
    await send();
    for (const row of main.querySelectorAll("tr.version-details:not([hidden])")) open.add(row.dataset.version);
    const [current, answer] = await Promise.all([findModel(name), api.modelVersions(name)]);
    if (current) fill(current, answer.versions);
  }

  function fillHead(current, count) {
    const rename = h("button", { type: "button", class: "small ghost", text: "Rename", "aria-label": "Rename the model" });
    rename.addEventListener("click", () => {
      const form = editForm({ className: "rename-form", fields: [{ name: "name", label: "Model name", value: current.name }],
        onSave: async ({ name: changed }) => {
          await api.updateModel(current.name, { new_name: changed.trim() });
          navigate(paths.model(changed.trim()), { replaceState: true });
        },
        onDone: () => {},
      });
      replace(head, form);
      form.focusFirst();
    });
    replace(head, h("h1", { text: current.name }), rename, h("span", { class: "muted", text: plural(count, "version") }),
      h("span", { class: "page-actions" }, confirmButton({
        label: "Delete model", question: `Delete ${current.name} with all its versions?`, confirmLabel: "Delete",
        onConfirm: async () => {
          await api.deleteModel(current.name);
          navigate(paths.models());
        },
      })));
  }

  function fill(current, list) {
    fillHead(current, list.length);
    describedBox(describe, "Description", current.description || "",
      (text) => change(() => api.updateModel(name, { description: text || null })));
    replace(tagsBox, h("h3", { text: "Tags" }), tagEditor({
      tags: current.tags || {}, label: "model tag",
      onSet: (key, value) => change(() => api.setModelTag(name, key, value)),
      onDelete: (key) => change(() => api.deleteModelTag(name, key)),
    }));
    const rows = [...list].sort((a, b) => b.version - a.version).flatMap((v) => versionRows(name, v, change));
    replace(table, h("table", { class: "grid versions" },
      h("thead", {}, h("tr", {}, ["Version", "Aliases", "Registered", "Source run", "Source", "Load it", ""].map((t, i) =>
        h("th", { scope: "col", class: i === 0 ? "num" : "", text: t })))),
      h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: "7", class: "empty", text: "No versions." })))));
    for (const row of table.querySelectorAll("tr.version-details")) {
      if (open.has(row.dataset.version)) {
        row.hidden = false;
        row.previousElementSibling.querySelector("button[aria-expanded]").setAttribute("aria-expanded", "true");
      }
    }
  }

  replace(main,
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, link(paths.models(), "Models"), " / ", h("span", { text: name })),
    head, describe, tagsBox, table);
  fill(model, versions);
  return undefined;
}
