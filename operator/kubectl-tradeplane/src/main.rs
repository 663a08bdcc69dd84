//! `kubectl-tradeplane`: kubectl finds this binary on the PATH and runs it as
//! `kubectl tradeplane ...`. Everything lives in the library so tests can drive it; this file
//! only turns an error into a message on stderr and a non-zero exit status.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = kubectl_tradeplane::cli::Cli::parse();
    let mut stdout = std::io::stdout();
    match kubectl_tradeplane::run(cli, &mut stdout).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
