// What the browser tests share: expectations, error watching, and a Chromium that can reach
// nothing but the server under test.

import { chromium } from "playwright-core";

export const WAIT_MS = 10_000; // the longest any single expectation may take

export class Failure extends Error {}
export function expect(condition, message) {
  if (!condition) throw new Failure(message);
}
export function ok(message) {
  console.log(`  ✓ ${message}`);
}

/**
 * Records console errors and uncaught exceptions of a page; `check` fails on any but those
 * matching `expected` (the browser logs a refused request the test provoked).
 */
export function watchErrors(page, name, expected = []) {
  const errors = [];
  page.on("console", (message) => {
    const text = message.text();
    if (message.type() === "error" && !expected.some((pattern) => pattern.test(text))) {
      errors.push(`console error: ${text}`);
    }
  });
  page.on("pageerror", (error) => errors.push(`uncaught: ${error.message}`));
  return {
    check() {
      expect(errors.length === 0, `${name} page reported errors:\n    ${errors.join("\n    ")}`);
    },
  };
}

/**
 * Headless Chromium with no network but the server at `baseUrl`: host names do not resolve,
 * and any request to another origin is aborted and recorded in `offsite`, which `checkOffline`
 * fails on. So a page that needs a CDN fails here as it would on an air-gapped machine.
 */
export async function launchOffline(baseUrl, executablePath) {
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
    ],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(WAIT_MS);
  const origin = new URL(baseUrl).origin;
  const offsite = [];
  await context.route(
    (url) => url.origin !== origin && (url.protocol === "http:" || url.protocol === "https:"),
    (route) => {
      offsite.push(route.request().url());
      return route.abort("internetdisconnected");
    },
  );
  return {
    browser,
    context,
    checkOffline() {
      expect(offsite.length === 0, `pages asked for files off the server:\n    ${offsite.join("\n    ")}`);
    },
  };
}

/** Runs `steps`, prints the outcome, sets the exit code, and always closes the browser. */
export async function run(name, steps) {
  const started = Date.now();
  let browser;
  try {
    await steps(function closeAtEnd(launched) {
      browser = launched;
    });
    console.log(`${name} passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } catch (error) {
    console.error(`\nFAILED: ${error instanceof Failure ? error.message : (error.stack ?? error)}`);
    process.exitCode = 1;
  } finally {
    await browser?.close();
  }
}
