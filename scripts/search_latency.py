#!/usr/bin/env python3
"""Computed-search latency per mode (cache misses), as the server measures it (`tookMs`).

    scripts/search_latency.py QUERIES_JSONL [URL] [--modes dense,keyword,hybrid|plain] [--limit 10]

QUERIES_JSONL holds one {"text": ...} per line (a BEIR queries.jsonl, e.g.
../shared/eval/scifact/queries.jsonl). Before each mode the server's caches are cleared
(`clearCache`, so the model embeds every query again: a miss in both the result and the
embedding cache), then every query is searched once, one at a time. Prints p50/p95/mean of
`tookMs` per mode and the ratio of each mode's p50 to dense's. Start the server with
SELFRAG_RATE_LIMIT__ENABLED=false; it needs no API key (or pass one in SELFRAG_API_KEY).
Standard library only.
"""
import argparse, json, os, statistics, urllib.request

parser = argparse.ArgumentParser()
parser.add_argument("queries")
parser.add_argument("url", nargs="?", default="http://127.0.0.1:8080")
parser.add_argument("--modes", default="dense,keyword,hybrid")
parser.add_argument("--limit", type=int, default=10)
args = parser.parse_args()
url = args.url.rstrip("/") + "/graphql"
if not url.startswith(("http://127.0.0.1:", "http://localhost:")):
    raise SystemExit("loopback servers only")
headers = {"content-type": "application/json"}
if os.environ.get("SELFRAG_API_KEY"):
    headers["authorization"] = "Bearer " + os.environ["SELFRAG_API_KEY"]


def graphql(query, variables=None):
    request = urllib.request.Request(url, json.dumps({"query": query, "variables": variables or {}}).encode(), headers)
    with urllib.request.urlopen(request, timeout=120) as response:
        body = json.load(response)
    if body.get("errors"):
        raise SystemExit(f"server error: {body['errors'][0]}")
    return body["data"]


texts = [json.loads(line)["text"] for line in open(args.queries) if line.strip()]
search = ("query($q: String!, $mode: SearchMode!, $limit: Int) { search(query: $q, mode: $mode, limit: $limit) "
          "{ tookMs cacheHit } }")
# `plain`: no mode argument, for servers from before search modes (before/after comparisons).
plain = "query($q: String!, $limit: Int) { search(query: $q, limit: $limit) { tookMs cacheHit } }"
p50s = {}
for mode in args.modes.split(","):
    graphql("mutation { clearCache { namespace } }")
    took = []
    for text in texts:
        if mode == "plain":
            result = graphql(plain, {"q": text, "limit": args.limit})["search"]
        else:
            result = graphql(search, {"q": text, "mode": mode.upper(), "limit": args.limit})["search"]
        if result["cacheHit"]:
            continue  # a repeated query text: not a miss
        took.append(result["tookMs"])
    took.sort()
    p50, p95 = statistics.median(took), took[int(len(took) * 0.95) - 1]
    p50s[mode] = p50
    ratio = f"  ({p50 / p50s['dense']:.2f}x dense)" if "dense" in p50s and mode != "dense" else ""
    print(f"{mode:8} p50 {p50:7.2f} ms  p95 {p95:7.2f} ms  mean {statistics.mean(took):7.2f} ms  "
          f"({len(took)} computed searches){ratio}", flush=True)
