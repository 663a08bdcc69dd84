//! The API on a real API server: every file under examples/ (but Argo CD's configuration in
//! examples/argocd/, which tests/argocd_lua.rs checks) is accepted as users apply it, the
//! AgentPool scales through its scale subresource (what `kubectl scale` calls), status is a
//! subresource of every kind, and `kubectl get` shows the printer columns.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up: a failure should stop the test loudly

use std::path::{Path, PathBuf};

use e2e::{TestNamespace, apply_strict, install_crds, repo_root, shared_client, yaml_documents};
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use serde_json::{Value, json};
use tradeplane_operator::api::{AgentPool, BrokerAccount, TradingStrategy};

/// Every `.yaml` file under `dir`, sorted, with its documents.
fn manifests(dir: &Path) -> Vec<(PathBuf, Vec<Value>)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|file| {
            let text = std::fs::read_to_string(&file).unwrap();
            let documents = yaml_documents(&text).unwrap();
            (file, documents)
        })
        .collect()
}

/// A namespace with the CRDs installed.
async fn setup(prefix: &str) -> (Client, TestNamespace) {
    let client = shared_client().await.unwrap();
    install_crds(&client).await.unwrap();
    let ns = TestNamespace::create(&client, prefix).await.unwrap();
    (client, ns)
}

#[tokio::test]
async fn every_example_is_accepted_with_strict_field_validation() {
    let client = shared_client().await.unwrap();
    install_crds(&client).await.unwrap();
    let examples = repo_root().join("examples");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&examples)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir())
        // Argo CD's configuration, not Tradeplane objects: its Application kinds have no CRD
        // here and its Lua fixtures are objects with a status. tests/argocd_lua.rs checks it.
        .filter(|path| !path.ends_with("argocd"))
        .collect();
    dirs.sort();
    let names: Vec<String> = dirs
        .iter()
        .map(|d| d.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for expected in ["quickstart", "llm", "ha"] {
        assert!(
            names.iter().any(|n| n == expected),
            "examples/{expected} is missing"
        );
    }
    assert!(
        manifests(&examples).is_empty(),
        "YAML directly in examples/ (put it in an example's folder)"
    );

    let mut rejected = Vec::new();
    let mut applied = 0;
    // Each example is a folder a user applies on its own (`kubectl apply -f examples/llm/`),
    // so each gets a namespace of its own, as it would in a user's cluster.
    for dir in &dirs {
        let ns = TestNamespace::create(&client, "examples").await.unwrap();
        let files = manifests(dir);
        assert!(!files.is_empty(), "{} holds no YAML", dir.display());
        for (file, documents) in files {
            assert!(!documents.is_empty(), "{} is empty", file.display());
            for document in documents {
                assert!(
                    document["metadata"].get("namespace").is_none(),
                    "{} hard-codes a namespace",
                    file.display()
                );
                match apply_strict(&client, &ns.name, &document).await.unwrap() {
                    Ok(_) => applied += 1,
                    Err(status) => rejected.push(format!(
                        "{} {}: {}",
                        file.display(),
                        document["kind"],
                        status.message
                    )),
                }
            }
        }
        if rejected.is_empty() {
            ns.delete().await.unwrap();
        }
    }
    assert!(rejected.is_empty(), "examples rejected: {rejected:#?}");
    assert!(applied >= 12, "only {applied} objects applied");
}

#[tokio::test]
async fn an_agent_pool_scales_through_its_scale_subresource() {
    let (client, ns) = setup("scale").await;
    let file = repo_root().join("examples/quickstart/agent-pool.yaml");
    let pool = yaml_documents(&std::fs::read_to_string(file).unwrap())
        .unwrap()
        .remove(0);
    let name = pool["metadata"]["name"].as_str().unwrap().to_string();
    apply_strict(&client, &ns.name, &pool)
        .await
        .unwrap()
        .unwrap();
    let pools: Api<AgentPool> = ns.api();

    // What `kubectl scale agentpool quant-analysts --replicas=3` sends.
    pools
        .patch_scale(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "replicas": 3 } })),
        )
        .await
        .unwrap();
    assert_eq!(pools.get(&name).await.unwrap().spec.replicas, Some(3));

    // The controller reports pods and their selector in status; the scale subresource (and so
    // a HorizontalPodAutoscaler) reads them from there.
    pools
        .patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": {
                "replicas": 2,
                "selector": "app.kubernetes.io/instance=quant-analysts"
            }})),
        )
        .await
        .unwrap();
    let scale = pools.get_scale(&name).await.unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(3));
    let status = scale.status.unwrap();
    assert_eq!(status.replicas, 2);
    assert_eq!(
        status.selector.as_deref(),
        Some("app.kubernetes.io/instance=quant-analysts")
    );

    // Out of the schema's bounds through the subresource too.
    let refused = pools
        .patch_scale(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "replicas": 101 } })),
        )
        .await;
    let Err(kube::Error::Api(status)) = refused else {
        panic!("scaling to 101 replicas was not refused by the API server: {refused:?}");
    };
    assert!(status.message.contains("replicas"), "{status:?}");
    ns.delete().await.unwrap();
}

