//! The `agent-runtime` binary; see [`agent_runtime::cli`] for the modes.

fn main() -> std::process::ExitCode {
    agent_runtime::cli::main()
}
