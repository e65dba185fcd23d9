// The search page: runs `search` with the form's filters and renders the hits; ingests
// documents with `ingestDocument`. Every server string is rendered as text (see shared/dom.js).

import { request } from "../shared/graphql.js";
import { el, formatMs, highlight, parseList } from "../shared/dom.js";

const SEARCH = `
  query Search($query: String!, $limit: Int, $threshold: Float, $filter: SearchFilter) {
    search(query: $query, limit: $limit, threshold: $threshold, filter: $filter) {
      totalHits
      tookMs
      cacheHit
      cacheLevel
      hits {
        score
        chunk { index content }
        document { id title type source tags chunkCount }
      }
    }
  }`;

const INGEST = `
  mutation Ingest($input: IngestInput!) {
    ingestDocument(input: $input) {
      chunksCreated
      deduplicated
      embeddingMs
      totalMs
      document { id title chunkCount }
    }
  }`;

const $ = (id) => document.getElementById(id);
const searchForm = $("search-form");
// Completed searches, exposed as data-searches on the status line: lets a test (or a
// person in devtools) tell a fresh answer from the previous one.
let searches = 0;
const ingestForm = $("ingest-form");

/** Reads the search form into GraphQL variables; empty fields are left out (no filter). */
function searchVariables() {
  const value = (id) => $(id).value.trim();
  const filter = {};
  const tags = parseList(value("filter-tags"));
  if (tags) filter.tags = tags;
  if (value("filter-type")) filter.type = value("filter-type");
  if (value("filter-source")) filter.source = value("filter-source");
  const variables = { query: value("q"), limit: Number(value("limit")) || 10 };
  if (value("threshold") !== "") variables.threshold = Number(value("threshold"));
  if (Object.keys(filter).length) variables.filter = filter;
  return variables;
}

/** Where the answer came from: the server's cacheLevel, or "computed" when it is null. */
function cacheBadge(result) {
  const level = result.cacheHit ? result.cacheLevel ?? "cache" : "computed";
  const text = result.cacheHit ? `from ${level} cache` : "computed";
  const explain = {
    L1: "Served from this process's in-memory cache",
    L2: "Served from the shared Redis cache",
    computed: "Embedded and searched for this request",
  };
  return el(
    "span",
    { class: `badge ${level.toLowerCase()}`, title: explain[level], dataset: { testid: "cache-level", level } },
    text,
  );
}

function renderStatus(result, responseTimeMs) {
  const count = result.hits.length;
  $("search-status").replaceChildren(
    el("span", { dataset: { testid: "hit-count" } }, `${count} ${count === 1 ? "hit" : "hits"}`),
    cacheBadge(result),
    el("span", { title: "tookMs: server time spent on the search", dataset: { testid: "took-ms" } },
      `search ${formatMs(result.tookMs)}`),
    responseTimeMs != null
      ? el("span", { title: "X-Response-Time: server time to response headers", dataset: { testid: "response-time" } },
          `response ${formatMs(responseTimeMs)}`)
      : null,
  );
}

function renderHit(hit, query) {
  const doc = hit.document;
  const score = Math.max(0, Math.min(1, hit.score));
  return el(
    "li",
    { class: "hit card", dataset: { testid: "hit", documentId: doc.id } },
    el(
      "div",
      { class: "hit-head" },
      el("h3", { dataset: { testid: "hit-title" } }, doc.title || el("span", { class: "muted" }, "Untitled")),
      el(
        "span",
        { class: "score", title: "Cosine similarity of the query and this chunk" },
        el("span", { class: "score-bar", "aria-hidden": "true" }, el("span", { style: `width:${(score * 100).toFixed(1)}%` })),
        el("span", { class: "num", dataset: { testid: "hit-score" } }, hit.score.toFixed(3)),
      ),
    ),
    el("p", { class: "chunk", dataset: { testid: "hit-text" } }, highlight(hit.chunk.content, query)),
    el(
      "div",
      { class: "hit-meta" },
      doc.tags.length
        ? el("ul", { class: "tags", "aria-label": "Tags", dataset: { testid: "hit-tags" } },
            doc.tags.map((tag) => el("li", { class: "tag" }, tag)))
        : null,
      doc.type ? el("span", { class: "muted" }, `type ${doc.type}`) : null,
      doc.source ? el("span", { class: "muted source" }, doc.source) : null,
      el("span", { class: "muted" }, `chunk ${hit.chunk.index + 1} of ${doc.chunkCount}`),
    ),
  );
}

async function runSearch() {
  const variables = searchVariables();
  if (!variables.query) return;
  const button = searchForm.querySelector("button");
  button.disabled = true;
  $("hits").setAttribute("aria-busy", "true");
  $("search-error").textContent = "";
  // The URL keeps the query, so a search can be bookmarked or shared.
  history.replaceState(null, "", `?q=${encodeURIComponent(variables.query)}`);
  try {
    const { data, responseTimeMs } = await request(SEARCH, variables);
    const result = data.search;
    renderStatus(result, responseTimeMs);
    $("hits").replaceChildren(
      ...(result.hits.length
        ? result.hits.map((hit) => renderHit(hit, variables.query))
        : [el("li", { class: "empty muted", dataset: { testid: "no-hits" } }, "No chunk matches; loosen the filters or the threshold.")]),
    );
  } catch (error) {
    $("search-status").replaceChildren();
    $("hits").replaceChildren();
    $("search-error").textContent = error.describe?.() ?? String(error);
  } finally {
    button.disabled = false;
    $("hits").removeAttribute("aria-busy");
    $("search-status").dataset.searches = String(++searches);
  }
}

async function ingest() {
  const form = new FormData(ingestForm);
  const text = (name) => String(form.get(name) ?? "").trim();
  const input = { content: String(form.get("content") ?? "") };
  for (const name of ["title", "type", "source", "author"]) if (text(name)) input[name] = text(name);
  const tags = parseList(text("tags"));
  if (tags) input.tags = tags;

  const status = $("ingest-status");
  const button = ingestForm.querySelector("button");
  button.disabled = true;
  status.className = "message info";
  status.dataset.state = "busy";
  status.textContent = "Chunking and embedding…";
  try {
    const { data } = await request(INGEST, { input });
    const r = data.ingestDocument;
    const name = r.document.title ? `“${r.document.title}”` : "The document";
    status.className = "message ok";
    status.dataset.state = "ok";
    status.dataset.documentId = r.document.id;
    status.textContent = r.deduplicated
      ? `${name} was already stored with identical content (${r.document.chunkCount} chunks); nothing new was added.`
      : `${name} was ingested: ${r.chunksCreated} ${r.chunksCreated === 1 ? "chunk" : "chunks"} in ${formatMs(r.totalMs)} (embedding ${formatMs(r.embeddingMs)}).`;
    ingestForm.reset();
  } catch (error) {
    status.className = "message error";
    status.dataset.state = "error";
    status.textContent = error.describe?.() ?? String(error);
  } finally {
    button.disabled = false;
  }
}

searchForm.addEventListener("submit", (event) => {
  event.preventDefault();
  runSearch();
});
ingestForm.addEventListener("submit", (event) => {
  event.preventDefault();
  ingest();
});

// A shared link (?q=…) runs its search on load.
const initial = new URLSearchParams(location.search).get("q");
if (initial) {
  $("q").value = initial;
  runSearch();
}
