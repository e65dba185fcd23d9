// The cache dashboard. Three feeds:
//  - cacheAnalytics over graphql-ws (every second); if the WebSocket fails, the same query is
//    polled over HTTP and the WebSocket is retried now and then;
//  - performanceMetrics polled every 2 s (requests, latency, operations);
//  - a timed sample search on demand (extensions.timing).

import { GraphqlError, GraphqlWs, describeError, request } from "../shared/graphql.ts";
import { byId, el, formatBytes, formatCount, formatMs, formatPercent, required } from "../shared/dom.ts";
import { legend, lineChart, niceCeil, type Point, type Series } from "./chart.ts";
import type {
  AnalyticsFragment,
  CacheNamespace,
  CountersFragment,
  DashboardAnalyticsPollQuery,
  DashboardAnalyticsPollQueryVariables,
  DashboardAnalyticsSubscription,
  DashboardAnalyticsSubscriptionVariables,
  DashboardMetricsQuery,
  DashboardMetricsQueryVariables,
  DashboardTimingSampleQuery,
  DashboardTimingSampleQueryVariables,
} from "../shared/generated/graphql.ts";

type MetricsReport = DashboardMetricsQuery["performanceMetrics"];
type StatsWindow = MetricsReport["requests"];
type TimedSearch = DashboardTimingSampleQuery["search"];

const WINDOW_MS = 5 * 60_000; // what the charts show at most
const MIN_WINDOW_MS = 30_000; // ...and at least: a fresh page's few samples still span a chart
const HIT_RATE_SPAN_MS = 10_000; // hit rates are computed over this much history
const ANALYTICS_INTERVAL_MS = 1000;
const METRICS_POLL_MS = 2000;
const ANALYTICS_POLL_MS = 2000; // fallback when the WebSocket fails
const WS_RETRY_MS = 15_000;

const ANALYTICS_FIELDS = /* GraphQL */ `
  fragment Counters on CounterSnapshot {
    l1Hits l2Hits misses l1Sets l2Sets evictions errors l1HitRate l2HitRate hitRate
  }
  fragment Analytics on CacheAnalytics {
    corpusGeneration
    overall { ...Counters }
    l2 { state usedMemoryBytes keys errors }
    namespaces {
      namespace l1Entries l1Bytes l1CapacityBytes l1TtlSecs l2TtlSecs
      counters { ...Counters }
    }
  }`;
const ANALYTICS_SUBSCRIPTION = /* GraphQL */ `
  subscription DashboardAnalytics($intervalMs: Int!) {
    cacheAnalytics(intervalMs: $intervalMs) { ...Analytics }
  }
  ${ANALYTICS_FIELDS}`;
const ANALYTICS_QUERY = /* GraphQL */ `
  query DashboardAnalyticsPoll { cacheAnalytics { ...Analytics } }
  ${ANALYTICS_FIELDS}`;
const METRICS_QUERY = /* GraphQL */ `
  query DashboardMetrics {
    performanceMetrics {
      uptimeSeconds
      requests {
        windowSeconds requests requestsPerSecond errorRate p50Ms p95Ms p99Ms
        operations { name requests errors p50Ms p95Ms p99Ms }
      }
    }
  }`;
const TIMED_SEARCH = /* GraphQL */ `
  query DashboardTimingSample($query: String!) {
    search(query: $query, limit: 5) {
      totalHits tookMs cacheHit cacheLevel
      hits { score chunk { index content } document { id title tags } }
    }
  }`;

const NAMESPACE_LABELS: Partial<Record<CacheNamespace, string>> = {
  EMBEDDINGS: "Embeddings",
  RESULTS: "Search results",
  PERSISTED_QUERIES: "Persisted queries",
};
const color = (n: number) => `var(--series-${n})`;

const $ = (id: string) => byId(id);
const pageStart = Date.now();

