// What a run recorded to be re-run (issue 18's contract): its code snapshot (code/manifest.json,
// code/diff.patch, code/untracked/...), its environment (environment/requirements.lock), its
// inputs (autolog.input.* tags) and the runs it re-ran or that re-ran it. Read through the same
// REST API as the rest of the page; nothing here is ever parsed as HTML.

import { ApiError, api, token } from "./api.js";

export const TAG = {
  command: "autolog.command",
  entryPoint: "autolog.entry_point",
  entryPointName: "autolog.entry_point.name",
  entryPointParameters: "autolog.entry_point.parameters",
  commit: "autolog.git.commit",
  branch: "autolog.git.branch",
  remote: "autolog.git.remote",
  dirty: "autolog.git.dirty",
  workdir: "autolog.code.workdir",
  argv: "autolog.code.argv",
  environment: "autolog.environment.sha256",
  rerunOf: "autolog.rerun_of",
  inputPrefix: "autolog.input.",
};

export const MANIFEST = "code/manifest.json";
export const DIFF = "code/diff.patch";
export const UNTRACKED = "code/untracked";
export const LOCK = "environment/requirements.lock";

/** Whether the run recorded anything the Reproduce panel shows. */
export function recordedSomething(run) {
  const tags = run.data.tags;
  return [TAG.command, TAG.workdir, TAG.argv, TAG.environment, TAG.rerunOf].some((k) => k in tags)
    || Object.keys(tags).some((k) => k.startsWith(TAG.inputPrefix));
}

/** The text of a file of the run, whole (a download: the preview route stops at 1 MB). */
export async function fetchText(runId, path, signal) {
  const headers = token() ? { Authorization: `Bearer ${token()}` } : {};
  const response = await fetch(api.artifactUrl(runId, path), { headers, signal });
  if (!response.ok) throw new ApiError(response.status, `http_${response.status}`, `${path}: HTTP ${response.status}`);
  return response.text();
}

/** The files directly under `folder` of the run, by path (a missing folder lists nothing). */
export async function filesUnder(runId, folder) {
  const { files } = await api.artifacts(runId, folder);
  return new Map(files.map((f) => [f.path, f]));
}

/** The run's code manifest, or null when it recorded none. */
export async function readManifest(runId, files, signal) {
  if (!files.has(MANIFEST)) return null;
  return JSON.parse(await fetchText(runId, MANIFEST, signal));
}

/** The run's environment lock as text, or null when it recorded none. */
export async function readLock(runId, signal) {
  const files = await filesUnder(runId, "environment");
  return files.has(LOCK) ? fetchText(runId, LOCK, signal) : null;
}

/** PEP 503's normalized name: "Foo_Bar.baz" and "foo-bar-baz" are one distribution. */
export function normalizeName(name) {
  return name.toLowerCase().replace(/[-_.]+/g, "-");
}

const HEADER = /^#\s*(python|implementation|platform|env):\s*(.*)$/;
const PINNED = /^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*(\S+)/;
const NOTED = /^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)(?:\s+\(([^)]*)\))?/;

/** One installable line: its distribution, version and what kind of install it is. */
function requirement(line) {
  const hash = line.search(/\s+#\s/);
  const spec = (hash < 0 ? line : line.slice(0, hash)).trim();
  const comment = hash < 0 ? "" : line.slice(hash).replace(/^\s+#\s*/, "");
  const noted = comment.match(NOTED);
  const pinned = spec.match(PINNED);
  const direct = spec.match(/^([A-Za-z0-9][A-Za-z0-9._-]*)\s*@\s*/);
  const name = pinned ? pinned[1] : noted ? noted[1] : direct ? direct[1] : spec;
  const version = pinned ? pinned[2] : noted ? noted[2] : "";
  return { name, key: normalizeName(name), version, spec, note: noted && noted[3] ? noted[3] : "" };
}

/**
 * A lock's header and packages, as `autolog.projects.environment.parse_lock` reads it:
 * `# python:`, `# implementation:`, `# platform:` and `# env: NAME=VALUE` lines, then one
 * installable line per distribution (`name==version`, `-e path  # name==version (editable)`,
 * `name @ url  # name==version (direct URL)`).
 */
export function parseLock(text) {
  const lock = { python: "", implementation: "", platform: "", env: {}, packages: [] };
  for (const raw of String(text).split(/\r?\n/)) {
    const line = raw.trim();
    if (!line) continue;
    const header = line.match(HEADER);
    if (header) {
      if (header[1] !== "env") lock[header[1]] = header[2].trim();
      else {
        const eq = header[2].indexOf("=");
        if (eq > 0) lock.env[header[2].slice(0, eq).trim()] = header[2].slice(eq + 1);
      }
    } else if (!line.startsWith("#")) lock.packages.push(requirement(line));
  }
  lock.packages.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return lock;
}

/** The run's inputs (autolog.input.NAME tags), by name; a value that is not the contract's
 * JSON object keeps its text, so nothing recorded is hidden. */
export function inputsOf(run) {
  return Object.entries(run.data.tags).filter(([k]) => k.startsWith(TAG.inputPrefix)).sort()
    .map(([k, v]) => {
      const name = k.slice(TAG.inputPrefix.length);
      try {
        const record = JSON.parse(v);
        if (record && typeof record === "object" && !Array.isArray(record)) return { name, ...record };
      } catch {
        // shown as its text below
      }
      return { name, raw: v };
    });
}

/** A quoted string of the filter language (autolog/search.py): `\` and `'` escaped. */
export function quoted(text) {
  return `'${String(text).replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

/** The filter finding the runs that re-ran `runId` (any experiment). */
export const rerunFilter = (runId) => `tags."${TAG.rerunOf}" = ${quoted(runId)}`;

/** The runs that re-ran `runId`, newest first (at most `limit`), and how many there are. */
export async function rerunsOf(runId, signal, limit = 50) {
  const page = await api.searchPage({ filter: rerunFilter(runId), offset: 0, limit }, signal);
  return { runs: page.runs, total: page.total };
}
