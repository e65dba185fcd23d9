#!/usr/bin/env bash
# The whole test suite: provisions ONNX Runtime and the model on first use, then runs every
# test (unit, integration over HTTP/GraphQL, property tests, the example pages in headless
# Chromium when it is installed, benches in test mode).
#
# PostgreSQL: set SELFRAG_TEST_DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test) and
# the PostgreSQL half of the suite runs too; each test gets a database of its own. Without it
# those tests are skipped, except under CI (CI=true), where they fail.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# The browser test's driver (playwright-core; it uses the system's Chromium, never downloads one),
# and the example pages it drives: TypeScript, type-checked and built by Vite into dist/.
if command -v npm >/dev/null; then
  [ -d tests/browser/node_modules ] || npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
  [ -d frontend-examples/node_modules ] || npm ci --prefix frontend-examples --no-audit --no-fund --loglevel=error
  npm run --prefix frontend-examples --silent build
fi
exec cargo test --workspace --all-targets "$@"
