//! The Argo CD customizations in examples/argocd/ run in a real Lua 5.1 with Argo CD's
//! sandbox: every `health_test.yaml` fixture gets the status and message it names, every
//! `action_test.yaml` discovery and action gives the expected actions and objects, no fixture
//! lies unused, and `examples/argocd/argocd-cm.yaml` is exactly what the .lua files render to.
//! Nothing here needs a cluster.
//!
//! `UPDATE_ARGOCD_CM=1 cargo test -p e2e --test argocd_lua` (or `make argocd-cm`) rewrites
//! the ConfigMap after a script changed.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up: a failure should stop the test loudly

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use e2e::argocd::lua::{self, Clock, Health, OfferedAction};
use e2e::argocd::{Customization, argocd_cm_path, customizations_root, load, render_argocd_cm};
use e2e::{repo_root, yaml_documents};
use k8s_openapi::jiff::Timestamp;
use serde::Deserialize;
use serde_json::Value;
use tradeplane_operator::api::{AgentPool, Backtest, BrokerAccount, TradingStrategy};

/// The instant the expected outputs of actions were written for: 2026-01-05T14:30:00Z.
const PINNED: i64 = 1_767_623_400;

#[derive(Deserialize)]
struct HealthTests {
    tests: Vec<HealthTest>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HealthTest {
    health_status: Health,
    input_path: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ActionTests {
    #[serde(default)]
    discovery_tests: Vec<DiscoveryTest>,
    #[serde(default)]
    action_tests: Vec<ActionTest>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DiscoveryTest {
    input_path: String,
    result: Vec<OfferedAction>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ActionTest {
    action: String,
    input_path: String,
    #[serde(default)]
    expected_output_path: Option<String>,
    /// Not in Argo CD's format: the action must fail with an error containing this.
    #[serde(default)]
    expected_error: Option<String>,
}

fn customizations() -> Vec<Customization> {
    let found = load(&customizations_root()).unwrap();
    let kinds: Vec<String> = found.iter().map(Customization::key).collect();
    assert_eq!(
        kinds,
        [
            "tradeplane.io_AgentPool",
            "tradeplane.io_Backtest",
            "tradeplane.io_BrokerAccount",
            "tradeplane.io_TradingStrategy"
        ],
        "one customization per Tradeplane kind"
    );
    found
}

/// A fixture, checked to be an object of the customization's kind that the operator's own
/// types can read (a fixture the API could never hold proves nothing).
fn fixture(customization: &Customization, path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut documents = yaml_documents(&text).unwrap();
    assert_eq!(
        documents.len(),
        1,
        "{}: one object per file",
        path.display()
    );
    let object = documents.remove(0);
    assert_eq!(
        object["apiVersion"],
        "tradeplane.io/v1alpha1",
        "{}",
        path.display()
    );
    assert_eq!(
        object["kind"],
        customization.kind.as_str(),
        "{}",
        path.display()
    );
    let typed = match customization.kind.as_str() {
        "TradingStrategy" => serde_json::from_value::<TradingStrategy>(object.clone()).err(),
        "BrokerAccount" => serde_json::from_value::<BrokerAccount>(object.clone()).err(),
        "AgentPool" => serde_json::from_value::<AgentPool>(object.clone()).err(),
        "Backtest" => serde_json::from_value::<Backtest>(object.clone()).err(),
        other => panic!("unknown kind {other}"),
    };
    assert!(typed.is_none(), "{}: {typed:?}", path.display());
    object
}

fn read_yaml<T: serde::de::DeserializeOwned>(path: &Path) -> T {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_health_fixture_gets_its_status_and_message() {
    let mut failures = Vec::new();
    let mut counted = BTreeMap::new();
    for customization in customizations() {
        let script = customization
            .health
            .as_deref()
            .unwrap_or_else(|| panic!("{} has no health.lua", customization.key()));
        let tests: HealthTests = read_yaml(&customization.dir.join("health_test.yaml"));
        let name = format!("{}/health.lua", customization.key());
        for test in &tests.tests {
            let object = fixture(&customization, &customization.dir.join(&test.input_path));
            match lua::health(&name, script, &object) {
                Ok(health) if health == test.health_status => {}
                Ok(health) => failures.push(format!(
                    "{} {}: expected {:?}, got {health:?}",
                    customization.kind, test.input_path, test.health_status
                )),
                Err(e) => {
                    failures.push(format!("{} {}: {e:#}", customization.kind, test.input_path))
                }
            }
            *counted
                .entry((
                    customization.kind.clone(),
                    test.health_status.status.clone(),
                ))
                .or_insert(0) += 1;
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    // Each kind is tested in every state its script can give (an account and a backtest have
    // nothing to suspend).
    for kind in ["TradingStrategy", "BrokerAccount", "AgentPool", "Backtest"] {
        for status in ["Healthy", "Progressing", "Degraded", "Suspended"] {
            if ["BrokerAccount", "Backtest"].contains(&kind) && status == "Suspended" {
                continue;
            }
            assert!(
                counted.contains_key(&(kind.to_string(), status.to_string())),
                "no {kind} fixture is {status}: {counted:?}"
            );
        }
    }
    println!("health fixtures: {counted:?}");
}

#[test]
fn every_action_fixture_gives_the_expected_actions_and_objects() {
    let mut failures = Vec::new();
    let mut ran = 0;
    for customization in customizations() {
        let Some(discovery) = customization.discovery.as_deref() else {
            continue;
        };
        let actions_dir = customization.dir.join("actions");
        let tests: ActionTests = read_yaml(&actions_dir.join("action_test.yaml"));
        let key = customization.key();
        let scripts: BTreeMap<&str, &str> = customization
            .actions
            .iter()
            .map(|(name, script)| (name.as_str(), script.as_str()))
            .collect();

        for test in &tests.discovery_tests {
            let object = fixture(&customization, &actions_dir.join(&test.input_path));
            let offered =
                lua::discover(&format!("{key}/discovery.lua"), discovery, &object).unwrap();
            let mut expected = test.result.clone();
            expected.sort();
            if offered != expected {
                failures.push(format!(
                    "discovery {}: expected {expected:#?}, got {offered:#?}",
                    test.input_path
                ));
            }
            let names: BTreeSet<&str> = offered.iter().map(|a| a.name.as_str()).collect();
            let defined: BTreeSet<&str> = scripts.keys().copied().collect();
            assert_eq!(
                names, defined,
                "discovery offers exactly the actions defined"
            );
            ran += 1;
        }

        for test in &tests.action_tests {
            let script = scripts
                .get(test.action.as_str())
                .unwrap_or_else(|| panic!("{key}: no action {}", test.action));
            let input = fixture(&customization, &actions_dir.join(&test.input_path));
            let name = format!("{key}/actions/{}/action.lua", test.action);
            let outcome = lua::act(&name, script, &input, Clock::Pinned(PINNED));
            let label = format!("{} on {}", test.action, test.input_path);
            match (&test.expected_output_path, &test.expected_error, outcome) {
                (Some(path), None, Ok(output)) => {
                    let expected = fixture(&customization, &actions_dir.join(path));
                    assert_ne!(input, expected, "{label}: the expected output is the input");
                    if output != expected {
                        failures.push(format!(
                            "{label}: expected\n{}\ngot\n{}",
                            serde_yaml::to_string(&expected).unwrap(),
                            serde_yaml::to_string(&output).unwrap()
                        ));
                    }
                }
                (None, Some(words), Err(error)) if format!("{error:#}").contains(words) => {}
                (_, _, outcome) => failures.push(format!("{label}: unexpected {outcome:?}")),
            }
            ran += 1;
        }
        for name in scripts.keys() {
            assert!(
                tests.action_tests.iter().any(|t| t.action == *name),
                "{key}: action {name} has no actionTest"
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(ran >= 12, "only {ran} discovery and action tests ran");
}

/// The files a test YAML names, relative to `dir`.
fn named_paths(dir: &Path, test_file: &Path) -> BTreeSet<PathBuf> {
    let value: Value = read_yaml(test_file);
    let mut paths = BTreeSet::new();
    let mut stack = vec![&value];
    while let Some(node) = stack.pop() {
        match node {
            Value::Object(entries) => {
                for (key, item) in entries {
                    if key.ends_with("Path")
                        && let Some(path) = item.as_str()
                    {
                        paths.insert(dir.join(path));
                    }
                    stack.push(item);
                }
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    paths
}

#[test]
fn every_fixture_file_is_named_by_a_test() {
    for customization in customizations() {
        for dir in [customization.dir.clone(), customization.dir.join("actions")] {
            let testdata = dir.join("testdata");
            if !testdata.is_dir() {
                continue;
            }
            let test_file = if dir.ends_with("actions") {
                dir.join("action_test.yaml")
            } else {
                dir.join("health_test.yaml")
            };
            let named = named_paths(&dir, &test_file);
            for entry in std::fs::read_dir(&testdata).unwrap() {
                let path = entry.unwrap().path();
                assert!(
                    named.contains(&path),
                    "{} is named by no test in {}",
                    path.display(),
                    test_file.display()
                );
            }
        }
    }
}

/// With the real clock the nonce actions write the current UTC time as RFC 3339, which the
/// operator compares with the last value it handled.
#[test]
fn nonce_actions_stamp_the_current_time() {
    let strategy = customizations()
        .into_iter()
        .find(|c| c.kind == "TradingStrategy")
        .unwrap();
    let input = fixture(
        &strategy,
        &strategy.dir.join("actions/testdata/hot_standby.yaml"),
    );
    let scripts: BTreeMap<String, String> = strategy.actions.iter().cloned().collect();
    for (action, pointer) in [
        ("restart", "/spec/restartAt"),
        ("switchover", "/spec/switchoverAt"),
        ("backup-now", "/spec/backup/backupNowAt"),
    ] {
        let before = Timestamp::now();
        let output = lua::act(action, &scripts[action], &input, Clock::Real).unwrap();
        let stamped = output.pointer(pointer).and_then(Value::as_str).unwrap();
        let at: Timestamp = stamped
            .parse()
            .unwrap_or_else(|e| panic!("{action}: {stamped} is not RFC 3339: {e}"));
        let seconds = at.as_second() - before.as_second();
        assert!(
            (-1..=2).contains(&seconds),
            "{action}: {stamped} is not now"
        );
        assert!(stamped.ends_with('Z'), "{action}: {stamped} is not UTC");
        assert_ne!(input.pointer(pointer), output.pointer(pointer));
    }
}

#[test]
fn argocd_cm_is_generated_from_the_lua_files() {
    let customizations = customizations();
    let rendered = render_argocd_cm(&customizations).unwrap();
    let path = argocd_cm_path();
    if std::env::var_os("UPDATE_ARGOCD_CM").is_some() {
        std::fs::write(&path, &rendered).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == rendered,
        "{} is stale: run `make argocd-cm` (UPDATE_ARGOCD_CM=1 cargo test -p e2e --test argocd_lua)",
        path.display()
    );

    // Read back as Argo CD reads it: each key holds a script, or a YAML of scripts, that is
    // the file on disk byte for byte.
    let config_map: Value = read_yaml(&path);
    assert_eq!(config_map["kind"], "ConfigMap");
    assert_eq!(config_map["metadata"]["name"], "argocd-cm");
    let data = config_map["data"].as_object().unwrap();
    let mut expected_keys = BTreeSet::new();
    for customization in &customizations {
        let key = customization.key();
        let health_key = format!("resource.customizations.health.{key}");
        assert_eq!(
            data[&health_key].as_str(),
            customization.health.as_deref(),
            "{health_key}"
        );
        expected_keys.insert(health_key);
        let Some(discovery) = &customization.discovery else {
            continue;
        };
        let actions_key = format!("resource.customizations.actions.{key}");
        let actions: Value = serde_yaml::from_str(data[&actions_key].as_str().unwrap()).unwrap();
        assert_eq!(
            actions["discovery.lua"],
            discovery.as_str(),
            "{actions_key}"
        );
        let definitions: Vec<(String, String)> = actions["definitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["name"].as_str().unwrap().to_string(),
                    d["action.lua"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(definitions, customization.actions, "{actions_key}");
        expected_keys.insert(actions_key);
    }
    let keys: BTreeSet<String> = data.keys().cloned().collect();
    assert_eq!(keys, expected_keys);
}

/// The repository directories an ApplicationSet Git generator's `directories` select: the
/// `dir/*` and plain paths it includes, less those it excludes.
fn git_directories(directories: &Value) -> Vec<String> {
    let mut included = BTreeSet::new();
    let mut excluded = BTreeSet::new();
    for entry in directories
        .as_array()
        .expect("a Git generator lists directories")
    {
        let path = entry["path"].as_str().unwrap();
        let matched: Vec<String> = match path.strip_suffix("/*") {
            Some(parent) => std::fs::read_dir(repo_root().join(parent))
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.is_dir())
                .map(|p| format!("{parent}/{}", p.file_name().unwrap().to_string_lossy()))
                .collect(),
            None => vec![path.to_string()],
        };
        if entry["exclude"].as_bool().unwrap_or(false) {
            excluded.extend(matched);
        } else {
            included.extend(matched);
        }
    }
    included.difference(&excluded).cloned().collect()
}

/// Argo CD's own kinds cannot be applied to the test cluster (its CRDs are not installed), so
/// the Application and ApplicationSet are checked here: the settings that keep Argo CD and
/// the operator from fighting are present, and every path they deploy exists.
#[test]
fn the_application_and_application_set_deploy_existing_examples_with_server_side_apply() {
    let dir = repo_root().join("examples/argocd");
    let mut kinds = BTreeSet::new();
    for file in ["application.yaml", "applicationset.yaml"] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        for document in yaml_documents(&text).unwrap() {
            assert_eq!(document["apiVersion"], "argoproj.io/v1alpha1", "{file}");
            let kind = document["kind"].as_str().unwrap().to_string();
            let spec = match kind.as_str() {
                "Application" => &document["spec"],
                "ApplicationSet" => &document["spec"]["template"]["spec"],
                other => panic!("{file}: unexpected kind {other}"),
            };
            let options: Vec<&str> = spec["syncPolicy"]["syncOptions"]
                .as_array()
                .unwrap_or_else(|| panic!("{file}: no syncOptions"))
                .iter()
                .filter_map(Value::as_str)
                .collect();
            assert!(
                options.contains(&"ServerSideApply=true"),
                "{file}: {options:?}"
            );
            let compare = match kind.as_str() {
                "Application" => &document["metadata"]["annotations"],
                _ => &document["spec"]["template"]["metadata"]["annotations"],
            };
            assert!(
                compare["argocd.argoproj.io/compare-options"]
                    .as_str()
                    .is_some_and(|o| o.contains("ServerSideDiff=true")),
                "{file}: no ServerSideDiff"
            );
            // The paths the Application (or each element the ApplicationSet lists) deploys.
            let mut paths = Vec::new();
            if kind == "Application" {
                paths.push(spec["source"]["path"].as_str().unwrap().to_string());
            } else {
                // One Application per directory the Git generator matches.
                assert_eq!(spec["source"]["path"], "{{.path.path}}", "{file}");
                for generator in document["spec"]["generators"].as_array().unwrap() {
                    paths.extend(git_directories(&generator["git"]["directories"]));
                }
            }
            assert!(!paths.is_empty(), "{file}: deploys nothing");
            for path in paths {
                assert!(!path.contains("{{"), "{file}: {path} left a placeholder");
                let deployed = repo_root().join(&path);
                assert!(deployed.is_dir(), "{file}: {path} does not exist");
                assert!(
                    std::fs::read_dir(&deployed).unwrap().any(|e| e
                        .unwrap()
                        .path()
                        .extension()
                        .is_some_and(|x| x == "yaml")),
                    "{file}: {path} holds no manifests"
                );
            }
            kinds.insert(kind);
        }
    }
    assert_eq!(
        kinds,
        BTreeSet::from(["Application".into(), "ApplicationSet".into()])
    );
}
