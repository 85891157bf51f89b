// The REST API under /api/v1: the UI reads everything through it, as any client would.

import { qs } from "./dom.js";

const BASE = "/api/v1";

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }
}

// A server that needs tokens (see `autolog server token create`) gets one from the person
// using the page: kept for the browser tab, or in this browser when they ask for it.
const TOKEN_KEY = "autolog.token";

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || localStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(value, remember) {
  sessionStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(TOKEN_KEY);
  if (value) (remember ? localStorage : sessionStorage).setItem(TOKEN_KEY, value);
}

function authorized(headers = {}) {
  const value = token();
  return value ? { ...headers, Authorization: `Bearer ${value}` } : headers;
}

/** A URL of the API as a blob: URL, fetched with the token (an <img> or a link sends none). */
export async function blobUrl(url) {
  const response = await fetch(url, { headers: authorized() });
  if (!response.ok) throw new ApiError(response.status, `http_${response.status}`, `${url}: HTTP ${response.status}`);
  return URL.createObjectURL(await response.blob());
}

async function request(method, path, params, body, signal) {
  const init = { method, headers: authorized({ Accept: "application/json" }), signal };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(`${BASE}${path}${qs(params || {})}`, init);
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = (data && data.error) || {};
    throw new ApiError(
      response.status,
      error.code || `http_${response.status}`,
      error.message || `${method} ${path} failed: HTTP ${response.status}`,
      error.details,
    );
  }
  return data;
}

export const get = (path, params, signal) => request("GET", path, params, undefined, signal);
export const post = (path, body, signal) => request("POST", path, undefined, body, signal);
export const put = (path, body) => request("PUT", path, undefined, body);
export const patch = (path, body) => request("PATCH", path, undefined, body);
export const del = (path, params) => request("DELETE", path, params);

const enc = encodeURIComponent;

export const api = {
  experiments: () => get("/experiments"),
  experimentSummaries: () => get("/experiment-summaries"),
  experiment: (id) => get(`/experiments/${enc(id)}`),
  run: (id, signal) => get(`/runs/${enc(id)}`, null, signal),
  searchPage: (body, signal) => post("/runs/search-page", body, signal),
  metricSummary: (id, signal) => get(`/runs/${enc(id)}/metric-summary`, null, signal),
  /** Downsampled series: one entry per (run, key) pair asked for. */
  metricSeries: ({ runIds, keys, width, minStep, maxStep }, signal) =>
    get("/metric-series", { run_id: runIds, key: keys, width, min_step: minStep, max_step: maxStep }, signal),
  artifacts: (id, path) => get(`/runs/${enc(id)}/artifacts`, { path }),
  artifactPreview: (id, path) => get(`/runs/${enc(id)}/artifact-preview`, { path }),
  artifactHashes: (id, prefix) => get(`/runs/${enc(id)}/artifact-hashes`, { prefix }),
  loggedModels: (id) => get(`/runs/${enc(id)}/logged-models`),
  /** Where a file of the run downloads from (served as an attachment, never rendered). */
  artifactUrl: (id, path) => `${BASE}/runs/${enc(id)}/artifacts/${path.split("/").map(enc).join("/")}`,
  registeredModels: () => get("/registered-models"),
  modelVersions: (name) => get("/registered-models/versions", { name }),

  // ----------------------------------------------------------- changes: the client's routes
  // Each is the route the Python client uses, under the same rules and token scopes (a
  // delete or a restore needs an admin token where the server asks for tokens).
  renameRun: (id, name) => patch(`/runs/${enc(id)}`, { run_name: name }),
  /** Set tags of a run: one batch, as the client's set_tags sends. */
  setRunTags: (id, tags) => post(`/runs/${enc(id)}/batch`, { tags: Object.entries(tags).map(([key, value]) => ({ key, value })) }),
  /** Remove a tag of a run (an admin's request where the server asks for tokens). */
  deleteRunTag: (id, key) => del(`/runs/${enc(id)}/tags`, { key }),
  deleteRun: (id) => del(`/runs/${enc(id)}`),
  restoreRun: (id) => post(`/runs/${enc(id)}/restore`),
  registerModel: (name, source, runId) => post("/model-versions", { name, source, run_id: runId || null }),
  setAlias: (name, alias, version) => put("/model-aliases", { name, alias, version }),
  deleteAlias: (name, alias) => del("/model-aliases", { name, alias }),
  deleteVersion: (name, version) => del("/model-versions", { name, version }),
  deleteModel: (name) => del("/registered-models", { name }),
  updateModel: (name, changes) => patch("/registered-models", { name, ...changes }),
  updateVersion: (name, version, description) => patch("/model-versions", { name, version, description }),
  setModelTag: (name, key, value) => put("/registered-model-tags", { name, key, value }),
  deleteModelTag: (name, key) => del("/registered-model-tags", { name, key }),
  setVersionTag: (name, version, key, value) => put("/model-version-tags", { name, version, key, value }),
  deleteVersionTag: (name, version, key) => del("/model-version-tags", { name, version, key }),
};

