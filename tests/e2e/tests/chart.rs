//! The Helm chart (charts/tradeplane), as users meet it: `helm lint --strict`, what `helm
//! template` renders and what its schema refuses, the rendering accepted by a real API server,
//! `helm install` and `helm upgrade` into the local control plane, and then the operator binary
//! run with the chart's ServiceAccount token — so the RBAC under test is the RBAC the chart
//! renders — reconciling every example to Ready, followed by a `kubectl auth can-i` table that
//! shows it may do no more than that.
//!
//! The shared cluster already has the CRDs (other tests install them), and they are
//! cluster-scoped, so the tests there install with `crds.install=false` and a `namespaces`
//! list (Roles only: nothing cluster-scoped, nothing another test could meet). The CRDs the
//! chart installs, upgrades and keeps, and the cluster-wide ClusterRole, are tested on a
//! private API server.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up: a failure should stop the test loudly

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use e2e::cli::{operator_binary, run, run_ok, token_kubeconfig};
use e2e::rbac::{Check, assert_table, listed_rules};
use e2e::{PrivateCluster, TestNamespace, apply_strict, install_crds, repo_root, shared_client};
use e2e::{wait_for, yaml_documents};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::ListParams;
use kube::{Api, Client};
use serde_json::{Value, json};
use standins::alpaca::AlpacaStandin;
use tradeplane_operator::api::{AgentPool, BrokerAccount, TradingStrategy};

const READY_WITHIN: Duration = Duration::from_secs(180);

fn chart_dir() -> PathBuf {
    repo_root().join("charts/tradeplane")
}

fn chart() -> String {
    chart_dir().to_string_lossy().into_owned()
}

fn app_version() -> String {
    let text = std::fs::read_to_string(chart_dir().join("Chart.yaml")).unwrap();
    let chart: Value = serde_yaml::from_str(&text).unwrap();
    chart["appVersion"].as_str().unwrap().to_string()
}

/// `helm template` of the chart with `values` (YAML), as release `tp` in namespace `tradeplane`.
async fn render(values: &str) -> Result<Vec<Value>, String> {
    let args = [
        "template",
        "tp",
        &chart(),
        "--namespace",
        "tradeplane",
        "-f",
        "-",
    ];
    let output = run("helm", &args, Some(values)).await.unwrap();
    if !output.success {
        return Err(output.stderr);
    }
    Ok(yaml_documents(&output.stdout).unwrap())
}

fn of_kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
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
    container["args"]
        .as_array()
        .unwrap()
        .iter()
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
         metrics: {serviceMonitor: {enabled: true}, prometheusRule: {enabled: true}}\n",
        "crds: {install: false}\nreplicas: 1\nleaderElection: {enabled: false}\n",
    ] {
        let output = run(
            "helm",
            &["lint", "--strict", &chart(), "-f", "-"],
            Some(values),
        )
        .await
        .unwrap();
        assert!(
            output.success,
            "helm lint --strict with {values}:\n{}{}",
            output.stdout, output.stderr
        );
    }
}

/// One source of truth: the chart's copy is byte-for-byte the generated crds/, and what it
/// renders is those CRDs with nothing changed but the keep annotation.
#[tokio::test]
async fn the_charts_crds_are_the_generated_ones_annotated_to_be_kept() {
    let names = |dir: &Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".yaml"))
            .collect();
        names.sort();
        names
    };
    let (source, copy) = (repo_root().join("crds"), chart_dir().join("files/crds"));
    assert_eq!(names(&source), names(&copy), "run `make crds`");
    assert_eq!(names(&source).len(), 3);
    let rendered = render("{}").await.unwrap();
    let crds = of_kind(&rendered, "CustomResourceDefinition");
    assert_eq!(crds.len(), 3);
    for name in names(&source) {
        let generated = std::fs::read(source.join(&name)).unwrap();
        assert!(
            generated == std::fs::read(copy.join(&name)).unwrap(),
            "charts/tradeplane/files/crds/{name} differs from crds/{name}: run `make crds`"
        );
        let generated: Value = serde_yaml::from_slice(&generated).unwrap();
        let crd_name = generated["metadata"]["name"].as_str().unwrap();
        let mut found = (*crds
            .iter()
            .find(|c| c["metadata"]["name"] == crd_name)
            .unwrap())
        .clone();
        let annotations = found["metadata"]["annotations"].as_object_mut().unwrap();
        assert_eq!(
            annotations.remove("helm.sh/resource-policy"),
            Some(json!("keep")),
            "{crd_name}"
        );
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
    let without = render("crds: {install: false}").await.unwrap();
    assert!(of_kind(&without, "CustomResourceDefinition").is_empty());
}