/** The charts' time span: from page load until it reaches WINDOW_MS, so lines are not crammed at the right edge. */
const chartWindow = () => Math.min(WINDOW_MS, Math.max(MIN_WINDOW_MS, Date.now() - pageStart));

// ---------------------------------------------------------------------------------------
// History: snapshots kept for the charts' window (plus the hit-rate span before it).

const analyticsHistory: { t: number; data: AnalyticsFragment }[] = [];
const metricsHistory: { t: number; requests: StatsWindow }[] = [];

function keep<T extends { t: number }>(history: T[], entry: T): void {
  history.push(entry);
  const oldest = Date.now() - WINDOW_MS - HIT_RATE_SPAN_MS;
  while (history[0] && history[0].t < oldest) history.shift();
}

/** The counters hit rates are computed from. */
type Counts = Pick<CountersFragment, "l1Hits" | "l2Hits" | "misses">;
const NO_COUNTS: Counts = { l1Hits: 0, l2Hits: 0, misses: 0 };
const lookups = (c: Counts) => c.l1Hits + c.l2Hits + c.misses;

/**
 * Hit rates over the last HIT_RATE_SPAN_MS at each sample, from counter differences: the
 * server's own rates are since start and would barely move. Null when nothing was looked up.
 * L2's rate is over the lookups that reached it (L1 misses), as the server defines it.
 */
function hitRateSeries(pick: (data: AnalyticsFragment) => Counts): { l1: Point[]; l2: Point[] } {
  const l1: Point[] = [];
  const l2: Point[] = [];
  let from = 0;
  for (const [i, { t, data }] of analyticsHistory.entries()) {
    // Stops at i at the latest: its own t is not below t - span.
    while ((analyticsHistory[from]?.t ?? t) < t - HIT_RATE_SPAN_MS) from++;
    const earlier = analyticsHistory[from];
    if (from === i || !earlier) continue; // no earlier sample to compare with yet
    const now = pick(data);
    const then = pick(earlier.data);
    const n = lookups(now) - lookups(then);
    const l1Hits = now.l1Hits - then.l1Hits;
    const l2Hits = now.l2Hits - then.l2Hits;
    // A counter going backwards means the server restarted: no rate for this span.
    const valid = n > 0 && l1Hits >= 0;
    l1.push({ t, v: valid ? l1Hits / n : null });
    const reachedL2 = n - l1Hits;
    l2.push({ t, v: valid && reachedL2 > 0 ? l2Hits / reachedL2 : null });
  }
  return { l1, l2 };
}

// ---------------------------------------------------------------------------------------
// Rendering

/** A hit-rate chart: all namespaces together, or one. */
interface HitRateFigure {
  figure: HTMLElement;
  list: HTMLUListElement;
  title: string;
}
let hitRateFigures: Map<"ALL" | CacheNamespace, HitRateFigure> | null = null;

/** Creates one small chart per namespace the first time the namespaces are known. */
function hitRateFiguresFor(namespaces: AnalyticsFragment["namespaces"]): Map<"ALL" | CacheNamespace, HitRateFigure> {
  if (hitRateFigures) return hitRateFigures;
  hitRateFigures = new Map();
  const names: ("ALL" | CacheNamespace)[] = ["ALL", ...namespaces.map((n) => n.namespace)];
  for (const name of names) {
    const title = name === "ALL" ? "All namespaces" : NAMESPACE_LABELS[name] ?? name;
    const list = el("ul", { class: "legend" });
    const figure = el(
      "figure",
      { class: "chart-box", dataset: { testid: `hit-rate-${name.toLowerCase()}` } },
      el("figcaption", {}, el("h3", {}, title), list),
    );
    hitRateFigures.set(name, { figure, list, title });
    $("hit-rate-charts").append(figure);
  }
  return hitRateFigures;
}

