// The run page's "Reproduce" panel: how to run the run again and what it ran with. The command
// and `autolog rerun ID`, the code (commit, branch, remote, the uncommitted diff file by file,
// the untracked files), the environment lock (Python, platform, variables, packages), the
// inputs with their hashes, the runs it re-ran or that re-ran it, and how its environment
// differs from another run's. Everything comes from the tags and artifacts of issue 18's
// contract (see recorded.js) and reaches the page as text nodes.

import { api, blobUrl, token } from "./api.js";
import { formatBytes } from "./artifacts.js";
import { diffView } from "./diffview.js";
import { copyText, h, link, paths, plural, replace } from "./dom.js";
import { showEnvironmentDiff } from "./envdiff.js";
import {
  DIFF, LOCK, MANIFEST, TAG, UNTRACKED, fetchText, filesUnder, inputsOf, parseLock, readManifest, recordedSomething, rerunsOf,
} from "./recorded.js";

/** A diff larger than this is offered as a download only. */
const MAX_DIFF_BYTES = 64 * 1024 * 1024;

function copyButton(text, label) {
  const button = h("button", { type: "button", class: "small ghost", text: "Copy", "aria-label": label });
  button.addEventListener("click", async () => {
    button.textContent = (await copyText(text)) ? "Copied" : "Copy failed";
    setTimeout(() => { button.textContent = "Copy"; }, 1500);
  });
  return button;
}

/** A line of shell to copy: the command, or `autolog rerun ID`. */
function commandLine(text, className, label) {
  return h("div", { class: `load-line ${className}` }, h("code", { text }), copyButton(text, label));
}

const fact = (title, value) => (value === "" || value === undefined || value === null ? null
  : h("div", { class: "fact" }, h("dt", { text: title }), h("dd", {}, value)));

/** A link downloading a file of the run (fetched with the token where one is set). */
function downloadLink(runId, path, label = "Download") {
  const url = api.artifactUrl(runId, path);
  const name = path.split("/").pop();
  const a = h("a", { href: url, download: name, class: "button small" }, label);
  a.addEventListener("click", async (event) => {
    if (!token()) return;
    event.preventDefault();
    const blob = await blobUrl(url);
    const temp = h("a", { href: blob, download: name });
    document.body.append(temp);
    temp.click();
    temp.remove();
    setTimeout(() => URL.revokeObjectURL(blob), 10_000);
  });
  return a;
}

// ------------------------------------------------------------------------------------ parts

/** An argument as a POSIX shell reads it back (shlex.quote's rule). */
const shellQuote = (arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, "'\"'\"'")}'`);

/** The command line: as typed (autolog run), else rebuilt from the recorded argv. */
function commandOf(tags) {
  if (tags[TAG.command]) return tags[TAG.command];
  try {
    const argv = JSON.parse(tags[TAG.argv] || "null");
    return Array.isArray(argv) && argv.length ? ["python", ...argv.map(String)].map(shellQuote).join(" ") : "";
  } catch {
    return "";
  }
}

function commandPart(run) {
  const tags = run.data.tags;
  const runId = run.info.run_id;
  const command = commandOf(tags);
  let parameters = null;
  try {
    parameters = tags[TAG.entryPointParameters] ? JSON.parse(tags[TAG.entryPointParameters]) : null;
  } catch {
    parameters = null;
  }
  return h("div", { class: "repro-part repro-command" },
    h("h3", { text: "Command" }),
    command ? commandLine(command, "repro-cmd", "Copy the command") : h("p", { class: "muted", text: "No command line recorded." }),
    commandLine(`autolog rerun ${runId}`, "repro-rerun", "Copy the rerun command"),
    h("dl", { class: "facts compact" },
      fact("Working folder", tags[TAG.workdir] ? h("code", { text: tags[TAG.workdir] }) : ""),
      fact("Entry point", tags[TAG.entryPointName] || tags[TAG.entryPoint] || ""),
      fact("Parameters", parameters && typeof parameters === "object"
        ? Object.entries(parameters).map(([k, v], i) => [i ? ", " : "", h("code", { text: `${k}=${v}` })]) : "")));
}