#[tokio::test]
async fn a_bad_value_is_refused_with_a_message_naming_it() {
    let cases = [
        ("replicas: 0", "replicas"),
        ("replicas: two", "replicas"),
        ("replicaCount: 2", "replicaCount"),
        ("image: {digest: latest}", "digest"),
        ("runtimeImage: {repository: ghcr.io/x, tag: 'a b'}", "tag"),
        (
            "runtimeImage: {repository: ghcr.io/x, pullPolicy: Always}",
            "pullPolicy",
        ),
        ("namespaces: [Team_A]", "namespaces"),
        ("namespaces: team-a", "namespaces"),
        ("crds: {install: 'yes'}", "install"),
        ("logging: {format: xml}", "format"),
        ("metrics: {port: 80}", "port"),
        (
            "metrics: {serviceMonitor: {enabled: true, interval: soon}}",
            "interval",
        ),
        (
            "replicas: 2\nleaderElection: {enabled: false}",
            "leaderElection",
        ),
    ];
    for (values, named) in cases {
        let error = render(values)
            .await
            .err()
            .unwrap_or_else(|| panic!("`{values}` was accepted"));
        println!("{values:55} → {}", error.trim().replace('\n', " "));
        assert!(
            error.contains(named),
            "the error for `{values}` does not name {named}: {error}"
        );
    }
}

#[tokio::test]
async fn the_deployment_is_hardened_and_the_runtime_image_reaches_the_operator() {
    let objects = render("{}").await.unwrap();
    let deployment = only(&objects, "Deployment");
    assert_eq!(deployment["spec"]["replicas"], 2);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let container = operator_container(&objects);
    let security = &container["securityContext"];
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert!(container["resources"]["requests"]["memory"].is_string());
    let version = app_version();
    assert_eq!(
        container["image"],
        format!("ghcr.io/tradeplane/operator:{version}")
    );
    let flags = args(container);
    assert!(flags.contains(&format!(
        "--runtime-image=ghcr.io/tradeplane/agent-runtime:{version}"
    )));
    assert!(flags.contains(&"--leader-election=true".to_string()));
    assert!(!flags.iter().any(|f| f.starts_with("--namespaces")));
    let env: Vec<&str> = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(env.contains(&"POD_NAMESPACE") && env.contains(&"POD_NAME"));
    assert!(of_kind(&objects, "ServiceMonitor").is_empty());
    assert!(of_kind(&objects, "PrometheusRule").is_empty());
    let service = only(&objects, "Service");
    assert_eq!(service["spec"]["ports"][0]["name"], "http-metrics");

    let digest = format!("sha256:{}", "0123456789abcdef".repeat(4));
    let pinned = render(&format!(
        "runtimeImage: {{repository: registry.example/desk/agent-runtime, tag: 1.2.3, digest: '{digest}'}}\n\
         image: {{repository: registry.example/desk/operator, digest: '{digest}'}}"
    ))
    .await
    .unwrap();
    let container = operator_container(&pinned);
    assert!(args(container).contains(&format!(
        "--runtime-image=registry.example/desk/agent-runtime:1.2.3@{digest}"
    )));
    assert_eq!(
        container["image"],
        format!("registry.example/desk/operator:{version}@{digest}")
    );

    let monitored = render(
        "metrics: {serviceMonitor: {enabled: true, labels: {release: prometheus}},\n\
         prometheusRule: {enabled: true, labels: {release: prometheus}}}",
    )
    .await
    .unwrap();
    for kind in ["ServiceMonitor", "PrometheusRule"] {
        assert_eq!(
            only(&monitored, kind)["metadata"]["labels"]["release"],
            "prometheus"
        );
    }
}

/// Every rule of every Role and ClusterRole in `objects`.
fn rules(objects: &[Value]) -> Vec<Value> {
    objects
        .iter()
        .filter(|o| o["kind"] == "Role" || o["kind"] == "ClusterRole")
        .flat_map(|o| o["rules"].as_array().unwrap().clone())
        .collect()
}

