//! The documents people have: Markdown split along its headings (chunks and hits carry their
//! heading path), HTML reduced to its readable text and titled by `<title>`, PDF pages (chunks
//! and hits carry their page), by `IngestInput.format` or as uploads (GraphQL multipart), and
//! unreadable or unsupported files reported by name without losing the rest of a batch.

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, error_code, pdf, section, upload};
use crate::on_every_backend;

const HIT: &str = "query($q: String!) { search(query: $q, limit: 1) {
    hits { chunk { content headings page } document { title source } }
} }";

async fn first_hit(app: &TestApp, query: &str) -> Value {
    app.data(HIT, json!({ "q": query })).await["search"]["hits"][0].clone()
}

async fn markdown_chunks_carry_their_heading_path(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let guide = format!(
        "# Field guide\n\n{}\n\n## Birds\n\n{}\n\n### Owls\n\n{}\n\n## Beetles\n\n{}\n",
        section("the purpose of this guide"),
        section("songbirds and their nests"),
        section("owls hunting mice at night with silent feathers"),
        section("beetles under bark"),
    );
    let body = app
        .data(
            "mutation($c: String!) { ingestDocument(input: { content: $c, format: MARKDOWN }) {
                document { chunks { headings content } }
            } }",
            json!({ "c": guide }),
        )
        .await;
    let chunks = body["ingestDocument"]["document"]["chunks"]
        .as_array()
        .expect("chunks")
        .clone();
    assert!(chunks.len() >= 4, "{chunks:#?}");
    // Split along the structure: no chunk starts inside a section's text.
    for chunk in &chunks {
        let content = chunk["content"].as_str().expect("content");
        assert!(
            content.starts_with('#') || content.starts_with("Note"),
            "{content}"
        );
    }
    let owls = first_hit(&app, "owls hunting mice at night").await;
    assert_eq!(
        owls["chunk"]["headings"],
        json!(["Field guide", "Birds", "Owls"]),
        "{owls:#}"
    );
    assert!(owls["chunk"]["page"].is_null());
    let beetles = first_hit(&app, "beetles under bark").await;
    assert_eq!(
        beetles["chunk"]["headings"],
        json!(["Field guide", "Beetles"])
    );

    // Plain text has no headings, even with `#` in it.
    let plain = app
        .data(
            "mutation { ingestDocument(input: { content: \"# not a heading in plain text\" }) {
                document { chunks { headings } }
            } }",
            Value::Null,
        )
        .await;
    assert_eq!(
        plain["ingestDocument"]["document"]["chunks"][0]["headings"],
        json!([])
    );
}

async fn html_gives_its_readable_text_and_its_title(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let page = "<html><head><title>Tide tables</title><script>var tracker = 'pixel';</script>\
        </head><body><nav>Home | Shop | Login</nav><article><h1>When tides turn</h1>\
        <p>The <a href=\"https://example.com/moon\">moon</a> pulls the oceans twice a day.</p>\
        </article><footer>Copyright shop</footer></body></html>";
    let body = app
        .data(
            "mutation($c: String!) { ingestDocument(input: { content: $c, format: HTML }) {
                document { title chunks { content headings } }
            } }",
            json!({ "c": page }),
        )
        .await;
    let document = &body["ingestDocument"]["document"];
    assert_eq!(document["title"], "Tide tables", "{document:#}");
    let text = document["chunks"][0]["content"].as_str().expect("content");
    assert!(
        text.contains("The moon pulls the oceans twice a day."),
        "{text}"
    );
    for chrome in ["tracker", "Login", "Copyright", "https://"] {
        assert!(!text.contains(chrome), "{chrome} kept: {text}");
    }
    assert_eq!(
        document["chunks"][0]["headings"],
        json!(["When tides turn"])
    );

    // A PDF cannot come as text.
    let refused = app
        .graphql(
            "mutation { ingestDocument(input: { content: \"%PDF-1.4\", format: PDF }) { status } }",
            Value::Null,
        )
        .await;
    assert_eq!(error_code(&refused), "BAD_INPUT", "{refused:#}");
}

async fn an_uploaded_pdf_gives_each_chunk_its_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let pages = [
        section("the history of the laboratory"),
        section("tardigrades surviving the vacuum of space"),
        section("the budget for next year"),
    ];
    let file = pdf(&pages.iter().map(String::as_str).collect::<Vec<_>>());
    let body = upload(
        &app,
        "mutation($file: Upload!) { ingestFile(file: $file, input: { tags: [\"lab\"] }) {
            status document { title source chunkCount }
        } }",
        json!({ "file": null }),
        &[("annual-report.pdf", "application/pdf", file)],
    )
    .await;
    let result = &body["data"]["ingestFile"];
    assert_eq!(result["status"], "INGESTED", "{body:#}");
    assert_eq!(result["document"]["title"], "annual-report");
    assert_eq!(result["document"]["source"], "annual-report.pdf");
    let hit = first_hit(&app, "tardigrades in the vacuum of space").await;
    assert_eq!(hit["chunk"]["page"], 2, "{hit:#}");
    assert!(
        hit["chunk"]["content"]
            .as_str()
            .is_some_and(|c| c.contains("tardigrades"))
    );
    assert_eq!(
        first_hit(&app, "budget for next year").await["chunk"]["page"],
        3
    );
}

