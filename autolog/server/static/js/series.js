// Fetching metric series for charts: the first load, zooming in, and live growth.

import { api } from "./api.js";
import { toNumber } from "./dom.js";

/** A series from the wire as columns: timestamps absolute, values numbers (NaN, ±Infinity). */
export function decode(series) {
  const t0 = series.t0 || 0;
  return {
    steps: series.steps,
    times: series.times.map((t) => t0 + t),
    values: series.values.map(toNumber),
  };
}

/** The downsampled series of `key` for each run, in the order of `runIds`. */
export async function fetchSeries(runIds, key, width, range = {}, signal) {
  const answer = await api.metricSeries({ runIds, keys: [key], width, minStep: range.minStep, maxStep: range.maxStep }, signal);
  const byRun = new Map(answer.series.map((s) => [s.run_id, s]));
  return runIds.map((id) => {
    const s = byRun.get(id);
    return s ? { points: decode(s), total: s.total, downsampled: s.downsampled } : { points: { steps: [], times: [], values: [] }, total: 0 };
  });
}

/** Zooming in on `chart` asks the server for the visible step range of each series. */
export function zoomHandler(runIds, key) {
  let generation = 0;
  return async (chart, xmin, xmax) => {
    const mine = ++generation;
    await Promise.all(runIds.map(async (runId, index) => {
      const range = chart.stepRange(index, xmin, xmax);
      if (!range) return;
      const [found] = await fetchSeries([runId], key, chart.width, { minStep: range[0], maxStep: range[1] });
      if (mine === generation && chart.zoom) chart.setZoomed(index, found.points);
    }));
  };
}

/** Points of `key` logged after the chart's last step, appended to series `index`. Returns
 * true if the chart holds so many points that it should be reloaded downsampled. */
export async function growSeries(chart, index, runId, key, signal) {
  const last = chart.lastStep(index);
  const range = last === null ? {} : { minStep: last + 1 };
  const [found] = await fetchSeries([runId], key, chart.width, range, signal);
  const held = chart.pointCount(index);
  chart.append(index, found.points, (chart.series[index].total || held) + found.total);
  return chart.pointCount(index) > 8 * chart.width;
}
