// A small subset of Markdown for descriptions, built as DOM nodes: headings, paragraphs,
// lists, quotes, fenced code, inline code, bold, italic and links. Every character a user
// wrote reaches the page as a text node; no HTML is ever parsed, so "<script>" in a
// description is shown as those characters. Links keep only http(s) and mailto addresses.

import { h } from "./dom.js";

const SAFE_LINK = /^(https?:\/\/|mailto:)/i;
// `code`, **bold**, *italic* or _italic_, [text](url): the earliest match wins
const INLINE = /`([^`]+)`|\*\*(.+?)\*\*|\*([^*\s][^*]*?)\*|\b_([^_]+?)_\b|\[([^\]]+)\]\(([^)\s]+)\)/;

/** Inline markup of one line as nodes. */
export function inline(text) {
  const out = [];
  let rest = text;
  while (rest) {
    const m = rest.match(INLINE);
    if (!m) {
      out.push(rest);
      break;
    }
    if (m.index) out.push(rest.slice(0, m.index));
    if (m[1] !== undefined) out.push(h("code", { text: m[1] }));
    else if (m[2] !== undefined) out.push(h("strong", {}, inline(m[2])));
    else if (m[3] !== undefined) out.push(h("em", {}, inline(m[3])));
    else if (m[4] !== undefined) out.push(h("em", {}, inline(m[4])));
    else if (SAFE_LINK.test(m[6])) out.push(h("a", { href: m[6], rel: "noopener noreferrer nofollow", target: "_blank" }, inline(m[5])));
    else out.push(m[0]); // any other scheme (javascript:, data:) stays text
    rest = rest.slice(m.index + m[0].length);
  }
  return out;
}

const BLOCK_START = /^(#{1,6}\s|```|>\s?|[-*+]\s|\d+[.)]\s)/;

/** The nodes of a Markdown text (the subset above), in a <div class="markdown">. */
export function markdown(text) {
  const lines = String(text).replace(/\r\n?/g, "\n").split("\n");
  const blocks = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) {
      i++;
    } else if (line.startsWith("```")) {
      const code = [];
      for (i++; i < lines.length && !lines[i].startsWith("```"); i++) code.push(lines[i]);
      i++;
      blocks.push(h("pre", {}, h("code", { text: code.join("\n") })));
    } else if (/^#{1,6}\s/.test(line)) {
      const level = Math.min(line.match(/^#+/)[0].length + 2, 6); // under the page's own h2
      blocks.push(h(`h${level}`, {}, inline(line.replace(/^#+\s+/, ""))));
      i++;
    } else if (/^>\s?/.test(line)) {
      const quoted = [];
      for (; i < lines.length && /^>\s?/.test(lines[i]); i++) quoted.push(lines[i].replace(/^>\s?/, ""));
      blocks.push(h("blockquote", {}, [...markdown(quoted.join("\n")).childNodes]));
    } else if (/^([-*+]|\d+[.)])\s/.test(line)) {
      const ordered = /^\d/.test(line);
      const marker = ordered ? /^\d+[.)]\s+/ : /^[-*+]\s+/;
      const items = [];
      for (; i < lines.length && marker.test(lines[i]); i++) items.push(h("li", {}, inline(lines[i].replace(marker, ""))));
      blocks.push(h(ordered ? "ol" : "ul", {}, items));
    } else {
      const para = [];
      for (; i < lines.length && lines[i].trim() && !BLOCK_START.test(lines[i]); i++) para.push(lines[i]);
      blocks.push(h("p", {}, para.map((l, n) => [n ? h("br") : "", inline(l)])));
    }
  }
  return h("div", { class: "markdown" }, blocks);
}
