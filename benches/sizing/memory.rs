//! Resident memory of the real `selfrag` binary while it ingests and while it serves, each in
//! a process of its own, so one measurement does not inherit another's peak.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use selfrag::app::{Backends, Overrides};
use selfrag::config::Config;
use selfrag::embed::{EmbedError, Embedder, ModelInfo, Vector};
use selfrag::ingest::{self, IngestRequest};

use super::{mib, model_config, unit_vector};

/// Paragraphs of about one chunk each (~1,000 characters, ~220 word pieces).
fn paragraph(seed: usize) -> String {
    format!(
        "Paragraph {seed}. {}",
        super::CHUNK_TEXT
            .repeat(5)
            .replace("queen", &format!("queen {seed}"))
    )
}

/// The fields of `/proc/PID/status` given in kB, in bytes, read once (Linux).
fn status_fields<const N: usize>(pid: u32, names: [&str; N]) -> Option<[u64; N]> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    let mut values = [0; N];
    for (value, name) in values.iter_mut().zip(names) {
        *value = field(name)?;
    }
    Some(values)
}

/// Peak and current resident set of a process, in bytes.
fn memory_of(pid: u32) -> Option<(u64, u64)> {
    let [peak, now] = status_fields(pid, ["VmHWM:", "VmRSS:"])?;
    Some((peak, now))
}

/// The environment that points the binary at a data directory and the provisioned model, with
/// no server to find (so `ingest` opens the data directory itself).
fn selfrag(data_dir: &Path, args: &[&str]) -> Command {
    let model = model_config();
    let mut command = Command::new(env!("CARGO_BIN_EXE_selfrag"));
    command
        .args(args)
        .env("SELFRAG_DATA_DIR", data_dir)
        .env("SELFRAG_MODEL__DIR", &model.dir)
        .env("SELFRAG_MODEL__ONNXRUNTIME_LIB", &model.onnxruntime_lib)
        .env("SELFRAG_RATE_LIMIT__ENABLED", "false")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    command
}

/// Waits for `child` to exit, sampling its peak resident set (`VmHWM`) every 20 ms; the
/// highest sample.
fn peak_until_exit(child: &mut Child) -> u64 {
    let mut peak = 0;
    loop {
        if let Some((hwm, _)) = memory_of(child.id()) {
            peak = peak.max(hwm);
        }
        match child.try_wait() {
            Ok(Some(status)) => {
                assert!(status.success(), "selfrag exited with {status}");
                return peak;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(err) => panic!("waiting for selfrag: {err}"),
        }
    }
}

/// `selfrag ingest DIR` over Markdown files of 20 chunks each, `chunks` in all.
pub async fn ingest(chunks: usize) {
    let data = tempfile::tempdir().expect("temp dir");
    let files = tempfile::tempdir().expect("temp dir");
    for file in 0..chunks.div_ceil(20) {
        let sections: Vec<String> = (0..20.min(chunks - file * 20))
            .map(|i| format!("## Section {i}\n\n{}\n", paragraph(file * 20 + i)))
            .collect();
        std::fs::write(
            files.path().join(format!("note-{file}.md")),
            format!("# Note {file}\n\n{}", sections.join("\n")),
        )
        .expect("write a file");
    }
    let started = Instant::now();
    let mut child = selfrag(
        data.path(),
        &["ingest", files.path().to_str().expect("utf-8 path")],
    )
    // Nothing listens there, so the CLI opens the data directory itself.
    .env("SELFRAG_BIND", "127.0.0.1:9")
    .spawn()
    .expect("selfrag runs");
    let peak = peak_until_exit(&mut child);
    println!(
        "memory, `selfrag ingest` of {chunks} chunks ({} Markdown files): peak RSS {} ({:.0} s)",
        chunks.div_ceil(20),
        mib(peak as f64),
        started.elapsed().as_secs_f64()
    );
}

/// Unit vectors in the model's name: what the served corpus is written with (see the
/// bench's doc comment).
struct UnitVectors(ModelInfo);

#[async_trait]
impl Embedder for UnitVectors {
    fn model(&self) -> &ModelInfo {
        &self.0
    }
    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vector>, EmbedError> {
        Ok(texts
            .iter()
            .map(|t| {
                // FNV-1a of the text: the same text, the same vector.
                let seed = t.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                    (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
                });
                unit_vector(seed)
            })
            .collect())
    }
}

