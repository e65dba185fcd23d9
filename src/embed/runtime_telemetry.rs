//! ONNX Runtime's telemetry, kept off.
//!
//! Microsoft's builds of ONNX Runtime 1.29 and later — the PyPI wheel `scripts/setup.sh`
//! provisions among them — start a telemetry uploader on Linux: a persistent device id and an
//! event store under `~/.cache/Microsoft/DeveloperTools/.onnxruntime`, and look-ups of
//! `mobile.events.data.microsoft.com` every few seconds while the model runs (seen with
//! `strace` on a serving process). A search server must not report on its users, and on an
//! air-gapped one the failed look-ups only cost CPU. The runtime's API switch
//! (`DisableTelemetryEvents`, which the embedder also calls) only drops events: the uploader is
//! created before it can be called. What prevents it is `ORT_DISABLE_TELEMETRY=1` in the
//! environment when the runtime initialises, which the `selfrag` binary sets first thing.
//! (The runtime also stays quiet by itself where `CI` or another CI system's variable is set, so
//! a CI run alone never shows the uploader.)

use std::ffi::OsStr;

/// The variable ONNX Runtime reads once, when it initialises.
pub const OPT_OUT: &str = "ORT_DISABLE_TELEMETRY";

/// Sets `ORT_DISABLE_TELEMETRY=1`, unless the environment already holds a choice.
///
/// # Safety
///
/// No other thread may be running: changing the process environment races with any thread
/// that reads it (`std::env::set_var`).
pub unsafe fn opt_out_before_any_thread() {
    if std::env::var_os(OPT_OUT).is_none() {
        // SAFETY: the caller guarantees this is the only thread.
        unsafe { std::env::set_var(OPT_OUT, "1") };
    }
}

/// Whether ONNX Runtime, initialised now, starts without its uploader.
pub fn opted_out() -> bool {
    std::env::var_os(OPT_OUT).as_deref() == Some(OsStr::new("1"))
}