#[tokio::test]
async fn the_rbac_names_no_wildcard_and_is_namespaced_when_namespaces_are_listed() {
    let cluster_wide = render("{}").await.unwrap();
    let restricted = render("namespaces: [desk-a, desk-b]").await.unwrap();
    for objects in [&cluster_wide, &restricted] {
        for rule in rules(objects) {
            let text = rule.to_string();
            assert!(!text.contains('*'), "a wildcard in {text}");
            for verb in rule["verbs"].as_array().unwrap() {
                let verb = verb.as_str().unwrap();
                assert!(
                    !["escalate", "bind", "impersonate", "deletecollection"].contains(&verb),
                    "{verb} in {text}"
                );
            }
            for resource in rule["resources"].as_array().unwrap() {
                let resource = resource.as_str().unwrap();
                assert!(
                    !resource.starts_with("pods")
                        && !["nodes", "namespaces", "customresourcedefinitions"]
                            .contains(&resource),
                    "{resource} in {text}"
                );
                // The operator never writes a user's spec.
                if ["tradingstrategies", "brokeraccounts", "agentpools"].contains(&resource) {
                    assert_eq!(rule["verbs"], json!(["get", "list", "watch"]), "{text}");
                }
            }
        }
    }
    assert_eq!(of_kind(&cluster_wide, "ClusterRole").len(), 1);
    assert_eq!(of_kind(&cluster_wide, "ClusterRoleBinding").len(), 1);

    assert!(of_kind(&restricted, "ClusterRole").is_empty());
    assert!(of_kind(&restricted, "ClusterRoleBinding").is_empty());
    let roles: Vec<&str> = of_kind(&restricted, "Role")
        .iter()
        .map(|r| r["metadata"]["namespace"].as_str().unwrap())
        .collect();
    // One per watched namespace, and the leader-election Role in the release's own.
    assert_eq!(roles, ["desk-a", "desk-b", "tradeplane"]);
    for binding in of_kind(&restricted, "RoleBinding") {
        assert_eq!(binding["subjects"][0]["namespace"], "tradeplane");
        assert_eq!(binding["subjects"][0]["name"], "tp-tradeplane");
    }
    assert!(args(operator_container(&restricted)).contains(&"--namespaces=desk-a,desk-b".into()));
}

/// `helm template` output applied as a dry run by the API server: every object passes its
/// schema, strict field validation and admission, without being stored.
#[tokio::test]
async fn the_rendered_chart_is_accepted_by_the_api_server() {
    let client = shared_client().await.unwrap();
    install_crds(&client).await.unwrap();
    let ns = TestNamespace::create(&client, "chart-dry").await.unwrap();
    for values in ["{}".to_string(), format!("namespaces: [{}]", ns.name)] {
        let args = [
            "template",
            "tp",
            &chart(),
            "--namespace",
            &ns.name,
            "-f",
            "-",
        ];
        let manifest = run_ok("helm", &args, Some(&values)).await.unwrap();
        let applied = run_ok(
            "kubectl",
            &[
                "apply",
                "--server-side",
                "--dry-run=server",
                "--validate=strict",
                // The CRDs exist already, applied by other tests' field manager.
                "--force-conflicts",
                "--field-manager=helm-dry-run",
                "-f",
                "-",
            ],
            Some(&manifest),
        )
        .await
        .unwrap();
        println!("values {values}:\n{applied}");
        for kind in ["deployment.apps", "serviceaccount", "service", "role.rbac"] {
            assert!(applied.contains(kind), "{kind} missing from {applied}");
        }
    }
    ns.delete().await.unwrap();
}

