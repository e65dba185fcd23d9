#!/usr/bin/env bash
# Throughput of a search answered from L1 through the full HTTP + GraphQL stack, with wrk
# (Debian package `wrk`) against a server already running on this machine. Start that server
# with SELFRAG_RATE_LIMIT__ENABLED=false: one client address would otherwise spend its search
# budget within a second, and the run would measure 429s.
#   scripts/load_l1.sh [URL] [CONNECTIONS] [SECONDS]
set -euo pipefail
url=${1:-http://127.0.0.1:8080}
case $url in http://127.0.0.1:*|http://localhost:*) ;; *) echo "loopback targets only" >&2; exit 2 ;; esac
connections=${2:-32}
seconds=${3:-20}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
# Warm the cache once, then measure.
curl -fsS -H 'content-type: application/json' \
  -d '{"query":"{ search(query: \"how do bees survive winter\", limit: 10) { totalHits } }"}' "$url/graphql" >/dev/null
exec wrk -t2 -c"$connections" -d"${seconds}s" --latency -s "$(dirname "$0")/wrk_search.lua" "$url/graphql"
