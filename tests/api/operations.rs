//! Every GraphQL operation the suite sends as a literal is valid against the schema, checked
//! here with no backend but the embedded one: a renamed field fails this test on the day it is
//! renamed, even when the only test that uses it is skipped (the Qdrant half needs a server CI
//! does not have).
//!
//! Operations are found by reading the test sources and the CLI's (`src/cli`, which sends them
//! to a running server): string literals that start like a GraphQL
//! document (`{ field`, `query`, `mutation`, `subscription`, `fragment`). Literals with `format!`
//! placeholders are not operations until formatted and are left out. A test that sends an
//! invalid operation on purpose marks its literal with `// invalid on purpose` on the line
//! before, or on the literal's own line.
//!
//! Validation without running anything: the operation goes to the server with an operation
//! name it does not contain. async-graphql validates the whole document first, then refuses to
//! pick an operation, so nothing executes and the answer tells valid from invalid.

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, repo_root};

const MARKER: &str = "invalid on purpose";
const NO_SUCH_OPERATION: &str = "__selfrag_validate_only";

/// A string literal's content and the line it starts on.
struct Literal {
    file: String,
    line: usize,
    text: String,
    marked_invalid: bool,
}

/// The string literals of a Rust source, normal (`"…"`, escapes undone) and raw (`r#"…"#`).
fn literals(file: &str, source: &str) -> Vec<Literal> {
    let bytes = source.as_bytes();
    let lines: Vec<&str> = source.lines().collect();
    let line_of = |at: usize| source[..at].matches('\n').count() + 1;
    let marked = |line: usize| {
        let here = lines.get(line - 1).is_some_and(|l| l.contains(MARKER));
        let before = line >= 2 && lines.get(line - 2).is_some_and(|l| l.contains(MARKER));
        here || before
    };
    let mut found = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'/' if bytes.get(at + 1) == Some(&b'/') => {
                at = source[at..].find('\n').map_or(bytes.len(), |n| at + n);
            }
            b'\'' => {
                // A char literal ('"', '\'') or a lifetime: skip just the quoted char if any.
                if bytes.get(at + 2) == Some(&b'\'') {
                    at += 3;
                } else if bytes.get(at + 1) == Some(&b'\\') && bytes.get(at + 3) == Some(&b'\'') {
                    at += 4;
                } else {
                    at += 1;
                }
            }
            b'r' if matches!(bytes.get(at + 1), Some(b'"' | b'#'))
                && (at == 0
                    || !(bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_')) =>
            {
                let hashes = bytes[at + 1..].iter().take_while(|b| **b == b'#').count();
                let open = at + 1 + hashes;
                if bytes.get(open) != Some(&b'"') {
                    at += 1;
                    continue;
                }
                let close = format!("\"{}", "#".repeat(hashes));
                let Some(end) = source[open + 1..].find(&close) else {
                    break;
                };
                let line = line_of(at);
                found.push(Literal {
                    file: file.to_owned(),
                    line,
                    text: source[open + 1..open + 1 + end].to_owned(),
                    marked_invalid: marked(line),
                });
                at = open + 1 + end + close.len();
            }
            b'"' => {
                let line = line_of(at);
                let mut text = String::new();
                let mut chars = source[at + 1..].char_indices();
                let mut end = bytes.len();
                while let Some((i, c)) = chars.next() {
                    match c {
                        '"' => {
                            end = at + 1 + i + 1;
                            break;
                        }
                        '\\' => match chars.next().map(|(_, c)| c) {
                            Some('n') => text.push('\n'),
                            Some('t') => text.push('\t'),
                            Some('\n') => {
                                // A line continuation: the next line's indentation goes too.
                                while chars.clone().next().is_some_and(|(_, c)| c.is_whitespace()) {
                                    chars.next();
                                }
                            }
                            Some(other) => text.push(other),
                            None => {}
                        },
                        other => text.push(other),
                    }
                }
                found.push(Literal {
                    file: file.to_owned(),
                    line,
                    text,
                    marked_invalid: marked(line),
                });
                at = end;
            }
            _ => at += 1,
        }
    }
    found
}

