// The controls every chart of a page shares: x axis, log scale, smoothing (kept between visits).

import { X_MODES } from "./chart.js";
import { h } from "./dom.js";

const STORE = "autolog.chart-controls";

function load() {
  try {
    const saved = JSON.parse(localStorage.getItem(STORE) || "{}");
    return {
      xMode: saved.xMode in X_MODES ? saved.xMode : "step",
      log: saved.log === true,
      smoothing: typeof saved.smoothing === "number" && saved.smoothing >= 0 && saved.smoothing < 1 ? saved.smoothing : 0,
    };
  } catch {
    return { xMode: "step", log: false, smoothing: 0 };
  }
}

/** Controls acting on the charts `charts()` returns; `.element` goes in the page. */
export function chartControls(charts) {
  const settings = load();
  const save = () => localStorage.setItem(STORE, JSON.stringify(settings));
  const xSelect = h("select", { "aria-label": "X axis" },
    Object.entries(X_MODES).map(([value, label]) => h("option", { value, selected: value === settings.xMode, text: label })));
  const logBox = h("input", { type: "checkbox", checked: settings.log });
  const slider = h("input", { type: "range", min: "0", max: "0.99", step: "0.01", value: String(settings.smoothing),
    "aria-label": "Smoothing" });
  const sliderValue = h("output", { text: settings.smoothing.toFixed(2) });
  xSelect.addEventListener("change", () => {
    settings.xMode = xSelect.value;
    save();
    for (const chart of charts()) chart.setXMode(settings.xMode);
  });
  logBox.addEventListener("change", () => {
    settings.log = logBox.checked;
    save();
    for (const chart of charts()) chart.setLog(settings.log);
  });
  slider.addEventListener("input", () => {
    settings.smoothing = Number(slider.value);
    sliderValue.textContent = settings.smoothing.toFixed(2);
    save();
    for (const chart of charts()) chart.setSmoothing(settings.smoothing);
  });
  const element = h("div", { class: "chart-controls" },
    h("label", {}, "X axis ", xSelect),
    h("label", { class: "check" }, logBox, " Log scale"),
    h("label", { class: "smoothing" }, "Smoothing ", slider, sliderValue));
  return {
    element,
    get xMode() { return settings.xMode; },
    get log() { return settings.log; },
    get smoothing() { return settings.smoothing; },
  };
}
