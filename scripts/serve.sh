#!/usr/bin/env bash
# Provisions the model on first use, builds the release binary and runs the server with the
# embedded default (SQLite + embedded vector index under ./data). Arguments go to `serve`,
# e.g. `scripts/serve.sh --bind 0.0.0.0:8080`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --locked
exec "${CARGO_TARGET_DIR:-target}/release/selfrag" serve "$@"