/// Whether a literal reads as a GraphQL document, not JSON or a `format!` template.
fn is_operation(text: &str) -> bool {
    let text = text.trim_start();
    if let Some(rest) = text.strip_prefix('{') {
        let first = rest.trim_start().chars().next();
        return first.is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && !has_placeholder(text);
    }
    // A document has a selection set; "query runs" in an `expect` message does not.
    if !text.contains('{') {
        return false;
    }
    ["query", "mutation", "subscription", "fragment"]
        .iter()
        .any(|keyword| {
            text.strip_prefix(keyword)
                .and_then(|rest| rest.chars().next())
                .is_some_and(|c| c.is_whitespace() || c == '(' || c == '{')
        })
        && !has_placeholder(text)
}

/// `format!` syntax: `{{`, `{}`, or a named argument such as `{body}` or `{id:?}`.
fn has_placeholder(text: &str) -> bool {
    if text.contains("{{") || text.contains("{}") {
        return true;
    }
    text.match_indices('{').any(|(at, _)| {
        let rest = &text[at + 1..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        !name.is_empty() && matches!(rest[name.len()..].chars().next(), Some('}' | ':'))
    })
}

fn operations() -> Vec<Literal> {
    // The suite's operations, and those the CLI sends to a running server.
    let mut files: Vec<_> = ["tests/api", "src/cli"]
        .iter()
        .flat_map(|dir| std::fs::read_dir(repo_root().join(dir)).expect("readable directory"))
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "rs"))
        .filter(|path| !path.ends_with("operations.rs"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|path| {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let source = std::fs::read_to_string(path).expect("readable");
            literals(&name, &source)
        })
        .filter(|literal| is_operation(&literal.text))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_the_suite_sends_is_valid_against_the_schema() {
    let found = operations();
    assert!(
        found.len() > 40,
        "only {} operations found: is the scan reading tests/api?",
        found.len()
    );
    let app = TestApp::spawn(Backend::Sqlite).await;
    let mut wrong = Vec::new();
    for op in &found {
        let response = app
            .client
            .post(format!("{}/graphql", app.base_url))
            .json(&json!({ "query": op.text, "operationName": NO_SUCH_OPERATION }))
            .send()
            .await
            .expect("request sent");
        let body: Value = response.json().await.expect("JSON");
        let message = body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        // Past the schema's rules, the complexity limit needs the variables' values, which a
        // literal does not come with: its complaint means every rule passed.
        let valid = message.contains(NO_SUCH_OPERATION)
            || (message.starts_with("Variable ") && message.ends_with(" is not defined."));
        match (valid, op.marked_invalid) {
            (true, false) | (false, true) => {}
            (false, false) => wrong.push(format!(
                "{}:{}: {message} in {:?}",
                op.file,
                op.line,
                op.text.chars().take(80).collect::<String>()
            )),
            (true, true) => wrong.push(format!(
                "{}:{}: marked `{MARKER}` but valid; remove the marker",
                op.file, op.line
            )),
        }
    }
    assert!(
        wrong.is_empty(),
        "operations that do not match the schema:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_scan_finds_operations_in_every_kind_of_literal() {
    let source = concat!(
        "let a = \"{ search(query: \\\"x\\\") { totalHits } }\";\n",
        "let b = r#\"query Q { health { status } }\"#;\n",
        "let c = json!({ \"query\": \"mutation { clearCache { namespace } }\" });\n",
        "let d = format!(\"{{ search(query: {}) }}\", q);\n",
        "let e = \"{\\\"query\\\":1}\";\n",
        "// invalid on purpose\n",
        "let f = \"{ nope }\";\n",
    );
    let ops: Vec<_> = literals("x.rs", source)
        .into_iter()
        .filter(|l| is_operation(&l.text))
        .collect();
    let texts: Vec<&str> = ops.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(
        texts,
        vec![
            "{ search(query: \"x\") { totalHits } }",
            "query Q { health { status } }",
            "mutation { clearCache { namespace } }",
            "{ nope }",
        ]
    );
    assert!(ops[3].marked_invalid && !ops[0].marked_invalid);
}
