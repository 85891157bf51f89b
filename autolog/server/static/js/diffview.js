// A `git diff` shown file by file: each file a collapsible block whose lines are built only
// when it is opened, a bounded number at a time ("Show more"), so a run with a 5 MB diff
// opens as fast as any other. Every line reaches the page as text nodes in spans: a diff that
// adds "<script>" shows those characters. The colouring (added, removed, hunk headers, and a
// few token kinds of common languages) is a small highlighter of our own, no library.

import { h, plural } from "./dom.js";

/** Lines of a file built at once, and per "Show more". */
export const LINES_STEP = 400;
/** Files listed at once, and per "Show more files". */
export const FILES_STEP = 100;
/** Lines opened without asking: the first files open while they fit in this many. */
const OPEN_BUDGET = 600;

/** The path in `diff --git a/P b/P` when both sides name the same file (a rename's header
 * lines name them instead). */
function pathOfHeader(line) {
  const rest = line.slice("diff --git ".length);
  const half = (rest.length - 1) / 2;
  if (Number.isInteger(half) && rest.startsWith("a/") && rest.slice(half + 1).startsWith("b/")
    && rest.slice(2, half) === rest.slice(half + 3)) return rest.slice(2, half);
  const b = rest.lastIndexOf(" b/");
  return b > 0 ? rest.slice(b + 3) : rest;
}

const unquote = (path) => (path.startsWith('"') && path.endsWith('"') ? path.slice(1, -1) : path);
const sidePath = (line) => {
  const path = unquote(line.slice(4).replace(/\t.*$/, ""));
  return path === "/dev/null" ? null : path.replace(/^[ab]\//, "");
};

/**
 * The files of a patch, each with the range of its lines in `lines` (never copied), its path,
 * what happened to it, and its counts of added and removed lines.
 */
export function splitPatch(text) {
  const lines = text.split("\n");
  if (lines.length && lines[lines.length - 1] === "") lines.pop();
  const files = [];
  let file = null;
  let inHunk = false;
  lines.forEach((line, i) => {
    if (line.startsWith("diff --git ")) {
      if (file) file.end = i;
      file = { path: pathOfHeader(line), oldPath: null, status: "modified", binary: false, start: i, end: lines.length, adds: 0, dels: 0 };
      files.push(file);
      inHunk = false;
      return;
    }
    if (!file) {
      // text before the first header (not git's output): one block of its own
      file = { path: "(patch)", oldPath: null, status: "modified", binary: false, start: i, end: lines.length, adds: 0, dels: 0 };
      files.push(file);
    }
    if (line.startsWith("@@")) inHunk = true;
    else if (inHunk && line.startsWith("+")) file.adds += 1;
    else if (inHunk && line.startsWith("-")) file.dels += 1;
    else if (!inHunk) {
      if (line.startsWith("new file mode")) file.status = "added";
      else if (line.startsWith("deleted file mode")) file.status = "deleted";
      else if (line.startsWith("rename from ")) { file.status = "renamed"; file.oldPath = line.slice(12); }
      else if (line.startsWith("rename to ")) file.path = line.slice(10);
      else if (line.startsWith("GIT binary patch") || line.startsWith("Binary files ")) file.binary = true;
      else if (line.startsWith("+++ ") && sidePath(line)) file.path = sidePath(line);
      else if (line.startsWith("--- ") && sidePath(line) && file.status !== "added") file.oldPath = file.oldPath || sidePath(line);
    }
  });
  return { lines, files };
}

// ------------------------------------------------------------------------------ highlighting

const KEYWORDS = {
  py: "and as assert async await break class continue def del elif else except False finally for from global if import in is lambda None nonlocal not or pass raise return True try while with yield self match case",
  js: "async await break case catch class const continue default delete do else export extends false finally for function if import in instanceof let new null return static super switch this throw true try typeof undefined var void while yield of",
  sh: "if then else elif fi for while do done case esac function in export local return set unset echo",
};
KEYWORDS.ts = KEYWORDS.js;
const LANGS = { py: "py", pyi: "py", js: "js", mjs: "js", ts: "ts", jsx: "js", tsx: "ts", sh: "sh", bash: "sh" };
const KEYWORD_SETS = Object.fromEntries(Object.entries(KEYWORDS).map(([k, v]) => [k, new Set(v.split(" "))]));

/** The language of a path, for the token colours (null: plain text). */
export function languageOf(path) {
  const dot = path.lastIndexOf(".");
  return dot < 0 ? null : LANGS[path.slice(dot + 1).toLowerCase()] || null;
}

// strings, comments, numbers, words; the first alternative that matches at a place wins
const TOKEN = /("(?:[^"\\]|\\.)*"?|'(?:[^'\\]|\\.)*'?|`(?:[^`\\]|\\.)*`?)|(#.*|\/\/.*)|(\b\d[\d_]*(?:\.\d+)?(?:[eE][+-]?\d+)?\b)|([A-Za-z_]\w*)/g;

/** A line of code as text nodes and spans of token kinds. */
export function highlight(code, lang) {
  const words = lang ? KEYWORD_SETS[lang] : null;
  if (!words || code.length > 2000) return [code];
  const out = [];
  let last = 0;
  for (const m of code.matchAll(TOKEN)) {
    let kind = null;
    if (m[1] !== undefined) kind = m[1][0] === "`" && lang === "py" ? null : "str";
    else if (m[2] !== undefined) kind = (m[2][0] === "#") === (lang === "py" || lang === "sh") ? "com" : null;
    else if (m[3] !== undefined) kind = "num";
    else if (words.has(m[4])) kind = "kw";
    if (!kind) continue;
    if (m.index > last) out.push(code.slice(last, m.index));
    out.push(h("span", { class: `tok-${kind}`, text: m[0] }));
    last = m.index + m[0].length;
    if (kind === "com") break;
  }
  if (last < code.length) out.push(code.slice(last));
  return out;
}

