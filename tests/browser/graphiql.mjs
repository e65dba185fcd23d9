// GraphiQL as selfrag serves it, in headless Chromium with no network but the server: the page
// and every file it loads come from the server; a search runs from the editor and its result
// shows; the API key field reaches the server (a mutation needs it); the documentation
// explorer opens on SearchResult; a subscription streams over graphql-ws. Usage:
//   SELFRAG_BASE_URL=http://127.0.0.1:18080 SELFRAG_API_KEY=<writer key> node tests/browser/graphiql.mjs
// The server must have API keys (so that a mutation without one is refused) and the key given
// must have the writer role. SELFRAG_SCREENSHOT_DIR and CHROMIUM as for e2e.mjs.

import { mkdir } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { WAIT_MS, expect, launchOffline, ok, run, watchErrors } from "./lib.mjs";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const baseUrl = (process.env.SELFRAG_BASE_URL ?? "http://127.0.0.1:8080").replace(/\/+$/, "");
const screenshotDir = path.resolve(repoRoot, process.env.SELFRAG_SCREENSHOT_DIR ?? "target/screenshots");
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const apiKey = process.env.SELFRAG_API_KEY;

/** The text of a GraphiQL editor (CodeMirror keeps only the visible lines in the DOM). */
const editorText = (page, selector) =>
  page.evaluate((selector) => document.querySelector(`${selector} .CodeMirror`).CodeMirror.getValue(), selector);
/**
 * Types an operation named `name` into the active tab as a user would (select all, then type),
 * and waits until GraphiQL has read it: the tab takes the operation's name.
 */
async function typeOperation(page, name, text) {
  await page.locator(".graphiql-query-editor .CodeMirror").click();
  await page.keyboard.press("Control+A");
  await page.keyboard.insertText(text);
  await page.locator(".graphiql-tab-active", { hasText: name }).waitFor();
}
const resultText = (page) => editorText(page, ".result-window");

/** Runs the active tab's operation and waits for a new result that contains `needle`. */
async function execute(page, needle, what) {
  const before = await resultText(page);
  await page.locator(".graphiql-execute-button").click();
  await page
    .waitForFunction(
      ([before, needle]) => {
        const text = document.querySelector(".result-window .CodeMirror").CodeMirror.getValue();
        return text !== before && text.includes(needle);
      },
      [before, needle],
      { timeout: WAIT_MS * 2 },
    )
    .catch(async () => {
      expect(false, `${what}: the result pane shows ${(await resultText(page)).slice(0, 600)}`);
    });
  return JSON.parse(await resultText(page));
}

