// A run's artifacts as a tree, with previews read as data (text, JSON, CSV as a table, images)
// and a card for every logged model. Nothing a run wrote is ever run: HTML and SVG files show
// as their source text, and downloads are served as attachments.

import { api, blobUrl, token } from "./api.js";
import { copyText, formatTime, h, link, paths, qs, replace } from "./dom.js";

const CSV_ROWS = 500;

export function formatBytes(n) {
  if (n === null || n === undefined) return "";
  if (n < 1024) return `${n} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let v = n;
  let unit = "B";
  for (const u of units) {
    if (v < 1024) break;
    v /= 1024;
    unit = u;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${unit}`;
}

/** Rows of a CSV (or TSV) text: quoted fields, doubled quotes and newlines inside quotes. */
export function parseCsv(text, limit = CSV_ROWS + 1) {
  const firstLine = text.slice(0, text.indexOf("\n") >>> 0);
  const sep = (firstLine.match(/\t/g) || []).length > (firstLine.match(/,/g) || []).length ? "\t" : ",";
  const rows = [];
  let row = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length && rows.length < limit; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else field += c;
    } else if (c === '"' && field === "") quoted = true;
    else if (c === sep) {
      row.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
    } else field += c;
  }
  if ((field !== "" || row.length) && rows.length < limit) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

function csvTable(text, truncated) {
  const rows = parseCsv(text);
  if (!rows.length) return h("p", { class: "muted", text: "Empty file." });
  const [head, ...rest] = rows;
  const shown = rest.slice(0, CSV_ROWS);
  const note = rest.length > CSV_ROWS || truncated ? h("p", { class: "muted", text: `First ${shown.length} rows shown.` }) : null;
  return h("div", {},
    h("div", { class: "table-wrap preview-table" },
      h("table", { class: "grid" },
        h("thead", {}, h("tr", {}, head.map((c) => h("th", { scope: "col", text: c })))),
        h("tbody", {}, shown.map((r) => h("tr", {}, r.map((c) => h("td", { text: c }))))))),
    note);
}

function preview(target, runId, file) {
  const url = api.artifactUrl(runId, file.path);
  const name = file.path.split("/").pop();
  const download = h("a", { href: url, download: name, class: "button small" }, "Download");
  download.addEventListener("click", async (event) => {
    if (!token()) return; // a plain link does: no token to send
    event.preventDefault();
    const blob = await blobUrl(url);
    const a = h("a", { href: blob, download: name });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(blob), 10_000);
  });
  const head = h("div", { class: "preview-head" },
    h("code", { class: "preview-path", text: file.path }),
    h("span", { class: "muted", text: formatBytes(file.file_size) }),
    download);
  replace(target, head, h("p", { class: "muted", text: "Loading…" }));
  api.artifactPreview(runId, file.path).then((p) => {
    let body;
    if (p.kind === "image") {
      body = h("img", { class: "preview-image", alt: file.path });
      if (token()) blobUrl(url).then((blob) => { body.src = blob; }, (e) => console.warn(e));
      else body.src = url;
    } else if (p.kind === "binary") {
      body = h("p", { class: "muted", text: "A binary file: download it to open it." });
    } else if (p.kind === "json") {
      let text = p.text;
      let note = null;
      if (!p.truncated) {
        try {
          text = JSON.stringify(JSON.parse(p.text), null, 2);
        } catch {
          note = h("p", { class: "muted", text: "Not valid JSON: shown as text." });
        }
      }
      body = h("div", {}, note, h("pre", { class: "preview-text", text }));
    } else if (p.kind === "csv") {
      body = csvTable(p.text, p.truncated);
    } else {
      const note = p.kind === "html" || p.kind === "svg"
        ? h("p", { class: "muted", text: `${p.kind.toUpperCase()} is shown as its source text, never rendered.` }) : null;
      body = h("div", {}, note, h("pre", { class: "preview-text", text: p.text }));
    }
    const more = p.truncated ? h("p", { class: "muted", text: `The first ${formatBytes(p.text_bytes)} are shown; download the whole file.` }) : null;
    replace(target, head, body, p.kind !== "csv" ? more : null);
  }, (error) => {
    replace(target, head, h("p", { class: "error-text", text: error.message }));
  });
}

