use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = selfrag::cli::Cli::parse();
    selfrag::telemetry::init_logging(cli.is_server());
    match selfrag::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
