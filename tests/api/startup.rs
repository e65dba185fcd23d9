//! Start-up refuses clearly, naming the fix, instead of failing on first use.

use selfrag::app::{App, Overrides};

use crate::helpers::test_config;

#[tokio::test]
async fn missing_model_files_stop_the_server_with_the_fix() {
    type Break = fn(&mut selfrag::config::ModelConfig, &std::path::Path);
    let cases: [(&str, Break); 2] = [
        ("model.onnx", |model, dir| {
            model.dir = dir.join("no-model-here")
        }),
        ("ONNX Runtime", |model, dir| {
            model.onnxruntime_lib = dir.join("libonnxruntime.so")
        }),
    ];
    for (missing, break_it) in cases {
        let dir = tempfile::tempdir().expect("dir");
        let mut config = test_config(dir.path());
        break_it(&mut config.model, dir.path());
        let err = App::build(config, Overrides::default())
            .await
            .err()
            .expect("refuses to start");
        let message = err.to_string();
        assert!(
            message.contains(missing) && message.contains("scripts/setup.sh"),
            "{message}"
        );
    }
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