function renderAnalytics(data: AnalyticsFragment): void {
  const overall = data.overall;
  $("stat-lookups").textContent = formatCount(lookups(overall));
  $("stat-lookups-sub").textContent =
    `${formatCount(overall.l1Hits)} L1 · ${formatCount(overall.l2Hits)} L2 · ${formatCount(overall.misses)} misses`;
  $("stat-hit-rate").textContent = formatPercent(overall.hitRate);
  $("stat-hit-rate-sub").textContent = `since start · L1 ${formatPercent(overall.l1HitRate)}`;
  $("stat-generation").textContent = formatCount(data.corpusGeneration);

  const l2 = data.l2;
  const l2Off = l2.state === "DISABLED";
  $("stat-l2").textContent = l2Off ? "L2 off" : l2.state === "UP" ? formatBytes(l2.usedMemoryBytes) : "down";
  $("stat-l2").dataset.state = l2.state;
  $("stat-l2-sub").textContent = l2Off
    ? "no Redis configured"
    : l2.state === "UP"
      ? `${formatCount(l2.keys)} keys · ${formatCount(l2.errors)} errors`
      : `circuit open, serving from L1 · ${formatCount(l2.errors)} errors`;

  // Hit rate charts: all namespaces, then each.
  const figures = hitRateFiguresFor(data.namespaces);
  for (const [name, { figure, list, title }] of figures) {
    const pick = name === "ALL"
      ? (d: AnalyticsFragment) => d.overall
      : (d: AnalyticsFragment) => d.namespaces.find((n) => n.namespace === name)?.counters ?? NO_COUNTS;
    const { l1, l2: l2Points } = hitRateSeries(pick);
    const series: Series[] = [
      { name: "L1", color: color(1), points: l1 },
      // Without Redis every L1 miss is an L2 "miss" too: a flat 0 % would mislead.
      l2Off ? { name: "L2", color: color(2), points: [], note: "off" } : { name: "L2", color: color(2), points: l2Points },
    ];
    lineChart(figure, {
      series,
      windowMs: chartWindow(),
      yMax: 1,
      format: (v: number) => `${Math.round(v * 100)} %`,
      label: `${title}: hit rate of L1 and L2 over the last minutes`,
      height: 150,
    });
    legend(list, series, formatPercent, "no lookups");
  }

  // L1 fill: bytes against capacity, with entries and TTLs.
  $("l1-fill").replaceChildren(
    ...data.namespaces.map((n) => {
      const share = n.l1CapacityBytes > 0 ? n.l1Bytes / n.l1CapacityBytes : 0;
      return el(
        "li",
        { dataset: { testid: `l1-fill-${n.namespace.toLowerCase()}` } },
        el("div", { class: "fill-head" },
          el("span", {}, NAMESPACE_LABELS[n.namespace] ?? n.namespace),
          el("span", { class: "num muted" },
            `${formatCount(n.l1Entries)} entries · ${formatBytes(n.l1Bytes)} of ${formatBytes(n.l1CapacityBytes)}`)),
        el("div", {
          class: "fill-bar",
          role: "meter",
          "aria-valuemin": 0,
          "aria-valuemax": n.l1CapacityBytes,
          "aria-valuenow": n.l1Bytes,
          "aria-label": `${NAMESPACE_LABELS[n.namespace] ?? n.namespace} L1 fill`,
          "aria-valuetext": formatPercent(share),
        }, el("span", { style: `width:${Math.min(100, share * 100).toFixed(2)}%` })),
        el("div", { class: "fill-foot muted" },
          `${formatPercent(share)} full · TTL L1 ${n.l1TtlSecs} s, L2 ${n.l2TtlSecs} s`),
      );
    }),
  );

  // Redis memory over time, or the reason there is none.
  $("l2-off").hidden = !l2Off;
  $("l2-chart").hidden = l2Off;
  if (!l2Off) {
    const points = analyticsHistory.map(({ t, data: d }) => ({ t, v: d.l2.state === "UP" ? d.l2.usedMemoryBytes : null }));
    const series: Series[] = [{ name: "used memory", color: color(4), points }];
    lineChart($("l2-chart"), {
      series,
      windowMs: chartWindow(),
      yMax: byteCeil(Math.max(0, ...points.map((p) => p.v ?? 0)) * 1.1),
      format: formatBytes,
      label: "Redis used memory over the last minutes",
    });
    legend($("l2-legend"), series, formatBytes);
  }

  // Counters since start, per namespace.
  const row = (label: string, c: CountersFragment) =>
    el("tr", {},
      el("th", { scope: "row" }, label),
      ...[c.l1Hits, c.l2Hits, c.misses].map((v) => el("td", { class: "num" }, formatCount(v))),
      el("td", { class: "num" }, `${formatCount(c.l1Sets)} / ${formatCount(c.l2Sets)}`),
      el("td", { class: "num" }, formatCount(c.evictions)),
      el("td", { class: "num" }, formatCount(c.errors)));
  $("counters-body").replaceChildren(
    ...data.namespaces.map((n) => row(NAMESPACE_LABELS[n.namespace] ?? n.namespace, n.counters)),
    row("All", overall),
  );
}