async function graphiql(context) {
  console.log("GraphiQL");
  const page = await context.newPage();
  // The mutation sent without a key is refused with 401 on purpose.
  const errors = watchErrors(page, "GraphiQL", [/status of 401 \(Unauthorized\)/]);
  const sockets = [];
  page.on("websocket", (ws) => {
    const socket = { url: ws.url(), next: 0, init: null };
    ws.on("framereceived", ({ payload }) => {
      if (String(payload).includes('"type":"next"')) socket.next += 1;
    });
    ws.on("framesent", ({ payload }) => {
      const message = JSON.parse(String(payload));
      if (message.type === "connection_init") socket.init = message.payload ?? {};
    });
    sockets.push(socket);
  });
  const response = await page.goto(`${baseUrl}/graphql`);
  expect(response?.status() === 200, `GET /graphql answered ${response?.status()}: ${await response?.text()}`);
  await page.locator(".graphiql-container").waitFor();
  ok("GraphiQL renders from the server's own files");

  // The default tabs: a search with variables, then the cache analytics.
  const tabs = await page.locator(".graphiql-tab").allTextContents();
  expect(tabs.length === 2 && /Search/.test(tabs[0]) && /CacheAnalytics/.test(tabs[1]), `default tabs are ${JSON.stringify(tabs)}`);
  const variables = JSON.parse(await editorText(page, ".graphiql-editor-tool"));
  expect(typeof variables?.query === "string", `the search tab's variables are ${JSON.stringify(variables)}`);
  ok(`default tabs ${JSON.stringify(tabs)}, search variables ${JSON.stringify(variables)}`);

  // The default search tab, run from the editor, finds a document put in through the API.
  const marker = `gq${Date.now().toString(36)}`;
  const seeded = await fetch(`${baseUrl}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-api-key": apiKey },
    body: JSON.stringify({
      query: "mutation Seed($c: String!, $t: String!) { ingestDocument(input: { title: $t, content: $c }) { chunksCreated } }",
      variables: { t: `Beekeeping ${marker}`, c: `Honeybees keep the hive warm in winter by clustering around the queen and shivering their flight muscles (${marker}).` },
    }),
  }).then((r) => r.json());
  expect(seeded.data?.ingestDocument?.chunksCreated >= 1, `seeding failed: ${JSON.stringify(seeded)}`);
  const search = await execute(page, "totalHits", "the default search");
  const hits = search.data?.search?.hits ?? [];
  expect(!search.errors && hits.length >= 1, `the default search got ${JSON.stringify(search).slice(0, 400)}`);
  expect(hits[0].document.title === `Beekeeping ${marker}`, `the top hit is ${JSON.stringify(hits[0])}`);
  ok(`the default search finds "${hits[0].document.title}" (score ${hits[0].score.toFixed(3)}, ${search.data.search.tookMs.toFixed(1)} ms)`);
  await mkdir(screenshotDir, { recursive: true });
  await page.screenshot({ path: path.join(screenshotDir, "graphiql.png") });
  ok("screenshot graphiql.png");

  // A mutation typed in a new tab: refused without a key, accepted with the writer key typed
  // in the page's field.
  const ingest = `mutation IngestNote { ingestDocument(input: { title: "Wintering ${marker}", content: "Bees eat stored honey through the winter (${marker})." }) { document { id } chunksCreated } }`;
  await page.locator(".graphiql-tab-add").click();
  await typeOperation(page, "IngestNote", ingest);
  const refused = await execute(page, "errors", "ingest without a key");
  const refusedCode = refused.errors?.[0]?.extensions?.code;
  expect(["UNAUTHENTICATED", "FORBIDDEN"].includes(refusedCode), `without a key the mutation got ${JSON.stringify(refused)}`);
  ok(`without a key the mutation is refused (${refusedCode})`);
  await page.locator("#selfrag-api-key").fill(apiKey);
  const ingested = await execute(page, "chunksCreated", "ingest with the key");
  expect(ingested.data?.ingestDocument?.chunksCreated >= 1, `with the key the mutation got ${JSON.stringify(ingested)}`);
  ok(`with the key typed in the field the mutation runs (${ingested.data.ingestDocument.chunksCreated} chunk)`);

  // The documentation explorer, on SearchResult.
  await page.locator('button[aria-label="Show Documentation Explorer"]').click();
  await page.locator('[data-cy="doc-explorer-input"]').fill("SearchResult");
  await page.locator('[data-cy="doc-explorer-list"]').getByText("SearchResult", { exact: true }).first().click();
  await page.locator(".graphiql-doc-explorer-title", { hasText: /^SearchResult$/ }).waitFor();
  const fields = await page.locator(".graphiql-doc-explorer-field-name").allTextContents();
  expect(fields.includes("hits") && fields.includes("totalHits"), `SearchResult's fields are ${JSON.stringify(fields)}`);
  ok(`documentation explorer shows SearchResult (${fields.length} fields: ${fields.slice(0, 5).join(", ")}, …)`);

  // A subscription over graphql-ws: the cache analytics, twice a second.
  await page.locator(".graphiql-tab-add").click();
  await typeOperation(page, "LiveAnalytics", "subscription LiveAnalytics { cacheAnalytics(intervalMs: 200) { corpusGeneration overall { misses } } }");
  await execute(page, "corpusGeneration", "the subscription");
  const socket = () => sockets.find((s) => s.url.endsWith("/graphql/ws"));
  for (const started = Date.now(); !(socket()?.next >= 2) && Date.now() - started < WAIT_MS; ) {
    await page.waitForTimeout(100);
  }
  expect(socket()?.next >= 2, `the subscription's socket: ${JSON.stringify(sockets)}`);
  expect(socket().init?.apiKey === apiKey, `the socket's connection_init carried ${JSON.stringify(socket().init)}, not the key`);
  ok(`the subscription streams over ${socket().url} (${socket().next} results so far), authenticated with the key`);
  await page.locator(".graphiql-execute-button").click(); // stop it

  errors.check();
  await page.close();
}

await run("GraphiQL", async (closeAtEnd) => {
  expect(apiKey, "set SELFRAG_API_KEY to a key with the writer role");
  console.log(`GraphiQL against ${baseUrl}, Chromium ${executablePath}`);
  const { browser, context, checkOffline } = await launchOffline(baseUrl, executablePath);
  closeAtEnd(browser);
  await graphiql(context);
  checkOffline();
  ok("nothing was asked of any other host");
});
