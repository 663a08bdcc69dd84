//! Checks on the generated CRDs that need no cluster: the committed YAML is current, the
//! schemas follow the project's rules (every property documented, defaults in descriptions and
//! never in the schema, no unknown fields kept), and the types serialize without noise.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failure should stop the test loudly

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::{Value, json};

use super::common::{
    IMAGE_DIGEST_PATTERN, IMAGE_MESSAGE, IMAGE_NAME_LENGTH_MESSAGE, IMAGE_NAME_LENGTH_RULE,
    IMAGE_NAME_PATTERN, IMAGE_REFERENCE_PATTERN, IMAGE_RULE, IMAGE_TAG_PATTERN,
};
use super::{AgentPool, BrokerAccount, TradingStrategy, crd};

/// Free-form maps whose unknown fields are meant to be kept, as `<kind>:<path>`. None so far:
/// labels and selectors are string maps (`additionalProperties`), which need no exception.
const PRESERVE_UNKNOWN_FIELDS_ALLOWED: &[&str] = &[];

/// Spec properties that come from upstream Kubernetes types, which document themselves in
/// upstream's words (and whose defaults are upstream's).
const UPSTREAM_TYPES: &[&str] = &[".resources", ".affinity", ".tolerations"];

fn crds_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crds")
}

fn root_schema(crd: &CustomResourceDefinition) -> Value {
    let version = &crd.spec.versions[0];
    let schema = version
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .expect("every version has a schema");
    serde_json::to_value(schema).unwrap()
}

/// Calls `visit(path, schema, required_by_parent)` for every schema node reachable from `schema`.
fn walk(path: &str, schema: &Value, required: bool, visit: &mut dyn FnMut(&str, &Value, bool)) {
    visit(path, schema, required);
    let Some(map) = schema.as_object() else {
        return;
    };
    let required_names: BTreeSet<&str> = map
        .get("required")
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some(properties) = map.get("properties").and_then(Value::as_object) {
        for (name, child) in properties {
            let child_path = format!("{path}.{name}");
            walk(
                &child_path,
                child,
                required_names.contains(name.as_str()),
                visit,
            );
        }
    }
    if let Some(items) = map.get("items") {
        walk(&format!("{path}[]"), items, true, visit);
    }
    if let Some(values) = map.get("additionalProperties").filter(|v| v.is_object()) {
        walk(&format!("{path}{{}}"), values, true, visit);
    }
    for junctor in ["anyOf", "oneOf", "allOf"] {
        for (i, branch) in map
            .get(junctor)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            walk(&format!("{path}<{junctor}{i}>"), branch, required, visit);
        }
    }
}

/// Every schema node of every CRD, as (kind, path, node, required).
fn every_node() -> Vec<(String, String, Value, bool)> {
    let mut nodes = Vec::new();
    for (_, crd) in crd::all() {
        let kind = crd.spec.names.kind.clone();
        walk("", &root_schema(&crd), true, &mut |path, node, required| {
            nodes.push((kind.clone(), path.to_string(), node.clone(), required));
        });
    }
    nodes
}

/// Whether a path is a property (not an array item, map value or junctor branch).
fn is_property(path: &str) -> bool {
    path.ends_with(|c: char| c.is_ascii_alphanumeric())
}

#[test]
fn committed_crds_match_what_the_types_generate() {
    let generated = crd::all();
    let mut stale = Vec::new();
    for (file, definition) in &generated {
        let path = crds_dir().join(file);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != crd::to_yaml(definition).unwrap() {
            stale.push(format!("crds/{file}"));
        }
    }
    let expected: BTreeSet<String> = generated.iter().map(|(f, _)| f.to_string()).collect();
    for entry in std::fs::read_dir(crds_dir()).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if !expected.contains(&name) {
            stale.push(format!("crds/{name} (no longer generated)"));
        }
    }
    assert!(
        stale.is_empty(),
        "{} differ from what operator/api generates: run `make crds` and commit the result",
        stale.join(", ")
    );
}

