// Hand-written SVG charts for the dashboard: a time-series line chart and a bar list. They
// redraw from scratch on every update; at a few series of a few hundred points that is cheap
// and keeps the code free of incremental-update bookkeeping.

const SVG = "http://www.w3.org/2000/svg";
const TIME_STEPS = [5, 10, 15, 30, 60, 120, 300].map((s) => s * 1000);

/** A sample of a series: `t` in ms since the epoch, `v` null for "no data". */
export interface Point {
  t: number;
  v: number | null;
}

export interface Series {
  name: string;
  /** A CSS colour. */
  color: string;
  points: Point[];
  /** Shown in the legend instead of the latest value. */
  note?: string;
}

export interface LineChartOptions {
  series: Series[];
  windowMs: number;
  /** The top of the y axis; from the data when left out. */
  yMax?: number;
  /** Axis values. */
  format?: (value: number) => string;
  /** Accessible summary. */
  label?: string;
  height?: number;
}

function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number> = {},
  text?: string,
): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text != null) node.textContent = text;
  return node;
}

/** The smallest 1, 2 or 5 × 10ⁿ at or above `value`, so axis labels stay round. */
export function niceCeil(value: number): number {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

/**
 * Draws series of {t (ms epoch), v (number or null)} into `figure` over the last `windowMs`.
 * A null value breaks the line (no data in that interval: drawn as a gap, not as zero).
 *
 * options: series [{ name, color (CSS colour), points }], yMax (fixed, else from the data),
 * format (axis/legend values), label (accessible summary), height.
 */
export function lineChart(
  figure: HTMLElement,
  { series, windowMs, yMax, format = String, label, height = 180 }: LineChartOptions,
): void {
  const width = Math.max(280, figure.clientWidth || 480);
  const pad = { top: 10, right: 12, bottom: 22, left: 52 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const now = Date.now();
  const start = now - windowMs;
  const values = series.flatMap((s) => s.points.filter((p) => p.t >= start).flatMap((p) => (p.v != null ? [p.v] : [])));
  const top = yMax ?? niceCeil(Math.max(0, ...values) * 1.1);
  const x = (t: number) => pad.left + ((t - start) / windowMs) * plotW;
  const y = (v: number) => pad.top + plotH - (Math.min(v, top) / top) * plotH;

  const root = svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    role: "img",
    "aria-label": label ?? "chart",
    class: "chart",
  });

  // Horizontal grid lines with their values; the time axis in minutes before now.
  // 1, 2 and 10 split into quarters, 5 into fifths: round labels either way.
  const leading = top / 10 ** Math.floor(Math.log10(top));
  const divisions = Math.round(leading) === 5 ? 5 : 4;
  for (let i = 0; i <= divisions; i++) {
    const v = (top * i) / divisions;
    root.append(
      svg("line", { x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v), class: i ? "grid" : "axis" }),
      svg("text", { x: pad.left - 6, y: y(v) + 4, "text-anchor": "end", class: "tick" }, format(v)),
    );
  }
  // Time labels: the smallest round step that leaves room for the text.
  const step = TIME_STEPS.find((s) => (s / windowMs) * plotW >= 56) ?? windowMs;
  for (let ago = 0; ago <= windowMs; ago += step) {
    const text = ago === 0 ? "now" : ago < 60_000 ? `−${ago / 1000} s` : `−${ago / 60_000} min`;
    root.append(svg("text", { x: x(now - ago), y: height - 6, "text-anchor": ago === 0 ? "end" : "middle", class: "tick" }, text));
  }

  for (const s of series) {
    const visible = s.points.filter((p) => p.t >= start);
    let d = "";
    visible.forEach((p, i) => {
      if (p.v == null) return;
      const joined = i > 0 && visible[i - 1]?.v != null;
      d += `${joined ? "L" : "M"}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`;
      // A point with no neighbours would be an invisible zero-length path: draw it as a dot.
      const alone = !joined && visible[i + 1]?.v == null;
      if (alone) root.append(svg("circle", { cx: x(p.t), cy: y(p.v), r: 2.5, fill: s.color }));
    });
    if (d) root.append(svg("path", { d, stroke: s.color, class: "line" }));
  }
  figure.querySelector("svg")?.remove();
  figure.prepend(root);
}

/** A legend: colour swatch, name and latest value of each series. */
export function legend(list: HTMLElement, series: Series[], format: (value: number) => string, empty = "no data"): void {
  list.replaceChildren(
    ...series.map((s) => {
      const li = document.createElement("li");
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = s.color;
      const latest = [...s.points].reverse().find((p): p is Point & { v: number } => p.v != null);
      const value = document.createElement("span");
      value.className = "num";
      value.textContent = s.note ?? (latest ? format(latest.v) : empty);
      li.append(swatch, `${s.name} `, value);
      return li;
    }),
  );
}
