#!/usr/bin/env python3
"""What an update by external id costs, against a running server.

    scripts/update_cost.py CORPUS_JSONL [URL] [--paragraphs 50] [--runs 5]

Builds a document from the first PARAGRAPHS texts of CORPUS_JSONL (a BEIR corpus.jsonl, e.g.
../shared/eval/scifact/corpus.jsonl.gz: abstracts, about one chunk each), ingests it under a fresh
externalId, then edits one paragraph in the middle (a sentence appended) and ingests it again,
RUNS times (a different paragraph each run). Prints, per run, the first ingest's and the
update's `totalMs`, chunks embedded and reused, and the speed-up; then the medians. Start the
server with SELFRAG_RATE_LIMIT__ENABLED=false (or pass a writer key in SELFRAG_API_KEY).
Standard library only.
"""
import argparse, gzip, json, os, statistics, urllib.request, uuid

parser = argparse.ArgumentParser()
parser.add_argument("corpus")
parser.add_argument("url", nargs="?", default="http://127.0.0.1:8080")
parser.add_argument("--paragraphs", type=int, default=50)
parser.add_argument("--runs", type=int, default=5)
args = parser.parse_args()
url = args.url.rstrip("/") + "/graphql"
if not url.startswith(("http://127.0.0.1:", "http://localhost:")):
    raise SystemExit("loopback servers only")
headers = {"content-type": "application/json"}
if os.environ.get("SELFRAG_API_KEY"):
    headers["authorization"] = "Bearer " + os.environ["SELFRAG_API_KEY"]

INGEST = """mutation($input: IngestInput!) { ingestDocument(input: $input) {
    status totalMs chunksCreated chunksEmbedded chunksReused } }"""


def ingest(content, external_id):
    body = json.dumps({"query": INGEST, "variables": {"input": {"content": content, "externalId": external_id}}})
    request = urllib.request.Request(url, body.encode(), headers)
    with urllib.request.urlopen(request, timeout=600) as response:
        answer = json.load(response)
    if answer.get("errors"):
        raise SystemExit(f"server error: {answer['errors'][0]}")
    return answer["data"]["ingestDocument"]


texts = []
opener = gzip.open if args.corpus.endswith(".gz") else open
for line in opener(args.corpus, "rt", encoding="utf-8"):
    if line.strip():
        texts.append(json.loads(line)["text"])
    if len(texts) >= args.paragraphs * (args.runs + 1):
        break
first_ms, update_ms, speedups = [], [], []
for run in range(args.runs):
    paragraphs = texts[run * args.paragraphs:(run + 1) * args.paragraphs]
    external_id = f"update-cost/{uuid.uuid4()}"
    first = ingest("\n\n".join(paragraphs), external_id)
    at = len(paragraphs) // 2 + run
    paragraphs[at] += " This sentence was added by an edit."
    update = ingest("\n\n".join(paragraphs), external_id)
    assert update["status"] == "UPDATED", update
    speedup = first["totalMs"] / update["totalMs"]
    first_ms.append(first["totalMs"])
    update_ms.append(update["totalMs"])
    speedups.append(speedup)
    print(f"run {run + 1}: first {first['totalMs']:.0f} ms ({first['chunksCreated']} chunks); "
          f"update {update['totalMs']:.0f} ms ({update['chunksEmbedded']} embedded, "
          f"{update['chunksReused']} reused): {speedup:.1f}x faster")
print(f"median: first {statistics.median(first_ms):.0f} ms, update {statistics.median(update_ms):.0f} ms, "
      f"{statistics.median(speedups):.1f}x")
