#!/usr/bin/env bash
# Throughput of a repeated search through the full HTTP + GraphQL stack, with wrk (Debian
# package `wrk`) against a server already running on this machine, set against its ceiling:
# axum answering the very same bytes from memory (`benches/raw_axum.rs`), in the same run.
# Start the server with SELFRAG_RATE_LIMIT__ENABLED=false: one client address would otherwise
# spend its search budget within a second, and the run would measure 429s.
#   scripts/load_l1.sh [URL] [CONNECTIONS] [SECONDS]
# SELFRAG_LOAD_BASELINE=0 skips the baseline (and its build).
set -euo pipefail
cd "$(dirname "$0")/.."
url=${1:-http://127.0.0.1:8080}
case $url in http://127.0.0.1:*|http://localhost:*) ;; *) echo "loopback targets only" >&2; exit 2 ;; esac
connections=${2:-32}
seconds=${3:-20}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
# The body wrk sends (Lua's `\\` is one backslash), byte for byte: the response cache keys on it.
body=$(sed -n "s/^wrk.body = '\(.*\)'$/\1/p" scripts/wrk_search.lua | sed 's/\\\\/\\/g')
work=$(mktemp -d)
trap 'kill "${baseline_pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
# Fill the caches once (and keep the bytes for the baseline), then measure.
curl -fsS -H 'content-type: application/json' -d "$body" "$url/graphql" -o "$work/response.json"
echo "== selfrag: $url ($(wc -c <"$work/response.json") bytes a response)"
wrk -t2 -c"$connections" -d"${seconds}s" --latency -s scripts/wrk_search.lua "$url/graphql" | tee "$work/selfrag.txt"
[ "${SELFRAG_LOAD_BASELINE:-1}" = 0 ] && exit 0

baseline=$(cargo bench --bench raw_axum --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json, sys
for line in sys.stdin:
    message = json.loads(line)
    if message.get("executable") and message.get("target", {}).get("name") == "raw_axum":
        print(message["executable"])' | tail -1)
[ -x "$baseline" ] || { echo "cannot build benches/raw_axum.rs (cargo bench --bench raw_axum --no-run)" >&2; exit 1; }
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
SELFRAG_RAW_BODY="$work/response.json" SELFRAG_RAW_BIND="127.0.0.1:$port" "$baseline" --bench &
baseline_pid=$!
for _ in $(seq 50); do curl -fsS -o /dev/null -d '{}' "http://127.0.0.1:$port/graphql" && break; sleep 0.1; done
echo "== raw axum, the same bytes: http://127.0.0.1:$port"
wrk -t2 -c"$connections" -d"${seconds}s" --latency -s scripts/wrk_search.lua "http://127.0.0.1:$port/graphql" | tee "$work/raw.txt"
rate() { awk '/^Requests\/sec/ { print $2 }' "$1"; }
python3 -c "import sys; ours, raw = map(float, sys.argv[1:]); print(f'selfrag {ours:,.0f} req/s = {100 * ours / raw:.1f} % of raw axum ({raw:,.0f} req/s)')" \
  "$(rate "$work/selfrag.txt")" "$(rate "$work/raw.txt")"