/** A round top for a byte axis: 1, 2 or 5 × a power of 1024, so ticks read 512 KiB, 1 MiB… */
function byteCeil(bytes: number): number {
  let unit = 1;
  while (bytes / unit >= 1024) unit *= 1024;
  return niceCeil(bytes / unit) * unit;
}

function onAnalytics(data: AnalyticsFragment): void {
  keep(analyticsHistory, { t: Date.now(), data });
  renderAnalytics(data);
}

let lastReport: MetricsReport | null = null;

function renderMetrics(report: MetricsReport): void {
  lastReport = report;
  const r = report.requests;
  $("stat-requests").textContent = formatCount(r.requests);
  $("stat-rps").textContent = `${r.requestsPerSecond.toFixed(2)} req/s`;
  $("stat-latency").textContent = formatMs(r.p95Ms);
  $("stat-latency-sub").textContent = `p50 ${formatMs(r.p50Ms)} · p99 ${formatMs(r.p99Ms)} · ${formatPercent(r.errorRate)} errors`;

  const rps: Series[] = [{ name: "requests/s", color: color(1), points: metricsHistory.map(({ t, requests }) => ({ t, v: requests.requestsPerSecond })) }];
  lineChart($("rps-chart"), { series: rps, windowMs: chartWindow(), format: (v: number) => String(+v.toFixed(2)), label: "Requests per second over the last minutes" });
  legend($("rps-legend"), rps, (v: number) => `${v.toFixed(2)}/s`);

  const latency: Series[] = (["p50", "p95", "p99"] as const).map((p, i) => ({
    name: p,
    color: color(i + 1),
    points: metricsHistory.map(({ t, requests }) => ({ t, v: requests[`${p}Ms`] })),
  }));
  lineChart($("latency-chart"), { series: latency, windowMs: chartWindow(), format: formatMs, label: "Latency percentiles over the last minutes" });
  legend($("latency-legend"), latency, formatMs);

  const operations = [...r.operations].sort((a, b) => b.requests - a.requests);
  $("ops-body").replaceChildren(
    ...(operations.length
      ? operations.map((op) =>
          el("tr", {},
            el("th", { scope: "row" }, el("code", {}, op.name)),
            el("td", { class: "num" }, formatCount(op.requests)),
            el("td", { class: "num" }, formatCount(op.errors)),
            ...[op.p50Ms, op.p95Ms, op.p99Ms].map((v) => el("td", { class: "num" }, formatMs(v)))))
      : [el("tr", {}, el("td", { colspan: 6, class: "muted" }, "No GraphQL operations in the last minute."))]),
  );
}

// ---------------------------------------------------------------------------------------
// Feeds

