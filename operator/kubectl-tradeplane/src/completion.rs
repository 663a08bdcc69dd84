//! `completion SHELL`: the completion script clap_complete writes for the command line.

use std::io::Write;

use clap::CommandFactory;

use crate::cli::{Cli, CompletionArgs};
use crate::error::Error;

pub fn run(args: &CompletionArgs, out: &mut dyn Write) -> Result<(), Error> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "kubectl-tradeplane", &mut script);
    out.write_all(&script)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bash_completion_names_the_subcommands() {
        let mut out = Vec::new();
        let result = run(
            &CompletionArgs {
                shell: clap_complete::Shell::Bash,
            },
            &mut out,
        );
        assert!(result.is_ok());
        let script = String::from_utf8_lossy(&out);
        for word in ["status", "journal", "explain", "switchover", "completion"] {
            assert!(script.contains(word), "{word} missing");
        }
    }
}
