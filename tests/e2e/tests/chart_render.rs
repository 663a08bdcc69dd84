//! The Helm chart (charts/tradeplane) without a cluster: `helm lint --strict`, what `helm
//! template` renders — the CRDs exactly as generated, a hardened Deployment, RBAC without
//! wildcards, namespaced when asked — and the values its schema refuses, with messages naming
//! them. chart.rs installs it into the local control plane.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up: a failure should stop the test loudly

use e2e::cli::run;
use e2e::helm::{app_version, chart, chart_dir, of_kind, render, yaml_files};
use e2e::repo_root;
use serde_json::{Value, json};

#[tokio::test]
async fn empty_glibc_tunables_leave_the_allocator_at_glibc_defaults() {
    let objects = rendered("glibcTunables: \"\"").await;
    let env = operator_container(&objects)["env"]
        .as_array()
        .unwrap()
        .clone();
    assert!(env.iter().all(|e| e["name"] != "GLIBC_TUNABLES"));
    assert!(env.iter().any(|e| e["name"] == "POD_NAME"));
}

async fn rendered(values: &str) -> Vec<Value> {
    render(values).await.unwrap().unwrap()
}

fn only<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    let found = of_kind(objects, kind);
    assert_eq!(found.len(), 1, "expected one {kind}, found {}", found.len());
    found[0]
}

