//! The two-level cache through HTTP/GraphQL: hits and levels, invalidation by the corpus
//! generation (also across replicas), Redis failures that never fail a request, analytics,
//! clearing.

use deadpool_redis::redis;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, redis_url, unique_prefix};
use crate::on_every_backend;

fn namespace<'a>(analytics: &'a Value, name: &str) -> &'a Value {
    analytics["namespaces"]
        .as_array()
        .expect("namespaces")
        .iter()
        .find(|ns| ns["namespace"] == name)
        .unwrap_or_else(|| panic!("no namespace {name}: {analytics}"))
}

async fn repeated_searches_hit_l1_until_the_corpus_changes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.ingest(json!({ "content": "Honeybees cluster in winter to keep the queen warm." }))
        .await;
    let query = "how do bees survive the cold";

    let first = app.cached_search(query).await;
    assert_eq!(
        (first["cacheHit"].clone(), first["cacheLevel"].clone()),
        (json!(false), Value::Null)
    );
    let second = app.cached_search("  how do bees   survive the cold ").await;
    assert_eq!(
        (second["cacheHit"].clone(), second["cacheLevel"].clone()),
        (json!(true), json!("L1"))
    );
    assert_eq!(second["hits"], first["hits"]);

    let before = app.cache_analytics().await;
    let ingested = app
        .ingest(json!({ "content": "Bees survive cold winters by clustering and shivering." }))
        .await;
    let after_ingest = app.cached_search(query).await;
    assert_eq!(
        after_ingest["cacheHit"], false,
        "an ingest must invalidate cached results"
    );
    assert_eq!(after_ingest["totalHits"], 2, "the new document is found");

    let analytics = app.cache_analytics().await;
    assert!(analytics["corpusGeneration"].as_u64() > before["corpusGeneration"].as_u64());
    let results = namespace(&analytics, "RESULTS")["counters"].clone();
    assert_eq!(
        (results["l1Hits"].as_u64(), results["misses"].as_u64()),
        (Some(1), Some(2)),
        "{analytics}"
    );
    // The repeated query missed the result cache but not the embedding cache.
    let embeddings = namespace(&analytics, "EMBEDDINGS")["counters"].clone();
    assert_eq!(
        (embeddings["misses"].as_u64(), embeddings["l1Hits"].as_u64()),
        (Some(1), Some(1)),
        "{analytics}"
    );
    assert_eq!(analytics["l2"]["state"], "DISABLED");

    // A delete invalidates too.
    app.cached_search(query).await;
    app.delete(ingested["document"]["id"].as_str().expect("id"))
        .await;
    let after_delete = app.cached_search(query).await;
    assert_eq!(
        (
            after_delete["cacheHit"].clone(),
            after_delete["totalHits"].clone()
        ),
        (json!(false), json!(1))
    );
}

async fn embed_reports_cached_vectors(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let query = "query($t: [String!]!) { embed(texts: $t) { text cached vector } }";
    let first = app.data(query, json!({ "t": ["alpha", "beta"] })).await;
    assert!(
        first["embed"]
            .as_array()
            .expect("list")
            .iter()
            .all(|e| e["cached"] == false)
    );
    let second = app.data(query, json!({ "t": ["beta", "gamma"] })).await;
    assert_eq!(second["embed"][0]["cached"], true);
    assert_eq!(second["embed"][1]["cached"], false);
    assert_eq!(second["embed"][0]["vector"], first["embed"][1]["vector"]);
}

on_every_backend!(
    repeated_searches_hit_l1_until_the_corpus_changes,
    embed_reports_cached_vectors
);

fn cosine(a: &Value, b: &Value) -> f64 {
    let floats = |v: &Value| -> Vec<f64> {
        v.as_array()
            .expect("vector")
            .iter()
            .map(|x| x.as_f64().expect("float"))
            .collect()
    };
    let (a, b) = (floats(a), floats(b));
    assert_eq!(a.len(), b.len());
    a.iter().zip(&b).map(|(x, y)| x * y).sum()
}

