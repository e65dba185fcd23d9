//! Start-up refuses clearly, naming the fix, instead of failing on first use.

use selfrag::app::{App, Overrides};

use crate::helpers::test_config;

#[tokio::test]
async fn missing_model_files_stop_the_server_with_the_fix() {
    let dir = tempfile::tempdir().expect("dir");
    let mut config = test_config(dir.path());
    config.model.dir = dir.path().join("no-model-here");
    let err = App::build(config, Overrides::default())
        .await
        .err()
        .expect("refuses to start");
    let message = err.to_string();
    assert!(
        message.contains("model.onnx") && message.contains("scripts/setup.sh"),
        "{message}"
    );
}

#[tokio::test]
async fn a_missing_runtime_library_names_the_fix() {
    let dir = tempfile::tempdir().expect("dir");
    let mut config = test_config(dir.path());
    config.model.onnxruntime_lib = dir.path().join("libonnxruntime.so");
    let err = App::build(config, Overrides::default())
        .await
        .err()
        .expect("refuses to start");
    let message = err.to_string();
    assert!(
        message.contains("ONNX Runtime") && message.contains("scripts/setup.sh"),
        "{message}"
    );
}

#[tokio::test]
async fn an_unreachable_database_is_a_start_up_error() {
    let dir = tempfile::tempdir().expect("dir");
    let mut config = test_config(dir.path());
    config.database_url = Some("postgres://nobody@127.0.0.1:1/none".into());
    config.database.acquire_timeout_ms = 500;
    let overrides = Overrides {
        embedder: Some(crate::helpers::shared_embedder()),
        ..Overrides::default()
    };
    let err = App::build(config, overrides)
        .await
        .err()
        .expect("refuses to start");
    assert!(
        err.to_string().contains("cannot connect to the database"),
        "{err}"
    );
}