function setFeed(mode: "live" | "polling", text: string): void {
  const badge = $("feed-status");
  badge.dataset.mode = mode;
  badge.className = `badge ${mode === "live" ? "up" : mode === "polling" ? "computed" : ""}`;
  badge.textContent = text;
}

function showError(error: unknown): void {
  $("dashboard-error").textContent = error ? describeError(error) : "";
}

let pollTimer: number | null = null;
let retryTimer: number | undefined;

function startPolling(reason: string): void {
  setFeed("polling", `polling every ${ANALYTICS_POLL_MS / 1000} s (WebSocket: ${reason})`);
  if (pollTimer) return;
  const poll = async () => {
    try {
      const { data } = await request<DashboardAnalyticsPollQuery, DashboardAnalyticsPollQueryVariables>(ANALYTICS_QUERY, {});
      onAnalytics(data.cacheAnalytics);
      showError(null);
    } catch (error) {
      showError(error);
    }
  };
  poll();
  pollTimer = setInterval(poll, ANALYTICS_POLL_MS);
}

function stopPolling(): void {
  if (pollTimer != null) clearInterval(pollTimer);
  pollTimer = null;
}

/** Subscribes over graphql-ws; on any failure, polls and tries the WebSocket again later. */
function subscribe(): void {
  let failed = false;
  const fail = (error: Error) => {
    if (failed) return; // close and error both report one failure
    failed = true;
    startPolling(error.message);
    clearTimeout(retryTimer);
    retryTimer = setTimeout(subscribe, WS_RETRY_MS);
  };
  const client = new GraphqlWs({ onClose: fail });
  client.subscribe<DashboardAnalyticsSubscription, DashboardAnalyticsSubscriptionVariables>(
    ANALYTICS_SUBSCRIPTION, { intervalMs: ANALYTICS_INTERVAL_MS }, {
    next(payload) {
      const first = payload.errors?.[0];
      if (first) {
        showError(new GraphqlError(first.extensions?.code ?? "ERROR", first.message));
        return;
      }
      if (!payload.data) return;
      stopPolling();
      setFeed("live", "live · WebSocket");
      showError(null);
      onAnalytics(payload.data.cacheAnalytics);
    },
    error: fail,
    complete: () => fail(new Error("subscription completed")),
  });
}

async function pollMetrics(): Promise<void> {
  if (document.hidden) return; // nobody is looking: spare the server
  try {
    const { data } = await request<DashboardMetricsQuery, DashboardMetricsQueryVariables>(METRICS_QUERY, {});
    keep(metricsHistory, { t: Date.now(), requests: data.performanceMetrics.requests });
    renderMetrics(data.performanceMetrics);
  } catch (error) {
    showError(error);
  }
}

// ---------------------------------------------------------------------------------------
// Resolver timing

/** One field in `extensions.timing.slowest`. */
interface FieldTiming {
  path: string;
  type: string;
  field: string;
  ms: number;
}

/** `extensions.timing`, which the server adds when asked with `X-Selfrag-Timing: 1`. */
interface Timing {
  totalMs: number;
  /** The slowest fields, slowest first. */
  slowest?: FieldTiming[];
}

/**
 * `extensions.timing` when it is there, else null. Extensions are not in the schema, so
 * codegen has no type for them: this checks the shape the server sends instead of casting.
 */
function readTiming(value: unknown): Timing | null {
  if (typeof value !== "object" || value === null || !("totalMs" in value) || typeof value.totalMs !== "number") {
    return null;
  }
  const slowest = "slowest" in value && Array.isArray(value.slowest) ? value.slowest : [];
  return { totalMs: value.totalMs, slowest: slowest.filter(isFieldTiming) };
}

function isFieldTiming(value: unknown): value is FieldTiming {
  return (
    typeof value === "object" && value !== null &&
    "path" in value && typeof value.path === "string" &&
    "type" in value && typeof value.type === "string" &&
    "field" in value && typeof value.field === "string" &&
    "ms" in value && typeof value.ms === "number"
  );
}

