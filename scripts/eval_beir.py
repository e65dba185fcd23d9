#!/usr/bin/env python3
"""Retrieval quality on a BEIR dataset (e.g. SciFact in ../shared/eval/scifact), through a
running selfrag server's GraphQL API: ingests the corpus (each document's BEIR id as its
`source`), runs the test queries in each search mode, and prints nDCG@10 and Recall@100 over
documents per mode (a document's rank is that of its best chunk among the top 100 chunks).
MTEB's conventions: graded relevance is the gain, and a hit that is the query itself is skipped.

    scripts/eval_beir.py DATASET_DIR [URL] [--modes dense,keyword,hybrid] [--skip-ingest]
                         [--fusion rrf|dbsf] [--k K] [--weights DENSE,KEYWORD]
                         [--max-docs N --modes ""]   # ingest throughput only

URL defaults to http://127.0.0.1:8080. Start the server on an empty data directory with
SELFRAG_RATE_LIMIT__ENABLED=false (or pass --skip-ingest when it already holds the corpus,
e.g. to compare fusion settings, which apply at query time). The data set is read in place,
never copied into the repository. Standard library only.
"""
import gzip, json, math, sys, time, urllib.request

import argparse

parser = argparse.ArgumentParser()
parser.add_argument("dataset")
parser.add_argument("url", nargs="?", default="http://127.0.0.1:8080")
parser.add_argument("--modes", default="dense,keyword,hybrid")
parser.add_argument("--skip-ingest", action="store_true")
parser.add_argument("--fusion", choices=["rrf", "dbsf"])
parser.add_argument("--k", type=int)
parser.add_argument("--weights", help="DENSE,KEYWORD")
parser.add_argument("--max-docs", type=int, help="ingest only the first N documents (throughput runs)")
args = parser.parse_args()
dataset = args.dataset
url = args.url.rstrip("/") + "/graphql"
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
if args.max_docs:
    corpus = corpus[:args.max_docs]
queries = [json.loads(line) for line in open(f"{dataset}/queries.jsonl")]
qrels = read_qrels()

chunks, ingest_s = 0, 0.0
if not args.skip_ingest:
    started = time.time()
    ingest = "mutation($i: [IngestInput!]!) { ingestDocuments(inputs: $i) { chunksCreated } }"
    for at in range(0, len(corpus), 50):
        batch = [{"content": (d["title"] + "\n\n" + d["text"]).strip(), "title": d["title"][:1000] or None,
                  "source": d["_id"]} for d in corpus[at:at + 50]]
        chunks += sum(r["chunksCreated"] for r in graphql(ingest, {"i": batch})["ingestDocuments"])
    ingest_s = time.time() - started
    print(f"{len(corpus)} documents, {chunks} chunks ingested in {ingest_s:.1f} s "
          f"({chunks / ingest_s:.1f} chunks/s)", flush=True)

# Measure the index as it serves once the background optimiser has built the graph, not an
# exact search of segments still waiting for it: which one a run saw depended on timing. Both
# backends count a graphed point once per vector (dense and keyword), as Qdrant does; a few
# points may stay in the small appendable segment, which is searched exactly.
stats_query = "{ collectionStats { vectors indexedVectors } }"
deadline = time.time() + 900
while True:
    stats = graphql(stats_query, {})["collectionStats"]
    if stats["indexedVectors"] >= 2 * 0.999 * stats["vectors"] or time.time() > deadline:
        break
    time.sleep(2)
print(f"graph covers {stats['indexedVectors'] / 2:.0f} of {stats['vectors']} vectors", flush=True)

fusion = None
if args.fusion or args.k or args.weights:
    fusion = {}
    if args.fusion:
        fusion["method"] = args.fusion.upper()
    if args.k:
        fusion["k"] = args.k
    if args.weights:
        dense, keyword = (float(w) for w in args.weights.split(","))
        fusion["denseWeight"], fusion["keywordWeight"] = dense, keyword
search = ("query($q: String!, $mode: SearchMode!, $fusion: FusionInput) { search(query: $q, limit: 100, "
          "mode: $mode, fusion: $fusion) { hits { document { source } } } }")
for mode in filter(None, args.modes.split(",")):
    ndcg, recall, evaluated = 0.0, 0.0, 0
    started = time.time()
    for query in queries:
        relevant = qrels.get(query["_id"])
        if not relevant:
            continue
        ranked = []
        hits = graphql(search, {"q": query["text"], "mode": mode.upper(), "fusion": fusion})["search"]["hits"]
        for hit in hits:
            source = hit["document"]["source"]
            if source not in ranked and source != query["_id"]:
                ranked.append(source)
        dcg = sum(relevant.get(doc, 0) / math.log2(rank + 2) for rank, doc in enumerate(ranked[:10]))
        ideal = sum(g / math.log2(rank + 2) for rank, g in enumerate(sorted(relevant.values(), reverse=True)[:10]))
        ndcg += dcg / ideal
        recall += len(set(ranked[:100]) & set(relevant)) / len(relevant)
        evaluated += 1
    print(f"{mode:8} nDCG@10 {ndcg / evaluated:.4f}  Recall@100 {recall / evaluated:.4f}  "
          f"({evaluated} queries in {time.time() - started:.1f} s)", flush=True)