#[test]
fn every_property_has_a_description() {
    let missing: Vec<String> = every_node()
        .into_iter()
        .filter(|(_, path, _, _)| is_property(path) || path.is_empty())
        .filter(|(_, _, node, _)| {
            node.get("description")
                .and_then(Value::as_str)
                .is_none_or(|d| d.trim().is_empty())
        })
        .map(|(kind, path, _, _)| format!("{kind}{path}"))
        .collect();
    assert!(
        missing.is_empty(),
        "properties without a description (add a doc comment): {missing:#?}"
    );
}

#[test]
fn every_optional_spec_field_states_its_default() {
    let silent: Vec<String> = every_node()
        .into_iter()
        .filter(|(_, path, _, required)| {
            path.starts_with(".spec.")
                && is_property(path)
                && !required
                && !UPSTREAM_TYPES.iter().any(|upstream| {
                    path.contains(&format!("{upstream}.")) || path.contains(&format!("{upstream}["))
                })
        })
        .filter(|(_, _, node, _)| {
            let description = node
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_lowercase();
            !description.contains("default")
        })
        .map(|(kind, path, _, _)| format!("{kind}{path}"))
        .collect();
    assert!(
        silent.is_empty(),
        "optional fields whose description does not state the default: {silent:#?}"
    );
}

#[test]
fn schemas_hold_no_defaults_and_keep_no_unknown_fields() {
    let mut defaults = Vec::new();
    let mut preserved = Vec::new();
    for (kind, path, node, _) in every_node() {
        if node.get("default").is_some() {
            defaults.push(format!("{kind}{path}"));
        }
        if node.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
            let at = format!("{kind}:{path}");
            if !PRESERVE_UNKNOWN_FIELDS_ALLOWED.contains(&at.as_str()) {
                preserved.push(at);
            }
        }
    }
    assert!(
        defaults.is_empty(),
        "schema defaults (state the default in the description and apply it in code): {defaults:#?}"
    );
    assert!(
        preserved.is_empty(),
        "x-kubernetes-preserve-unknown-fields outside a free-form map: {preserved:#?}"
    );
}

#[test]
fn names_categories_and_subresources_are_as_documented() {
    let expected = [
        ("TradingStrategy", "tradingstrategies", "ts", false),
        ("BrokerAccount", "brokeraccounts", "ba", false),
        ("AgentPool", "agentpools", "ap", true),
        ("Backtest", "backtests", "bt", false),
    ];
    let crds = crd::all();
    assert_eq!(crds.len(), expected.len());
    for (kind, plural, short, scales) in expected {
        let (_, crd) = crds
            .iter()
            .find(|(_, c)| c.spec.names.kind == kind)
            .unwrap_or_else(|| panic!("no CRD for {kind}"));
        assert_eq!(crd.spec.group, "tradeplane.io", "{kind}");
        assert_eq!(crd.spec.names.plural, plural, "{kind}");
        assert_eq!(
            crd.spec.names.short_names.as_deref(),
            Some(&[short.to_string()][..]),
            "{kind}"
        );
        assert_eq!(
            crd.spec.names.categories.as_deref(),
            Some(&["trading".to_string(), "tradeplane".to_string()][..]),
            "{kind}"
        );
        let version = &crd.spec.versions[0];
        assert_eq!(version.name, "v1alpha1", "{kind}");
        let subresources = version.subresources.as_ref().unwrap();
        assert!(
            subresources.status.is_some(),
            "{kind} has no status subresource"
        );
        assert_eq!(
            subresources.scale.is_some(),
            scales,
            "{kind} scale subresource"
        );
        let columns: Vec<&str> = version
            .additional_printer_columns
            .iter()
            .flatten()
            .map(|c| c.name.as_str())
            .collect();
        assert!(columns.contains(&"Phase"), "{kind} columns: {columns:?}");
        assert_eq!(columns.last(), Some(&"Age"), "{kind} columns: {columns:?}");
    }
}

