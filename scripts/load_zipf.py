#!/usr/bin/env python3
"""Replay a Zipf-distributed search trace against a running selfrag and compare the cache hit
rates it achieved with the ceiling an unbounded cache with the same invalidation rules would
reach on the same trace.

Invalidation rules of the ceiling: a search result is reusable until the next ingest (every
ingest bumps the corpus generation, which is part of the result key); a query embedding is
reusable forever (it does not depend on the corpus).

Stdlib only. Loopback only: the target must be a server on this machine, started with
SELFRAG_RATE_LIMIT__ENABLED=false (one client address would exhaust its search budget).

    scripts/load_zipf.py --url http://127.0.0.1:8080 --requests 20000 --concurrency 16
"""

import argparse
import collections
import concurrent.futures
import http.client
import json
import random
import threading
import time
import urllib.parse

TOPICS = [
    "honey bees", "volcanic eruptions", "sourdough starters", "chess openings", "roman aqueducts",
    "photosynthesis", "jazz improvisation", "marathon training", "black holes", "coral reefs",
    "medieval bookbinding", "database indexes", "glaciers", "solar panels", "vaccines",
    "octopus intelligence", "bridge engineering", "tea cultivation", "desert ecosystems", "typography",
]
ASPECTS = [
    "how does {t} work", "history of {t}", "why do people care about {t}", "common mistakes with {t}",
    "what is the science behind {t}", "{t} for beginners", "risks of {t}", "future of {t}",
    "key facts about {t}", "how to explain {t} to a child", "{t} in winter", "cost of {t}",
    "best books on {t}", "tools needed for {t}", "myths about {t}", "{t} and climate",
    "famous examples of {t}", "how long does {t} take", "{t} step by step", "debates around {t}",
    "{t} compared with alternatives", "what experts say about {t}", "{t} terminology",
    "measuring {t}", "{t} in the ancient world", "modern research on {t}", "{t} at home",
    "{t} safety", "the economics of {t}", "{t} and health", "{t} around the world",
    "surprising facts about {t}", "how {t} changed over time", "{t} in one paragraph",
    "questions to ask about {t}", "{t} vocabulary for students", "the physics of {t}",
    "{t} and technology", "a short guide to {t}", "learning {t} quickly", "{t} statistics",
    "{t} case study", "ethics of {t}", "{t} careers", "teaching {t}", "{t} checklist",
    "{t} glossary", "{t} faq", "{t} overview", "{t} deep dive",
]

QUERY = "query($q: String!) { search(query: $q, limit: 5) { totalHits cacheHit cacheLevel } }"
INGEST = "mutation($c: String!) { ingestDocument(input: {content: $c, tags: [\"load\"]}) { deduplicated } }"
ANALYTICS = "{ cacheAnalytics { namespaces { namespace counters { l1Hits l2Hits misses } } } }"


class Client:
    """One keep-alive connection per thread."""

    local = threading.local()

    def __init__(self, url):
        parsed = urllib.parse.urlparse(url)
        if parsed.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit("refusing to load a non-loopback address")
        self.host, self.port = parsed.hostname, parsed.port or 80

    def post(self, query, variables=None):
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        body = json.dumps({"query": query, "variables": variables or {}})
        try:
            conn.request("POST", "/graphql", body, {"content-type": "application/json"})
            response = conn.getresponse()
            data = json.loads(response.read())
        except (http.client.HTTPException, OSError):
            self.local.conn = None
            raise
        if data.get("errors"):
            raise RuntimeError(data["errors"][0]["message"])
        return data["data"]


def zipf_trace(n_queries, n_requests, exponent, seed):
    queries = [a.format(t=t) for t in TOPICS for a in ASPECTS][:n_queries]
    if len(queries) < n_queries:
        raise SystemExit(f"only {len(queries)} distinct queries available")
    rng = random.Random(seed)
    rng.shuffle(queries)
    weights = [1.0 / (rank ** exponent) for rank in range(1, n_queries + 1)]
    return rng.choices(queries, weights=weights, k=n_requests)


def ceiling(trace, ingest_every):
    """Hit rates of an unbounded cache with the server's invalidation rules."""
    results_seen, embeddings_seen = set(), set()
    result_hits = embedding_lookups = embedding_hits = 0
    for i, query in enumerate(trace):
        if i and ingest_every and i % ingest_every == 0:
            results_seen.clear()  # a new generation: every cached result is unreachable
        if query in results_seen:
            result_hits += 1
            continue  # a result hit never consults the embedding cache
        results_seen.add(query)
        embedding_lookups += 1
        if query in embeddings_seen:
            embedding_hits += 1
        embeddings_seen.add(query)
    return result_hits / len(trace), embedding_hits / max(embedding_lookups, 1)


def counters(client):
    data = client.post(ANALYTICS)["cacheAnalytics"]["namespaces"]
    return {ns["namespace"]: ns["counters"] for ns in data}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--queries", type=int, default=1000, help="distinct queries (>= 1000)")
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--exponent", type=float, default=1.0)
    parser.add_argument("--ingest-every", type=int, default=2500, help="requests between ingests (0: none)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    client = Client(args.url)
    trace = zipf_trace(args.queries, args.requests, args.exponent, args.seed)
    result_ceiling, embedding_ceiling = ceiling(trace, args.ingest_every)
    before = counters(client)

    latencies, result_hits, levels = [], 0, collections.Counter()
    lock = threading.Lock()

    def one(query):
        started = time.perf_counter()
        search = client.post(QUERY, {"q": query})["search"]
        elapsed = time.perf_counter() - started
        with lock:
            latencies.append(elapsed)
            levels[search["cacheLevel"] or "computed"] += 1
        return search["cacheHit"]

    started = time.perf_counter()
    boundaries = list(range(0, len(trace), args.ingest_every or len(trace))) + [len(trace)]
    with concurrent.futures.ThreadPoolExecutor(args.concurrency) as pool:
        for segment, (lo, hi) in enumerate(zip(boundaries, boundaries[1:])):
            if segment:
                client.post(INGEST, {"c": f"Load-test document {segment} written at {time.time()}."})
            result_hits += sum(pool.map(one, trace[lo:hi]))
    wall = time.perf_counter() - started

    after = counters(client)
    emb_hits = sum(after["EMBEDDINGS"][k] - before["EMBEDDINGS"][k] for k in ("l1Hits", "l2Hits"))
    emb_misses = after["EMBEDDINGS"]["misses"] - before["EMBEDDINGS"]["misses"]
    embedding_rate = emb_hits / max(emb_hits + emb_misses, 1)
    result_rate = result_hits / len(trace)

    latencies.sort()
    pct = lambda p: latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000
    print(f"requests {len(trace)}  distinct queries {args.queries}  zipf s={args.exponent}  "
          f"ingests {len(boundaries) - 2}  concurrency {args.concurrency}")
    print(f"throughput {len(trace) / wall:.0f} req/s over {wall:.1f} s")
    print(f"latency ms  p50 {pct(50):.2f}  p90 {pct(90):.2f}  p99 {pct(99):.2f}  max {latencies[-1] * 1000:.2f}")
    print(f"levels {dict(levels)}")
    print(f"result cache     hit rate {result_rate:.4f}  ceiling {result_ceiling:.4f}  "
          f"achieved {result_rate / result_ceiling:.1%} of ceiling")
    print(f"embedding cache  hit rate {embedding_rate:.4f}  ceiling {embedding_ceiling:.4f}  "
          f"achieved {embedding_rate / max(embedding_ceiling, 1e-9):.1%} of ceiling")


if __name__ == "__main__":
    main()
