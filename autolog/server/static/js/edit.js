// The pieces of the pages that change things: each sends one request of the REST API (the
// Python client's routes, under the same rules and token scopes) and, when the server refuses,
// shows the server's own message beside the control, e.g. "the token 'ci' has the read scope;
// this request needs write". Nothing here asks with window.confirm: a delete is confirmed in
// the page, so a page never opens a dialog.

import { h, replace } from "./dom.js";

/** A line for a refusal: hidden until `show(error)`; `clear()` hides it again. */
export function errorLine() {
  const el = h("p", { class: "action-error", role: "alert", hidden: true });
  el.show = (error) => {
    el.textContent = error && error.message ? error.message : String(error);
    el.hidden = false;
  };
  el.clear = () => {
    el.textContent = "";
    el.hidden = true;
  };
  return el;
}

/**
 * Run `fn` for a control: the buttons are disabled meanwhile, and a refusal goes to `error`.
 * Resolves to whether `fn` succeeded.
 */
export async function act(buttons, error, fn) {
  const list = Array.isArray(buttons) ? buttons : [buttons];
  list.forEach((b) => { b.disabled = true; });
  error.clear();
  try {
    await fn();
    return true;
  } catch (caught) {
    error.show(caught);
    return false;
  } finally {
    list.forEach((b) => { b.disabled = false; });
  }
}

/**
 * A form of labelled fields with Save and Cancel: `fields` are {name, label, value, multiline,
 * placeholder}; `onSave(values)` sends the change (a refusal stays shown in the form),
 * `onDone()` runs after a cancel, and after a save that left the form in the page.
 */
export function editForm({ fields, saveLabel = "Save", onSave, onDone, className = "" }) {
  const inputs = {};
  const error = errorLine();
  const save = h("button", { type: "submit", class: "primary small", text: saveLabel });
  const cancel = h("button", { type: "button", class: "small", text: "Cancel" });
  const form = h("form", { class: ["edit-form", className] },
    fields.map((f) => {
      const props = { name: f.name, "aria-label": f.label, placeholder: f.placeholder || "", autocomplete: "off", spellcheck: "false" };
      const input = f.multiline ? h("textarea", { ...props, rows: String(f.rows || 6) }) : h("input", { ...props, type: "text" });
      input.value = f.value ?? "";
      inputs[f.name] = input;
      return f.multiline ? input : h("label", { class: "field" }, h("span", { class: "muted", text: f.label }), input);
    }),
    h("div", { class: "edit-buttons" }, save, cancel),
    error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = Object.fromEntries(Object.entries(inputs).map(([k, el]) => [k, el.value]));
    // a save that redrew the page (with what the server now holds) has replaced the form
    if ((await act([save, cancel], error, () => onSave(values))) && form.isConnected) onDone();
  });
  cancel.addEventListener("click", () => onDone());
  form.addEventListener("keydown", (event) => {
    if (event.key === "Escape") onDone();
  });
  form.focusFirst = () => Object.values(inputs)[0]?.focus();
  return form;
}

/**
 * A button that asks before it acts, in the page: a click shows `question` with a confirming
 * button (`confirmLabel`) and Cancel; the confirmation runs `onConfirm`.
 */
export function confirmButton({ label, question, confirmLabel = label, onConfirm, danger = true, small = true }) {
  const holder = h("span", { class: "confirm" });
  const error = errorLine();
  const start = h("button", { type: "button", class: [small ? "small" : "", danger ? "danger" : ""], text: label });
  const ask = () => {
    const yes = h("button", { type: "button", class: ["small", danger ? "danger solid" : "primary"], text: confirmLabel });
    const no = h("button", { type: "button", class: "small", text: "Cancel" });
    yes.addEventListener("click", async () => {
      if (await act([yes, no], error, onConfirm)) replace(holder, start);
    });
    no.addEventListener("click", () => {
      error.clear();
      replace(holder, start);
      start.focus();
    });
    replace(holder, h("span", { class: "confirm-question", role: "group", "aria-label": question }, question, " ", yes, no), error);
    yes.focus();
  };
  start.addEventListener("click", ask);
  replace(holder, start);
  return holder;
}

/**
 * An editable table of tags: each row's value can be edited (and the tag deleted, where
 * `onDelete` is given); a form below adds one. `onSet(key, value)` and `onDelete(key)` send
 * the change; the caller redraws with what the server then holds.
 */
export function tagEditor({ tags, onSet, onDelete, label = "tag", className = "" }) {
  const body = h("tbody");
  const error = errorLine();
  const entries = Object.entries(tags).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [key, value] of entries) {
    const valueCell = h("td", { class: "value" }, h("span", { class: "pre", text: value }));
    const edit = h("button", { type: "button", class: "small ghost", text: "Edit", "aria-label": `Edit ${label} ${key}` });
    const buttons = h("td", { class: "row-actions" }, edit);
    edit.addEventListener("click", () => {
      const form = editForm({
        fields: [{ name: "value", label: `Value of ${key}`, value }],
        onSave: ({ value: changed }) => onSet(key, changed),
        onDone: () => replace(valueCell, h("span", { class: "pre", text: value })),
      });
      replace(valueCell, form);
      form.focusFirst();
    });
    if (onDelete) {
      const remove = h("button", { type: "button", class: "small ghost danger", text: "Delete", "aria-label": `Delete ${label} ${key}` });
      remove.addEventListener("click", () => act(remove, error, () => onDelete(key)));
      buttons.append(remove);
    }
    body.append(h("tr", { dataset: { key } }, h("th", { scope: "row", class: "key", text: key }), valueCell, buttons));
  }
  if (!entries.length) body.append(h("tr", {}, h("td", { colspan: "3", class: "empty", text: `No ${label}s.` })));
  const keyInput = h("input", { type: "text", name: "key", placeholder: "key", "aria-label": `New ${label} key`, autocomplete: "off" });
  const valueInput = h("input", { type: "text", name: "value", placeholder: "value", "aria-label": `New ${label} value`, autocomplete: "off" });
  const add = h("button", { type: "submit", class: "small", text: `Add ${label}` });
  const form = h("form", { class: "tag-add" }, keyInput, valueInput, add);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = keyInput.value.trim();
    if (!key) {
      error.show(new Error(`A ${label} needs a key.`));
      return;
    }
    await act(add, error, () => onSet(key, valueInput.value));
  });
  return h("div", { class: ["tag-editor", className] },
    h("table", { class: "grid kv-table editable" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col", text: "Key" }), h("th", { scope: "col", text: "Value" }),
        h("th", { scope: "col" }, h("span", { class: "sr-only", text: "Actions" })))), body),
    form, error);
}