function codePart(run) {
  const tags = run.data.tags;
  if (!tags[TAG.commit]) return null;
  const dirty = tags[TAG.dirty];
  return h("div", { class: "repro-part repro-code" },
    h("h3", { text: "Code" }),
    h("dl", { class: "facts compact" },
      fact("Commit", h("span", {}, h("code", { class: "hash", text: tags[TAG.commit] }), copyButton(tags[TAG.commit], "Copy the commit"))),
      fact("Branch", tags[TAG.branch] || ""),
      fact("Remote", tags[TAG.remote] ? h("code", { text: tags[TAG.remote] }) : ""),
      fact("State", dirty === "true" ? h("span", { class: "badge warn", text: "uncommitted changes" })
        : dirty === "false" ? h("span", { class: "badge ok", text: "clean" }) : "")));
}

function inputsPart(run) {
  const inputs = inputsOf(run);
  if (!inputs.length) return null;
  const sha = (value) => (value ? h("code", { class: "hash", title: value, text: `${value.slice(0, 12)}…` }) : "");
  return h("div", { class: "repro-part repro-inputs" },
    h("h3", {}, "Inputs ", h("span", { class: "muted", text: String(inputs.length) })),
    h("div", { class: "table-wrap" }, h("table", { class: "grid" },
      h("thead", {}, h("tr", {}, ["Name", "Path", "Size", "SHA-256"].map((t, i) => h("th", { scope: "col", class: i === 2 ? "num" : "", text: t })))),
      h("tbody", {}, inputs.map((input) => h("tr", { dataset: { input: input.name } },
        h("th", { scope: "row", class: "key", text: input.name }),
        input.raw !== undefined ? h("td", { colspan: "3" }, h("code", { text: input.raw }))
          : [h("td", {}, h("code", { text: input.path || "" })),
            h("td", { class: "num" }, formatBytes(input.size),
              input.kind === "folder" && input.files !== undefined ? h("span", { class: "muted", text: ` · ${plural(input.files, "file")}` }) : ""),
            h("td", {}, sha(input.sha256), input.sha256 ? copyButton(input.sha256, `Copy the SHA-256 of ${input.name}`) : "")]))))));
}

/** A preview of an untracked file below the list, read as data (as the artifact viewer does). */
async function previewFile(pane, runId, path) {
  replace(pane, h("div", { class: "preview-head" }, h("code", { class: "preview-path", text: path }), downloadLink(runId, path)),
    h("p", { class: "muted", text: "Loading…" }));
  try {
    const p = await api.artifactPreview(runId, path);
    const body = p.text === null || p.text === undefined
      ? h("p", { class: "muted", text: p.kind === "image" ? "An image: download it to see it." : "A binary file: download it to open it." })
      : h("pre", { class: "preview-text", text: p.text });
    pane.lastChild.replaceWith(body);
    if (p.truncated) pane.append(h("p", { class: "muted", text: `The first ${formatBytes(p.text_bytes)} are shown; download the whole file.` }));
  } catch (error) {
    pane.lastChild.replaceWith(h("p", { class: "error-text", text: error.message }));
  }
}

