// End-to-end test of frontend-examples/ in headless Chromium, against a running server started
// with SELFRAG_EXAMPLES=true. Usage:
//   SELFRAG_BASE_URL=http://127.0.0.1:18080 node tests/browser/e2e.mjs
// Environment: SELFRAG_BASE_URL (default http://127.0.0.1:8080), SELFRAG_SCREENSHOT_DIR
// (default <repo>/target/screenshots), CHROMIUM (default /usr/bin/chromium).

import { mkdir } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Failure, WAIT_MS, expect, launchOffline, ok, run, watchErrors } from "./lib.mjs";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const baseUrl = (process.env.SELFRAG_BASE_URL ?? "http://127.0.0.1:8080").replace(/\/+$/, "");
const screenshotDir = path.resolve(repoRoot, process.env.SELFRAG_SCREENSHOT_DIR ?? "target/screenshots");
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";

const number = (text) => Number(String(text).replace(/[^\d.]/g, ""));

/** Runs a search through the API from this process (not the page), like another client would. */
async function apiSearch(query) {
  const response = await fetch(`${baseUrl}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query: "query E2eProbe($q: String!) { search(query: $q, limit: 3) { totalHits } }", variables: { q: query } }),
  });
  const body = await response.json();
  expect(!body.errors, `API search failed: ${JSON.stringify(body.errors)}`);
}

async function landing(context) {
  console.log("landing page");
  const page = await context.newPage();
  const errors = watchErrors(page, "landing");
  const response = await page.goto(`${baseUrl}/examples/`).catch((error) => {
    throw new Failure(`cannot reach ${baseUrl} (${error.message.split("\n")[0]}): is the server running?`);
  });
  expect(response?.ok(), `GET /examples/ answered ${response?.status()}: is the server running with SELFRAG_EXAMPLES=true?`);
  await page.getByTestId("link-search").waitFor();
  await page.getByTestId("link-dashboard").waitFor();
  ok("/examples/ links the search page and the dashboard");
  const server = page.locator('[data-testid="server-status"]:is(.ok, .error)');
  await server.waitFor();
  const serverText = await server.textContent();
  expect((await server.getAttribute("class")).includes("ok"), `landing page: ${serverText}`);
  ok(`landing page reads the server: "${serverText}"`);
  errors.check();
  await page.close();
}

async function searchPage(context, marker) {
  console.log("search page");
  const page = await context.newPage();
  const errors = watchErrors(page, "search");
  await page.goto(`${baseUrl}/examples/search/`);

  // Ingest through the form. Markup in the content must come back as text, not elements.
  const title = `Lighthouse note ${marker}`;
  await page.getByLabel("Title").fill(title);
  await page.getByTestId("ingest-content").fill(
    `${marker} is the name of the lighthouse keeper's cat, which hunts moths on the northern pier every night. ` +
      `The keeper wrote <b>bold</b> and <img src=x onerror=alert(1)> in the logbook, which must show as text.`,
  );
  await page.getByTestId("ingest-tags").fill(`e2e, cat-${marker}`);
  await page.getByTestId("ingest-type").fill("note");
  await page.getByTestId("ingest-source").fill("tests/browser/e2e.mjs");
  await page.getByTestId("ingest-submit").click();
  const status = page.getByTestId("ingest-status");
  await page.waitForSelector('[data-testid="ingest-status"]:is([data-state="ok"], [data-state="error"])', { timeout: WAIT_MS * 2 });
  const statusText = await status.textContent();
  expect((await status.getAttribute("data-state")) === "ok", `ingest failed: ${statusText}`);
  expect(/was ingested/.test(statusText), `expected a fresh ingest, got: ${statusText}`);
  const documentId = await status.getAttribute("data-document-id");
  ok(`ingested "${title}" through the form (${statusText.trim()})`);

  const meta = page.getByTestId("search-status");
  const search = async (n) => {
    await page.getByTestId("search-submit").click();
    await page.locator(`[data-testid="search-status"][data-searches="${n}"]`).waitFor({ timeout: WAIT_MS });
    const error = (await page.getByTestId("search-error").textContent()).trim();
    expect(!error, `search ${n} failed: ${error}`);
  };
  const hitOfDoc = page.locator(`[data-testid="hit"][data-document-id="${documentId}"]`);
  const level = () => meta.getByTestId("cache-level").getAttribute("data-level");

  // First search: computed.
  const query = `${marker} lighthouse cat hunting moths`;
  await page.getByTestId("search-query").fill(query);
  await search(1);
  expect((await hitOfDoc.count()) === 1, `the search for "${query}" did not return the ingested document`);
  const hitTitle = await hitOfDoc.getByTestId("hit-title").textContent();
  expect(hitTitle === title, `hit title is "${hitTitle}", expected "${title}"`);
  const tags = await hitOfDoc.getByTestId("hit-tags").locator("li").allTextContents();
  expect(tags.includes("e2e") && tags.includes(`cat-${marker}`), `hit tags are ${JSON.stringify(tags)}`);
  const marks = (await hitOfDoc.locator("mark").allTextContents()).map((m) => m.toLowerCase());
  expect(marks.includes(marker), `no <mark>${marker}</mark> in the hit (marks: ${JSON.stringify(marks)})`);
  const score = await hitOfDoc.getByTestId("hit-score").textContent();
  expect(/^-?\d\.\d{3}$/.test(score), `hit score "${score}" is not a number`);
  const text = await hitOfDoc.getByTestId("hit-text").textContent();
  expect(text.includes("<b>bold</b>") && text.includes("<img src=x"), "markup in the chunk was not shown as text");
  expect((await hitOfDoc.locator("b, img").count()) === 0, "markup in the chunk became elements");
  ok(`hit found: title, tags ${JSON.stringify(tags)}, score ${score}, <mark>ed: ${JSON.stringify([...new Set(marks)])}, markup escaped`);
  expect((await level()) === "computed", `first answer should be computed, was ${await level()}`);
  const took = await meta.getByTestId("took-ms").textContent();
  const responseTime = (await meta.getByTestId("response-time").count()) ? await meta.getByTestId("response-time").textContent() : null;
  expect(responseTime, "X-Response-Time is not shown");
  ok(`first answer computed (${took}, ${responseTime})`);

  // A tag filter that excludes the document.
  await page.locator("#filters summary").click();
  await page.getByTestId("search-tags").fill(`not-${marker}`);
  await search(2);
  expect((await hitOfDoc.count()) === 0, "the tag filter did not exclude the document");
  await page.getByTestId("no-hits").waitFor({ timeout: WAIT_MS });
  ok(`tag filter not-${marker} excludes it ("${(await page.getByTestId("no-hits").textContent()).trim()}")`);

  // Words only: the marker is an exact token, which keyword search finds by itself.
  await page.getByTestId("search-tags").fill("");
  await page.getByTestId("search-mode").selectOption("KEYWORD");
  await page.getByTestId("search-query").fill(marker);
  await search(3);
  expect((await hitOfDoc.count()) === 1, "keyword search for the marker did not find the document");
  const keywordMarks = (await hitOfDoc.locator("mark").allTextContents()).map((m) => m.toLowerCase());
  expect(keywordMarks.length > 0 && keywordMarks.every((m) => m === marker), `keyword marks are ${JSON.stringify(keywordMarks)}`);
  const sides = await hitOfDoc.getByTestId("hit-side-scores").textContent();
  expect(/words \d/.test(sides) && !/meaning/.test(sides), `keyword hit's side scores are "${sides}"`);
  ok(`mode switch: KEYWORD finds "${marker}" (${sides})`);
  await page.getByTestId("search-mode").selectOption("HYBRID");
  await page.getByTestId("search-query").fill(query);

  // The same search again: answered from L1.
  await search(4);
  expect((await hitOfDoc.count()) === 1, "the repeated search lost the document");
  expect((await level()) === "L1", `repeated search should come from L1, was ${await level()}`);
  ok(`repeat of the same search answered from L1 (${await meta.getByTestId("took-ms").textContent()})`);

  // Files dropped on the drop zone go up as a multipart ingestFiles: the Markdown file is
  // ingested, the unsupported one reported in its place.
  const dataTransfer = await page.evaluateHandle((marker) => {
    const transfer = new DataTransfer();
    transfer.items.add(new File([`# Dropped ${marker}\n\nA note dropped on the page about ${marker} otters.`], `dropped-${marker}.md`, { type: "text/markdown" }));
    transfer.items.add(new File([new Uint8Array([0x89, 0x50, 0x4e, 0x47])], "photo.png", { type: "image/png" }));
    return transfer;
  }, marker);
  await page.getByTestId("drop-zone").dispatchEvent("drop", { dataTransfer });
  await page.waitForSelector('[data-testid="upload-status"]:is([data-state="ok"], [data-state="partial"], [data-state="error"])', { timeout: WAIT_MS * 2 });
  const uploads = await page.getByTestId("upload-result").evaluateAll((items) => items.map((li) => ({ state: li.dataset.state, text: li.textContent })));
  expect(uploads.length === 2, `expected two upload results, got ${JSON.stringify(uploads)}`);
  expect(uploads[0].state === "ok" && /dropped-.*\.md: ingested/.test(uploads[0].text), `the Markdown file: ${JSON.stringify(uploads[0])}`);
  expect(uploads[1].state === "error" && /photo\.png: BAD_INPUT: .*unsupported file type/.test(uploads[1].text), `the image: ${JSON.stringify(uploads[1])}`);
  await page.getByTestId("search-query").fill(`${marker} otters dropped`);
  await search(5);
  const droppedHit = page.locator('[data-testid="hit"]').filter({ hasText: "dropped on the page" });
  expect((await droppedHit.count()) >= 1, "the dropped file is not found by search");
  ok(`drop zone: ${uploads.map((u) => u.text).join("; ")}; the dropped file is found`);

  await page.screenshot({ path: path.join(screenshotDir, "search.png"), fullPage: true });
  ok("screenshot search.png");
  errors.check();
  await page.close();
}

