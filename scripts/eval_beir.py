#!/usr/bin/env python3
"""Retrieval quality on a BEIR dataset (e.g. SciFact in ../shared/eval/scifact), through a
running selfrag server's GraphQL API: ingests the corpus (each document's BEIR id as its
`source`), runs the test queries, and prints nDCG@10 and Recall@100 over documents (a
document's rank is that of its best chunk).

    scripts/eval_beir.py DATASET_DIR [URL]        # URL defaults to http://127.0.0.1:8080

Start the server on an empty data directory with SELFRAG_RATE_LIMIT__ENABLED=false. The
data set is read in place, never copied into the repository. Standard library only.
"""
import gzip, json, math, sys, time, urllib.request

dataset = sys.argv[1]
url = (sys.argv[2] if len(sys.argv) > 2 else "http://127.0.0.1:8080").rstrip("/") + "/graphql"
if not url.startswith(("http://127.0.0.1:", "http://localhost:")):
    sys.exit("loopback servers only")


def graphql(query, variables):
    request = urllib.request.Request(url, json.dumps({"query": query, "variables": variables}).encode(),
                                     {"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=600) as response:
        body = json.load(response)
    if body.get("errors"):
        sys.exit(f"server error: {body['errors'][0]}")
    return body["data"]


def read_qrels():
    qrels = {}
    path = f"{dataset}/qrels/test.tsv"
    with open(path) as lines:
        next(lines)
        for line in lines:
            query, doc, score = line.rstrip("\n").split("\t")
            if int(score) > 0:
                qrels.setdefault(query, {})[doc] = int(score)
    return qrels


corpus = [json.loads(line) for line in gzip.open(f"{dataset}/corpus.jsonl.gz", "rt")]
queries = [json.loads(line) for line in open(f"{dataset}/queries.jsonl")]
qrels = read_qrels()

started = time.time()
ingest = "mutation($i: [IngestInput!]!) { ingestDocuments(inputs: $i) { chunksCreated } }"
chunks = 0
for at in range(0, len(corpus), 50):
    batch = [{"content": (d["title"] + "\n\n" + d["text"]).strip(), "title": d["title"][:1000] or None,
              "source": d["_id"]} for d in corpus[at:at + 50]]
    chunks += sum(r["chunksCreated"] for r in graphql(ingest, {"i": batch})["ingestDocuments"])
ingest_s = time.time() - started

search = "query($q: String!) { search(query: $q, limit: 100) { hits { document { source } } } }"
ndcg, recall, evaluated = 0.0, 0.0, 0
started = time.time()
for query in queries:
    relevant = qrels.get(query["_id"])
    if not relevant:
        continue
    ranked = []
    for hit in graphql(search, {"q": query["text"]})["search"]["hits"]:
        source = hit["document"]["source"]
        if source not in ranked:
            ranked.append(source)
    dcg = sum(relevant.get(doc, 0) / math.log2(rank + 2) for rank, doc in enumerate(ranked[:10]))
    ideal = sum(g / math.log2(rank + 2) for rank, g in enumerate(sorted(relevant.values(), reverse=True)[:10]))
    ndcg += dcg / ideal
    recall += len(set(ranked[:100]) & set(relevant)) / len(relevant)
    evaluated += 1
print(f"{len(corpus)} documents, {chunks} chunks ingested in {ingest_s:.0f} s; "
      f"{evaluated} queries in {time.time() - started:.1f} s")
print(f"nDCG@10 {ndcg / evaluated:.4f}  Recall@100 {recall / evaluated:.4f}")
