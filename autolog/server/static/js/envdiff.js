// How the environments of runs differ: Python, platform, the allow-listed variables and the
// packages of their locks (environment/requirements.lock). Shown on the compare page and, for
// two runs, in the run page's Reproduce panel. Runs whose locks have the same SHA-256 (the
// autolog.environment.sha256 tag) share one environment, and nothing is fetched to say so.

import { h, link, paths, plural, replace } from "./dom.js";
import { TAG, parseLock, readLock } from "./recorded.js";

const runName = (run) => run.info.run_name || run.info.run_id.slice(0, 8);

/** True when every run recorded a lock and all the locks hash the same. */
export function sameEnvironment(runs) {
  const shas = runs.map((r) => r.data.tags[TAG.environment]);
  return shas.every((s) => s && s === shas[0]);
}

/** A package as a lock pins it, for one cell: its version, and how it was installed. */
const packageText = (p) => (p ? `${p.version || p.spec}${p.note ? ` (${p.note})` : ""}` : undefined);

/**
 * What differs between the parsed `locks` (null where a run recorded none): rows of
 * {group, key, values, kind}, where a package's kind says how it differs from the first
 * run's: "added" (the first run lacks it), "removed" (a later run lacks it) or "changed".
 */
export function lockDifferences(locks) {
  const present = locks.filter(Boolean);
  const rows = [];
  const differ = (values) => values.some((v) => v !== values[0]);
  for (const field of ["python", "implementation", "platform"]) {
    const values = locks.map((l) => (l ? l[field] || undefined : undefined));
    if (differ(values)) rows.push({ group: "Python and platform", key: field, values });
  }
  const envNames = [...new Set(present.flatMap((l) => Object.keys(l.env)))].sort();
  for (const name of envNames) {
    const values = locks.map((l) => (l && name in l.env ? l.env[name] : undefined));
    if (differ(values)) rows.push({ group: "Environment variables", key: name, values });
  }
  const byKey = locks.map((l) => new Map((l ? l.packages : []).map((p) => [p.key, p])));
  const keys = [...new Set(present.flatMap((l) => l.packages.map((p) => p.key)))].sort();
  for (const key of keys) {
    const found = byKey.map((m) => m.get(key));
    const specs = found.map((p) => (p ? p.spec : undefined));
    if (!differ(specs)) continue;
    const kind = !found[0] ? "added" : found.some((p) => !p) ? "removed" : "changed";
    const name = found.find(Boolean).name;
    rows.push({ group: "Packages", key: name, values: found.map(packageText), titles: specs, kind });
  }
  return rows;
}

const KIND_CLASS = { added: "ok", removed: "warn", changed: "" };

/** The table of `rows` (lockDifferences) with a column per run. */
function differencesTable(runs, rows) {
  let group = null;
  const body = h("tbody");
  for (const row of rows) {
    if (row.group !== group) {
      group = row.group;
      body.append(h("tr", { class: "group" }, h("th", { colspan: String(runs.length + 1), scope: "colgroup", text: group })));
    }
    body.append(h("tr", { class: "differs", dataset: { group: row.group, key: row.key, kind: row.kind || "" } },
      h("th", { scope: "row", class: "key" }, row.key,
        row.kind ? h("span", { class: `badge env-kind ${KIND_CLASS[row.kind]}`, text: row.kind }) : ""),
      row.values.map((v, i) => h("td", { class: v === undefined ? "missing" : "", title: row.titles ? row.titles[i] || "" : v || "" },
        v === undefined ? "—" : h("code", { text: v })))));
  }
  return h("div", { class: "table-wrap" }, h("table", { class: "grid diff env-diff" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col", text: "" }), runs.map((r, i) => h("th", { scope: "col" },
      h("span", { class: "swatch", dataset: { color: String(i % 10) } }), link(paths.run(r.info.run_id), runName(r)))))),
    body));
}

/** A sentence counting the packages that differ, by kind. */
function packageSummary(rows) {
  const packages = rows.filter((r) => r.group === "Packages");
  if (!packages.length) return "The same packages.";
  const counts = ["added", "removed", "changed"].map((k) => [k, packages.filter((r) => r.kind === k).length])
    .filter(([, n]) => n).map(([k, n]) => `${n} ${k}`);
  return `${plural(packages.length, "package")} ${packages.length === 1 ? "differs" : "differ"}: ${counts.join(", ")}.`;
}

/**
 * Fill `target` with how the environments of `runs` differ: "Same environment" when their
 * locks hash the same, else the differences of the fetched locks (`locks`: text or null per
 * run; fetched here when not given).
 */
export async function showEnvironmentDiff(target, runs, { locks = null, signal } = {}) {
  if (sameEnvironment(runs)) {
    const sha = runs[0].data.tags[TAG.environment];
    replace(target, h("p", { class: "env-same" }, h("span", { class: "badge ok", text: "Same environment" }),
      ` All ${runs.length} runs recorded the same lock `, h("code", { title: sha, text: sha.slice(0, 12) }), "."));
    return;
  }
  replace(target, h("p", { class: "muted", text: "Reading the environments…" }));
  const texts = locks || await Promise.all(runs.map((r) => readLock(r.info.run_id, signal)));
  const parsed = texts.map((t) => (t === null ? null : parseLock(t)));
  const missing = runs.filter((r, i) => !parsed[i]);
  const having = runs.filter((r, i) => parsed[i]);
  const note = missing.length ? h("p", { class: "muted env-missing" }, "No environment recorded for ",
    missing.map((r, i) => [i ? ", " : "", link(paths.run(r.info.run_id), runName(r))]), ".") : null;
  if (having.length < 2) {
    replace(target, note, having.length ? h("p", { class: "muted", text: "Only one of these runs recorded its environment." }) : null);
    return;
  }
  const rows = lockDifferences(parsed.filter(Boolean));
  if (!rows.length) {
    replace(target, note, h("p", { class: "env-same" }, h("span", { class: "badge ok", text: "Same packages" }),
      " The same Python, platform, variables and packages (the locks differ only in their comments)."));
    return;
  }
  replace(target, note, h("p", { class: "env-summary", text: packageSummary(rows) }), differencesTable(having, rows));
}
