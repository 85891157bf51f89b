// The single-page app: a router over the pages, each a module exporting `render(main, route)`
// that returns a cleanup function (timers, observers) run when the page is left.

import { h, replace } from "./dom.js";
import { ApiError, setToken, token } from "./api.js";

const ROUTES = [
  [/^\/$/, "experiments", () => ({})],
  [/^\/experiments\/([^/]+)$/, "runs", (m) => ({ experimentId: decodeURIComponent(m[1]) })],
  [/^\/runs\/([^/]+)$/, "run", (m) => ({ runId: decodeURIComponent(m[1]) })],
  [/^\/compare$/, "compare", () => ({})],
  [/^\/models$/, "models", () => ({})],
  [/^\/models\/(.+)$/, "model", (m) => ({ name: decodeURIComponent(m[1]) })],
];

const main = document.getElementById("main");
let cleanup = null;
let generation = 0;

function match(pathname) {
  for (const [pattern, page, params] of ROUTES) {
    const m = pathname.match(pattern);
    if (m) return { page, params: params(m) };
  }
  return null;
}

function markNav(page) {
  for (const a of document.querySelectorAll("header nav a")) {
    const current = a.dataset.page === page || (a.dataset.page === "experiments" && ["runs", "run", "compare"].includes(page))
      || (a.dataset.page === "models" && page === "model");
    if (current) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

/** The form asking for an access token, shown when the server answers 401. */
function tokenForm(target, error) {
  const input = h("input", { type: "password", id: "token-input", autocomplete: "off", spellcheck: "false",
    placeholder: "autolog_…", "aria-describedby": "token-help" });
  const remember = h("input", { type: "checkbox", id: "token-remember" });
  const form = h("form", { class: "card token-form" },
    h("h1", {}, "This server needs an access token"),
    h("p", { id: "token-help", class: "muted" },
      token() ? "The token given was refused: " + error.message : "Its operator creates one with ",
      token() ? "" : h("code", { text: "autolog server token create NAME --scope read" }), token() ? "" : "."),
    h("label", { for: "token-input" }, "Token"), input,
    h("label", { class: "check" }, remember, " Remember it in this browser"),
    h("div", {}, h("button", { type: "submit", class: "primary", text: "Continue" })));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    setToken(input.value.trim(), remember.checked);
    tokenLabel();
    render();
  });
  replace(target, form);
  input.focus();
}

/**
 * The header's access-token control: a token can be given (or forgotten) at any time, not
 * only when a read is refused, since a server may let anyone read and ask a token for changes.
 * It is kept for the tab (sessionStorage), or in this browser when asked, and sent as
 * "Authorization: Bearer" with every request of the API.
 */
function tokenControl(slot) {
  const button = h("button", { type: "button", class: "small ghost token-button", "aria-haspopup": "true", "aria-expanded": "false",
    "aria-controls": "token-popover" });
  const panel = h("form", { id: "token-popover", class: "popover token-popover", hidden: true });
  const label = () => { button.textContent = token() ? "Token set" : "Access token"; };
  const close = () => {
    panel.hidden = true;
    button.setAttribute("aria-expanded", "false");
  };
  const open = () => {
    const input = h("input", { type: "password", id: "token-popover-input", autocomplete: "off", spellcheck: "false", placeholder: "autolog_…" });
    const remember = h("input", { type: "checkbox", checked: Boolean(localStorage.getItem("autolog.token")) });
    const forget = h("button", { type: "button", class: "small", text: "Forget it", disabled: !token() });
    forget.addEventListener("click", () => {
      setToken("", false);
      label();
      close();
      render();
    });
    replace(panel,
      h("label", { for: "token-popover-input" }, token() ? "Replace the access token" : "Access token (a write token to change things)"),
      input, h("label", { class: "check" }, remember, " Remember it in this browser"),
      h("div", { class: "edit-buttons" }, h("button", { type: "submit", class: "primary small", text: "Use it" }), forget));
    panel.onsubmit = (event) => {
      event.preventDefault();
      if (!input.value.trim()) return;
      setToken(input.value.trim(), remember.checked);
      label();
      close();
      render();
    };
    panel.hidden = false;
    button.setAttribute("aria-expanded", "true");
    input.focus();
  };
  button.addEventListener("click", () => (panel.hidden ? open() : close()));
  document.addEventListener("click", (event) => {
    if (!panel.hidden && !slot.contains(event.target)) close();
  });
  panel.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      close();
      button.focus();
    }
  });
  label();
  replace(slot, button, panel);
  return label;
}

export function showError(target, error) {
  if (error instanceof ApiError && error.status === 401) {
    tokenForm(target, error);
    return;
  }
  const message = error instanceof ApiError ? error.message : String(error && error.message ? error.message : error);
  replace(target, h("div", { class: "error-box", role: "alert" },
    h("strong", { text: error instanceof ApiError && error.status === 404 ? "Not found" : "Something went wrong" }),
    h("p", { text: message })));
}

async function render() {
  const mine = ++generation;
  if (cleanup) {
    try {
      cleanup();
    } catch (error) {
      console.warn(error);
    }
    cleanup = null;
  }
  const route = match(location.pathname);
  markNav(route ? route.page : null);
  if (!route) {
    document.title = "Not found · autolog";
    replace(main, h("div", { class: "error-box", role: "alert" }, h("strong", { text: "No such page" }),
      h("p", {}, h("a", { href: "/", "data-link": "" }, "Back to the experiments"))));
    return;
  }
  replace(main, h("div", { class: "loading", text: "Loading…" }));
  const params = { ...route.params, query: new URLSearchParams(location.search) };
  try {
    const module = await import(`./pages/${route.page}.js`);
    if (mine !== generation) return;
    const result = await module.render(main, params);
    if (mine !== generation) {
      if (typeof result === "function") result();
      return;
    }
    cleanup = typeof result === "function" ? result : null;
  } catch (error) {
    if (mine !== generation) return;
    if (error && error.name === "AbortError") return;
    showError(main, error);
  }
}

/** Go to an address of the app without reloading the page. */
export function navigate(href, { replaceState = false } = {}) {
  if (replaceState) history.replaceState(null, "", href);
  else history.pushState(null, "", href);
  window.scrollTo(0, 0);
  render();
}

document.addEventListener("click", (event) => {
  const a = event.target.closest("a[data-link]");
  if (!a || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin) return;
  event.preventDefault();
  navigate(url.pathname + url.search + url.hash);
});

window.addEventListener("popstate", render);
const tokenLabel = tokenControl(document.getElementById("token-slot"));
render();