function untrackedPart(runId, manifest) {
  const untracked = manifest.untracked || [];
  const skipped = manifest.skipped || [];
  if (!untracked.length && !skipped.length) return null;
  const pane = h("div", { class: "preview repro-preview", hidden: true, "aria-live": "polite" });
  const row = (file) => {
    const path = `${UNTRACKED}/${file.path}`;
    const open = h("button", { type: "button", class: "small", text: "Open", "aria-label": `Open ${file.path}` });
    open.addEventListener("click", () => {
      pane.hidden = false;
      previewFile(pane, runId, path);
    });
    return h("tr", { dataset: { path: file.path } }, h("td", {}, h("code", { text: file.path })),
      h("td", { class: "num", text: formatBytes(file.size) }), h("td", { class: "row-actions" }, open, " ", downloadLink(runId, path)));
  };
  return h("div", { class: "repro-part repro-untracked" },
    h("h3", {}, "Untracked files ", h("span", { class: "muted", text: String(untracked.length) })),
    untracked.length ? h("div", { class: "table-wrap" }, h("table", { class: "grid" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col", text: "Path" }), h("th", { scope: "col", class: "num", text: "Size" }), h("th", { scope: "col", text: "" }))),
      h("tbody", {}, untracked.map(row)))) : h("p", { class: "muted", text: "None kept." }),
    skipped.length ? h("div", { class: "repro-skipped" },
      h("p", {}, `Left out (${plural(skipped.length, "file")}`,
        manifest.max_untracked_bytes ? `, over the bound of ${formatBytes(manifest.max_untracked_bytes)} in all` : "", "):"),
      h("ul", {}, skipped.map((s) => h("li", { dataset: { path: s.path } }, h("code", { text: s.path }), " ",
        h("span", { class: "muted", text: `${formatBytes(s.size)} · ${s.reason}` }))))) : null,
    pane);
}

/** The diff, fetched whole and shown file by file (diffview.js builds lines lazily). */
function diffPart(runId, manifest, files, signal) {
  if (!files.has(DIFF)) return null;
  const size = manifest && Number.isFinite(manifest.diff_bytes) ? manifest.diff_bytes : files.get(DIFF).file_size;
  const box = h("div", { class: "repro-diff-box" }, h("p", { class: "muted", text: "Loading the diff…" }));
  const part = h("div", { class: "repro-part repro-diff" },
    h("div", { class: "section-head" }, h("h3", { text: "Uncommitted changes" }),
      h("span", { class: "muted", text: formatBytes(size) }), downloadLink(runId, DIFF, "Download the patch")), box);
  if (size > MAX_DIFF_BYTES) {
    replace(box, h("p", { class: "muted", text: `The diff is ${formatBytes(size)}: download it to read it.` }));
  } else {
    fetchText(runId, DIFF, signal).then((text) => replace(box, diffView(text)), (error) => {
      if (error.name !== "AbortError") replace(box, h("p", { class: "error-text", text: error.message }));
    });
  }
  return part;
}

function environmentPart(runId, text) {
  const lock = parseLock(text);
  const search = h("input", { type: "search", placeholder: "Filter packages", "aria-label": "Filter packages" });
  const body = h("tbody");
  const count = h("span", { class: "muted" });
  const show = () => {
    const needle = search.value.trim().toLowerCase();
    const shown = lock.packages.filter((p) => !needle || p.key.includes(needle) || p.name.toLowerCase().includes(needle)
      || p.spec.toLowerCase().includes(needle));
    replace(body, shown.map((p) => h("tr", { dataset: { package: p.key } }, h("td", { text: p.name }),
      h("td", {}, h("code", { text: p.version || p.spec })), h("td", { class: "muted", text: p.note }))));
    if (!shown.length) body.append(h("tr", {}, h("td", { colspan: "3", class: "empty", text: "No package matches." })));
    count.textContent = needle ? `${shown.length} of ${lock.packages.length}` : String(lock.packages.length);
  };
  search.addEventListener("input", show);
  show();
  const env = Object.entries(lock.env).sort();
  return h("div", { class: "repro-part repro-env" },
    h("div", { class: "section-head" }, h("h3", { text: "Environment" }), downloadLink(runId, LOCK, "Download the lock")),
    h("dl", { class: "facts compact" },
      fact("Python", [lock.python, lock.implementation].filter(Boolean).join(" · ")),
      fact("Platform", lock.platform),
      fact("Packages", String(lock.packages.length))),
    env.length ? h("table", { class: "grid kv-table repro-env-vars" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col", text: "Variable" }), h("th", { scope: "col", text: "Value" }))),
      h("tbody", {}, env.map(([k, v]) => h("tr", {}, h("th", { scope: "row", class: "key" }, h("code", { text: k })),
        h("td", {}, h("code", { text: v })))))) : h("p", { class: "muted", text: "None of the allow-listed variables was set." }),
    h("details", { class: "repro-packages" },
      h("summary", {}, "Packages ", count),
      h("div", { class: "section-head" }, search),
      h("div", { class: "table-wrap repro-package-table" }, h("table", { class: "grid" },
        h("thead", {}, h("tr", {}, ["Package", "Version", ""].map((t) => h("th", { scope: "col", text: t })))), body))));
}

/** The runs this one re-ran and that re-ran it. */
function lineage(run, reruns, total) {
  const original = run.data.tags[TAG.rerunOf];
  if (!original && !reruns.length) return null;
  const name = (r) => r.info.run_name || r.info.run_id.slice(0, 12);
  return h("div", { class: "repro-lineage" },
    original ? h("p", { class: "repro-rerun-of" }, "A re-run of ", link(paths.run(original), original.slice(0, 12)), ".") : null,
    reruns.length ? h("p", { class: "repro-reruns" }, `Re-run ${total === 1 ? "once" : `${total} times`}: `,
      reruns.map((r, i) => [i ? ", " : "", link(paths.run(r.info.run_id), name(r))]),
      total > reruns.length ? ` and ${total - reruns.length} more` : "", ".") : null);
}

/** "Compare environment with run …": the original (else the newest re-run) chosen first. */
function compareControl(run, reruns, signal) {
  const runId = run.info.run_id;
  const choices = [run.data.tags[TAG.rerunOf], ...reruns.map((r) => r.info.run_id)].filter(Boolean);
  const input = h("input", { type: "text", list: "repro-env-runs", placeholder: "run id", value: choices[0] || "",
    "aria-label": "Run to compare the environment with", autocomplete: "off", spellcheck: "false", class: "repro-env-other" });
  const options = h("datalist", { id: "repro-env-runs" }, choices.map((id) => h("option", { value: id })));
  const button = h("button", { type: "submit", class: "small", text: "Compare" });
  const result = h("div", { class: "repro-env-result", "aria-live": "polite" });
  const compare = async () => {
    const other = input.value.trim();
    if (!other) return;
    replace(result, h("p", { class: "muted", text: "Reading…" }));
    try {
      const otherRun = await api.run(other, signal);
      // the earlier run is the baseline: a re-run's differences read as what changed since
      const pair = [run, otherRun].sort((a, b) => a.info.start_time - b.info.start_time);
      await showEnvironmentDiff(result, pair, { signal });
      result.append(h("p", {}, link(paths.compare([runId, other]), "Compare these runs")));
    } catch (error) {
      if (error.name !== "AbortError") replace(result, h("p", { class: "error-text", text: error.message }));
    }
  };
  const form = h("form", { class: "repro-env-compare" },
    h("label", {}, "Compare environment with run ", input), options, button);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    compare();
  });
  if (choices.length) compare();
  return h("div", { class: "repro-part" }, form, result);
}