/// Keys follow how the model reads text: texts its tokenizer normalises alike (case, accents,
/// runs of whitespace) share embedding entries, holding the vectors the model computes for
/// each; results are shared only where the keyword side reads the queries alike too, and the
/// echoed query is each request's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_keys_follow_how_the_model_reads_text() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let embed = "query($t: [String!]!) { embed(texts: $t) { cached vector } }";
    let first = app
        .data(
            embed,
            json!({ "t": ["Tokio Runtime", "Café Crème Brûlée"] }),
        )
        .await;
    let alike = json!(["tokio   runtime", "cafe creme brulee", "tokio runtimes"]);
    let second = app.data(embed, json!({ "t": alike })).await;
    let cached: Vec<&Value> = second["embed"]
        .as_array()
        .expect("list")
        .iter()
        .map(|e| &e["cached"])
        .collect();
    assert_eq!(cached, [&json!(true), &json!(true), &json!(false)]);
    assert_eq!(second["embed"][0]["vector"], first["embed"][0]["vector"]);
    assert_eq!(second["embed"][1]["vector"], first["embed"][1]["vector"]);
    // What was shared is what the model computes for the other spelling (a server with an
    // empty cache computes it; batches pad differently, hence not bit for bit).
    let fresh = TestApp::spawn(Backend::Sqlite).await;
    let computed = fresh.data(embed, json!({ "t": alike })).await;
    for i in 0..2 {
        assert_eq!(computed["embed"][i]["cached"], false);
        let similarity = cosine(
            &computed["embed"][i]["vector"],
            &first["embed"][i]["vector"],
        );
        assert!(similarity > 0.9999, "text {i}: cosine {similarity}");
    }

    app.ingest(json!({
        "content": "The Tokio runtime schedules tasks. The café serves crème brûlée."
    }))
    .await;
    let search = |q: &'static str| {
        let app = &app;
        async move {
            app.data(
                "query($q: String!) { search(query: $q, limit: 5) { query cacheHit cacheLevel hits { chunk { id } } } }",
                json!({ "q": q }),
            )
            .await["search"]
                .clone()
        }
    };
    let computed = search("Tokio runtime").await;
    let shared = search("tokio  RUNTIME").await;
    assert_eq!(computed["cacheHit"], false);
    assert_eq!(
        (&shared["cacheHit"], &shared["cacheLevel"]),
        (&json!(true), &json!("L1"))
    );
    assert_eq!(shared["hits"], computed["hits"]);
    assert_eq!(shared["query"], "tokio RUNTIME", "the request's own query");

    // The model reads these alike; the keyword side may not (it decides whether they share).
    let keywords = selfrag::keywords::Keywords::new(&app.services().config.keywords)
        .expect("keyword settings");
    let terms_alike = keywords.query("crème brûlée") == keywords.query("creme brulee");
    assert_eq!(search("crème brûlée").await["cacheHit"], false);
    assert_eq!(search("creme brulee").await["cacheHit"], terms_alike);
    let analytics = app.cache_analytics().await;
    let embeddings = namespace(&analytics, "EMBEDDINGS")["counters"].clone();
    assert_eq!(
        embeddings["l1Hits"].as_u64(),
        // Two by `embed`; "Tokio runtime"; "creme brulee" when its result was not shared.
        Some(3 + u64::from(!terms_alike)),
        "{analytics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clearing_empties_both_levels_and_analytics_are_served_as_json_and_prometheus() {
    let redis = redis_url();
    let prefix = unique_prefix();
    let app = TestApp::spawn_with(Backend::Sqlite, |config| {
        config.redis_url = redis.clone();
        config.cache.key_prefix = prefix.clone();
    })
    .await;
    app.ingest(json!({ "content": "Lava flows from volcanoes." }))
        .await;
    app.cached_search("volcano").await;
    // Another body (the response cache would answer the same one before the result cache).
    app.cached_search(" volcano").await;

    let json: Value = app
        .get("/health/cache/analytics")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(json["namespaces"][1]["namespace"], "results");
    assert_eq!(json["namespaces"][1]["counters"]["l1Hits"], 1);
    assert!(json["corpusGeneration"].as_u64() >= Some(1));

    let metrics = app.get("/metrics").await.text().await.expect("text");
    assert!(
        metrics.contains("selfrag_cache_hits_total{namespace=\"q\",level=\"l1\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("selfrag_cache_l1_entries{namespace=\"emb\"}"));

    let data = app
        .data(
            "mutation { clearCache(namespace: RESULTS) { namespace l1Entries l2Keys } }",
            Value::Null,
        )
        .await;
    let cleared = &data["clearCache"];
    assert_eq!(cleared.as_array().map(Vec::len), Some(1));
    assert_eq!(cleared[0]["namespace"], "RESULTS");
    assert_eq!(cleared[0]["l1Entries"], 1);
    if redis.is_some() {
        assert_eq!(cleared[0]["l2Keys"], 1);
    }
    assert_eq!(app.cached_search("volcano").await["cacheHit"], false);

    let response = app
        .client
        .post(format!("{}/health/cache/clear", app.base_url))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["cleared"].as_array().map(Vec::len), Some(3));
    let analytics = app.cache_analytics().await;
    for ns in analytics["namespaces"].as_array().expect("namespaces") {
        assert_eq!(ns["l1Entries"], 0, "{analytics}");
    }
    let body = app
        .graphql(
            // invalid on purpose
            "mutation { clearCache(namespace: NOPE) { l1Entries } }",
            Value::Null,
        )
        .await;
    assert!(body["errors"].is_array());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_results_through_redis_and_see_each_others_changes() {
    let Some(redis) = redis_url() else { return };
    if !crate::helpers::postgres_configured() {
        return;
    }
    let prefix = unique_prefix();
    let first = TestApp::spawn_with(Backend::Postgres, |config| {
        config.redis_url = Some(redis.clone());
        config.cache.key_prefix = prefix.clone();
    })
    .await;
    let database = first.database_url();
    // The second replica shares PostgreSQL and Redis, with a vector index of its own (there is
    // no shared vector server here), so it searches its own (empty) index.
    let second = TestApp::spawn_with(Backend::Sqlite, |config| {
        config.database_url = database.clone();
        config.redis_url = Some(redis.clone());
        config.cache.key_prefix = prefix.clone();
    })
    .await;

    let query = "where does lava come from";
    let computed = second.cached_search(query).await;
    assert_eq!(computed["cacheHit"], false);
    // The first replica finds the second's result in Redis.
    let promoted = first.cached_search(query).await;
    assert_eq!(
        (promoted["cacheHit"].clone(), promoted["cacheLevel"].clone()),
        (json!(true), json!("L2"))
    );
    assert_eq!(first.cached_search(query).await["cacheLevel"], "L1");
    assert_eq!(second.cached_search(query).await["cacheLevel"], "L1");

    // An ingest on the first: the second's next identical search is a miss under the new generation.
    let before = second.cache_analytics().await["corpusGeneration"]
        .as_u64()
        .expect("generation");
    let doc = first
        .ingest(json!({ "content": "Magma rises from the mantle and erupts as lava." }))
        .await;
    let after_ingest = second.cached_search(query).await;
    assert_eq!(after_ingest["cacheHit"], false);
    let generation = second.cache_analytics().await["corpusGeneration"]
        .as_u64()
        .expect("generation");
    assert!(
        generation > before,
        "the second replica sees generation {generation} > {before}"
    );

    // A delete on the first does the same.
    assert_eq!(second.cached_search(query).await["cacheLevel"], "L1");
    first
        .delete(doc["document"]["id"].as_str().expect("id"))
        .await;
    assert_eq!(second.cached_search(query).await["cacheHit"], false);
    assert!(second.cache_analytics().await["corpusGeneration"].as_u64() > Some(generation));
    let analytics = second.cache_analytics().await;
    assert_eq!(analytics["l2"]["state"], "UP");
    assert!(analytics["l2"]["usedMemoryBytes"].as_u64() > Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_redis_degrades_to_l1_without_failing_requests() {
    let app = TestApp::spawn_with(Backend::Sqlite, |config| {
        // Nothing listens on port 1.
        config.redis_url = Some("redis://127.0.0.1:1".into());
        config.cache.breaker_failures = 2;
        config.cache.breaker_cooldown_ms = 60_000;
    })
    .await;
    app.ingest(json!({ "content": "Coral reefs are built by tiny polyps." }))
        .await;
    for i in 0..5 {
        let result = app.cached_search("who builds reefs").await;
        assert_eq!(result["totalHits"], 1);
        assert_eq!(result["cacheHit"], i > 0);
    }
    let analytics = app.cache_analytics().await;
    assert_eq!(analytics["l2"]["state"], "DOWN", "{analytics}");
    let errors = analytics["l2"]["errors"].as_u64().expect("errors");
    assert!(errors >= 2, "{analytics}");
    // The open breaker stops further calls: more requests add no errors.
    app.cached_search("another question about reefs").await;
    assert_eq!(
        app.cache_analytics().await["l2"]["errors"].as_u64(),
        Some(errors)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_redis_connections_are_survived_and_recovered() {
    let Some(redis) = redis_url() else { return };
    // An ACL user of this test's own, so CLIENT KILL USER hits only this app's connections.
    let user = format!("selfrag-test-{}", uuid::Uuid::new_v4().simple());
    let admin = redis::Client::open(redis.as_str()).expect("client");
    let mut admin = admin
        .get_multiplexed_async_connection()
        .await
        .expect("admin connection");
    let () = redis::cmd("ACL")
        .arg(
            &[
                "SETUSER",
                user.as_str(),
                "on",
                "nopass",
                "~*",
                "&*",
                "+@all",
            ][..],
        )
        .query_async(&mut admin)
        .await
        .expect("ACL SETUSER");
    let url = redis.replacen("redis://", &format!("redis://{user}:x@"), 1);
    let prefix = unique_prefix();
    let app = TestApp::spawn_with(Backend::Sqlite, |config| {
        config.redis_url = Some(url);
        config.cache.key_prefix = prefix;
        config.cache.breaker_failures = 1;
        config.cache.breaker_cooldown_ms = 200;
    })
    .await;
    app.ingest(json!({ "content": "Photosynthesis turns light into sugar." }))
        .await;
    assert_eq!(
        app.cached_search("how plants make food").await["cacheHit"],
        false
    );
    assert_eq!(app.cache_analytics().await["l2"]["state"], "UP");

    let killed: i64 = redis::cmd("CLIENT")
        .arg(&["KILL", "USER", user.as_str()][..])
        .query_async(&mut admin)
        .await
        .expect("CLIENT KILL");
    assert!(killed >= 1, "the app had Redis connections to kill");
    let sets_before =
        namespace(&app.cache_analytics().await, "RESULTS")["counters"]["l2Sets"].as_u64();
    // Requests go on; distinct queries so each one reaches L2.
    for i in 0..6 {
        let result = app
            .cached_search(&format!("how plants make food, take {i}"))
            .await;
        assert_eq!(result["totalHits"], 1);
        tokio::time::sleep(std::time::Duration::from_millis(60)).await;
    }
    // After the cooldown the breaker probes, finds Redis healthy again, and closes.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    app.cached_search("a last question about leaves").await;
    let analytics = app.cache_analytics().await;
    assert_eq!(analytics["l2"]["state"], "UP", "{analytics}");
    // L2 kept (or went back to) storing results on fresh connections.
    let sets_after = namespace(&analytics, "RESULTS")["counters"]["l2Sets"].as_u64();
    assert!(sets_after > sets_before, "{analytics}");
    eprintln!(
        "Redis errors seen across the kill: {}",
        analytics["l2"]["errors"]
    );
    let _: i64 = redis::cmd("ACL")
        .arg(&["DELUSER", user.as_str()][..])
        .query_async(&mut admin)
        .await
        .expect("ACL DELUSER");
}