async function dashboardPage(context, marker) {
  console.log("dashboard");
  const page = await context.newPage();
  const errors = watchErrors(page, "dashboard");
  await page.goto(`${baseUrl}/examples/dashboard/`);

  await page.locator('[data-testid="feed-status"][data-mode="live"]').waitFor({ timeout: WAIT_MS });
  ok("cache analytics arrive over graphql-ws (feed is live)");
  const read = async (id) => (await page.getByTestId(id).textContent()).trim();
  await page.waitForFunction(
    () => ["stat-lookups", "stat-requests"].every((id) => /\d/.test(document.querySelector(`[data-testid="${id}"]`).textContent)),
    null,
    { timeout: WAIT_MS },
  );
  const lookups = number(await read("stat-lookups"));
  const requests = number(await read("stat-requests"));
  const l2 = await read("stat-l2");
  ok(`read cache lookups ${lookups}, requests ${requests}, L2 "${l2}"`);

  // Two queries, each twice: misses then hits, so the hit-rate charts have something to show.
  for (let i = 0; i < 4; i++) await apiSearch(`dashboard probe ${marker} ${i % 2}`);
  await page.waitForFunction(
    ([lookupsBefore, requestsBefore]) => {
      const value = (id) => Number(document.querySelector(`[data-testid="${id}"]`).textContent.replace(/[^\d.]/g, ""));
      return value("stat-lookups") > lookupsBefore && value("stat-requests") > requestsBefore;
    },
    [lookups, requests],
    { timeout: WAIT_MS },
  ).catch(() => {
    throw new Failure(`the dashboard did not update within ${WAIT_MS / 1000} s of 4 searches`);
  });
  ok(`after 4 API searches: lookups ${await read("stat-lookups")}, requests ${await read("stat-requests")}`);

  await page.getByTestId("timing-run").click();
  await page.getByTestId("timing-row").first().waitFor({ timeout: WAIT_MS });
  const rows = await page.getByTestId("timing-row").evaluateAll((trs) =>
    trs.map((tr) => ({
      path: tr.querySelector('[data-testid="timing-path"]').textContent,
      ms: tr.querySelector('[data-testid="timing-ms"]').textContent,
    })),
  );
  const search = rows.find((r) => r.path === "search");
  expect(search && /\d.*\sms$/.test(search.ms), `no "search" field with a duration in ${JSON.stringify(rows)}`);
  ok(`timing view: total ${await read("timing-total")}, ${rows.length} fields, search ${search.ms}`);

  // Charts are drawn: every hit-rate chart and the request charts have an SVG.
  const charts = await page.locator('[data-testid^="hit-rate-"] svg, [data-testid="rps-chart"] svg, [data-testid="latency-chart"] svg').count();
  expect(charts >= 4, `expected at least 4 charts, found ${charts}`);
  ok(`${charts} charts drawn`);

  await page.screenshot({ path: path.join(screenshotDir, "dashboard.png"), fullPage: true });
  ok("screenshot dashboard.png");
  errors.check();
  await page.close();
}

