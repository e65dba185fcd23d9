// The search page: runs `search` with the form's filters and renders the hits; ingests
// documents with `ingestDocument`, and dropped or chosen files with `ingestFiles`. Every server string is rendered as text (see shared/dom.ts).

import { describeError, request, upload } from "../shared/graphql.ts";
import { byId, el, formatMs, markSpans, parseList, required } from "../shared/dom.ts";
import type {
  CacheLevel,
  IngestFilesMutation,
  IngestFilesMutationVariables,
  IngestInput,
  IngestMutation,
  IngestMutationVariables,
  IngestStatus,
  SearchFilter,
  SearchMode,
  SearchQuery,
  SearchQueryVariables,
} from "../shared/generated/graphql.ts";

type SearchResult = SearchQuery["search"];
type Hit = SearchResult["hits"][number];

const SEARCH = /* GraphQL */ `
  query Search($query: String!, $limit: Int, $threshold: Float, $filter: SearchFilter, $mode: SearchMode) {
    search(query: $query, limit: $limit, threshold: $threshold, filter: $filter, mode: $mode) {
      mode
      totalHits
      tookMs
      cacheHit
      cacheLevel
      hits {
        score
        denseScore
        keywordScore
        highlights { startChar endChar }
        chunk { index content }
        document { id title type source tags chunkCount }
      }
    }
  }`;

const INGEST = /* GraphQL */ `
  mutation Ingest($input: IngestInput!) {
    ingestDocument(input: $input) {
      chunksCreated
      deduplicated
      embeddingMs
      totalMs
      document { id title chunkCount }
    }
  }`;

const $ = (id: string) => byId(id);
const inputById = (id: string) => byId(id, HTMLInputElement);
const searchForm = byId("search-form", HTMLFormElement);
// Completed searches, exposed as data-searches on the status line: lets a test (or a
// person in devtools) tell a fresh answer from the previous one.
let searches = 0;
const ingestForm = byId("ingest-form", HTMLFormElement);

/** Reads the search form into GraphQL variables; empty fields are left out (no filter). */
function searchVariables(): SearchQueryVariables {
  const value = (id: string) => inputById(id).value.trim();
  const filter: SearchFilter = {};
  const tags = parseList(value("filter-tags"));
  if (tags) filter.tags = tags;
  if (value("filter-type")) filter.type = value("filter-type");
  if (value("filter-source")) filter.source = value("filter-source");
  const variables: SearchQueryVariables = { query: value("q"), limit: Number(value("limit")) || 10 };
  if (value("threshold") !== "") variables.threshold = Number(value("threshold"));
  const mode = byId("mode", HTMLSelectElement).value;
  if (isSearchMode(mode)) variables.mode = mode;
  if (Object.keys(filter).length) variables.filter = filter;
  return variables;
}