/**
 * The panel, hidden until `load(run)` finds something the run recorded (or a run re-ran it);
 * a live run's page loads it again once the run ends, when its files are all stored.
 * `onShown()` is called when it appears, for the page to link to it.
 */
export function reproducePanel(runId, { signal, onShown }) {
  const element = h("section", { id: "reproduce", class: "card reproduce", hidden: true });
  const load = async (run) => {
    const { runs: reruns, total } = await rerunsOf(runId, signal).catch(() => ({ runs: [], total: 0 }));
    if (!recordedSomething(run) && !reruns.length) return;
    const [codeFiles, envFiles] = await Promise.all([filesUnder(runId, "code"), filesUnder(runId, "environment")]);
    const manifest = await readManifest(runId, codeFiles, signal).catch((error) => {
      console.warn(`${MANIFEST}:`, error);
      return null;
    });
    const lockText = envFiles.has(LOCK) ? await fetchText(runId, LOCK, signal) : null;
    replace(element,
      h("h2", {}, "Reproduce"),
      lineage(run, reruns, total),
      commandPart(run),
      codePart(run),
      diffPart(runId, manifest, codeFiles, signal),
      manifest ? untrackedPart(runId, manifest) : null,
      inputsPart(run),
      lockText !== null ? environmentPart(runId, lockText) : null,
      lockText !== null || reruns.length || run.data.tags[TAG.rerunOf] ? compareControl(run, reruns, signal) : null);
    element.hidden = false;
    if (onShown) onShown();
  };
  return { element, load };
}