/// A batch of uploads: each file's format from its content type or name; an unreadable or
/// unsupported one is reported by name in its place, and the others are ingested.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_batch_reports_unreadable_files_and_keeps_the_rest() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let files = [
        (
            "notes.md",
            "application/octet-stream",
            b"# Notes\n\nPelicans scoop fish.".to_vec(),
        ),
        (
            "broken.pdf",
            "application/pdf",
            b"%PDF-1.7 not really".to_vec(),
        ),
        (
            "page.html",
            "text/html",
            b"<title>Herons</title><p>Herons wait still.</p>".to_vec(),
        ),
        ("photo.png", "image/png", vec![0x89, b'P', b'N', b'G']),
    ];
    let body = upload(
        &app,
        "mutation($files: [Upload!]!) { ingestFiles(files: $files) {
            filename result { status document { title } } error { code message }
        } }",
        json!({ "files": [null, null, null, null] }),
        &files,
    )
    .await;
    let results = body["data"]["ingestFiles"]
        .as_array()
        .expect("results")
        .clone();
    assert_eq!(results.len(), 4, "{body:#}");
    assert_eq!(results[0]["result"]["status"], "INGESTED", "{body:#}");
    assert_eq!(results[0]["result"]["document"]["title"], "notes");
    assert_eq!(results[2]["result"]["document"]["title"], "Herons");
    for (i, reason) in [
        (1, "cannot read this PDF"),
        (3, "unsupported file type (image/png)"),
    ] {
        let error = &results[i]["error"];
        assert_eq!(error["code"], "BAD_INPUT", "{body:#}");
        let message = error["message"].as_str().expect("a message");
        assert!(
            message.starts_with(files[i].0) && message.contains(reason),
            "{message}"
        );
        assert!(results[i]["result"].is_null());
    }
    assert_eq!(
        first_hit(&app, "pelicans").await["document"]["title"],
        "notes"
    );

    // One file that cannot be read is a typed error naming it.
    let body = upload(
        &app,
        "mutation($file: Upload!) { ingestFile(file: $file) { status } }",
        json!({ "file": null }),
        &[(
            "slides.pptx",
            "application/vnd.ms-powerpoint",
            vec![1, 2, 3],
        )],
    )
    .await;
    assert_eq!(error_code(&body), "BAD_INPUT", "{body:#}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("slides.pptx: unsupported file type")),
        "{body:#}"
    );
}

/// When storing one file of a batch fails, the files stored before it keep their results, it
/// carries the error's code, and the files after it are `NOT_REACHED`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storage_failure_in_an_upload_batch_is_reported_at_its_file() {
    let (app, flaky, _) = crate::faults::spawn_with_faults(Backend::Sqlite).await;
    let query = "mutation($files: [Upload!]!) { ingestFiles(files: $files) {
        filename result { status } error { code message }
    } }";
    let text = |words: &str| words.as_bytes().to_vec();
    let stored = upload(
        &app,
        query,
        json!({ "files": [null] }),
        &[("first.txt", "text/plain", text("Storks fly south."))],
    )
    .await;
    assert_eq!(
        stored["data"]["ingestFiles"][0]["result"]["status"], "INGESTED",
        "{stored:#}"
    );
    flaky
        .fail_upserts
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let body = upload(
        &app,
        query,
        json!({ "files": [null, null, null, null] }),
        &[
            ("again.txt", "text/plain", text("Storks fly south.")),
            ("bad.bin", "application/octet-stream", vec![0, 1, 2]),
            ("second.txt", "text/plain", text("Cranes dance in spring.")),
            ("third.txt", "text/plain", text("Geese fly in a vee.")),
        ],
    )
    .await;
    let results = &body["data"]["ingestFiles"];
    // Identical content is answered from the store, so the failing index is not touched.
    assert_eq!(results[0]["result"]["status"], "DEDUPLICATED", "{body:#}");
    assert_eq!(results[1]["error"]["code"], "BAD_INPUT", "{body:#}");
    assert_eq!(results[2]["error"]["code"], "UNAVAILABLE", "{body:#}");
    assert_eq!(results[3]["error"]["code"], "NOT_REACHED", "{body:#}");
}

on_every_backend!(
    markdown_chunks_carry_their_heading_path,
    html_gives_its_readable_text_and_its_title,
    an_uploaded_pdf_gives_each_chunk_its_page,
);