/** Where the answer came from: the server's cacheLevel, or "computed" when it is null. */
function cacheBadge(result: SearchResult): HTMLElement {
  const level = result.cacheHit ? result.cacheLevel ?? "cache" : "computed";
  const text = result.cacheHit ? `from ${level} cache` : "computed";
  const explain: Partial<Record<CacheLevel | "cache" | "computed", string>> = {
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

function renderStatus(result: SearchResult, responseTimeMs: number | null): void {
  const count = result.hits.length;
  $("search-status").replaceChildren(
    el("span", { dataset: { testid: "hit-count" } }, `${count} ${count === 1 ? "hit" : "hits"}`),
    cacheBadge(result),
    el("span", { title: "tookMs: server time spent on the search", dataset: { testid: "took-ms" } },
      `search ${formatMs(result.tookMs)}`),
    // Left out without the header (replaceChildren would show a null as the text "null").
    ...(responseTimeMs != null
      ? [el("span", { title: "X-Response-Time: server time to response headers", dataset: { testid: "response-time" } },
          `response ${formatMs(responseTimeMs)}`)]
      : []),
  );
}

/** What the score means in each mode, for its tooltip. */
const SCORE_MEANING: Record<SearchMode, string> = {
  DENSE: "Cosine similarity of the query and this chunk",
  KEYWORD: "BM25: how strongly the chunk matches the query's words",
  HYBRID: "Fused rank score (RRF) of the meaning and the keyword rankings",
};

/** The mode select's value as a SearchMode (SCORE_MEANING has every mode as a key). */
function isSearchMode(value: string): value is SearchMode {
  return Object.hasOwn(SCORE_MEANING, value);
}

/** "meaning 0.612 · words 7.31", from the scores each side gave (null: that side did not find it). */
function sideScores(hit: Hit): string {
  const parts: string[] = [];
  if (hit.denseScore != null) parts.push(`meaning ${hit.denseScore.toFixed(3)}`);
  if (hit.keywordScore != null) parts.push(`words ${hit.keywordScore.toFixed(2)}`);
  return parts.join(" · ");
}

function renderHit(hit: Hit, mode: SearchMode, best: number): HTMLLIElement {
  const doc = hit.document;
  // The bar shows the score relative to the page's best: the scales differ between modes.
  const score = best > 0 ? Math.max(0, Math.min(1, hit.score / best)) : 0;
  return el(
    "li",
    { class: "hit card", dataset: { testid: "hit", documentId: doc.id } },
    el(
      "div",
      { class: "hit-head" },
      el("h3", { dataset: { testid: "hit-title" } }, doc.title || el("span", { class: "muted" }, "Untitled")),
      el(
        "span",
        { class: "score", title: SCORE_MEANING[mode] },
        el("span", { class: "score-bar", "aria-hidden": "true" }, el("span", { style: `width:${(score * 100).toFixed(1)}%` })),
        el("span", { class: "num", dataset: { testid: "hit-score" } }, hit.score.toFixed(3)),
      ),
    ),
    el("p", { class: "chunk", dataset: { testid: "hit-text" } }, markSpans(hit.chunk.content, hit.highlights)),
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
      el("span", { class: "muted", dataset: { testid: "hit-side-scores" } }, sideScores(hit)),
    ),
  );
}

async function runSearch(): Promise<void> {
  const variables = searchVariables();
  if (!variables.query) return;
  const button = required(searchForm.querySelector("button"), "the search button");
  button.disabled = true;
  $("hits").setAttribute("aria-busy", "true");
  $("search-error").textContent = "";
  // The URL keeps the query, so a search can be bookmarked or shared.
  history.replaceState(null, "", `?q=${encodeURIComponent(variables.query)}`);
  try {
    const { data, responseTimeMs } = await request<SearchQuery, SearchQueryVariables>(SEARCH, variables);
    const result = data.search;
    renderStatus(result, responseTimeMs);
    const best = result.hits[0]?.score ?? 0;
    $("hits").replaceChildren(
      ...(result.hits.length
        ? result.hits.map((hit) => renderHit(hit, result.mode, best))
        : [el("li", { class: "empty muted", dataset: { testid: "no-hits" } }, "No chunk matches; loosen the filters or the threshold.")]),
    );
  } catch (error) {
    $("search-status").replaceChildren();
    $("hits").replaceChildren();
    $("search-error").textContent = describeError(error);
  } finally {
    button.disabled = false;
    $("hits").removeAttribute("aria-busy");
    $("search-status").dataset.searches = String(++searches);
  }
}

async function ingest(): Promise<void> {
  const form = new FormData(ingestForm);
  const text = (name: string) => String(form.get(name) ?? "").trim();
  const input: IngestInput = { content: String(form.get("content") ?? "") };
  for (const name of ["title", "type", "source", "author"] as const) if (text(name)) input[name] = text(name);
  const tags = parseList(text("tags"));
  if (tags) input.tags = tags;

  const status = $("ingest-status");
  const button = required(ingestForm.querySelector("button"), "the ingest button");
  button.disabled = true;
  status.className = "message info";
  status.dataset.state = "busy";
  status.textContent = "Chunking and embedding…";
  try {
    const { data } = await request<IngestMutation, IngestMutationVariables>(INGEST, { input });
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
    status.textContent = describeError(error);
  } finally {
    button.disabled = false;
  }
}

const INGEST_FILES = /* GraphQL */ `
  mutation IngestFiles($files: [Upload!]!) {
    ingestFiles(files: $files) {
      filename
      result { status chunksCreated document { id title } }
      error { code message }
    }
  }`;

const STATUS_WORDS: Partial<Record<IngestStatus, string>> = {
  INGESTED: "ingested",
  DEDUPLICATED: "already stored",
  UPDATED: "updated",
  UNCHANGED: "unchanged",
};

/** Uploads files with `ingestFiles` and lists what became of each. */
async function ingestFiles(files: File[]): Promise<void> {
  if (files.length === 0) return;
  const status = $("upload-status");
  const results = $("upload-results");
  status.className = "message info";
  status.dataset.state = "busy";
  status.textContent = `Reading and embedding ${files.length} ${files.length === 1 ? "file" : "files"}…`;
  results.replaceChildren();
  try {
    const { data } = await upload<IngestFilesMutation, IngestFilesMutationVariables>(INGEST_FILES, {}, files);
    for (const entry of data.ingestFiles) {
      const { result, error } = entry;
      const ok = result != null;
      const text = result
        ? `${entry.filename}: ${STATUS_WORDS[result.status] ?? result.status} (${result.chunksCreated} chunks)`
        : `${entry.filename}: ${error?.code ?? "ERROR"}: ${error?.message ?? "not ingested"}`;
      results.append(
        el("li", { dataset: { testid: "upload-result", state: ok ? "ok" : "error", documentId: result?.document.id } }, text),
      );
    }
    const failed = data.ingestFiles.filter((entry) => entry.result == null).length;
    status.className = failed ? "message error" : "message ok";
    status.dataset.state = failed ? "partial" : "ok";
    status.textContent = failed ? `${failed} of ${files.length} could not be ingested.` : "Done.";
  } catch (error) {
    status.className = "message error";
    status.dataset.state = "error";
    status.textContent = describeError(error);
  }
}

const dropZone = $("drop-zone");
const fileInput = inputById("file-input");
dropZone.addEventListener("dragover", (event) => {
  event.preventDefault();
  dropZone.classList.add("over");
});
dropZone.addEventListener("dragleave", () => dropZone.classList.remove("over"));
dropZone.addEventListener("drop", (event) => {
  event.preventDefault();
  dropZone.classList.remove("over");
  ingestFiles([...(event.dataTransfer?.files ?? [])]);
});
fileInput.addEventListener("change", () => {
  ingestFiles([...(fileInput.files ?? [])]);
  fileInput.value = "";
});

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
  inputById("q").value = initial;
  runSearch();
}