#[test]
fn every_status_follows_the_api_conventions() {
    for (_, crd) in crd::all() {
        let kind = &crd.spec.names.kind;
        let status = &root_schema(&crd)["properties"]["status"]["properties"];
        assert_eq!(
            status["observedGeneration"]["type"], "integer",
            "{kind}.status.observedGeneration"
        );
        assert_eq!(status["phase"]["type"], "string", "{kind}.status.phase");
        let conditions = &status["conditions"];
        assert_eq!(conditions["x-kubernetes-list-type"], "map", "{kind}");
        assert_eq!(conditions["x-kubernetes-list-map-keys"], json!(["type"]));
        let condition = &conditions["items"]["properties"];
        for field in [
            "type",
            "status",
            "reason",
            "message",
            "lastTransitionTime",
            "observedGeneration",
        ] {
            assert!(condition.get(field).is_some(), "{kind} condition {field}");
        }
        assert_eq!(
            condition["status"]["enum"],
            json!(["True", "False", "Unknown"])
        );
    }
}

/// Lists every `null`, empty list and empty map in a serialized object.
fn noise(value: &Value, path: &str, found: &mut Vec<String>) {
    match value {
        Value::Null => found.push(path.to_string()),
        Value::Array(items) if items.is_empty() => found.push(path.to_string()),
        Value::Object(map) if map.is_empty() => found.push(path.to_string()),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                noise(item, &format!("{path}[{i}]"), found);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                noise(item, &format!("{path}.{key}"), found);
            }
        }
        _ => {}
    }
}

#[test]
fn minimal_objects_serialize_without_empty_lists_or_absent_options() {
    let strategy: TradingStrategy = serde_json::from_value(json!({
        "apiVersion": "tradeplane.io/v1alpha1", "kind": "TradingStrategy",
        "metadata": { "name": "s" },
        "spec": { "symbols": ["AAPL"], "brokerAccountRef": { "name": "paper" } }
    }))
    .unwrap();
    let account: BrokerAccount = serde_json::from_value(json!({
        "apiVersion": "tradeplane.io/v1alpha1", "kind": "BrokerAccount",
        "metadata": { "name": "paper" },
        "spec": { "broker": "Paper" }
    }))
    .unwrap();
    let pool: AgentPool = serde_json::from_value(json!({
        "apiVersion": "tradeplane.io/v1alpha1", "kind": "AgentPool",
        "metadata": { "name": "p" },
        "spec": {
            "agents": [{ "role": "trend", "providers": ["rules"], "method": "Trend" }],
            "providers": [{ "name": "rules", "kind": "Rules" }]
        }
    }))
    .unwrap();
    let mut found = Vec::new();
    noise(
        &serde_json::to_value(&strategy).unwrap(),
        "TradingStrategy",
        &mut found,
    );
    noise(
        &serde_json::to_value(&account).unwrap(),
        "BrokerAccount",
        &mut found,
    );
    noise(
        &serde_json::to_value(&pool).unwrap(),
        "AgentPool",
        &mut found,
    );
    assert!(found.is_empty(), "serialized noise: {found:?}");
    let defaults = [
        serde_json::to_value(super::TradingStrategyStatus::default()).unwrap(),
        serde_json::to_value(super::AgentPoolStatus::default()).unwrap(),
        serde_json::to_value(super::BrokerAccountStatus::default()).unwrap(),
        serde_json::to_value(super::broker_account::AccountLimits::default()).unwrap(),
        serde_json::to_value(super::common::PodPlacement::default()).unwrap(),
    ];
    for value in defaults {
        assert_eq!(value, json!({}));
    }
}

/// Reads `value` into `K` and writes it back.
fn round_trip<K: serde::de::DeserializeOwned + serde::Serialize>(
    value: &Value,
    file: &Path,
) -> Value {
    let typed: K =
        serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    serde_json::to_value(typed).unwrap()
}

