use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    selfrag::telemetry::init_logging();
    match selfrag::cli::run(selfrag::cli::Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