function treeLevel(runId, path, select) {
  const list = h("ul", { role: path ? "group" : "tree", class: "tree" });
  list.append(h("li", { class: "muted", text: "Loading…" }));
  api.artifacts(runId, path || undefined).then(({ files }) => {
    const sorted = [...files].sort((a, b) => (a.is_dir !== b.is_dir ? (a.is_dir ? -1 : 1) : a.path < b.path ? -1 : 1));
    replace(list, sorted.map((file) => {
      const name = file.path.split("/").pop();
      if (file.is_dir) {
        const item = h("li", { role: "treeitem", "aria-expanded": "false" });
        const button = h("button", { type: "button", class: "tree-dir" }, h("span", { class: "caret", "aria-hidden": "true", text: "▸" }), name);
        let children = null;
        button.addEventListener("click", () => {
          const open = item.getAttribute("aria-expanded") !== "true";
          item.setAttribute("aria-expanded", String(open));
          button.firstChild.textContent = open ? "▾" : "▸";
          if (open && !children) {
            children = treeLevel(runId, file.path, select);
            item.append(children);
          }
          if (children) children.hidden = !open;
        });
        item.append(button);
        return item;
      }
      const button = h("button", { type: "button", class: "tree-file", dataset: { path: file.path } }, name,
        h("span", { class: "muted size", text: formatBytes(file.file_size) }));
      button.addEventListener("click", () => select(file, button));
      return h("li", { role: "treeitem" }, button);
    }));
    if (!files.length) replace(list, h("li", { class: "muted", text: path ? "Empty folder." : "No artifacts." }));
  }, (error) => replace(list, h("li", { class: "error-text", text: error.message })));
  return list;
}

function modelCard(runId, model) {
  const loadLine = `autolog.load_model("runs:/${runId}/${model.path}")`;
  const copy = h("button", { type: "button", class: "small ghost", text: "Copy" });
  copy.addEventListener("click", async () => {
    copy.textContent = (await copyText(loadLine)) ? "Copied" : "Copy failed";
    setTimeout(() => { copy.textContent = "Copy"; }, 1500);
  });
  const libraries = Object.entries(model.libraries || {}).map(([k, v]) => `${k} ${v}`).join(", ");
  return h("article", { class: "model-card" },
    h("header", {}, h("h3", {}, h("span", { class: "badge", text: "model" }), " ", model.path),
      h("span", { class: "muted", text: model.flavor ? `${model.flavor} flavor` : "" })),
    h("dl", { class: "facts compact" },
      model.model_class ? h("div", { class: "fact" }, h("dt", { text: "Class" }), h("dd", {}, h("code", { text: model.model_class }))) : null,
      model.python_version ? h("div", { class: "fact" }, h("dt", { text: "Python" }), h("dd", { text: model.python_version })) : null,
      libraries ? h("div", { class: "fact" }, h("dt", { text: "Libraries" }), h("dd", { text: libraries })) : null,
      model.created_time ? h("div", { class: "fact" }, h("dt", { text: "Saved" }), h("dd", { text: formatTime(model.created_time) })) : null,
      model.registered && model.registered.length ? h("div", { class: "fact" }, h("dt", { text: "Registered" }),
        h("dd", {}, model.registered.map((v, i) => [i ? ", " : "", link(paths.model(v.name), `${v.name} v${v.version}`),
          v.aliases.length ? ` (@${v.aliases.join(", @")})` : ""]))) : null),
    h("div", { class: "load-line" }, h("code", { text: loadLine }), copy,
      link(`${paths.models()}${qs({ register: `runs:/${runId}/${model.path}` })}`, "Register…")),
    h("div", { class: "scroll-x" }, h("table", { class: "grid hashes" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col", text: "File" }), h("th", { scope: "col", text: "SHA-256" }),
        h("th", { scope: "col", text: "" }))),
      h("tbody", {}, model.files.map((f) => h("tr", {},
        h("td", {}, h("code", { text: f.name })),
        h("td", {}, h("code", { class: "hash", text: f.sha256 || "" })),
        h("td", {}, f.recorded ? (f.recorded === f.sha256 || !f.sha256
          ? h("span", { class: "badge ok", title: "Matches the digest recorded in the tracking store", text: "recorded" })
          : h("span", { class: "badge warn", title: `The tracking store recorded ${f.recorded}`, text: "differs" }))
          : h("span", { class: "badge warn", text: "not recorded" }))))))));
}

/** Fill `treeBox` with the run's artifact tree and preview, `modelsBox` with model cards. */
export function renderArtifacts(treeBox, modelsBox, runId) {
  const pane = h("div", { class: "preview", "aria-live": "polite" }, h("p", { class: "muted", text: "Choose a file to preview it." }));
  let current = null;
  const select = (file, button) => {
    if (current) current.removeAttribute("aria-current");
    current = button;
    button.setAttribute("aria-current", "true");
    preview(pane, runId, file);
  };
  replace(treeBox, h("div", { class: "tree-box" }, treeLevel(runId, "", select)), pane);
  api.loggedModels(runId).then(({ models }) => {
    replace(modelsBox, models.map((m) => modelCard(runId, m)));
  }, (error) => replace(modelsBox, h("p", { class: "error-text", text: error.message })));
}
