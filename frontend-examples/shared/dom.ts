// DOM helpers shared by the pages. Server text only ever reaches the page as text nodes
// (textContent / createTextNode), never through innerHTML, so a document containing markup
// cannot inject any.

/** An attribute's value: null, undefined and false leave it out, true sets it empty. */
type AttrValue = string | number | boolean | null | undefined;

/**
 * `el`'s attributes: `class`, `dataset` (data-* by camelCase name), `on<event>` listeners, and
 * any other attribute by its name.
 */
export interface Attrs {
  class?: string | null;
  dataset?: Record<string, string | undefined>;
  [name: string]: AttrValue | Record<string, string | undefined> | EventListener;
}

/** What `el` accepts as children: nodes and strings; null, undefined and false are skipped. */
export type Child = Node | string | null | undefined | false;

/** Creates an element: el("li", { class: "x", dataset: { testid: "y" } }, "text", child…). */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Child | readonly Child[])[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value == null || value === false) continue;
    if (key === "dataset" && typeof value === "object") {
      // An undefined entry is left out, not written as "undefined".
      for (const [name, data] of Object.entries(value)) if (data !== undefined) node.dataset[name] = data;
    }
    else if (key === "class") node.className = String(value);
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  node.append(...children.flat().filter((c): c is Node | string => c != null && c !== false));
  return node;
}

/** The element with this id, which must be a `type` (HTMLElement by default); throws otherwise. */
export function byId(id: string): HTMLElement;
export function byId<T extends HTMLElement>(id: string, type: { new (): T; prototype: T }): T;
export function byId(id: string, type: { new (): HTMLElement; prototype: HTMLElement } = HTMLElement): HTMLElement {
  const node = document.getElementById(id);
  if (!(node instanceof type)) throw new Error(`#${id}: no ${type.name} with this id on the page`);
  return node;
}

/** `value`, which the page's markup guarantees; throws naming `what` when it is missing. */
export function required<T>(value: T | null | undefined, what: string): T {
  if (value == null) throw new Error(`${what} is missing from the page`);
  return value;
}

/** A highlight span, in characters (Unicode code points) of the text. */
export interface Span {
  startChar: number;
  endChar: number;
}

/**
 * Returns a fragment of `text` with the server's highlight spans wrapped in <mark>. Spans count
 * characters (Unicode code points), as the API's startChar/endChar do, not UTF-16 units.
 */
export function markSpans(text: string, spans: readonly Span[]): DocumentFragment {
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
export function parseList(value: string): string[] | null {
  const items = value.split(",").map((s) => s.trim()).filter(Boolean);
  return items.length ? items : null;
}

export function formatMs(ms: number | null | undefined): string {
  if (ms == null || Number.isNaN(ms)) return "–";
  if (ms === 0) return "0\u00a0ms";
  if (ms < 1) return `${ms.toFixed(2)}\u00a0ms`;
  if (ms < 100) return `${ms.toFixed(1)}\u00a0ms`;
  return `${Math.round(ms)}\u00a0ms`;
}

export function formatBytes(bytes: number | null | undefined): string {
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

export function formatPercent(ratio: number | null | undefined): string {
  if (ratio == null || Number.isNaN(ratio)) return "–";
  if (ratio > 0 && ratio < 0.001) return "<0.1\u00a0%";
  return `${(ratio * 100).toFixed(ratio === 1 || ratio === 0 ? 0 : 1)}\u00a0%`;
}

export function formatCount(n: number | null | undefined): string {
  return n == null ? "–" : n.toLocaleString("en");
}
