//! The binary's contract: check-config names every bad field and exits non-zero; replay
//! runs the demo without keys and prints a summary.

// Test code: a panic is how a failure is reported.
#![allow(clippy::unwrap_used)]

use std::process::Command;

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn run(args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_agent-runtime"))
        .args(args)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).to_string(),
    )
}

#[test]
fn check_config_lists_every_problem_and_fails() {
    let (ok, out) = run(&["check-config", &fixture("invalid.yaml")]);
    assert!(!ok);
    assert!(
        out.contains("risk.maxDrawdown: must be between 0 and 1, got 1.5"),
        "{out}"
    );
    assert!(
        out.contains("analysts[0].providers[1]: no provider named \"missing\""),
        "{out}"
    );
    assert!(out.contains("11 problem(s)"), "{out}");
    let (ok, out) = run(&["check-config", "--config", &fixture("demo.yaml")]);
    assert!(ok, "{out}");
    let (ok, out) = run(&["check-config", "/nonexistent/config.yaml"]);
    assert!(!ok);
    assert!(out.contains("cannot read"), "{out}");
}

#[test]
fn replay_prints_a_summary() {
    let (ok, out) = run(&[
        "--log-format",
        "text",
        "replay",
        "--config",
        &fixture("demo.yaml"),
        "--max-cycles",
        "50",
        "--json",
    ]);
    assert!(ok, "{out}");
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["cycles"], 50);
    assert_eq!(summary["decisions"], 100);
}
