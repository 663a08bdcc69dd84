//! Nothing the operator writes makes Argo CD see drift, on a real API server with the
//! operator's controllers running in this process.
//!
//! The quick start is applied the way Argo CD syncs it — server-side apply under Argo CD's
//! field manager, with its tracking label and annotation on every object — and then:
//! - no child (nor the pods' template) carries the tracking label or annotation, so Argo CD
//!   does not adopt the children as its own resources and prune or diff them;
//! - the operator's field manager owns nothing but status in the objects Argo CD applied;
//! - Argo CD's server-side diff (a dry-run apply of the same manifests) finds nothing to
//!   change, also after the suspend, restart and resume actions ran as Argo CD's server runs
//!   them (the Lua's result patched onto the live object), which the operator handles;
//! - the health checks of examples/argocd/ judge the live objects as the operator left them
//!   (Healthy; Suspended after the action; Degraded, with the operator's reason, for input
//!   that waits for a fix);
//! - an autoscaled AgentPool's Deployment replicas are not the operator's to apply;
//! - and, for the files themselves: the Lua fixtures are objects the API server accepts, and
//!   the generated `argocd-cm` merges into Argo CD's own without touching its other keys.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up: a failure should stop the test loudly

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use e2e::argocd::lua::{self, Clock};
use e2e::argocd::sync::{
    ARGOCD_MANAGER, comparable, descendants, everything, live, owned_by, patch_action_result,
    tracking_marks,
};
use e2e::argocd::{Customization, customizations_root, load};
use e2e::{
    InProcessController, TestNamespace, install_crds, repo_root, shared_client, wait_for,
    yaml_documents,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::Client;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::{Value, json};
use tradeplane_operator::api::{AgentPool, BrokerAccount, TradingStrategy};
use tradeplane_operator::controllers::{
    FIELD_MANAGER, agent_pool, broker_account, trading_strategy,
};

const WAIT: Duration = Duration::from_secs(90);
/// The Argo CD Application the tests pretend to sync.
const APP: &str = "tradeplane-quickstart";

/// `manifest` as Argo CD applies it for [`APP`].
fn tracked(manifest: Value, namespace: &str) -> Value {
    e2e::argocd::sync::tracked(manifest, APP, namespace).unwrap()
}

/// A sync (or, with `dry_run`, Argo CD's server-side diff) of `manifest`.
async fn apply_as(
    client: &Client,
    namespace: &str,
    manifest: &Value,
    manager: &str,
    dry_run: bool,
) -> Value {
    e2e::argocd::sync::apply_as(client, namespace, manifest, manager, dry_run)
        .await
        .unwrap()
}

fn health_script(customizations: &[Customization], kind: &str) -> String {
    customizations
        .iter()
        .find(|c| c.kind == kind)
        .and_then(|c| c.health.clone())
        .unwrap()
}

fn has_condition(status: Option<&Value>, type_: &str, value: &str) -> bool {
    status
        .and_then(|s| s["conditions"].as_array())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == type_ && c["status"] == value)
        })
}

