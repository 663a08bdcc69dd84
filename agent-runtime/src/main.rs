//! The `agent-runtime` binary.

fn main() {
    eprintln!("agent-runtime: no mode is implemented yet");
    std::process::exit(2);
}
