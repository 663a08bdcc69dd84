//! The alert rules the operator renders, checked by the real `promtool` (Debian's
//! `prometheus` package; tests/prometheus/install.sh installs it when missing).
//!
//! `promtool check rules` on every rule file the operator would write for the fixtures in
//! tests/prometheus/rules/ and for every example with alerting on; `promtool test rules` on
//! the fixtures' unit tests, whose synthetic series show each alert firing when it should and
//! silent when it should not. The rule files are rendered by the operator's own code
//! (`render_manifest`, what the `alert-rules` bin writes), so a change to an expression is
//! tested here without a cluster.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up: a failure should stop the test loudly

use std::path::{Path, PathBuf};
use std::process::Command;

use e2e::repo_root;
use tradeplane_operator::controllers::monitoring_files::render_manifest;

/// promtool, installed by the project's script when it is not on PATH.
fn promtool() -> PathBuf {
    let on_path = Command::new("promtool").arg("--version").output();
    if on_path.is_ok_and(|o| o.status.success()) {
        return PathBuf::from("promtool");
    }
    let script = repo_root().join("tests/prometheus/install.sh");
    let out = Command::new(&script).output().expect("run install.sh");
    assert!(
        out.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Path::new(&dir).join("promtool")
}

/// A fresh directory for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "tradeplane-alert-rules-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn run(promtool: &Path, args: &[&str], dir: &Path) {
    let out = Command::new(promtool)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The one rule file the operator renders for the manifest `path`.
fn render(path: &Path) -> String {
    let manifest = std::fs::read_to_string(path).expect("read manifest");
    let files = render_manifest(&manifest, "default").expect("render");
    assert_eq!(
        files.len(),
        1,
        "{} holds one alerting object",
        path.display()
    );
    files.into_iter().next().map(|f| f.yaml).unwrap_or_default()
}

/// The rule file without annotations: promtool's unit tests compare annotations too, and
/// what they should say is the builders' unit tests' business; labels are compared in full.
fn without_annotations(yaml: &str) -> String {
    let mut file: serde_yaml::Value = serde_yaml::from_str(yaml).expect("rule file");
    for group in file["groups"].as_sequence_mut().expect("groups") {
        for rule in group["rules"].as_sequence_mut().expect("rules") {
            rule.as_mapping_mut().expect("rule").remove("annotations");
        }
    }
    serde_yaml::to_string(&file).expect("yaml")
}

#[test]
fn every_rendered_rule_file_passes_promtool_check_rules() {
    let promtool = promtool();
    let dir = scratch("check");
    let root = repo_root();
    let mut checked = Vec::new();
    for fixture in ["strategy", "pool"] {
        let yaml = render(&root.join(format!("tests/prometheus/rules/{fixture}.yaml")));
        let file = format!("{fixture}.rules.yaml");
        std::fs::write(dir.join(&file), yaml).expect("write");
        checked.push(file);
    }
    // The examples users apply, where they turn alerting on.
    for example in ["examples/llm/strategy.yaml"] {
        let manifest = std::fs::read_to_string(root.join(example)).expect("read example");
        for file in render_manifest(&manifest, "default").expect("example renders") {
            std::fs::write(dir.join(&file.name), &file.yaml).expect("write");
            checked.push(file.name);
        }
    }
    let mut args = vec!["check", "rules"];
    args.extend(checked.iter().map(String::as_str));
    run(&promtool, &args, &dir);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn each_alert_fires_when_it_should_and_stays_silent_otherwise() {
    let promtool = promtool();
    let dir = scratch("test");
    let fixtures = repo_root().join("tests/prometheus/rules");
    for fixture in ["strategy", "pool"] {
        let yaml = render(&fixtures.join(format!("{fixture}.yaml")));
        std::fs::write(
            dir.join(format!("{fixture}.rules.yaml")),
            without_annotations(&yaml),
        )
        .expect("write rules");
        let test = format!("{fixture}.test.yaml");
        std::fs::copy(fixtures.join(&test), dir.join(&test)).expect("copy test");
        run(&promtool, &["test", "rules", &test], &dir);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_unit_tests_cover_every_alert_the_fixtures_render() {
    // An alert added to the builders without a promtool test fails here.
    let fixtures = repo_root().join("tests/prometheus/rules");
    for fixture in ["strategy", "pool"] {
        let rules: serde_yaml::Value =
            serde_yaml::from_str(&render(&fixtures.join(format!("{fixture}.yaml")))).expect("yaml");
        let tests = std::fs::read_to_string(fixtures.join(format!("{fixture}.test.yaml")))
            .expect("read tests");
        for rule in rules["groups"][0]["rules"].as_sequence().expect("rules") {
            let alert = rule["alert"].as_str().expect("alert name");
            let firing = format!("alertname: {alert}\n        exp_alerts:\n          - exp_labels");
            assert!(
                tests.contains(&firing),
                "{fixture}.test.yaml never shows {alert} firing"
            );
            let silent = format!("alertname: {alert}, exp_alerts: []");
            assert!(
                tests.contains(&silent),
                "{fixture}.test.yaml never shows {alert} silent"
            );
        }
    }
}