#[tokio::test]
async fn an_argo_cd_synced_quickstart_shows_no_drift_and_no_tracking_marks_on_children() {
    let client = shared_client().await.unwrap();
    install_crds(&client).await.unwrap();
    let ns = TestNamespace::create(&client, "argocd-drift")
        .await
        .unwrap();
    let controllers = [
        InProcessController::start(&client, &ns.name, |context, ns, shutdown| async move {
            trading_strategy::run(context, Some(&ns), shutdown).await
        })
        .unwrap(),
        InProcessController::start(&client, &ns.name, |context, ns, shutdown| async move {
            broker_account::run(context, Some(&ns), shutdown).await
        })
        .unwrap(),
        InProcessController::start(&client, &ns.name, |context, ns, shutdown| async move {
            agent_pool::run(context, Some(&ns), shutdown).await
        })
        .unwrap(),
    ];

    // Sync: every manifest of the quick start, as Argo CD applies it.
    let mut manifests = Vec::new();
    let dir = repo_root().join("examples/quickstart");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in files {
        for document in yaml_documents(&std::fs::read_to_string(&file).unwrap()).unwrap() {
            manifests.push(tracked(document, &ns.name));
        }
    }
    for manifest in &manifests {
        apply_as(&client, &ns.name, manifest, ARGOCD_MANAGER, false).await;
    }

    // Wait until the operator has done its work: every strategy and the pool Ready.
    let strategies: Api<TradingStrategy> = ns.api();
    let pools: Api<AgentPool> = ns.api();
    let accounts: Api<BrokerAccount> = ns.api();
    for manifest in &manifests {
        let name = manifest["metadata"]["name"].as_str().unwrap();
        let ready = |status: Option<Value>| has_condition(status.as_ref(), "Ready", "True");
        match manifest["kind"].as_str().unwrap() {
            "TradingStrategy" => {
                wait_for(
                    &strategies,
                    name,
                    "Ready and Trading",
                    WAIT,
                    |t: Option<&TradingStrategy>| {
                        let status = t.and_then(|t| serde_json::to_value(&t.status).ok());
                        t.and_then(|t| t.status.as_ref())
                            .and_then(|s| s.phase.as_deref())
                            == Some("Trading")
                            && ready(status)
                    },
                )
                .await
                .unwrap();
            }
            "AgentPool" => {
                wait_for(&pools, name, "Ready", WAIT, |p: Option<&AgentPool>| {
                    ready(p.and_then(|p| serde_json::to_value(&p.status).ok()))
                })
                .await
                .unwrap();
            }
            "BrokerAccount" => {
                wait_for(
                    &accounts,
                    name,
                    "Ready",
                    WAIT,
                    |a: Option<&BrokerAccount>| {
                        ready(a.and_then(|a| serde_json::to_value(&a.status).ok()))
                    },
                )
                .await
                .unwrap();
            }
            _ => {}
        }
    }

    let objects = everything(&client, &ns.name).await.unwrap();
    let customizations = load(&customizations_root()).unwrap();
    let mut parents: BTreeMap<String, Value> = BTreeMap::new();
    for manifest in &manifests {
        let kind = manifest["kind"].as_str().unwrap();
        let name = manifest["metadata"]["name"].as_str().unwrap();
        let live = live(&client, &ns.name, manifest).await.unwrap();
        parents.insert(format!("{kind}/{name}"), live);
    }

    let mut problems = Vec::new();
    for (id, live) in &parents {
        let kind = live["kind"].as_str().unwrap();
        // The children, and what they carry.
        let uid = live["metadata"]["uid"].as_str().unwrap().to_string();
        let children = descendants(&objects, &BTreeSet::from([uid]));
        let kinds: BTreeSet<&str> = children.iter().filter_map(|c| c["kind"].as_str()).collect();
        let required: &[&str] = match kind {
            "TradingStrategy" => &[
                "Secret",
                "Deployment",
                "ReplicaSet",
                "Pod",
                "Service",
                "PersistentVolumeClaim",
                "ServiceAccount",
                "Role",
                "RoleBinding",
                "Lease",
            ],
            "AgentPool" => &["Deployment", "ReplicaSet", "Pod", "Service"],
            _ => &[],
        };
        for want in required {
            if !kinds.contains(want) {
                problems.push(format!("{id}: no {want} child (found {kinds:?})"));
            }
        }
        for child in &children {
            for mark in tracking_marks(child) {
                problems.push(format!(
                    "{id}: child {} {} carries {mark}",
                    child["kind"].as_str().unwrap_or("?"),
                    child["metadata"]["name"].as_str().unwrap_or("?")
                ));
            }
        }
        println!("{id}: children {kinds:?}");

        // The parent carries what Argo CD put on it (so the check above can see it).
        if tracking_marks(live).len() != 2 {
            problems.push(format!(
                "{id}: lost Argo CD's marks: {:?}",
                tracking_marks(live)
            ));
        }

        // The operator writes status, and nothing else, of what Argo CD applied.
        if owned_by(live, FIELD_MANAGER).is_empty() {
            problems.push(format!("{id}: {FIELD_MANAGER} wrote no status"));
        }
        for (subresource, fields) in owned_by(live, FIELD_MANAGER) {
            if subresource != "status" || fields.iter().any(|f| f != "f:status") {
                problems.push(format!(
                    "{id}: {FIELD_MANAGER} owns {fields:?} (subresource {subresource:?})"
                ));
            }
        }
        if owned_by(live, ARGOCD_MANAGER).is_empty() {
            problems.push(format!("{id}: {ARGOCD_MANAGER} owns nothing"));
        }

        // Argo CD's health check on the object as the operator left it.
        let health = lua::health(kind, &health_script(&customizations, kind), live).unwrap();
        if health.status != "Healthy" {
            problems.push(format!("{id}: health {health:?}"));
        }
    }

    // Argo CD's server-side diff: a dry-run apply of each manifest changes nothing.
    for manifest in &manifests {
        let id = format!(
            "{}/{}",
            manifest["kind"].as_str().unwrap(),
            manifest["metadata"]["name"].as_str().unwrap()
        );
        let Some(live) = parents.get(&id) else {
            continue;
        };
        let after = apply_as(&client, &ns.name, manifest, ARGOCD_MANAGER, true).await;
        if comparable(after.clone()) != comparable(live.clone()) {
            problems.push(format!(
                "{id}: the server-side diff is not empty:\nlive {live:#}\nafter {after:#}"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // The actions, run as Argo CD's server runs them: the Lua computes the new object from
    // the live one and the server patches the difference. Suspend halts the strategy and its
    // health says so; restart is handled and recorded in status; resume trades again. After
    // each, a sync of the unchanged manifest in Git finds nothing to change: it neither sees
    // drift nor undoes the action.
    let strategy = customizations
        .iter()
        .find(|c| c.kind == "TradingStrategy")
        .unwrap();
    let action = |name: &str| {
        strategy
            .actions
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, script)| script.clone())
            .unwrap()
    };
    let manifest = manifests
        .iter()
        .find(|m| m["metadata"]["name"] == "tech-momentum")
        .unwrap();
    let health_of = |object: &Value| {
        lua::health(
            "TradingStrategy",
            &health_script(&customizations, "TradingStrategy"),
            object,
        )
        .unwrap()
    };
    let observed = |t: &TradingStrategy| {
        t.status.as_ref().and_then(|s| s.observed_generation) == t.metadata.generation
    };
    let phase = |t: &TradingStrategy| t.status.as_ref().and_then(|s| s.phase.clone());

    for (name, settled) in [
        ("suspend", "Halted"),
        ("restart", "Halted"),
        ("resume", "Trading"),
    ] {
        let before = live(&client, &ns.name, manifest).await.unwrap();
        let acted = lua::act(name, &action(name), &before, Clock::Real).unwrap();
        patch_action_result(&client, &ns.name, &before, &acted)
            .await
            .unwrap();
        let done = wait_for(
            &strategies,
            "tech-momentum",
            &format!("{name} handled"),
            WAIT,
            |t: Option<&TradingStrategy>| {
                t.is_some_and(|t| {
                    observed(t)
                        && phase(t).as_deref() == Some(settled)
                        && (name != "restart"
                            || t.status.as_ref().and_then(|s| s.last_restart_at.as_ref())
                                == t.spec.restart_at.as_ref())
                })
            },
        )
        .await
        .unwrap();
        let suspended = if name == "resume" { None } else { Some(true) };
        assert_eq!(done.spec.suspend, suspended, "{name}: spec.suspend");
        let after_action = live(&client, &ns.name, manifest).await.unwrap();
        let health = health_of(&after_action);
        let expected = if settled == "Halted" {
            "Suspended"
        } else {
            "Healthy"
        };
        assert_eq!(health.status, expected, "{name}: {health:?}");
        let synced = apply_as(&client, &ns.name, manifest, ARGOCD_MANAGER, true).await;
        assert_eq!(
            comparable(synced),
            comparable(after_action),
            "after {name}, a sync of Git's manifest would change the strategy"
        );
    }
    let restarted = live(&client, &ns.name, manifest).await.unwrap();
    assert!(
        restarted["spec"]["restartAt"].is_string(),
        "restart left no spec.restartAt"
    );
    assert_eq!(
        restarted["status"]["lastRestartAt"], restarted["spec"]["restartAt"],
        "the operator did not record the restart it handled"
    );

    for controller in controllers {
        controller.stop().await.unwrap();
    }
    ns.delete().await.unwrap();
}

/// While autoscaling is on, the count of worker replicas is the HorizontalPodAutoscaler's:
/// the operator's apply does not hold `spec.replicas` of the Deployment, and a scale the
/// autoscaler made survives the next reconcile.
#[tokio::test]
async fn an_autoscaled_pools_replicas_belong_to_the_autoscaler() {
    let client = shared_client().await.unwrap();
    install_crds(&client).await.unwrap();
    let ns = TestNamespace::create(&client, "argocd-hpa").await.unwrap();
    let controller =
        InProcessController::start(&client, &ns.name, |context, ns, shutdown| async move {
            agent_pool::run(context, Some(&ns), shutdown).await
        })
        .unwrap();
    let file = repo_root().join("examples/quickstart/agent-pool.yaml");
    let mut pool = yaml_documents(&std::fs::read_to_string(file).unwrap())
        .unwrap()
        .remove(0);
    let name = pool["metadata"]["name"].as_str().unwrap().to_string();
    let spec = pool["spec"].as_object_mut().unwrap();
    spec.remove("replicas");
    spec.insert(
        "autoscaling".into(),
        json!({"minReplicas": 2, "maxReplicas": 5}),
    );
    let pool = tracked(pool, &ns.name);
    apply_as(&client, &ns.name, &pool, ARGOCD_MANAGER, false).await;

    let autoscalers: Api<HorizontalPodAutoscaler> = ns.api();
    let deployments: Api<Deployment> = ns.api();
    let pools: Api<AgentPool> = ns.api();
    let pool_uid = pools.get(&name).await.unwrap().metadata.uid.unwrap();
    let owned = |meta: &kube::api::ObjectMeta| {
        meta.owner_references
            .iter()
            .flatten()
            .any(|r| r.uid == pool_uid)
    };
    // The HPA and the worker Deployment, both the pool's.
    let deadline = tokio::time::Instant::now() + WAIT;
    let (hpa, deployment) = loop {
        let hpa = autoscalers
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .find(|h| owned(&h.metadata));
        let deployment = deployments
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .find(|d| owned(&d.metadata));
        if let (Some(hpa), Some(deployment)) = (hpa, deployment) {
            break (hpa, deployment);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no HPA and Deployment for the pool"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let worker = deployment.metadata.name.clone().unwrap();
    assert_eq!(hpa.spec.scale_target_ref.name, worker);
    let deployment = serde_json::to_value(&deployment).unwrap();
    for (subresource, _) in owned_by(&deployment, FIELD_MANAGER) {
        assert!(
            subresource.is_empty(),
            "the operator writes a subresource of its Deployment"
        );
    }
    let applies_replicas = deployment["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| {
            e["manager"] == FIELD_MANAGER && e["fieldsV1"]["f:spec"].get("f:replicas").is_some()
        });
    assert!(
        !applies_replicas,
        "the operator's apply owns spec.replicas of {worker}"
    );
    assert!(
        tracking_marks(&deployment).is_empty(),
        "{:?}",
        tracking_marks(&deployment)
    );

    // What the autoscaler does: scale the Deployment through its scale subresource. Then a
    // change to the pool makes the operator reconcile and apply the Deployment again.
    deployments
        .patch_scale(
            &worker,
            &PatchParams {
                field_manager: Some("horizontal-pod-autoscaler".into()),
                ..PatchParams::default()
            },
            &Patch::Merge(json!({"spec": {"replicas": 4}})),
        )
        .await
        .unwrap();
    let mut changed = pool.clone();
    changed["spec"]["maxInFlightPerReplica"] = json!(6);
    apply_as(&client, &ns.name, &changed, ARGOCD_MANAGER, false).await;
    wait_for(
        &pools,
        &name,
        "the change observed",
        WAIT,
        |p: Option<&AgentPool>| {
            p.is_some_and(|p| {
                p.status.as_ref().and_then(|s| s.observed_generation) == p.metadata.generation
            })
        },
    )
    .await
    .unwrap();
    // Give a second reconcile (after the Deployment event) its chance to undo the scale.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let replicas = deployments
        .get(&worker)
        .await
        .unwrap()
        .spec
        .unwrap()
        .replicas;
    assert_eq!(
        replicas,
        Some(4),
        "the operator reset the autoscaler's replicas"
    );

    controller.stop().await.unwrap();
    ns.delete().await.unwrap();
}

/// The health checks judge what the operator really reports: input it cannot act on until
/// someone changes something is Degraded, with the operator's own reason and message, and
/// fixing it makes the object Healthy.
#[tokio::test]
async fn health_checks_call_what_the_operator_reports_for_broken_input_degraded() {
    let client = shared_client().await.unwrap();
    install_crds(&client).await.unwrap();
    let ns = TestNamespace::create(&client, "argocd-health")
        .await
        .unwrap();
    let controllers = [
        InProcessController::start(&client, &ns.name, |context, ns, shutdown| async move {
            trading_strategy::run(context, Some(&ns), shutdown).await
        })
        .unwrap(),
        InProcessController::start(&client, &ns.name, |context, ns, shutdown| async move {
            broker_account::run(context, Some(&ns), shutdown).await
        })
        .unwrap(),
        InProcessController::start(&client, &ns.name, |context, ns, shutdown| async move {
            agent_pool::run(context, Some(&ns), shutdown).await
        })
        .unwrap(),
    ];
    let example = |path: &str| {
        let text = std::fs::read_to_string(repo_root().join(path)).unwrap();
        yaml_documents(&text).unwrap().remove(0)
    };
    // The LLM pool without its key Secret, the Alpaca account without its credentials, and a
    // strategy on an account that does not exist.
    let pool = example("examples/llm/agent-pool.yaml");
    let account = example("examples/ha/broker-account.yaml");
    let strategy = json!({
        "apiVersion": "tradeplane.io/v1alpha1", "kind": "TradingStrategy",
        "metadata": {"name": "orphan"},
        "spec": {"symbols": ["SPY"], "brokerAccountRef": {"name": "no-such-account"}},
    });
    let customizations = load(&customizations_root()).unwrap();
    let strategies: Api<TradingStrategy> = ns.api();
    let pools: Api<AgentPool> = ns.api();
    let accounts: Api<BrokerAccount> = ns.api();
    for manifest in [&pool, &account, &strategy] {
        apply_as(&client, &ns.name, manifest, ARGOCD_MANAGER, false).await;
    }
    let stalled = |status: Option<Value>| has_condition(status.as_ref(), "Stalled", "True");
    let pool_name = pool["metadata"]["name"].as_str().unwrap();
    let account_name = account["metadata"]["name"].as_str().unwrap();
    wait_for(
        &pools,
        pool_name,
        "Stalled",
        WAIT,
        |p: Option<&AgentPool>| stalled(p.and_then(|p| serde_json::to_value(&p.status).ok())),
    )
    .await
    .unwrap();
    wait_for(
        &accounts,
        account_name,
        "Stalled",
        WAIT,
        |a: Option<&BrokerAccount>| stalled(a.and_then(|a| serde_json::to_value(&a.status).ok())),
    )
    .await
    .unwrap();
    wait_for(
        &strategies,
        "orphan",
        "Stalled",
        WAIT,
        |t: Option<&TradingStrategy>| stalled(t.and_then(|t| serde_json::to_value(&t.status).ok())),
    )
    .await
    .unwrap();

    for (manifest, reason) in [
        (&pool, "SecretNotFound"),
        (&account, "SecretNotFound"),
        (&strategy, "BrokerAccountNotFound"),
    ] {
        let kind = manifest["kind"].as_str().unwrap();
        let object = live(&client, &ns.name, manifest).await.unwrap();
        let condition = object["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Stalled")
            .unwrap()
            .clone();
        assert_eq!(condition["reason"], reason, "{kind}");
        let health = lua::health(kind, &health_script(&customizations, kind), &object).unwrap();
        assert_eq!(health.status, "Degraded", "{kind}: {health:?}");
        assert_eq!(
            health.message,
            format!("{reason}: {}", condition["message"].as_str().unwrap()),
            "{kind}"
        );
    }

    // The key Secret arrives: the pool recovers, and its health follows.
    let secret = example("examples/llm/secret.yaml");
    apply_as(&client, &ns.name, &secret, ARGOCD_MANAGER, false).await;
    wait_for(&pools, pool_name, "Ready", WAIT, |p: Option<&AgentPool>| {
        has_condition(
            p.and_then(|p| serde_json::to_value(&p.status).ok())
                .as_ref(),
            "Ready",
            "True",
        )
    })
    .await
    .unwrap();
    let object = live(&client, &ns.name, &pool).await.unwrap();
    let health = lua::health(
        "AgentPool",
        &health_script(&customizations, "AgentPool"),
        &object,
    )
    .unwrap();
    assert_eq!(health.status, "Healthy", "{health:?}");

    for controller in controllers {
        controller.stop().await.unwrap();
    }
    ns.delete().await.unwrap();
}

/// Every object in the Lua fixtures is one the API server accepts (its spec, by a strict
/// dry-run apply), so the health checks and actions are tested on objects that can exist.
#[tokio::test]
async fn every_lua_fixture_is_an_object_the_api_server_accepts() {
    let client = shared_client().await.unwrap();
    install_crds(&client).await.unwrap();
    let ns = TestNamespace::create(&client, "argocd-fixtures")
        .await
        .unwrap();
    let mut checked = 0;
    let mut refused = Vec::new();
    for customization in load(&customizations_root()).unwrap() {
        for testdata in [
            customization.dir.join("testdata"),
            customization.dir.join("actions/testdata"),
        ] {
            let Ok(entries) = std::fs::read_dir(&testdata) else {
                continue;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                let text = std::fs::read_to_string(&path).unwrap();
                let mut object = yaml_documents(&text).unwrap().remove(0);
                // Fixtures stand for objects in a namespace of their own; what the API server
                // sets (generation) and status (a subresource) are not the user's to apply.
                let metadata = object["metadata"].as_object_mut().unwrap();
                metadata.remove("namespace");
                metadata.remove("generation");
                object.as_object_mut().unwrap().remove("status");
                match e2e::argocd::sync::apply_as(&client, &ns.name, &object, ARGOCD_MANAGER, true)
                    .await
                {
                    Ok(_) => checked += 1,
                    Err(e) => refused.push(format!("{}: {e:#}", path.display())),
                }
            }
        }
    }
    assert!(refused.is_empty(), "{refused:#?}");
    assert!(checked >= 40, "only {checked} fixtures checked");
    ns.delete().await.unwrap();
}

/// The generated `argocd-cm` merges into an existing one as the README says: a server-side
/// apply under a field manager of its own adds the customizations and leaves Argo CD's other
/// settings alone.
#[tokio::test]
async fn the_generated_argocd_cm_merges_into_argo_cds_own() {
    let client = shared_client().await.unwrap();
    let ns = TestNamespace::create(&client, "argocd-cm").await.unwrap();
    // Argo CD's own ConfigMap, as its installation (Helm, here) created it.
    let existing = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "argocd-cm", "labels": {"app.kubernetes.io/name": "argocd-cm", "app.kubernetes.io/part-of": "argocd"}},
        "data": {"url": "https://argocd.example.com", "application.instanceLabelKey": "app.kubernetes.io/instance"},
    });
    let config_maps: Api<k8s_openapi::api::core::v1::ConfigMap> = ns.api();
    config_maps
        .create(
            &kube::api::PostParams {
                field_manager: Some("helm".into()),
                ..Default::default()
            },
            &serde_json::from_value(existing).unwrap(),
        )
        .await
        .unwrap();
    let text = std::fs::read_to_string(e2e::argocd::argocd_cm_path()).unwrap();
    let ours = yaml_documents(&text).unwrap().remove(0);
    apply_as(&client, &ns.name, &ours, "tradeplane", false).await;

    let data = config_maps.get("argocd-cm").await.unwrap().data.unwrap();
    assert_eq!(data["url"], "https://argocd.example.com");
    assert!(data.contains_key("application.instanceLabelKey"));
    for (key, value) in ours["data"].as_object().unwrap() {
        assert_eq!(data.get(key).map(String::as_str), value.as_str(), "{key}");
    }
    assert_eq!(data.len(), 2 + ours["data"].as_object().unwrap().len());
    ns.delete().await.unwrap();
}