// -------------------------------------------------------------------------------- rendering

/** Header lines the file's summary already says: `diff --git`, `--- a/...`, `+++ b/...`. */
const SAID = /^(diff --git |--- |\+\+\+ )/;

/** Rows for lines [from, to) of a file, numbering old and new lines from the hunk headers;
 * `numbers` carries the counters from one batch to the next. */
function rows(lines, from, to, lang, numbers) {
  const out = [];
  for (let i = from; i < to; i++) {
    const line = lines[i];
    if (!numbers.inHunk && SAID.test(line)) continue;
    let kind = "meta";
    let oldNo = "";
    let newNo = "";
    if (line.startsWith("@@")) {
      kind = "hunk";
      const m = line.match(/^@@+ -(\d+)(?:,\d+)? \+(\d+)/);
      if (m) {
        numbers.old = Number(m[1]);
        numbers.new = Number(m[2]);
        numbers.inHunk = true;
      }
    } else if (numbers.inHunk && line.startsWith("+")) {
      kind = "add";
      newNo = numbers.new++;
    } else if (numbers.inHunk && line.startsWith("-")) {
      kind = "del";
      oldNo = numbers.old++;
    } else if (numbers.inHunk && line.startsWith("\\")) {
      kind = "note";
    } else if (numbers.inHunk && (line.startsWith(" ") || line === "")) {
      kind = "ctx";
      oldNo = numbers.old++;
      newNo = numbers.new++;
    }
    const code = ["add", "del", "ctx"].includes(kind) ? [h("span", { class: "dl-sign", text: line[0] || " " }), highlight(line.slice(1), lang)] : [line];
    out.push(h("tr", { class: `dl dl-${kind}` },
      h("td", { class: "ln", text: String(oldNo) }), h("td", { class: "ln", text: String(newNo) }),
      h("td", { class: "dl-code" }, code)));
  }
  return out;
}

/** The lines of one file, LINES_STEP at a time. */
function fileBody(lines, file) {
  if (file.binary) {
    return h("p", { class: "muted diff-note", text: "A binary file: its change is in the patch, not shown here." });
  }
  const lang = languageOf(file.path);
  const numbers = { old: 0, new: 0, inHunk: false };
  const body = h("tbody");
  const more = h("button", { type: "button", class: "small diff-more" });
  let shown = file.start;
  const step = () => {
    const to = Math.min(file.end, shown + LINES_STEP);
    body.append(...rows(lines, shown, to, lang, numbers));
    shown = to;
    const left = file.end - shown;
    more.hidden = left <= 0;
    more.textContent = `Show ${Math.min(left, LINES_STEP).toLocaleString()} more lines (${left.toLocaleString()} left)`;
  };
  more.addEventListener("click", step);
  step();
  return h("div", { class: "diff-body" }, h("table", { class: "diff-lines" }, body), more);
}

const STATUS_TEXT = { added: "new file", deleted: "deleted", renamed: "renamed", modified: "" };

/** One file's collapsible block; its lines are built the first time it opens. */
function fileBlock(lines, file, open) {
  const block = h("details", { class: "diff-file", dataset: { path: file.path } },
    h("summary", {},
      h("code", { class: "diff-path", text: file.path }),
      file.oldPath && file.oldPath !== file.path ? h("span", { class: "muted", text: ` from ${file.oldPath}` }) : "",
      STATUS_TEXT[file.status] ? h("span", { class: `badge diff-status-${file.status}`, text: STATUS_TEXT[file.status] }) : "",
      file.binary ? h("span", { class: "badge", text: "binary" }) : "",
      h("span", { class: "diff-count" }, h("span", { class: "diff-adds", text: `+${file.adds}` }), " ",
        h("span", { class: "diff-dels", text: `−${file.dels}` }))));
  let built = false;
  block.addEventListener("toggle", () => {
    if (block.open && !built) {
      built = true;
      block.append(fileBody(lines, file));
    }
  });
  block.open = open;
  return block;
}

/** The whole diff: a summary line, then the files, FILES_STEP at a time. */
export function diffView(text) {
  const { lines, files } = splitPatch(text);
  if (!files.length) return h("p", { class: "muted", text: "The diff is empty." });
  const adds = files.reduce((n, f) => n + f.adds, 0);
  const dels = files.reduce((n, f) => n + f.dels, 0);
  const list = h("div", { class: "diff-files" });
  const more = h("button", { type: "button", class: "small diff-more-files" });
  let budget = OPEN_BUDGET;
  let shown = 0;
  const step = () => {
    const to = Math.min(files.length, shown + FILES_STEP);
    for (const file of files.slice(shown, to)) {
      const size = file.end - file.start;
      const open = !file.binary && size <= budget;
      if (open) budget -= size;
      else budget = 0; // keep the opened files the first ones
      list.append(fileBlock(lines, file, open));
    }
    shown = to;
    more.hidden = shown >= files.length;
    more.textContent = `Show more files (${(files.length - shown).toLocaleString()} left)`;
  };
  more.addEventListener("click", step);
  step();
  return h("div", { class: "diff-view" },
    h("p", { class: "diff-summary" }, plural(files.length, "file"), " changed, ",
      h("span", { class: "diff-adds", text: `+${adds.toLocaleString()}` }), " ",
      h("span", { class: "diff-dels", text: `−${dels.toLocaleString()}` })),
    list, more);
}

