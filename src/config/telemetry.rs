//! `telemetry`: background sampling and the slow-request list.

use serde::{Deserialize, Serialize};

use super::{ConfigError, invalid};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct TelemetryConfig {
    /// How often the background task samples CPU, memory and disk.
    pub sample_interval_ms: u64,
    /// Requests at least this slow are listed in `/health/metrics`.
    pub slow_request_ms: u64,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            sample_interval_ms: 5_000,
            slow_request_ms: 1_000,
        }
    }
}

impl TelemetryConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.sample_interval_ms < 100 {
            return Err(invalid(
                "telemetry.sample_interval_ms",
                "must be at least 100",
            ));
        }
        Ok(())
    }
}
