//! The module structure holds: every `crate::…` reference in `src/` points from a module to
//! one below it in [`LAYERS`], so there is no import cycle and no lower module reaching up.
//! A new module must be placed in the list; a new upward reference fails here, on the day it
//! is written.

use std::collections::BTreeSet;
use std::path::Path;

use crate::helpers::repo_root;

/// Top-level modules of `src/`, lowest first.
const LAYERS: &[&str] = &[
    "error",
    "fault",
    "memory",
    "deadline",
    "config",
    "telemetry",
    "disk",
    "formats",
    "embed",
    "keywords",
    "redis",
    "store",
    "vector",
    "auth",
    "cache",
    "ratelimit",
    "search",
    "ingest",
    "services",
    "health",
    "graphql",
    "http",
    "app",
    "cli",
];

/// The items `lib.rs` re-exports from `error`.
const ROOT_REEXPORTS: &[&str] = &["Error", "ErrorCode", "Result"];

fn rank(module: &str) -> usize {
    LAYERS.iter().position(|m| *m == module).unwrap_or_else(|| {
        panic!("module `{module}` is not placed in LAYERS (tests/api/layering.rs)")
    })
}

/// The top-level module a file of `src/` belongs to (`None` for the crate root files).
fn module_of(path: &Path, src: &Path) -> Option<String> {
    let relative = path.strip_prefix(src).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    let module = first.trim_end_matches(".rs");
    (module != "lib" && module != "main").then(|| module.to_owned())
}

/// Every `crate::name` in `text`, with root re-exports mapped to their module.
fn references(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, _) in text.match_indices("crate::") {
        let name: String = text[at + 7..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if ROOT_REEXPORTS.contains(&name.as_str()) {
            found.insert("error".to_owned());
        } else if !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            found.insert(name);
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn modules_only_reference_modules_below_them() {
    let src = repo_root().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut upward = Vec::new();
    let mut edges = 0;
    for file in &files {
        let Some(module) = module_of(file, &src) else {
            continue;
        };
        let text = std::fs::read_to_string(file).expect("readable");
        for target in references(&text) {
            if target == module {
                continue;
            }
            edges += 1;
            if rank(&target) >= rank(&module) {
                upward.push(format!(
                    "{} → {target}",
                    file.strip_prefix(&src).unwrap_or(file).display()
                ));
            }
        }
    }
    assert!(
        edges > 50,
        "the scan found only {edges} references: is it reading src/?"
    );
    assert!(
        upward.is_empty(),
        "references from a module to one at or above it (move the code, or the module in \
         LAYERS if the layering itself should change):\n{}",
        upward.join("\n")
    );
}

#[test]
fn the_scan_sees_references_and_re_exports() {
    let found =
        references("use crate::cache::Caches; fn f() -> crate::Result<()> { crate::search::x() }");
    assert_eq!(
        found.into_iter().collect::<Vec<_>>(),
        vec!["cache".to_owned(), "error".to_owned(), "search".to_owned()]
    );
}