/// `selfrag serve` over `chunks` chunks, after 300 distinct searches.
///
/// Writing 100k chunks takes minutes, so `SELFRAG_SIZING_SERVED_CORPUS=DIR` keeps the written
/// data directory in `DIR` (with its chunk count) and later runs copy it from there: each run
/// still serves a directory the server has never opened, so the optimisation after start is
/// measured every time.
///
/// `SELFRAG_SIZING_CGROUP=DIR` runs the server in that memory cgroup (v1 or v2, made with the
/// limit to test, e.g. 400 MB): the bench evicts the data directory from the page cache first,
/// so every page the server touches is charged to it, and reports the cgroup's peak and OOM
/// kills beside the latencies.
pub async fn serving(chunks: usize) {
    let data = tempfile::tempdir().expect("temp dir");
    let cgroup = std::env::var_os("SELFRAG_SIZING_CGROUP").map(std::path::PathBuf::from);
    let kept = std::env::var_os("SELFRAG_SIZING_SERVED_CORPUS").map(std::path::PathBuf::from);
    let reusable = kept
        .as_deref()
        .and_then(|dir| Some((dir, kept_corpus(dir, chunks)?)));
    let (stored, written) = match reusable {
        Some((dir, stored)) => {
            copy_dir(&dir.join("data"), data.path());
            (stored, "copied from the kept corpus".to_string())
        }
        None => {
            let started = Instant::now();
            let stored = write_corpus(data.path(), chunks).await;
            let secs = started.elapsed().as_secs_f64();
            if let Some(dir) = &kept {
                let _ = std::fs::remove_dir_all(dir);
                std::fs::create_dir_all(dir.join("data")).expect("the kept corpus's directory");
                copy_dir(data.path(), &dir.join("data"));
                std::fs::write(dir.join("chunks"), format!("{chunks} {stored}"))
                    .expect("the kept corpus's count");
            }
            (stored, format!("corpus written in {secs:.0} s"))
        }
    };

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let bind = format!("127.0.0.1:{port}");
    if cgroup.is_some() {
        evict_from_page_cache(data.path());
    }
    let started = Instant::now();
    let mut child = Killed(
        selfrag(data.path(), &["serve", "--bind", &bind])
            // The optimiser's report, to know when the run after start has finished.
            .env("RUST_LOG", "warn,selfrag::vector=info")
            .stderr(Stdio::piped())
            .spawn()
            .expect("selfrag serves"),
    );
    if let Some(cgroup) = &cgroup {
        // Before the server has loaded its model or opened the index (it is still starting).
        std::fs::write(cgroup.join("cgroup.procs"), child.0.id().to_string())
            .expect("the server joins the cgroup (SELFRAG_SIZING_CGROUP)");
    }
    let optimised = optimiser_runs(child.0.stderr.take().expect("piped stderr"));
    let url = format!("http://{bind}/graphql");
    let client = reqwest::Client::new();
    while !client
        .get(format!("http://{bind}/health/ready"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the server did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The steady state: searches once the optimisation that runs after start has finished (it
    // builds what the writes left unbuilt; the peak includes it). Nothing is written after, so
    // it is the only run.
    tokio::task::spawn_blocking(move || optimised.recv_timeout(Duration::from_secs(3600)))
        .await
        .expect("waiting")
        .expect("the optimisation after start finished within an hour");
    let graphed = started.elapsed().as_secs_f64();
    let topics = [
        "winter",
        "queen",
        "flight muscles",
        "air warms",
        "cluster",
        "heat",
    ];
    let mut latencies = Vec::with_capacity(300);
    for i in 0..300 {
        let query = format!("{} {i}", topics[i % topics.len()]);
        let sent = Instant::now();
        let body: serde_json::Value = client
            .post(&url)
            .json(&serde_json::json!({
                "query": "query($q: String!) { search(query: $q, limit: 10) { hits { score chunk { content } } } }",
                "variables": { "q": query },
            }))
            .send()
            .await
            .expect("search sent")
            .json()
            .await
            .expect("JSON");
        latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
        assert!(body.get("errors").is_none(), "{body}");
    }
    latencies.sort_by(f64::total_cmp);
    let percentile = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
    let pid = child.0.id();
    // Pages of mapped files (the index's on-disk parts, the model) count in the resident set
    // while they stay in the page cache, but the kernel can drop them; anonymous pages cannot.
    let [peak, now, anonymous, files] =
        status_fields(pid, ["VmHWM:", "VmRSS:", "RssAnon:", "RssFile:"])
            .expect("the server's memory");
    drop(child);
    println!(
        "memory, `selfrag serve` over {stored} chunks after 300 searches: RSS {} (peak {}; \
         anonymous {}, mapped files {}); {written}, optimised {graphed:.0} s after start; \
         search latency (embedding included) p50 {:.1} ms, p95 {:.1} ms",
        mib(now as f64),
        mib(peak as f64),
        mib(anonymous as f64),
        mib(files as f64),
        percentile(0.5),
        percentile(0.95),
    );
    if let Some(cgroup) = &cgroup {
        println!("{}", cgroup_report(cgroup));
    }
}

/// The cgroup's limit, peak usage and OOM kills (cgroup v2 files, or v1's).
fn cgroup_report(cgroup: &Path) -> String {
    let read = |name: &str| std::fs::read_to_string(cgroup.join(name)).ok();
    let bytes = |text: Option<String>| text.and_then(|t| t.trim().parse::<f64>().ok());
    let (limit, peak, events) = match read("memory.max") {
        Some(limit) => (
            bytes(Some(limit)),
            bytes(read("memory.peak")),
            read("memory.events"),
        ),
        None => (
            bytes(read("memory.limit_in_bytes")),
            bytes(read("memory.max_usage_in_bytes")),
            read("memory.oom_control"),
        ),
    };
    let oom_kills = events
        .as_deref()
        .and_then(|e| e.lines().find_map(|l| l.strip_prefix("oom_kill ")))
        .unwrap_or("unknown");
    let show = |b: Option<f64>| b.map_or_else(|| "unknown".to_string(), mib);
    format!(
        "  in cgroup {}: limit {}, peak usage {} (page cache included), OOM kills {oom_kills}",
        cgroup.display(),
        show(limit),
        show(peak),
    )
}

/// Writes the directory's files out and drops them from the page cache, so that a server
/// started next reads (and is charged for) every page it touches: a cold start.
fn evict_from_page_cache(dir: &Path) {
    for entry in std::fs::read_dir(dir).expect("read the data directory") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            evict_from_page_cache(&path);
        } else if let Ok(file) = std::fs::File::open(&path) {
            file.sync_all().expect("fsync");
            rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed)
                .expect("fadvise(DONTNEED)");
        }
    }
}

