-- wrk script: one fixed search, so after the first request every answer is an L1 hit.
-- scripts/load_l1.sh runs it; see the README for the numbers and how they were taken.
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.body = '{"query":"{ search(query: \\"how do bees survive winter\\", limit: 10) { totalHits cacheHit cacheLevel tookMs hits { score chunk { content } document { title } } } }"}'

done = function(summary, latency, requests)
  io.write(string.format("p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms\n",
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
