use clap::Parser;

fn main() -> std::process::ExitCode {
    // SAFETY: the first statement of the process: no other thread exists yet to read the
    // environment. ONNX Runtime reads the variable when the model is first loaded.
    unsafe { selfrag::embed::runtime_telemetry::opt_out_before_any_thread() };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    runtime.block_on(run())
}

async fn run() -> std::process::ExitCode {
    let cli = selfrag::cli::Cli::parse();
    // The server sets up its logging once its configuration is read (traces need it).
    if !cli.is_server() {
        selfrag::telemetry::init_logging(false, None);
    }
    match selfrag::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
