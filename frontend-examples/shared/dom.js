// DOM helpers shared by the pages. Server text only ever reaches the page as text nodes
// (textContent / createTextNode), never through innerHTML, so a document containing markup
// cannot inject any.

/** Creates an element: el("li", { class: "x", dataset: { testid: "y" } }, "text", child…). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value == null || value === false) continue;
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  node.append(...children.flat().filter((c) => c != null && c !== false));
  return node;
}

/**
 * Returns a fragment of `text` with the server's highlight spans wrapped in <mark>. Spans count
 * characters (Unicode code points), as the API's startChar/endChar do, not UTF-16 units.
 */
export function markSpans(text, spans) {
  const fragment = document.createDocumentFragment();
  const chars = Array.from(text);
  let last = 0;
  for (const { startChar, endChar } of [...spans].sort((a, b) => a.startChar - b.startChar)) {
    if (startChar < last || endChar > chars.length) continue;
    fragment.append(chars.slice(last, startChar).join(""), el("mark", {}, chars.slice(startChar, endChar).join("")));
    last = endChar;
  }
  fragment.append(chars.slice(last).join(""));
  return fragment;
}

/** "a, b ,c" → ["a", "b", "c"]; empty → null (no filter). */
export function parseList(value) {
  const items = value.split(",").map((s) => s.trim()).filter(Boolean);
  return items.length ? items : null;
}

export function formatMs(ms) {
  if (ms == null || Number.isNaN(ms)) return "–";
  if (ms === 0) return "0\u00a0ms";
  if (ms < 1) return `${ms.toFixed(2)}\u00a0ms`;
  if (ms < 100) return `${ms.toFixed(1)}\u00a0ms`;
  return `${Math.round(ms)}\u00a0ms`;
}

export function formatBytes(bytes) {
  if (bytes == null) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 || value >= 100 ? 0 : 1)}\u00a0${units[unit]}`;
}

export function formatPercent(ratio) {
  if (ratio == null || Number.isNaN(ratio)) return "–";
  if (ratio > 0 && ratio < 0.001) return "<0.1\u00a0%";
  return `${(ratio * 100).toFixed(ratio === 1 || ratio === 0 ? 0 : 1)}\u00a0%`;
}

export function formatCount(n) {
  return n == null ? "–" : n.toLocaleString("en");
}
