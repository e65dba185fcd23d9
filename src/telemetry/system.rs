//! Host and process figures from sysinfo, sampled by a background task and read from memory,
//! so a health or metrics request never waits for /proc.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use sysinfo::{Disks, Pid, ProcessRefreshKind, ProcessesToUpdate, System};

#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SystemSnapshot {
    /// All cores, 0–100.
    pub cpu_percent: f64,
    pub memory_total_bytes: u64,
    pub memory_used_bytes: u64,
    /// The disk holding the data directory.
    pub disk_total_bytes: u64,
    pub disk_available_bytes: u64,
    /// This process: CPU (100 = one core), resident memory, open file descriptors.
    pub process_cpu_percent: f64,
    pub process_rss_bytes: u64,
    pub process_open_files: u64,
    /// Seconds since the sample was taken.
    #[serde(skip)]
    pub taken_at: Option<std::time::Instant>,
}

#[derive(Clone)]
pub struct SystemSampler {
    latest: Arc<RwLock<SystemSnapshot>>,
}

impl SystemSampler {
    /// Starts sampling every `interval` (the first sample right away). The task ends when the
    /// last `SystemSampler` clone is dropped.
    pub fn start(data_dir: &Path, interval: Duration) -> (Self, tokio::task::JoinHandle<()>) {
        let latest = Arc::new(RwLock::new(SystemSnapshot::default()));
        let weak = Arc::downgrade(&latest);
        let data_dir = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
        let task = tokio::spawn(async move {
            let mut sampler = Sampler::new(data_dir);
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let Some(latest) = weak.upgrade() else { return };
                let (back, snapshot) = match tokio::task::spawn_blocking(move || {
                    let snapshot = sampler.sample();
                    (sampler, snapshot)
                })
                .await
                {
                    Ok(pair) => pair,
                    Err(err) => {
                        tracing::error!(error = %err, "system sampling failed");
                        return;
                    }
                };
                sampler = back;
                *latest.write().unwrap_or_else(PoisonError::into_inner) = snapshot;
            }
        });
        (SystemSampler { latest }, task)
    }

    pub fn latest(&self) -> SystemSnapshot {
        self.latest
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

struct Sampler {
    system: System,
    pid: Option<Pid>,
    data_dir: PathBuf,
}

impl Sampler {
    fn new(data_dir: PathBuf) -> Self {
        Sampler {
            system: System::new(),
            pid: sysinfo::get_current_pid().ok(),
            data_dir,
        }
    }

    fn sample(&mut self) -> SystemSnapshot {
        self.system.refresh_cpu_usage();
        self.system.refresh_memory();
        let mut snapshot = SystemSnapshot {
            cpu_percent: f64::from(self.system.global_cpu_usage()),
            memory_total_bytes: self.system.total_memory(),
            memory_used_bytes: self.system.used_memory(),
            taken_at: Some(std::time::Instant::now()),
            ..SystemSnapshot::default()
        };
        if let Some(pid) = self.pid {
            self.system.refresh_processes_specifics(
                ProcessesToUpdate::Some(&[pid]),
                true,
                ProcessRefreshKind::nothing().with_cpu().with_memory(),
            );
            if let Some(process) = self.system.process(pid) {
                snapshot.process_cpu_percent = f64::from(process.cpu_usage());
                snapshot.process_rss_bytes = process.memory();
            }
        }
        snapshot.process_open_files =
            std::fs::read_dir("/proc/self/fd").map_or(0, |entries| entries.count() as u64);
        // The disk whose mount point is the longest prefix of the data directory.
        let disks = Disks::new_with_refreshed_list();
        if let Some(disk) = disks
            .list()
            .iter()
            .filter(|disk| self.data_dir.starts_with(disk.mount_point()))
            .max_by_key(|disk| disk.mount_point().as_os_str().len())
        {
            snapshot.disk_total_bytes = disk.total_space();
            snapshot.disk_available_bytes = disk.available_space();
        }
        snapshot
    }
}
