// Which params and metrics tell a set of runs apart, most informative first: the runs table
// shows those as its default columns, and the compare page draws them as parallel axes.
//
// A sweep logs dozens of keys that are the same in every run (a LightGBM sweep's `alpha`,
// `bagging_fraction`...) and a few that were swept (`num_leaves`, `learning_rate`): only the
// latter help to read the runs, so a key is kept only if its value differs between runs (a run
// without the key counts as one more value), and ranked by how much it says about a run.

/** How many params and metrics the runs table shows by default: a table of 40 columns is
 * read by nobody. */
export const MAX_PARAMS = 5;
export const MAX_METRICS = 4;

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** Shannon entropy (bits) of the distribution of `values`. */
function entropy(values) {
  const counts = new Map();
  for (const v of values) counts.set(v, (counts.get(v) || 0) + 1);
  let bits = 0;
  for (const n of counts.values()) {
    const p = n / values.length;
    bits -= p * Math.log2(p);
  }
  return bits;
}

/**
 * The keys of `entity` ("params" or "metrics") whose values differ between `runs`, most
 * informative first, each as {key, coverage, distinct, score}.
 *
 * A param's score is the entropy of its values weighted by the share of runs that have it: a
 * key swept over three values outranks one swept over two, and both outrank a key set in one
 * run only. A text param whose every value is different (an output path, a timestamp) names
 * runs rather than describing them, so it counts half. Metrics are continuous, so nearly all
 * of them differ everywhere: they rank by coverage, then by how many distinct values they take.
 */
export function varyingKeys(runs, entity) {
  const keys = new Set();
  for (const run of runs) for (const key of Object.keys(run.data[entity] || {})) keys.add(key);
  const found = [];
  for (const key of keys) {
    const values = runs.map((run) => {
      const value = (run.data[entity] || {})[key];
      return value === undefined ? undefined : String(value);
    });
    const present = values.filter((v) => v !== undefined);
    const distinct = new Set(values).size;
    if (distinct < 2) continue;
    const coverage = present.length / runs.length;
    let score = entropy(values) * coverage;
    const allDifferent = new Set(present).size === present.length;
    if (entity === "params" && allDifferent && present.length >= 4 && !present.every((v) => NUMBER.test(v))) score /= 2;
    if (entity === "metrics") score = coverage * 1000 + distinct;
    found.push({ key, coverage, distinct, score });
  }
  return found.sort((a, b) => b.score - a.score || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** The keys of `entity` by how many runs have them (what a lone run, where nothing varies,
 * shows). */
function frequentKeys(runs, entity) {
  const counts = new Map();
  for (const run of runs) for (const key of Object.keys(run.data[entity] || {})) counts.set(key, (counts.get(key) || 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([key]) => key);
}

/**
 * The runs table's default columns for `runs` (the runs in view), as "params.KEY" and
 * "metrics.KEY": the varying params, then the varying metrics, each list bounded. Where nothing
 * varies (one run, or identical runs) the most common keys stand in, so the table still shows
 * what the runs logged.
 */
export function defaultColumns(runs) {
  const params = varyingKeys(runs, "params").map((k) => k.key);
  const metrics = varyingKeys(runs, "metrics").map((k) => k.key);
  if (!params.length && !metrics.length) {
    return [
      ...frequentKeys(runs, "params").slice(0, MAX_PARAMS).map((k) => `params.${k}`),
      ...frequentKeys(runs, "metrics").slice(0, MAX_METRICS).map((k) => `metrics.${k}`),
    ];
  }
  return [
    ...params.slice(0, MAX_PARAMS).map((k) => `params.${k}`),
    ...metrics.slice(0, MAX_METRICS).map((k) => `metrics.${k}`),
  ];
}

/** Whether `spec` names a column the runs table can show ("params.x", "metrics.x", "tags.x"). */
export function isColumnSpec(spec) {
  return typeof spec === "string" && /^(params|metrics|tags)\..+/s.test(spec);
}