/// The value with every number as a float, so `100000` and `100000.0` compare equal.
fn numbers_as_floats(value: Value) -> Value {
    match value {
        Value::Number(n) => json!(n.as_f64()),
        Value::Array(items) => Value::Array(items.into_iter().map(numbers_as_floats).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, numbers_as_floats(v)))
                .collect(),
        ),
        other => other,
    }
}

/// Every Tradeplane object under examples/ reads into the Rust types and writes back the same,
/// so the examples and the types (which the controllers use) cannot drift apart: a field the
/// types do not know would be dropped, and the comparison would fail.
#[test]
fn examples_round_trip_through_the_types() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut files = Vec::new();
    let mut dirs = vec![root];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                files.push(path);
            }
        }
    }
    let mut checked = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for document in serde_yaml::Deserializer::from_str(&text) {
            let value: Value = serde::Deserialize::deserialize(document).unwrap();
            let round_tripped = match value["kind"].as_str() {
                Some("TradingStrategy") => round_trip::<TradingStrategy>(&value, &file),
                Some("BrokerAccount") => round_trip::<BrokerAccount>(&value, &file),
                Some("AgentPool") => round_trip::<AgentPool>(&value, &file),
                _ => continue,
            };
            assert_eq!(
                numbers_as_floats(round_tripped),
                numbers_as_floats(value),
                "{}",
                file.display()
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 8,
        "only {checked} Tradeplane objects in examples/"
    );
}

/// A pattern inside a CEL rule's raw string `r'…'`, `prefix` being what precedes it.
fn pattern_in_rule<'a>(rule: &'a str, prefix: &str) -> &'a str {
    let start = rule.find(prefix).expect("the rule's prefix") + prefix.len();
    let end = start + rule[start..].find('\'').expect("the raw string's end");
    &rule[start..end]
}

/// What the image rules decide for `image`, as the API server's two CEL rules would: whether
/// it has the reference's shape, and whether its name (as `find` extracts it) is short enough.
fn image_rules(image: &str) -> (bool, bool) {
    let shape = regex::Regex::new(pattern_in_rule(IMAGE_RULE, "self.matches(r'")).unwrap();
    let name = regex::Regex::new(pattern_in_rule(IMAGE_NAME_LENGTH_RULE, "self.find(r'")).unwrap();
    let name_length = name.find(image).map_or(0, |m| m.as_str().len());
    (shape.is_match(image), name_length <= 255)
}

#[test]
fn image_references_follow_the_container_reference_grammar() {
    assert_eq!(
        pattern_in_rule(IMAGE_RULE, "self.matches(r'"),
        IMAGE_REFERENCE_PATTERN
    );
    let digest = format!("sha256:{}", "0123456789abcdef".repeat(4));
    let good = [
        "agent-runtime".to_string(),
        "ghcr.io/tradeplane/agent-runtime:0.1.0".to_string(),
        "localhost/x".to_string(),
        "localhost:5000/agent-runtime".to_string(),
        "localhost:5000".to_string(), // the repository `localhost`, tag `5000`
        "registry.example.com:5000/team/agent-runtime:v1.2".to_string(),
        "10.0.0.5:5000/desk/agent_runtime__v2:latest".to_string(),
        "[fd00::1]:5000/agent-runtime:1".to_string(),
        "Registry.Example.com/a--b/c.d:TAG_1.x-y".to_string(),
        format!("ghcr.io/tradeplane/agent-runtime@{digest}"),
        format!("ghcr.io/tradeplane/agent-runtime:0.1.0@{digest}"),
        format!("x@sha384:{}", "ab".repeat(48)),
        format!("x@sha512:{}", "ab".repeat(64)),
        format!("x:{}", "t".repeat(128)),
        format!("registry.example.com/{}:1", "a".repeat(234)),
    ];
    for image in &good {
        assert_eq!(image_rules(image), (true, true), "{image} refused");
    }
    let bad_shape = [
        "my registry/agent runtime:latest".to_string(),
        "ghcr.io/Tradeplane/agent-runtime:0.1.0".to_string(),
        "Agent-runtime".to_string(),
        "x:".to_string(),
        "x@".to_string(),
        ":1".to_string(),
        "/x".to_string(),
        "x/".to_string(),
        "x//y".to_string(),
        "-x".to_string(),
        "x-".to_string(),
        "x._y".to_string(),
        "x___y".to_string(),
        "x:1:2".to_string(),
        "ghcr.io/x:1/y".to_string(),
        "registry.example.com:https/agent-runtime".to_string(),
        "https://ghcr.io/tradeplane/agent-runtime".to_string(),
        "-registry.example.com/x".to_string(),
        "x:.1".to_string(),
        format!("x:{}", "t".repeat(129)),
        "x@sha256:0123abcd".to_string(),
        format!("x@sha256:{}", "AB".repeat(32)),
        format!("x@md5:{}", "ab".repeat(16)),
        format!("x@{}", "ab".repeat(32)),
        format!("x@sha256:{}", "ab".repeat(33)),
        format!("x@{digest}:1"),
        " x".to_string(),
        "x\n".to_string(),
    ];
    for image in &bad_shape {
        assert!(!image_rules(image).0, "{image:?} admitted");
    }
    let too_long = format!("registry.example.com/{}:1", "a".repeat(235));
    assert_eq!(image_rules(&too_long), (true, false));
    let too_long_pinned = format!("{}@{digest}", "a/".repeat(127) + "ab");
    assert_eq!(image_rules(&too_long_pinned), (true, false));
}