/// The kept corpus's stored chunk count, if `dir` holds one written for `chunks` chunks.
fn kept_corpus(dir: &Path, chunks: usize) -> Option<usize> {
    let count = std::fs::read_to_string(dir.join("chunks")).ok()?;
    let (requested, stored) = count.trim().split_once(' ')?;
    (requested.parse::<usize>().ok()? == chunks).then_some(())?;
    stored.parse().ok()
}

/// Copies a directory's contents (`cp -a`: the index's sparse files stay sparse).
fn copy_dir(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from.join("."))
        .arg(to)
        .status()
        .expect("cp runs");
    assert!(status.success(), "copying {} failed", from.display());
}

/// Writes `chunks` chunks into a data directory through the real ingest pipeline, with unit
/// vectors for the model; how many were stored.
async fn write_corpus(data_dir: &Path, chunks: usize) -> usize {
    // The settings the server below will have (`SELFRAG_*`, e.g. `SELFRAG_INDEX__STORAGE`): the
    // index's segments are created with them.
    let mut config = Config::load(None).expect("settings");
    config.data_dir = data_dir.to_path_buf();
    config.model = model_config();
    let model = ModelInfo {
        name: config.model.qualified_name(),
        dimensions: config.model.dimensions,
    };
    let backends = Backends::open(
        config,
        Overrides {
            embedder: Some(Arc::new(UnitVectors(model))),
            ..Overrides::default()
        },
    )
    .await
    .expect("backends");
    let context = backends.services.ingest_context();
    let per_document = 20;
    let documents: Vec<IngestRequest> = (0..chunks.div_ceil(per_document))
        .map(|d| IngestRequest {
            content: (0..per_document.min(chunks - d * per_document))
                .map(|i| paragraph(d * per_document + i))
                .collect::<Vec<_>>()
                .join("\n\n"),
            ..IngestRequest::default()
        })
        .collect();
    let mut stored = 0;
    for batch in documents.chunks(100) {
        let outcome =
            ingest::ingest_until_failure(&context, batch.to_vec(), None, None, |_| {}).await;
        assert!(outcome.failure.is_none(), "ingest failed");
        stored += outcome
            .stored
            .iter()
            .map(|o| o.chunks_created)
            .sum::<usize>();
    }
    // The context holds the index: let it go, so that close releases the data directory for
    // the server started after.
    drop(context);
    backends.close().await;
    stored
}

/// Forwards the server's log lines to ours, and sends one message per finished optimiser run
/// (its `vector index optimised` line, or the line saying it failed).
fn optimiser_runs(stderr: std::process::ChildStderr) -> std::sync::mpsc::Receiver<()> {
    use std::io::BufRead as _;
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("vector index optimis") {
                let _ = sender.send(());
            }
            if !line.contains("INFO") {
                eprintln!("{line}");
            }
        }
    });
    receiver
}

/// A child process killed when dropped, also when an assertion fails first.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
