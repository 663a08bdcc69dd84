//! The chart's API Priority and Fairness objects on the local API server: rendered by `helm
//! template`, applied, and then the API server's own `apiserver_flowcontrol_dispatched_requests_total`
//! shows a runtime's Lease requests — the runtime's election code, with a strategy runtime's
//! ServiceAccount token — dispatched in the runtimes' priority level, and the operator's
//! ServiceAccount's requests in the operator's.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up: a failure should stop the test loudly

use std::path::PathBuf;
use std::time::{Duration, Instant};

use agent_runtime::leadership::{Leadership, LeaseLeadership};
use e2e::cli::{run_ok, token_kubeconfig};
use e2e::{TestNamespace, repo_root, shared_client, yaml_documents};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, PostParams};
use serde_json::{Value, json};
use tradeplane_contract::config::LeaderElectionConfig;

/// The API server's dispatched-request counter for one flow schema and priority level.
async fn dispatched(client: &Client, schema: &str) -> f64 {
    let request = http::Request::get("/metrics").body(Vec::new()).unwrap();
    let text = client.request_text(request).await.unwrap();
    let labels = (
        format!("flow_schema=\"{schema}\""),
        format!("priority_level=\"{schema}\""),
    );
    text.lines()
        .filter(|line| line.starts_with("apiserver_flowcontrol_dispatched_requests_total{"))
        .filter(|line| line.contains(&labels.0) && line.contains(&labels.1))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn kubeconfig() -> PathBuf {
    PathBuf::from(std::env::var_os("KUBECONFIG").expect("KUBECONFIG"))
}

/// A kubeconfig file authenticating as ServiceAccount `name` of `namespace` alone.
async fn service_account_kubeconfig(namespace: &TestNamespace, name: &str) -> PathBuf {
    let accounts: Api<ServiceAccount> = namespace.api();
    let account: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    accounts
        .create(&PostParams::default(), &account)
        .await
        .unwrap();
    let admin = kubeconfig();
    let token = run_ok(
        "kubectl",
        &["-n", &namespace.name, "create", "token", name],
        None,
    )
    .await
    .unwrap();
    let path = std::env::temp_dir().join(format!("{}-{name}.kubeconfig", namespace.name));
    std::fs::write(&path, token_kubeconfig(&admin, token.trim()).unwrap()).unwrap();
    path
}

/// Waits until the API server has taken both FlowSchemas in (their priority level found).
async fn wait_active(client: &Client, names: &[&str]) {
    let resource = ApiResource {
        group: "flowcontrol.apiserver.k8s.io".into(),
        version: "v1".into(),
        api_version: "flowcontrol.apiserver.k8s.io/v1".into(),
        kind: "FlowSchema".into(),
        plural: "flowschemas".into(),
    };
    let schemas: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
    let deadline = Instant::now() + Duration::from_secs(30);
    for name in names {
        loop {
            let schema = schemas.get(name).await.unwrap();
            let conditions = schema.data["status"]["conditions"].as_array().cloned();
            let dangling = conditions
                .unwrap_or_default()
                .into_iter()
                .find(|c| c["type"] == "Dangling");
            if dangling.is_some_and(|c| c["status"] == "False") {
                break;
            }
            assert!(Instant::now() < deadline, "{name} never became active");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// The runtime's Role: its own Lease, as the operator grants it.
async fn lease_for_runtime(namespace: &TestNamespace, account: &str) {
    let lease: Lease =
        serde_json::from_value(json!({"metadata": {"name": "flow-leader"}})).unwrap();
    namespace
        .api::<Lease>()
        .create(&PostParams::default(), &lease)
        .await
        .unwrap();
    let rbac = format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {{name: flow-runtime}}\n\
         rules: [{{apiGroups: [coordination.k8s.io], resources: [leases], resourceNames: [flow-leader], \
         verbs: [get, watch, update, patch]}}]\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {{name: flow-runtime}}\n\
         roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: flow-runtime}}\n\
         subjects: [{{kind: ServiceAccount, name: {account}, namespace: {ns}}}]\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {{name: flow-operator-view}}\n\
         roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}}\n\
         subjects: [{{kind: ServiceAccount, name: {release}-tradeplane, namespace: {ns}}}]\n",
        ns = namespace.name,
        release = namespace.name,
    );
    run_ok(
        "kubectl",
        &["-n", &namespace.name, "apply", "-f", "-"],
        Some(&rbac),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn the_charts_flow_schemas_put_runtimes_and_the_operator_in_their_own_levels() {
    let client = shared_client().await.unwrap();
    let namespace = TestNamespace::create(&client, "flow").await.unwrap();
    // The namespace's name is the release's, so the cluster-scoped objects are this test's own.
    let release = namespace.name.clone();
    let chart = repo_root().join("charts/tradeplane");
    let rendered = run_ok(
        "helm",
        &[
            "template",
            &release,
            &chart.to_string_lossy(),
            "-n",
            &namespace.name,
            "--show-only",
            "templates/flowcontrol.yaml",
        ],
        None,
    )
    .await
    .unwrap();
    let kinds: Vec<Value> = yaml_documents(&rendered).unwrap();
    assert_eq!(kinds.len(), 4, "{rendered}");
    run_ok("kubectl", &["apply", "-f", "-"], Some(&rendered))
        .await
        .unwrap();
    let (operator_schema, runtime_schema) = (
        format!("{release}-tradeplane-operator"),
        format!("{release}-tradeplane-runtimes"),
    );
    wait_active(&client, &[&operator_schema, &runtime_schema]).await;

    // A strategy's runtime, `<strategy>-runtime` in the strategy's namespace, leads its Lease.
    let runtime_config = service_account_kubeconfig(&namespace, "flow-runtime").await;
    lease_for_runtime(&namespace, "flow-runtime").await;
    let operator_config =
        service_account_kubeconfig(&namespace, &format!("{release}-tradeplane")).await;
    let runtime_before = dispatched(&client, &runtime_schema).await;
    let operator_before = dispatched(&client, &operator_schema).await;

    let runtime = agent_runtime::cluster::connect(Some(&runtime_config))
        .await
        .unwrap();
    let watches = agent_runtime::cluster::connect_for_watches(Some(&runtime_config))
        .await
        .unwrap();
    let election = LeaderElectionConfig {
        lease_name: "flow-leader".into(),
        lease_duration_seconds: 4,
        renew_deadline_seconds: 3,
        retry_period_seconds: 1,
    };
    let leadership = LeaseLeadership::new(runtime, watches, &namespace.name, &election, "flow-a");
    leadership.set_ready(true);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::select! {
        () = leadership.run(stopped) => {}
        () = tokio::time::sleep(Duration::from_secs(4)) => {}
    }
    assert!(leadership.is_leader().await, "the runtime never led");
    drop(stop);

    // The operator's ServiceAccount reads something.
    let operator = agent_runtime::cluster::connect(Some(&operator_config))
        .await
        .unwrap();
    let config_maps: Api<ConfigMap> = Api::namespaced(operator, &namespace.name);
    for _ in 0..3 {
        config_maps.list(&ListParams::default()).await.unwrap();
    }

    let runtime_after = dispatched(&client, &runtime_schema).await;
    let operator_after = dispatched(&client, &operator_schema).await;
    // Taking the Lease and three renewals at least (and the watch, and the first read).
    assert!(
        runtime_after - runtime_before >= 4.0,
        "the runtime's requests in {runtime_schema}: {runtime_before} → {runtime_after}"
    );
    assert!(
        operator_after - operator_before >= 3.0,
        "the operator's requests in {operator_schema}: {operator_before} → {operator_after}"
    );

    run_ok("kubectl", &["delete", "-f", "-"], Some(&rendered))
        .await
        .unwrap();
    for path in [runtime_config, operator_config] {
        let _ = std::fs::remove_file(path);
    }
    namespace.delete().await.unwrap();
}
