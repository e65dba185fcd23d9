use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
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
