// DOM helpers. Every string reaches the page as a text node or an attribute value set through
// the DOM API: nothing here (or anywhere in the UI) assigns HTML, so a run named
// "<img src=x onerror=alert(1)>" is shown as those characters and never parsed.

const SVG_NS = "http://www.w3.org/2000/svg";

function apply(el, props) {
  for (const [name, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") el.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : value);
    else if (name === "text") el.textContent = String(value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (name === "value" && "value" in el) el.value = value;
    else if (name === "checked" || name === "disabled" || name === "selected") el[name] = Boolean(value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** An element: h("a", {href: "/x", class: "link"}, "text", otherNode). */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  apply(el, props);
  return append(el, children);
}

/** An SVG element, as h() for HTML. */
export function svg(tag, props, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  apply(el, props);
  return append(el, children);
}

/** Replace an element's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** A link inside the app: navigates without reloading the page. */
export function link(href, ...children) {
  return h("a", { href, "data-link": "" }, ...children);
}

export function qs(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === "") continue;
    if (Array.isArray(value)) value.forEach((v) => search.append(key, v));
    else search.append(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

export const paths = {
  experiments: () => "/",
  experiment: (id) => `/experiments/${encodeURIComponent(id)}`,
  run: (id) => `/runs/${encodeURIComponent(id)}`,
  compare: (ids) => `/compare${qs({ runs: ids.join(",") })}`,
  models: () => "/models",
  model: (name) => `/models/${encodeURIComponent(name)}`,
};

// ------------------------------------------------------------------------------ formatting

const pad = (n, width = 2) => String(n).padStart(width, "0");

/** "2024-05-01 13:04:05" in local time. */
export function formatTime(ms) {
  if (ms === null || ms === undefined) return "";
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** "3 min ago", "2 days ago". */
export function formatAgo(ms, now = Date.now()) {
  if (ms === null || ms === undefined) return "";
  const s = Math.round((now - ms) / 1000);
  if (s < 5) return "just now";
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}

/** "1h 02m", "3m 05s", "850 ms". */
export function formatDuration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "";
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${(ms / 1000).toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${pad(s % 60)}s`;
  const hrs = Math.floor(m / 60);
  if (hrs < 48) return `${hrs}h ${pad(m % 60)}m`;
  return `${Math.floor(hrs / 24)}d ${hrs % 24}h`;
}

/** A metric value from the wire: numbers, or "NaN" / "Infinity" / "-Infinity". */
export function toNumber(value) {
  if (typeof value === "number") return value;
  if (value === "NaN") return NaN;
  if (value === "Infinity") return Infinity;
  if (value === "-Infinity") return -Infinity;
  if (value === null || value === undefined) return null;
  return Number(value);
}

/** A number for people: up to 6 significant digits, exponent form when very large or small. */
export function formatNumber(value) {
  const v = toNumber(value);
  if (v === null || v === undefined) return "";
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "∞" : "-∞";
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-4 || a >= 1e9)) return v.toExponential(4);
  return String(Number(v.toPrecision(6)));
}

export function plural(n, word, many = `${word}s`) {
  return `${n.toLocaleString()} ${n === 1 ? word : many}`;
}

/** A status badge: RUNNING, FINISHED, FAILED, KILLED. */
export function statusBadge(status) {
  return h("span", { class: `status status-${String(status).toLowerCase()}`, title: status }, status);
}

/** Copy text to the clipboard, with a fallback where the API is not available. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}

/** Run fn at most once per `ms`, the last call winning. */
export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