async function runTiming(): Promise<void> {
  const button = required($("timing-form").querySelector("button"), "the timing button");
  const query = byId("timing-query", HTMLInputElement).value.trim();
  if (!query) return;
  button.disabled = true;
  try {
    const { data, extensions, responseTimeMs } = await request<DashboardTimingSampleQuery, DashboardTimingSampleQueryVariables>(
      TIMED_SEARCH,
      { query },
      { headers: { "x-selfrag-timing": "1" } },
    );
    renderTiming(data.search, readTiming(extensions.timing), responseTimeMs);
  } catch (error) {
    $("timing-result").replaceChildren(el("p", { class: "message error", role: "alert" }, describeError(error)));
  } finally {
    button.disabled = false;
  }
}

function renderTiming(result: TimedSearch, timing: Timing | null, responseTimeMs: number | null): void {
  if (!timing) {
    $("timing-result").replaceChildren(
      el("p", { class: "message error" }, "The response has no extensions.timing: is graphql.field_timing off on the server?"),
    );
    return;
  }
  const slowest = timing.slowest ?? [];
  const max = Math.max(timing.totalMs, ...slowest.map((f) => f.ms));
  const where = result.cacheHit ? `from ${result.cacheLevel} cache` : "computed";
  $("timing-result").replaceChildren(
    el("p", { class: "timing-summary" },
      "Total ", el("strong", { class: "num", dataset: { testid: "timing-total" } }, formatMs(timing.totalMs)),
      ` · ${result.totalHits} ${result.totalHits === 1 ? "hit" : "hits"}, ${where}`,
      responseTimeMs != null ? ` · X-Response-Time ${formatMs(responseTimeMs)}` : "",
      ` · at ${new Date().toLocaleTimeString()}`),
    slowest.length
      ? el("table", { class: "timing-table", dataset: { testid: "timing-table" } },
          el("thead", {}, el("tr", {},
            el("th", { scope: "col" }, "Path"),
            el("th", { scope: "col" }, "Field"),
            el("th", { scope: "col", class: "bar-col" }, el("span", { class: "visually-hidden" }, "Share of total")),
            el("th", { scope: "col", class: "num" }, "Time"))),
          el("tbody", {}, slowest.map((f) =>
            el("tr", { dataset: { testid: "timing-row" } },
              el("td", {}, el("code", { dataset: { testid: "timing-path" } }, f.path)),
              el("td", { class: "muted" }, `${f.type}.${f.field}`),
              el("td", { class: "bar-col", "aria-hidden": "true" },
                el("span", { class: "bar", style: `width:${max > 0 ? ((f.ms / max) * 100).toFixed(1) : 0}%` })),
              el("td", { class: "num", dataset: { testid: "timing-ms" } }, formatMs(f.ms))))))
      : el("p", { class: "muted" }, "No field was timed."),
  );
}

let timingTimer: number | undefined;
$("timing-form").addEventListener("submit", (event) => {
  event.preventDefault();
  runTiming();
});
const timingAuto = byId("timing-auto", HTMLInputElement);
timingAuto.addEventListener("change", () => {
  clearInterval(timingTimer);
  timingTimer = timingAuto.checked ? setInterval(runTiming, 10_000) : undefined;
  if (timingAuto.checked) runTiming();
});

// Charts are sized to their boxes: redraw from the kept history when the window resizes.
let resizeFrame = 0;
addEventListener("resize", () => {
  cancelAnimationFrame(resizeFrame);
  resizeFrame = requestAnimationFrame(() => {
    const last = analyticsHistory.at(-1);
    if (last) renderAnalytics(last.data);
    if (lastReport) renderMetrics(lastReport);
  });
});

subscribe();
pollMetrics();
setInterval(pollMetrics, METRICS_POLL_MS);
