//! Several replicas behind a load balancer: pool settings that reach the servers, Redis
//! Cluster, and two app instances sharing PostgreSQL, Redis and (when `SELFRAG_TEST_QDRANT_URL`
//! is set) Qdrant. The parts that need no shared vectors run always.

use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::helpers::{
    Backend, TestApp, TestCollection, error_code, postgres_configured, qdrant_url, redis_url,
    unique_prefix,
};

const INGEST: &str = "mutation($c: String!, $t: [String!]) {
    ingestDocument(input: {content: $c, tags: $t}) { deduplicated document { id } }
}";

/// The Redis Cluster for the cluster tests (`scripts/redis-cluster.sh start` prints it), or
/// `None` to skip them. Required under CI, which starts one.
fn redis_cluster_url() -> Option<String> {
    if let Ok(url) = std::env::var("SELFRAG_TEST_REDIS_CLUSTER_URL") {
        return Some(url);
    }
    crate::helpers::skip_outside_ci(
        "the Redis Cluster tests",
        "SELFRAG_TEST_REDIS_CLUSTER_URL is not set",
    );
    None
}

async fn scalar(app: &TestApp, sql: &str) -> String {
    let db = app.services().store.connection();
    let row = db
        .query_one(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("query runs")
        .expect("a row");
    row.try_get_by_index::<String>(0).expect("a text column")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_pool_settings_reach_the_server() {
    if !postgres_configured() {
        return;
    }
    let app = TestApp::spawn_with(Backend::Postgres, |config| {
        config.database.statement_timeout_ms = 300;
        config.database.max_connections = 7;
        config.database.min_connections = 2;
    })
    .await;
    // Every pooled connection carries the timeout from its start-up packet.
    assert_eq!(scalar(&app, "SHOW statement_timeout").await, "300ms");
    let db = app.services().store.connection();
    let slow = db
        .execute_unprepared("SELECT pg_sleep(2)")
        .await
        .expect_err("the server cancels a statement over the timeout");
    assert!(
        slow.to_string().contains("statement timeout"),
        "unexpected error: {slow}"
    );

    // The pool's shape is visible to operators.
    let services: Value = app
        .get("/health/services")
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(services["database"]["backend"], "postgres");
    assert_eq!(services["database"]["pool"]["max"], 7);
    assert!(services["database"]["pool"]["size"].as_u64() >= Some(1));
    let metrics = app.get("/metrics").await.text().await.expect("text");
    assert!(
        metrics
            .lines()
            .any(|line| line == "selfrag_pool_connections_max{pool=\"database\"} 7"),
        "database pool series in /metrics"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_ingesting_the_same_content_at_once_store_it_once() {
    if !postgres_configured() {
        return;
    }
    let first = TestApp::spawn(Backend::Postgres).await;
    let database = first.database_url();
    let second = TestApp::spawn_with(Backend::Sqlite, |config| {
        config.database_url = database.clone();
    })
    .await;
    for round in 0..3 {
        let content = format!(
            "Round {round}: glaciers carve U-shaped valleys as they grind downhill. {}",
            unique_prefix()
        );
        let variables = json!({ "c": content, "t": ["geology"] });
        let (a, b) = tokio::join!(
            first.graphql(INGEST, variables.clone()),
            second.graphql(INGEST, variables.clone()),
        );
        let (a, b) = (&a["data"]["ingestDocument"], &b["data"]["ingestDocument"]);
        assert_eq!(
            a["document"]["id"], b["document"]["id"],
            "both replicas answer with the one stored document: {a} {b}"
        );
        let deduplicated = [a, b]
            .iter()
            .filter(|r| r["deduplicated"] == json!(true))
            .count();
        assert_eq!(deduplicated, 1, "exactly one replica stored it: {a} {b}");
    }
    let stats = first
        .data("{ collectionStats { documents } }", json!({}))
        .await;
    assert_eq!(stats["collectionStats"]["documents"], 3);
    let seen_by_second = second
        .data("{ collectionStats { documents } }", json!({}))
        .await;
    assert_eq!(seen_by_second["collectionStats"]["documents"], 3);
}

/// Two replicas sharing PostgreSQL, Redis and one Qdrant collection: what one ingests or
/// deletes, the other finds (or stops finding) in its very next search.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_sharing_qdrant_see_each_others_writes_at_once() {
    let (Some(_), Some(redis)) = (qdrant_url(), redis_url()) else {
        return;
    };
    if !postgres_configured() {
        return;
    }
    let collection = TestCollection::from_env();
    let prefix = unique_prefix();
    let first = TestApp::spawn_with(Backend::Postgres, |config| {
        collection.apply(config);
        config.redis_url = Some(redis.clone());
        config.cache.key_prefix = prefix.clone();
    })
    .await;
    let database = first.database_url();
    let second = TestApp::spawn_with(Backend::Sqlite, |config| {
        collection.apply(config);
        config.database_url = database.clone();
        config.redis_url = Some(redis.clone());
        config.cache.key_prefix = prefix.clone();
    })
    .await;
    let query = "how do bees tell each other where flowers are";
    assert_eq!(
        second.search(query, 5, json!(null)).await["hits"],
        json!([])
    );

    let doc = first
        .ingest(json!({
            "content": "Honeybees dance to tell their hive mates the direction and distance of flowers.",
            "tags": ["insects"],
        }))
        .await;
    let id = doc["document"]["id"].clone();
    let found = second
        .search(query, 5, json!({ "tags": ["insects"] }))
        .await;
    assert_eq!(found["hits"][0]["document"]["id"], id, "{found}");
    let stats = second
        .data("{ collectionStats { vectors vectorBackend } }", json!({}))
        .await;
    assert_eq!(stats["collectionStats"]["vectorBackend"], "qdrant");
    assert!(stats["collectionStats"]["vectors"].as_u64() >= Some(1));

    second.delete(id.as_str().expect("id")).await;
    let gone = first.search(query, 5, json!(null)).await;
    assert_eq!(gone["hits"], json!([]), "{gone}");
}

/// A collection made for one model is refused by a server configured for another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_qdrant_collection_of_another_dimension_is_refused() {
    if qdrant_url().is_none() {
        return;
    }
    let collection = TestCollection::from_env();
    let mut config = selfrag::config::Config::default();
    collection.apply(&mut config);
    let identity = |dimensions| selfrag::vector::IndexIdentity {
        model: "test-model".into(),
        dimensions,
    };
    let (index, _) = selfrag::app::open_index(&config, identity(8))
        .await
        .expect("creates the collection");
    assert_eq!(index.status().await.expect("status").backend, "qdrant");
    drop(index);
    let err = selfrag::app::open_index(&config, identity(16))
        .await
        .err()
        .expect("refuses another dimension");
    assert!(err.to_string().contains("8-d"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_and_rate_limits_work_on_a_redis_cluster() {
    let Some(cluster) = redis_cluster_url() else {
        return;
    };
    let prefix = unique_prefix();
    let spawn = || {
        let (cluster, prefix) = (cluster.clone(), prefix.clone());
        TestApp::spawn_with(Backend::Sqlite, move |config| {
            config.redis_url = Some(cluster);
            config.cache.key_prefix = prefix;
            config.cache.redis_timeout_ms = 1_000;
            config.rate_limit.search.per_minute = 60;
            config.rate_limit.search.burst = 5;
        })
    };
    let (first, second) = (spawn().await, spawn().await);

    // Results computed on one replica are found in L2 (on whichever node holds the key) by the other.
    let queries = ["volcanoes", "tides", "comets", "glaciers", "deserts"];
    for query in queries {
        assert_eq!(first.cached_search(query).await["cacheHit"], false);
    }
    // The rate limit is shared through the cluster too: the burst of 5 is spent above, so the
    // second replica refuses the same caller.
    let refused = second
        .client
        .post(format!("{}/graphql", second.base_url))
        .json(&json!({ "query": "{ search(query: \"volcanoes\") { totalHits } }" }))
        .send()
        .await
        .expect("request sent");
    assert_eq!(refused.status(), 429);
    let refused: Value = refused.json().await.expect("JSON");
    assert_eq!(error_code(&refused), "RATE_LIMITED", "{refused}");

    let services: Value = first
        .get("/health/services")
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(services["redis"]["topology"], "cluster");
    assert_eq!(services["redis"]["check"]["status"], "up", "{services}");
    let analytics = first.cache_analytics().await;
    assert_eq!(analytics["l2"]["state"], "UP");
    assert!(
        analytics["l2"]["usedMemoryBytes"].as_u64() > Some(0),
        "{analytics}"
    );

    // Clearing visits every primary: afterwards no result key is left on any node.
    let pattern = format!("{prefix}:q:*");
    let mut before = Vec::new();
    for node in cluster_nodes(&cluster) {
        before.push(keys_on(&node, &pattern).await);
    }
    assert_eq!(before.iter().sum::<usize>(), queries.len(), "{before:?}");
    assert!(
        before.iter().filter(|&&n| n > 0).count() >= 2,
        "the keys are spread over the nodes: {before:?}"
    );
    let cleared = first
        .data(
            "mutation { clearCache(namespace: RESULTS) { l2Keys } }",
            json!({}),
        )
        .await;
    assert_eq!(
        cleared["clearCache"][0]["l2Keys"],
        json!(queries.len()),
        "{cleared}"
    );
    for node in cluster_nodes(&cluster) {
        assert_eq!(keys_on(&node, &pattern).await, 0, "keys left on {node}");
    }
}

/// `redis://host:port` of each node in a `redis+cluster://` URL.
fn cluster_nodes(url: &str) -> Vec<String> {
    selfrag::redis::cluster_urls(url).expect("a redis+cluster:// URL")
}

/// Keys matching `pattern` held by one node (KEYS is fine on a test's tiny keyspace).
async fn keys_on(node: &str, pattern: &str) -> usize {
    let client = deadpool_redis::redis::Client::open(node).expect("node URL");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect to the node");
    let keys: Vec<String> = deadpool_redis::redis::cmd("KEYS")
        .arg(pattern)
        .query_async(&mut conn)
        .await
        .expect("KEYS");
    keys.len()
}