/// Status is a subresource of every kind: writing the object leaves status alone, and
/// writing status leaves the spec alone.
#[tokio::test]
async fn status_is_a_subresource_of_every_kind() {
    let (client, ns) = setup("status").await;
    let objects = manifests(&repo_root().join("examples/quickstart"))
        .into_iter()
        .flat_map(|(_, documents)| documents);
    for mut object in objects {
        let kind = object["kind"].as_str().unwrap().to_string();
        let name = object["metadata"]["name"].as_str().unwrap().to_string();
        apply_strict(&client, &ns.name, &object)
            .await
            .unwrap()
            .unwrap();
        let status = json!({ "status": { "observedGeneration": 1, "phase": "Ready" } });
        let written = match kind.as_str() {
            "TradingStrategy" => status_phase::<TradingStrategy>(&ns, &name, &status).await,
            "BrokerAccount" => status_phase::<BrokerAccount>(&ns, &name, &status).await,
            "AgentPool" => status_phase::<AgentPool>(&ns, &name, &status).await,
            other => panic!("unexpected kind {other} in examples/quickstart"),
        };
        assert_eq!(written.as_deref(), Some("Ready"), "{kind} {name}");

        // A status in the main resource is ignored, not an error and not written.
        object["status"] = json!({ "phase": "Hacked" });
        let applied = apply_strict(&client, &ns.name, &object)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            applied.data["status"]["phase"], "Ready",
            "{kind} {name}: applying the object changed its status"
        );
    }
    ns.delete().await.unwrap();
}

/// Writes `status` through the status subresource and returns the phase read back.
async fn status_phase<K>(ns: &TestNamespace, name: &str, status: &Value) -> Option<String>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = ns.api();
    let written = api
        .patch_status(name, &PatchParams::default(), &Patch::Merge(status))
        .await
        .unwrap();
    let value = serde_json::to_value(written).unwrap();
    value["status"]["phase"].as_str().map(str::to_string)
}

/// The columns and cells `kubectl get` (or `-o wide`, with `wide`) would print.
async fn table(client: &Client, ns: &str, plural: &str, wide: bool) -> (Vec<String>, Vec<Value>) {
    let path = format!("/apis/tradeplane.io/v1alpha1/namespaces/{ns}/{plural}");
    let mut request = kube::core::Request::new(path)
        .list(&Default::default())
        .unwrap();
    request.headers_mut().insert(
        "accept",
        "application/json;as=Table;v=v1;g=meta.k8s.io"
            .parse()
            .unwrap(),
    );
    let table: Value = client.request(request).await.unwrap();
    let columns = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| wide || c["priority"].as_i64().unwrap_or(0) == 0)
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    let rows = table["rows"].as_array().unwrap().clone();
    (columns, rows)
}

#[tokio::test]
async fn kubectl_get_shows_the_printer_columns() {
    let (client, ns) = setup("columns").await;
    for (_, documents) in manifests(&repo_root().join("examples/quickstart")) {
        for document in documents {
            apply_strict(&client, &ns.name, &document)
                .await
                .unwrap()
                .unwrap();
        }
    }
    let strategies: Api<TradingStrategy> = ns.api();
    strategies
        .patch_status(
            "tech-momentum",
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": {
                "phase": "Trading", "mode": "Paper", "leader": "tech-momentum-7d9f-x2",
                "profitAndLoss": "+1520.40 (+1.52%)", "lastCycleTime": "2026-01-05T15:04:05Z",
                "readyReplicas": 1, "desiredReplicas": 1, "tradingState": "Active",
                "equity": "101520.40", "openPositions": 2,
                "rollout": {"verdict": "Running", "shadowRevision": "7c9e1f"}
            }})),
        )
        .await
        .unwrap();

    let (columns, rows) = table(&client, &ns.name, "tradingstrategies", false).await;
    assert_eq!(
        columns,
        [
            "Name",
            "Mode",
            "Phase",
            "Leader",
            "P&L",
            "Last Cycle",
            "Ready",
            "Desired",
            "Shadow",
            "Age"
        ]
    );
    let row = rows
        .iter()
        .find(|r| r["cells"][0] == "tech-momentum")
        .unwrap();
    let cells = &row["cells"];
    assert_eq!(cells[1], "Paper");
    assert_eq!(cells[2], "Trading");
    assert_eq!(cells[3], "tech-momentum-7d9f-x2");
    assert_eq!(cells[4], "+1520.40 (+1.52%)");
    assert_eq!(cells[6], 1);
    assert_eq!(cells[7], 1);
    // A row has a cell for every column, -o wide's too, in the definitions' order.
    let (wide, _) = table(&client, &ns.name, "tradingstrategies", true).await;
    let shadow = wide.iter().position(|c| c == "Shadow").unwrap();
    assert_eq!(cells[shadow], "Running");

    for column in ["Broker", "State", "Equity", "Positions", "Last Decision"] {
        assert!(
            wide.iter().any(|c| c == column),
            "-o wide lacks {column}: {wide:?}"
        );
    }
    let (columns, _) = table(&client, &ns.name, "brokeraccounts", false).await;
    assert!(columns.iter().any(|c| c == "Environment"), "{columns:?}");
    let (columns, _) = table(&client, &ns.name, "agentpools", false).await;
    for column in ["Ready", "Desired", "Phase"] {
        assert!(columns.iter().any(|c| c == column), "{columns:?}");
    }
    ns.delete().await.unwrap();
}