#[test]
fn every_image_field_is_checked_as_an_image_reference() {
    let mut found = 0;
    for (kind, path, node, _) in every_node() {
        if !path.ends_with(".image") {
            continue;
        }
        found += 1;
        let rules: Vec<(&str, &str)> = node["x-kubernetes-validations"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| (r["rule"].as_str().unwrap(), r["message"].as_str().unwrap()))
            .collect();
        for expected in [
            (IMAGE_RULE, IMAGE_MESSAGE),
            (IMAGE_NAME_LENGTH_RULE, IMAGE_NAME_LENGTH_MESSAGE),
        ] {
            assert!(
                rules.contains(&expected),
                "{kind}{path} lacks the rule {:?}",
                expected.0
            );
        }
    }
    assert_eq!(
        found, 4,
        "spec.image of TradingStrategy, AgentPool, Backtest and a Backtest's template"
    );
}

/// A pattern that also admits the empty string, as the chart's optional values are written.
fn or_empty(pattern: &str) -> String {
    format!("^({})?$", &pattern[1..pattern.len() - 1])
}

#[test]
fn the_charts_image_values_follow_the_same_grammar() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../charts/tradeplane/values.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for (value, image) in [
        ("image", &schema["properties"]["image"]["properties"]),
        (
            "runtimeImage",
            &schema["definitions"]["imageReference"]["properties"],
        ),
    ] {
        assert_eq!(
            image["repository"]["pattern"], IMAGE_NAME_PATTERN,
            "{value}.repository"
        );
        assert_eq!(image["repository"]["maxLength"], 255, "{value}.repository");
        assert_eq!(
            image["tag"]["pattern"],
            or_empty(IMAGE_TAG_PATTERN),
            "{value}.tag"
        );
        assert_eq!(
            image["digest"]["pattern"],
            or_empty(IMAGE_DIGEST_PATTERN),
            "{value}.digest"
        );
    }
    assert_eq!(
        schema["properties"]["runtimeImage"]["$ref"],
        "#/definitions/imageReference"
    );
    // The chart joins them as repository:tag@digest: a reference of the grammar.
    let reference = format!(
        "^{}(:{})?(@{})?$",
        &IMAGE_NAME_PATTERN[1..IMAGE_NAME_PATTERN.len() - 1],
        &IMAGE_TAG_PATTERN[1..IMAGE_TAG_PATTERN.len() - 1],
        &IMAGE_DIGEST_PATTERN[1..IMAGE_DIGEST_PATTERN.len() - 1]
    );
    assert_eq!(reference, IMAGE_REFERENCE_PATTERN);
}