fn operator_container(objects: &[Value]) -> &Value {
    &only(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
}

fn args(container: &Value) -> Vec<String> {
    let args = container["args"].as_array().unwrap();
    args.iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

/// Numbers as f64, so YAML's `1.0` and `1` compare equal (Helm's `toYaml` writes the latter).
fn normalized(value: &Value) -> Value {
    match value {
        Value::Number(n) => json!(n.as_f64()),
        Value::Array(items) => Value::Array(items.iter().map(normalized).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), normalized(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[tokio::test]
async fn the_chart_passes_helm_lint_strict() {
    for values in [
        "{}",
        "namespaces: [team-a, team-b]\n\
         metrics: {serviceMonitor: {enabled: true}, prometheusRule: {enabled: true}, dashboards: {enabled: true}}\n",
        "crds: {install: false}\nreplicas: 1\nleaderElection: {enabled: false}\n",
    ] {
        let lint = ["lint", "--strict", &chart(), "-f", "-"];
        let output = run("helm", &lint, Some(values)).await.unwrap();
        let printed = format!("{}{}", output.stdout, output.stderr);
        assert!(
            output.success,
            "helm lint --strict with {values}:\n{printed}"
        );
    }
}

/// One source of truth: the chart's copy is byte-for-byte the generated crds/, and what it
/// renders is those CRDs with nothing changed but the keep annotation.
#[tokio::test]
async fn the_charts_crds_are_the_generated_ones_annotated_to_be_kept() {
    let (source, copy) = (repo_root().join("crds"), chart_dir().join("files/crds"));
    let names = yaml_files(&source).unwrap();
    assert_eq!(names, yaml_files(&copy).unwrap(), "run `make crds`");
    assert_eq!(names.len(), 4);
    for name in &names {
        let same =
            std::fs::read(source.join(name)).unwrap() == std::fs::read(copy.join(name)).unwrap();
        assert!(
            same,
            "charts/tradeplane/files/crds/{name} differs from crds/{name}: run `make crds`"
        );
    }
    let objects = rendered("{}").await;
    let crds = of_kind(&objects, "CustomResourceDefinition");
    assert_eq!(crds.len(), 4);
    for name in &names {
        let generated: Value =
            serde_yaml::from_str(&std::fs::read_to_string(source.join(name)).unwrap()).unwrap();
        let crd_name = &generated["metadata"]["name"];
        let mut found = (*crds
            .iter()
            .find(|c| &c["metadata"]["name"] == crd_name)
            .unwrap())
        .clone();
        let annotations = found["metadata"]["annotations"].as_object_mut().unwrap();
        let policy = annotations.remove("helm.sh/resource-policy");
        assert_eq!(policy, Some(json!("keep")), "{crd_name}");
        if annotations.is_empty() {
            found["metadata"]
                .as_object_mut()
                .unwrap()
                .remove("annotations");
        }
        assert!(
            normalized(&found) == normalized(&generated),
            "the chart renders {crd_name} differently from crds/{name}"
        );
    }
    let without = rendered("crds: {install: false}").await;
    assert!(of_kind(&without, "CustomResourceDefinition").is_empty());
}

#[tokio::test]
async fn a_bad_value_is_refused_with_a_message_naming_it() {
    // A name of 256 characters; a digest of 32 hex digits, and one in upper case.
    let long_repository = format!(
        "runtimeImage: {{repository: 'registry.example.com/{}'}}",
        "a".repeat(235)
    );
    let short_digest = format!(
        "runtimeImage: {{repository: ghcr.io/x, digest: 'sha256:{}'}}",
        "0123456789abcdef".repeat(2)
    );
    let upper_case_digest = format!(
        "image: {{digest: 'sha256:{}'}}",
        "0123456789ABCDEF".repeat(4)
    );
    let cases = [
        ("replicas: 0", "replicas"),
        ("replicas: two", "replicas"),
        ("replicaCount: 2", "replicaCount"),
        ("image: {digest: latest}", "digest"),
        ("runtimeImage: {repository: ghcr.io/x, tag: 'a b'}", "tag"),
        // Image values follow the reference grammar, as spec.image does in the CRDs.
        (
            "runtimeImage: {repository: 'my registry/agent runtime'}",
            "/runtimeImage/repository",
        ),
        (
            "image: {repository: ghcr.io/Tradeplane/operator}",
            "/image/repository",
        ),
        (
            "runtimeImage: {repository: 'ghcr.io/tradeplane/agent-runtime:0.1.0'}",
            "/runtimeImage/repository",
        ),
        (
            "runtimeImage: {repository: 'registry.example.com:https/agent-runtime'}",
            "/runtimeImage/repository",
        ),
        (long_repository.as_str(), "/runtimeImage/repository"),
        (short_digest.as_str(), "/runtimeImage/digest"),
        (upper_case_digest.as_str(), "/image/digest"),
        (
            "runtimeImage: {repository: ghcr.io/x, pullPolicy: Always}",
            "pullPolicy",
        ),
        ("namespaces: [Team_A]", "namespaces"),
        ("namespaces: team-a", "namespaces"),
        ("crds: {install: 'yes'}", "install"),
        ("logging: {format: xml}", "format"),
        ("metrics: {port: 80}", "port"),
        ("metrics: {serviceMonitor: {interval: soon}}", "interval"),
        (
            "replicas: 2\nleaderElection: {enabled: false}",
            "leaderElection",
        ),
        ("apiPriorityAndFairness: {enabled: 'no'}", "enabled"),
        (
            "apiPriorityAndFairness: {runtimes: {concurrencyShares: 0}}",
            "concurrencyShares",
        ),
        (
            "apiPriorityAndFairness: {operator: {matchingPrecedence: 10000}}",
            "matchingPrecedence",
        ),
        ("apiPriorityAndFairness: {runtime: {}}", "runtime"),
    ];
    for (values, named) in cases {
        let error = render(values).await.unwrap().err();
        let error = error.unwrap_or_else(|| panic!("`{values}` was accepted"));
        println!("{values:55} → {}", error.trim().replace('\n', " "));
        assert!(
            error.contains(named),
            "the error for `{values}` does not name {named}: {error}"
        );
    }
}

#[tokio::test]
async fn the_deployment_is_hardened_and_the_runtime_image_reaches_the_operator() {
    let objects = rendered("{}").await;
    let deployment = only(&objects, "Deployment");
    assert_eq!(deployment["spec"]["replicas"], 2);
    let pod = &deployment["spec"]["template"]["spec"]["securityContext"];
    assert_eq!(pod["runAsNonRoot"], true);
    assert_eq!(pod["seccompProfile"]["type"], "RuntimeDefault");
    let container = operator_container(&objects);
    let security = &container["securityContext"];
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert!(container["resources"]["requests"]["memory"].is_string());
    let version = app_version().unwrap();
    assert_eq!(
        container["image"],
        format!("ghcr.io/tradeplane/operator:{version}")
    );
    let flags = args(container);
    let runtime = format!("--runtime-image=ghcr.io/tradeplane/agent-runtime:{version}");
    assert!(flags.contains(&runtime), "{flags:?}");
    assert!(flags.contains(&"--leader-election=true".to_string()));
    assert!(!flags.iter().any(|f| f.starts_with("--namespaces")));
    let env = container["env"].as_array().unwrap();
    for name in ["POD_NAMESPACE", "POD_NAME"] {
        assert!(env.iter().any(|e| e["name"] == name), "{name} missing");
    }
    let tunables = env.iter().find(|e| e["name"] == "GLIBC_TUNABLES");
    assert_eq!(
        tunables.map(|e| e["value"].clone()),
        Some(json!(
            "glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=131072:glibc.malloc.trim_threshold=131072"
        )),
        "the operator runs with the chart's allocator settings by default"
    );
    assert!(of_kind(&objects, "ServiceMonitor").is_empty());
    assert!(of_kind(&objects, "PrometheusRule").is_empty());
    assert_eq!(
        only(&objects, "Service")["spec"]["ports"][0]["name"],
        "http-metrics"
    );

    let digest = format!("sha256:{}", "0123456789abcdef".repeat(4));
    let pinned = rendered(&format!(
        "runtimeImage: {{repository: registry.example/desk/agent-runtime, tag: 1.2.3, digest: '{digest}'}}\n\
         image: {{repository: registry.example/desk/operator, digest: '{digest}'}}"
    ))
    .await;
    let container = operator_container(&pinned);
    let runtime = format!("--runtime-image=registry.example/desk/agent-runtime:1.2.3@{digest}");
    assert!(args(container).contains(&runtime));
    let image = format!("registry.example/desk/operator:{version}@{digest}");
    assert_eq!(container["image"], image);

    // Every part of the grammar: a registry with a port, an IPv6 registry, `__` and `--`
    // inside path components, a sha512 digest.
    let sha512 = format!("sha512:{}", "ab".repeat(64));
    for (repository, digest) in [
        ("localhost:5000/desk/agent-runtime", ""),
        ("[fd00::1]:5000/agent-runtime", ""),
        ("Registry.Example.com/a--b/c__d.e", sha512.as_str()),
    ] {
        let objects = rendered(&format!(
            "runtimeImage: {{repository: '{repository}', tag: v1.2, digest: '{digest}'}}"
        ))
        .await;
        let at = if digest.is_empty() {
            String::new()
        } else {
            format!("@{digest}")
        };
        let runtime = format!("--runtime-image={repository}:v1.2{at}");
        let flags = args(operator_container(&objects));
        assert!(flags.contains(&runtime), "{runtime} not in {flags:?}");
    }

    let monitored = rendered(
        "metrics: {serviceMonitor: {enabled: true, labels: {release: prometheus}},\n\
         prometheusRule: {enabled: true, labels: {release: prometheus}}}",
    )
    .await;
    for kind in ["ServiceMonitor", "PrometheusRule"] {
        assert_eq!(
            only(&monitored, kind)["metadata"]["labels"]["release"],
            "prometheus"
        );
    }
}

/// Whether `role` is one the chart folds into Kubernetes' built-in roles for people, rather
/// than one of the operator's own.
fn aggregated(role: &Value) -> bool {
    role["metadata"]["labels"]
        .as_object()
        .is_some_and(|labels| {
            labels
                .keys()
                .any(|k| k.starts_with("rbac.authorization.k8s.io/aggregate-to-"))
        })
}

/// Every rule of every Role and ClusterRole of the operator's in `objects`.
fn rules(objects: &[Value]) -> Vec<Value> {
    let roles = objects
        .iter()
        .filter(|o| o["kind"] == "Role" || o["kind"] == "ClusterRole")
        .filter(|o| !aggregated(o));
    roles
        .flat_map(|o| o["rules"].as_array().unwrap().clone())
        .collect()
}

#[tokio::test]
async fn the_rbac_names_no_wildcard_and_is_namespaced_when_namespaces_are_listed() {
    let cluster_wide = rendered("{}").await;
    let restricted = rendered("namespaces: [desk-a, desk-b]").await;
    let refused_verbs = ["escalate", "bind", "impersonate", "deletecollection"];
    let refused_resources = ["nodes", "namespaces", "customresourcedefinitions"];
    for objects in [&cluster_wide, &restricted] {
        for rule in rules(objects) {
            let text = rule.to_string();
            assert!(!text.contains('*'), "a wildcard in {text}");
            let verbs = rule["verbs"].as_array().unwrap();
            assert!(
                !verbs
                    .iter()
                    .any(|v| refused_verbs.contains(&v.as_str().unwrap())),
                "{text}"
            );
            for resource in rule["resources"].as_array().unwrap() {
                let resource = resource.as_str().unwrap();
                // Pods: only the leader mark, a patch; no reads, no subresources.
                if resource.starts_with("pods") {
                    assert_eq!(resource, "pods", "{text}");
                    assert_eq!(rule["verbs"], json!(["patch"]), "{text}");
                }
                assert!(!refused_resources.contains(&resource), "{text}");
                // The operator never writes a user's spec.
                if [
                    "tradingstrategies",
                    "brokeraccounts",
                    "agentpools",
                    "backtests",
                ]
                .contains(&resource)
                {
                    assert_eq!(rule["verbs"], json!(["get", "list", "watch"]), "{text}");
                }
                // Monitoring children are read by name, applied, and deleted when alerting is
                // turned off; never listed or watched. (`kubectl auth can-i` cannot ask about
                // kinds the cluster does not serve, so the chart test's table cannot.)
                if ["prometheusrules", "podmonitors"].contains(&resource) {
                    assert_eq!(
                        rule["apiGroups"],
                        json!(["monitoring.coreos.com"]),
                        "{text}"
                    );
                    assert_eq!(
                        rule["verbs"],
                        json!(["get", "create", "patch", "delete"]),
                        "{text}"
                    );
                }
            }
        }
    }
    let monitoring: Vec<Value> = rules(&cluster_wide)
        .into_iter()
        .filter(|r| r["resources"] == json!(["prometheusrules", "podmonitors"]))
        .collect();
    assert_eq!(monitoring.len(), 1, "one rule for the monitoring children");
    let operators_cluster_roles = |objects| {
        of_kind(objects, "ClusterRole")
            .into_iter()
            .filter(|role| !aggregated(role))
            .count()
    };
    assert_eq!(operators_cluster_roles(&cluster_wide), 1);
    assert_eq!(of_kind(&cluster_wide, "ClusterRoleBinding").len(), 1);

    assert_eq!(operators_cluster_roles(&restricted), 0);
    assert!(of_kind(&restricted, "ClusterRoleBinding").is_empty());
    let roles = of_kind(&restricted, "Role");
    let namespaces: Vec<&Value> = roles.iter().map(|r| &r["metadata"]["namespace"]).collect();
    // One per watched namespace, and the leader-election Role in the release's own.
    assert_eq!(
        namespaces,
        [&json!("desk-a"), &json!("desk-b"), &json!("tradeplane")]
    );
    for binding in of_kind(&restricted, "RoleBinding") {
        let subject = &binding["subjects"][0];
        assert_eq!(
            (&subject["namespace"], &subject["name"]),
            (&json!("tradeplane"), &json!("tp-tradeplane"))
        );
    }
    let flags = args(operator_container(&restricted));
    assert!(
        flags.contains(&"--namespaces=desk-a,desk-b".into()),
        "{flags:?}"
    );
}

/// The Grafana dashboards: nothing by default; with `metrics.dashboards.enabled`, one
/// ConfigMap per file in dashboards/, labelled for Grafana's sidecar, holding the file as it is.
#[tokio::test]
async fn the_dashboards_ship_as_configmaps_for_grafanas_sidecar_when_asked() {
    assert!(of_kind(&rendered("{}").await, "ConfigMap").is_empty());
    let objects = rendered(
        "metrics: {dashboards: {enabled: true, namespace: monitoring,\n\
         annotations: {grafana_folder: Tradeplane}}}",
    )
    .await;
    let maps = of_kind(&objects, "ConfigMap");
    let dir = chart_dir().join("dashboards");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json"))
        .collect();
    files.sort();
    assert_eq!(files, ["operator.json", "strategy.json"]);
    assert_eq!(maps.len(), files.len());
    for file in &files {
        let stem = file.trim_end_matches(".json");
        let map = maps
            .iter()
            .find(|m| m["metadata"]["name"] == format!("tp-tradeplane-dashboard-{stem}"))
            .unwrap_or_else(|| panic!("no ConfigMap for {file}"));
        assert_eq!(map["metadata"]["namespace"], "monitoring");
        assert_eq!(map["metadata"]["labels"]["grafana_dashboard"], "1");
        assert_eq!(
            map["metadata"]["annotations"]["grafana_folder"],
            "Tradeplane"
        );
        let shipped: Value = serde_json::from_str(
            map["data"][format!("tradeplane-{stem}.json")]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        let source: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(file)).unwrap()).unwrap();
        assert_eq!(shipped, source, "{file}");
        assert!(source["uid"].as_str().unwrap().starts_with("tradeplane-"));
    }
    let refused = render("metrics: {dashboards: {namespace: Not_A_Namespace}}")
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        refused.contains("/metrics/dashboards/namespace"),
        "{refused}"
    );
}

#[tokio::test]
async fn people_read_the_kinds_through_view_and_change_them_through_edit_never_the_proxy() {
    let objects = rendered("{}").await;
    let roles: Vec<&Value> = objects
        .iter()
        .filter(|o| o["kind"] == "ClusterRole" && aggregated(o))
        .collect();
    let named = |suffix: &str| {
        roles
            .iter()
            .find(|r| r["metadata"]["name"].as_str().unwrap().ends_with(suffix))
            .unwrap_or_else(|| panic!("no aggregated ClusterRole ending in {suffix}"))
    };
    let label = |role: &Value, to: &str| {
        role["metadata"]["labels"][format!("rbac.authorization.k8s.io/aggregate-to-{to}")].clone()
    };
    let view = named("-view");
    let edit = named("-edit");
    for to in ["view", "edit", "admin"] {
        assert_eq!(label(view, to), "true", "view aggregates to {to}");
    }
    assert_eq!(
        label(edit, "view"),
        Value::Null,
        "changing the kinds is not part of view"
    );
    assert_eq!(label(edit, "edit"), "true");
    for rule in view["rules"].as_array().unwrap() {
        assert_eq!(rule["verbs"], json!(["get", "list", "watch"]), "{rule}");
    }
    assert_eq!(
        edit["rules"][0]["resources"],
        json!([
            "tradingstrategies",
            "brokeraccounts",
            "agentpools",
            "backtests"
        ])
    );
    for role in &roles {
        let text = role["rules"].to_string();
        assert!(
            !text.contains("proxy") && !text.contains("secrets") && !text.contains('*'),
            "{text}"
        );
    }

    let off = rendered("rbac: {aggregateToDefaultRoles: false}").await;
    assert!(
        !off.iter().any(aggregated),
        "aggregateToDefaultRoles: false renders none"
    );
}

/// The FlowSchema of `objects` whose name ends in `suffix`.
fn flow_schema<'a>(objects: &'a [Value], suffix: &str) -> &'a Value {
    of_kind(objects, "FlowSchema")
        .into_iter()
        .find(|o| o["metadata"]["name"].as_str().unwrap().ends_with(suffix))
        .unwrap_or_else(|| panic!("no FlowSchema *{suffix}"))
}

#[tokio::test]
async fn flow_control_gives_the_runtimes_and_the_operator_levels_of_their_own_and_can_be_off() {
    let objects = rendered("{}").await;
    let levels = of_kind(&objects, "PriorityLevelConfiguration");
    assert_eq!(levels.len(), 2);
    let operator = flow_schema(&objects, "-operator");
    let runtimes = flow_schema(&objects, "-runtimes");
    for schema in [operator, runtimes] {
        // Each in its own level, named as the schema.
        let level = &schema["spec"]["priorityLevelConfiguration"]["name"];
        assert_eq!(level, &schema["metadata"]["name"]);
        assert!(levels.iter().any(|l| &l["metadata"]["name"] == level));
    }
    // The operator is matched first, by its own ServiceAccount.
    let precedence = |s: &Value| s["spec"]["matchingPrecedence"].as_i64().unwrap();
    assert!(precedence(operator) < precedence(runtimes));
    assert!(
        precedence(runtimes) < 9000,
        "after the built-in service-accounts schema"
    );
    assert_eq!(
        operator["spec"]["rules"][0]["subjects"],
        json!([{"kind": "ServiceAccount",
                "serviceAccount": {"namespace": "tradeplane", "name": "tp-tradeplane"}}])
    );
    // Runtimes: any ServiceAccount, on the runtime's own resources only.
    let rule = &runtimes["spec"]["rules"][0];
    assert_eq!(
        rule["subjects"],
        json!([{"kind": "Group", "group": {"name": "system:serviceaccounts"}}])
    );
    let resources: Vec<&str> = rule["resourceRules"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["resources"].as_array().unwrap())
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(
        resources,
        [
            "leases",
            "tradingstrategies/status",
            "backtests/status",
            "events"
        ]
    );
    // Watched namespaces listed: only their ServiceAccounts.
    let restricted = rendered("namespaces: [desk-a, desk-b]").await;
    assert_eq!(
        flow_schema(&restricted, "-runtimes")["spec"]["rules"][0]["subjects"],
        json!([
            {"kind": "ServiceAccount", "serviceAccount": {"namespace": "desk-a", "name": "*"}},
            {"kind": "ServiceAccount", "serviceAccount": {"namespace": "desk-b", "name": "*"}},
        ])
    );
    let off = rendered("apiPriorityAndFairness: {enabled: false}").await;
    assert!(of_kind(&off, "FlowSchema").is_empty());
    assert!(of_kind(&off, "PriorityLevelConfiguration").is_empty());
}