/// The object's Ready condition is True.
fn ready<K: serde::Serialize>(object: Option<&K>) -> bool {
    let value = serde_json::to_value(object).unwrap_or_default();
    value["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

async fn wait_ready(client: &Client, namespace: &str, kind: &str, name: &str) {
    let what = format!("{kind} {namespace}/{name} to be Ready");
    let result = match kind {
        "TradingStrategy" => {
            let api: Api<TradingStrategy> = Api::namespaced(client.clone(), namespace);
            wait_for(&api, name, &what, READY_WITHIN, ready)
                .await
                .map(|_| ())
        }
        "BrokerAccount" => {
            let api: Api<BrokerAccount> = Api::namespaced(client.clone(), namespace);
            wait_for(&api, name, &what, READY_WITHIN, ready)
                .await
                .map(|_| ())
        }
        "AgentPool" => {
            let api: Api<AgentPool> = Api::namespaced(client.clone(), namespace);
            wait_for(&api, name, &what, READY_WITHIN, ready)
                .await
                .map(|_| ())
        }
        other => panic!("{other} is not a Tradeplane kind"),
    };
    result.unwrap();
}

/// The operator binary, started as the chart's Deployment starts it: the same arguments, and
/// the ServiceAccount's token as its only credential.
struct ChartOperator {
    child: tokio::process::Child,
    log: PathBuf,
}

impl ChartOperator {
    async fn start(deployment: &Deployment, namespace: &str, kubeconfig: &Path) -> Self {
        let container = &deployment
            .spec
            .as_ref()
            .unwrap()
            .template
            .spec
            .as_ref()
            .unwrap()
            .containers[0];
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // The pod listens on all its addresses; a host process takes a free loopback port.
        let args: Vec<String> = container
            .args
            .clone()
            .unwrap()
            .into_iter()
            .map(|a| {
                if a.starts_with("--listen=") {
                    format!("--listen=127.0.0.1:{port}")
                } else {
                    a
                }
            })
            .collect();
        let rust_log = container
            .env
            .iter()
            .flatten()
            .find(|e| e.name == "RUST_LOG")
            .and_then(|e| e.value.clone())
            .unwrap();
        let log = kubeconfig.with_extension("operator.log");
        let file = std::fs::File::create(&log).unwrap();
        let child = tokio::process::Command::new(operator_binary().await.unwrap())
            .args(&args)
            .env("KUBECONFIG", kubeconfig)
            .env("POD_NAMESPACE", namespace)
            .env("POD_NAME", "chart-test-operator")
            .env("RUST_LOG", rust_log)
            .stdout(Stdio::from(file.try_clone().unwrap()))
            .stderr(Stdio::from(file))
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        println!("operator started: tradeplane-operator {}", args.join(" "));
        Self { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        let _ = std::fs::remove_file(&self.log);
    }
}

/// The examples, each folder in a namespace of its own as a user would apply it, with the
/// HA example's Alpaca account pointed at the local stand-in (the only change: the broker the
/// example names is not reachable from here).
async fn apply_examples(
    client: &Client,
    namespaces: &[(String, TestNamespace)],
    alpaca: &AlpacaStandin,
) -> Vec<(String, String, String)> {
    let mut expected = Vec::new();
    for (folder, ns) in namespaces {
        let dir = repo_root().join("examples").join(folder);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        files.sort();
        for file in files {
            for mut document in yaml_documents(&std::fs::read_to_string(&file).unwrap()).unwrap() {
                let kind = document["kind"].as_str().unwrap().to_string();
                if kind == "BrokerAccount" && document["spec"]["broker"] == "Alpaca" {
                    document["spec"]["endpoint"] = json!(alpaca.base_url());
                }
                apply_strict(client, &ns.name, &document)
                    .await
                    .unwrap()
                    .unwrap();
                if ["TradingStrategy", "BrokerAccount", "AgentPool"].contains(&kind.as_str()) {
                    let name = document["metadata"]["name"].as_str().unwrap().to_string();
                    expected.push((ns.name.clone(), kind, name));
                }
            }
        }
    }
    expected
}

/// What the operator needs in a namespace it watches (allowed) and what it must not have
/// (denied), there and elsewhere.
fn restricted_checks(watched: &str, release_ns: &str, lease: &str, other: &str) -> Vec<Check> {
    let w = watched;
    vec![
        Check::allow(
            "watch",
            "tradingstrategies.tradeplane.io",
            w,
            "reads the spec",
        ),
        Check::allow(
            "patch",
            "tradingstrategies.tradeplane.io",
            w,
            "writes status",
        )
        .on("status"),
        Check::allow(
            "get",
            "tradingstrategies.tradeplane.io",
            w,
            "granted to each runtime's Role",
        )
        .on("status"),
        Check::allow("patch", "brokeraccounts.tradeplane.io", w, "writes status").on("status"),
        Check::allow("patch", "agentpools.tradeplane.io", w, "writes status").on("status"),
        Check::allow(
            "get",
            "secrets",
            w,
            "reads the credential Secrets resources name",
        ),
        Check::allow("watch", "secrets", w, "a rotated key rolls the pods"),
        Check::allow("patch", "secrets", w, "writes the child Secrets"),
        Check::allow(
            "patch",
            "deployments.apps",
            w,
            "trader and worker Deployments",
        ),
        Check::allow(
            "create",
            "deployments.apps",
            w,
            "an apply that creates checks create",
        ),
        Check::allow("delete", "deployments.apps", w, "a strategy moved to cron"),
        Check::allow("patch", "cronjobs.batch", w, "backup and cycle CronJobs"),
        Check::allow("patch", "poddisruptionbudgets.policy", w, "child"),
        Check::allow(
            "delete",
            "horizontalpodautoscalers.autoscaling",
            w,
            "autoscaling turned off",
        ),
        Check::allow("patch", "persistentvolumeclaims", w, "the sqlite journal"),
        Check::allow("patch", "services", w, "child"),
        Check::allow("patch", "serviceaccounts", w, "each runtime's identity"),
        Check::allow(
            "patch",
            "roles.rbac.authorization.k8s.io",
            w,
            "each runtime's Role",
        ),
        Check::allow(
            "patch",
            "rolebindings.rbac.authorization.k8s.io",
            w,
            "child",
        ),
        Check::allow(
            "update",
            "leases.coordination.k8s.io",
            w,
            "granted to each runtime's Role",
        ),
        Check::allow("create", "events.events.k8s.io", w, "condition transitions"),
        Check::allow(
            "create",
            "leases.coordination.k8s.io",
            release_ns,
            "its own leader Lease",
        ),
        Check::allow(
            "update",
            &format!("leases.coordination.k8s.io/{lease}"),
            release_ns,
            "its own leader Lease",
        ),
        Check::deny("*", "*", w, "no wildcard anywhere"),
        Check::deny(
            "update",
            "tradingstrategies.tradeplane.io",
            w,
            "never writes a user's spec",
        ),
        Check::deny(
            "patch",
            "tradingstrategies.tradeplane.io",
            w,
            "never writes a user's spec",
        ),
        Check::deny(
            "delete",
            "tradingstrategies.tradeplane.io",
            w,
            "never deletes users' objects",
        ),
        Check::deny(
            "create",
            "brokeraccounts.tradeplane.io",
            w,
            "never creates users' objects",
        ),
        Check::deny("delete", "secrets", w, "children go by garbage collection"),
        Check::deny("create", "pods", w, "pods come from Deployments and Jobs").on("exec"),
        Check::deny("get", "pods", w, "reads Deployments, not pods"),
        Check::deny("create", "serviceaccounts", w, "must not mint tokens").on("token"),
        Check::deny(
            "escalate",
            "roles.rbac.authorization.k8s.io",
            w,
            "Roles only within its own rights",
        ),
        Check::deny(
            "bind",
            "roles.rbac.authorization.k8s.io",
            w,
            "Roles only within its own rights",
        ),
        Check::deny("impersonate", "serviceaccounts", w, "acts as itself only"),
        Check::deny(
            "update",
            "deployments.apps",
            w,
            "server-side apply: patch and create",
        ),
        Check::deny(
            "get",
            "secrets",
            release_ns,
            "its own namespace is not watched",
        ),
        Check::deny("get", "secrets", other, "not a watched namespace"),
        Check::deny(
            "patch",
            "deployments.apps",
            other,
            "not a watched namespace",
        ),
        Check::new(
            "list",
            "secrets",
            None,
            false,
            "no cluster-wide Secret reads",
        ),
        Check::new(
            "delete",
            "customresourcedefinitions.apiextensions.k8s.io",
            None,
            false,
            "CRDs belong to the chart",
        ),
        Check::new(
            "create",
            "clusterroles.rbac.authorization.k8s.io",
            None,
            false,
            "nothing cluster-scoped",
        ),
        Check::new(
            "bind",
            "clusterroles.rbac.authorization.k8s.io",
            None,
            false,
            "nothing cluster-scoped",
        ),
        Check::new("list", "nodes", None, false, "nothing cluster-scoped"),
        Check::new(
            "delete",
            "namespaces",
            None,
            false,
            "nothing cluster-scoped",
        ),
    ]
}

#[tokio::test]
async fn installed_and_upgraded_the_charts_service_account_reconciles_every_example_and_no_more() {
    let client = shared_client().await.unwrap();
    install_crds(&client).await.unwrap();
    let release_ns = TestNamespace::create(&client, "chart").await.unwrap();
    // The restricted Pod Security Standard, enforced by the API server's own admission.
    run_ok(
        "kubectl",
        &[
            "label",
            "namespace",
            &release_ns.name,
            "pod-security.kubernetes.io/enforce=restricted",
        ],
        None,
    )
    .await
    .unwrap();
    let mut examples = Vec::new();
    for folder in ["quickstart", "llm", "ha"] {
        let ns = TestNamespace::create(&client, &format!("chart-{folder}"))
            .await
            .unwrap();
        examples.push((folder.to_string(), ns));
    }
    let watched: Vec<&str> = examples.iter().map(|(_, ns)| ns.name.as_str()).collect();
    let release = format!("tp{:06x}", rand::random::<u32>() & 0xff_ffff);
    let values = format!(
        "crds: {{install: false}}\nnamespaces: [{}]\n",
        watched.join(", ")
    );

    let install = [
        "install",
        &release,
        &chart(),
        "-n",
        &release_ns.name,
        "-f",
        "-",
        "--wait",
        "--timeout",
        "3m",
    ];
    let installed = run_ok("helm", &install, Some(&values)).await.unwrap();
    println!(
        "$ helm install {release} charts/tradeplane -n {} -f - --wait\n{installed}",
        release_ns.name
    );
    assert!(installed.contains("STATUS: deployed"), "{installed}");
    assert!(
        installed.contains("What to apply next"),
        "NOTES.txt: {installed}"
    );

    let upgrade = [
        "upgrade",
        &release,
        &chart(),
        "-n",
        &release_ns.name,
        "--reuse-values",
        "--set",
        "concurrency=4",
        "--wait",
        "--timeout",
        "3m",
    ];
    let upgraded = run_ok("helm", &upgrade, None).await.unwrap();
    assert!(
        upgraded.contains("REVISION: 2") && upgraded.contains("STATUS: deployed"),
        "{upgraded}"
    );
    let name = format!("{release}-tradeplane");
    let deployment = release_ns.api::<Deployment>().get(&name).await.unwrap();
    let container = &deployment
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers[0];
    let flags = container.args.clone().unwrap();
    assert!(
        flags.contains(&"--concurrency=4".to_string()),
        "the upgrade did not apply: {flags:?}"
    );
    assert!(
        flags.contains(&format!("--namespaces={}", watched.join(","))),
        "{flags:?}"
    );
    let status = deployment.status.clone().unwrap_or_default();
    assert_eq!(
        status.ready_replicas,
        Some(2),
        "helm --wait returned before 2 ready replicas"
    );

    // The chart's ServiceAccount identity: a token from the TokenRequest API.
    let token = run_ok(
        "kubectl",
        &[
            "create",
            "token",
            &name,
            "-n",
            &release_ns.name,
            "--duration",
            "2h",
        ],
        None,
    )
    .await
    .unwrap();
    let admin = PathBuf::from(std::env::var_os("KUBECONFIG").unwrap());
    let kubeconfig = std::env::temp_dir().join(format!("{release}-{}.kubeconfig", release_ns.name));
    std::fs::write(&kubeconfig, token_kubeconfig(&admin, token.trim()).unwrap()).unwrap();
    let whoami = run_ok(
        "kubectl",
        &[
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
            "--kubeconfig",
            &kubeconfig.to_string_lossy(),
        ],
        None,
    )
    .await
    .unwrap();
    let subject = format!("system:serviceaccount:{}:{name}", release_ns.name);
    assert_eq!(whoami, subject);

    let alpaca = AlpacaStandin::start("PLACEHOLDER-key-id", "PLACEHOLDER-secret-key")
        .await
        .unwrap();
    let operator = ChartOperator::start(&deployment, &release_ns.name, &kubeconfig).await;
    let expected = apply_examples(&client, &examples, &alpaca).await;
    assert!(
        expected.len() >= 7,
        "only {} Tradeplane objects in examples/",
        expected.len()
    );
    for (namespace, kind, object) in &expected {
        let waited = tokio::spawn({
            let (client, namespace, kind, object) = (
                client.clone(),
                namespace.clone(),
                kind.clone(),
                object.clone(),
            );
            async move { wait_ready(&client, &namespace, &kind, &object).await }
        })
        .await;
        if waited.is_err() {
            panic!(
                "{kind} {namespace}/{object} is not Ready; the operator's log:\n{}",
                operator.log()
            );
        }
        println!("Ready: {kind} {namespace}/{object}");
    }
    let log = operator.log();
    assert!(
        !log.to_lowercase().contains("forbidden"),
        "the operator was refused something:\n{log}"
    );
    // Events went out too (a refused Event is only logged, so look for them).
    for (_, ns) in &examples {
        let events: Api<Event> = Api::namespaced(client.clone(), &ns.name);
        let listed = events.list(&ListParams::default()).await.unwrap();
        assert!(
            listed
                .items
                .iter()
                .any(|e| e.reporting_controller.as_deref() == Some("tradeplane-operator")),
            "no Event from the operator in {}",
            ns.name
        );
    }
    operator.stop().await;
    alpaca.stop().await;

    let lease = flags
        .iter()
        .find_map(|f| f.strip_prefix("--lease-name="))
        .unwrap()
        .to_string();
    let checks = restricted_checks(watched[0], &release_ns.name, &lease, "kube-system");
    let title = format!(
        "RBAC of the chart with namespaces: [{}]",
        watched.join(", ")
    );
    assert_table(&title, None, &subject, &checks).await.unwrap();
    for (resource, verbs) in listed_rules(None, &subject, watched[0]).await.unwrap() {
        assert!(
            !resource.contains('*') && !verbs.contains('*'),
            "{resource} {verbs}"
        );
    }

    let uninstalled = run_ok(
        "helm",
        &["uninstall", &release, "-n", &release_ns.name, "--wait"],
        None,
    )
    .await
    .unwrap();
    assert!(uninstalled.contains("uninstalled"), "{uninstalled}");
    let _ = std::fs::remove_file(&kubeconfig);
    for (_, ns) in examples {
        ns.delete().await.unwrap();
    }
    release_ns.delete().await.unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

async fn short_names(crds: &Api<CustomResourceDefinition>) -> Vec<String> {
    let crd = crds.get("tradingstrategies.tradeplane.io").await.unwrap();
    crd.spec.names.short_names.unwrap_or_default()
}

/// On an API server of its own (the CRDs and the ClusterRole are cluster-scoped): the chart
/// installs the CRDs, `helm upgrade` brings an older copy up to date, `helm uninstall` leaves
/// them and the users' objects, and the cluster-wide RBAC is as narrow as it can be.
#[tokio::test]
async fn crds_the_chart_installs_are_upgraded_by_helm_upgrade_and_kept_by_helm_uninstall() {
    let cluster = PrivateCluster::start("etcd,apiserver").unwrap();
    let kubeconfig = cluster.kubeconfig();
    let kc = kubeconfig.to_string_lossy().into_owned();
    let client = cluster.client().await.unwrap();

    // Revision 1 is an older chart whose TradingStrategy CRD lacks the short name `ts`.
    let old = std::env::temp_dir().join(format!(
        "tradeplane-old-chart-{:08x}",
        rand::random::<u32>()
    ));
    copy_dir(&chart_dir(), &old);
    let file = old.join("files/crds/tradingstrategies.yaml");
    let mut crd: Value = serde_yaml::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    crd["spec"]["names"]["shortNames"] = json!(["tsold"]);
    std::fs::write(&file, serde_yaml::to_string(&crd).unwrap()).unwrap();

    let ns = "tradeplane";
    let installed = run_ok(
        "helm",
        &[
            "install",
            "tp",
            &old.to_string_lossy(),
            "-n",
            ns,
            "--create-namespace",
            "--kubeconfig",
            &kc,
        ],
        None,
    )
    .await
    .unwrap();
    let _ = std::fs::remove_dir_all(&old);
    println!("$ helm install tp <older chart> -n {ns}\n{installed}");
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for (_, generated) in tradeplane_operator::api::crd::all() {
        let name = generated.metadata.name.unwrap();
        let live = crds.get(&name).await.unwrap();
        let annotations = live.metadata.annotations.unwrap_or_default();
        assert_eq!(
            annotations
                .get("helm.sh/resource-policy")
                .map(String::as_str),
            Some("keep")
        );
        assert_eq!(
            annotations
                .get("meta.helm.sh/release-name")
                .map(String::as_str),
            Some("tp")
        );
    }
    assert_eq!(short_names(&crds).await, ["tsold"]);

    // A user's object, which deleting the CRD would take with it.
    wait_for(
        &crds,
        "brokeraccounts.tradeplane.io",
        "the CRD to be served",
        Duration::from_secs(60),
        |c: Option<&CustomResourceDefinition>| {
            c.and_then(|c| c.status.as_ref())
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c.type_ == "Established" && c.status == "True")
                })
        },
    )
    .await
    .unwrap();
    run_ok(
        "kubectl",
        &["create", "namespace", "desk", "--kubeconfig", &kc],
        None,
    )
    .await
    .unwrap();
    let account = yaml_documents(
        &std::fs::read_to_string(repo_root().join("examples/quickstart/broker-account.yaml"))
            .unwrap(),
    )
    .unwrap()
    .remove(0);
    apply_strict(&client, "desk", &account)
        .await
        .unwrap()
        .unwrap();

    let upgraded = run_ok(
        "helm",
        &["upgrade", "tp", &chart(), "-n", ns, "--kubeconfig", &kc],
        None,
    )
    .await
    .unwrap();
    assert!(upgraded.contains("REVISION: 2"), "{upgraded}");
    assert_eq!(
        short_names(&crds).await,
        ["ts"],
        "helm upgrade left the CRD as it was"
    );

    let subject = format!("system:serviceaccount:{ns}:tp-tradeplane");
    let checks = vec![
        Check::new(
            "watch",
            "tradingstrategies.tradeplane.io",
            None,
            true,
            "every namespace",
        ),
        Check::allow(
            "patch",
            "deployments.apps",
            "desk",
            "children in any namespace",
        ),
        Check::allow(
            "get",
            "secrets",
            "desk",
            "credential Secrets wherever resources name them",
        ),
        Check::new(
            "list",
            "secrets",
            None,
            true,
            "cluster-wide mode: set namespaces to narrow this",
        ),
        Check::allow(
            "create",
            "leases.coordination.k8s.io",
            ns,
            "its own leader Lease",
        ),
        Check::deny("*", "*", "desk", "no wildcard anywhere"),
        Check::new("*", "*", None, false, "no wildcard anywhere"),
        Check::deny(
            "update",
            "tradingstrategies.tradeplane.io",
            "desk",
            "never writes a user's spec",
        ),
        Check::deny(
            "delete",
            "secrets",
            "desk",
            "children go by garbage collection",
        ),
        Check::deny("create", "pods", "desk", "no exec").on("exec"),
        Check::deny("create", "serviceaccounts", "desk", "must not mint tokens").on("token"),
        Check::deny(
            "escalate",
            "roles.rbac.authorization.k8s.io",
            "desk",
            "no escalation",
        ),
        Check::new(
            "delete",
            "customresourcedefinitions.apiextensions.k8s.io",
            None,
            false,
            "CRDs belong to the chart",
        ),
        Check::new(
            "patch",
            "customresourcedefinitions.apiextensions.k8s.io",
            None,
            false,
            "CRDs belong to the chart",
        ),
        Check::new(
            "create",
            "clusterrolebindings.rbac.authorization.k8s.io",
            None,
            false,
            "no cluster-wide grants",
        ),
        Check::new("list", "nodes", None, false, "reads no nodes"),
    ];
    assert_table(
        "RBAC of the chart with namespaces: [] (cluster-wide)",
        Some(&kubeconfig),
        &subject,
        &checks,
    )
    .await
    .unwrap();

    let uninstalled = run_ok(
        "helm",
        &["uninstall", "tp", "-n", ns, "--kubeconfig", &kc],
        None,
    )
    .await
    .unwrap();
    println!("$ helm uninstall tp -n {ns}\n{uninstalled}");
    assert!(
        uninstalled.contains("kept due to the resource policy"),
        "{uninstalled}"
    );
    for (_, generated) in tradeplane_operator::api::crd::all() {
        let name = generated.metadata.name.unwrap();
        assert!(
            crds.get_opt(&name).await.unwrap().is_some(),
            "helm uninstall deleted {name}"
        );
    }
    let accounts: Api<BrokerAccount> = Api::namespaced(client.clone(), "desk");
    assert!(
        accounts.get_opt("paper").await.unwrap().is_some(),
        "the user's BrokerAccount is gone"
    );
    let roles: Api<k8s_openapi::api::rbac::v1::ClusterRole> = Api::all(client);
    assert!(
        roles.get_opt("tp-tradeplane").await.unwrap().is_none(),
        "the ClusterRole outlived the release"
    );
}