/** With the WebSocket refused, the dashboard must fall back to polling the query. */
async function dashboardFallback(context) {
  console.log("dashboard without WebSocket");
  const page = await context.newPage();
  const errors = watchErrors(page, "dashboard (no WebSocket)");
  await page.routeWebSocket(/\/graphql\/ws$/, (ws) => ws.close({ code: 1011, reason: "refused by the test" }));
  await page.goto(`${baseUrl}/examples/dashboard/`);
  await page.locator('[data-testid="feed-status"][data-mode="polling"]').waitFor();
  await page.waitForFunction(() => /\d/.test(document.querySelector('[data-testid="stat-lookups"]').textContent));
  ok(`falls back to polling: "${(await page.getByTestId("feed-status").textContent()).trim()}", lookups ${await page.getByTestId("stat-lookups").textContent()}`);
  errors.check();
  await page.close();
}

await run("selfrag e2e", async (closeAtEnd) => {
  await mkdir(screenshotDir, { recursive: true });
  console.log(`selfrag e2e against ${baseUrl}, Chromium ${executablePath}`);
  const { browser, context, checkOffline } = await launchOffline(baseUrl, executablePath);
  closeAtEnd(browser);
  const marker = `zq${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  await landing(context);
  await searchPage(context, marker);
  await dashboardPage(context, marker);
  await dashboardFallback(context);
  checkOffline();
  ok(`no page asked for anything off the server; screenshots in ${screenshotDir}`);
});
