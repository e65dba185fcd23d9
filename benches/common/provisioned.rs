//! Where `scripts/setup.sh` put ONNX Runtime and the model: `SELFRAG_PROVISION_DIR`, else
//! `.selfrag/` at the repository root. Shared by the benches (`#[path]`).

use std::path::PathBuf;

use selfrag::config::ModelConfig;

/// Points `model` at the provisioned files, whatever directory the bench runs from.
pub fn locate(model: &mut ModelConfig) {
    let provisioned = std::env::var_os("SELFRAG_PROVISION_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".selfrag"));
    model.dir = provisioned.join("models/all-MiniLM-L6-v2");
    model.onnxruntime_lib = provisioned.join("onnxruntime/libonnxruntime.so");
}
