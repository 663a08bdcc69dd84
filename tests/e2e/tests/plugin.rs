//! `kubectl tradeplane` against a real API server: the strategy lookups and their errors, and
//! the actions with the test playing the operator (it writes the status fields the operator
//! writes once it has handled a request). The journal screens against real runtimes are in
//! plugin_live.rs.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up: a failure should stop the test loudly

use std::time::Duration;

use e2e::{PrivateCluster, TestNamespace, install_crds};
use kube::api::{Patch, PatchParams, PostParams};
use kubectl_tradeplane::cli::ActionArgs;
use kubectl_tradeplane::cluster::Target;
use kubectl_tradeplane::{Error, actions, status};
use serde_json::json;
use tradeplane_operator::api::TradingStrategy;

async fn create_strategy(namespace: &TestNamespace, name: &str, replicas: i32) {
    let strategy: TradingStrategy = serde_json::from_value(json!({
        "apiVersion": "tradeplane.io/v1alpha1", "kind": "TradingStrategy",
        "metadata": {"name": name},
        "spec": {"symbols": ["AAPL"], "brokerAccountRef": {"name": "paper"},
                 "replicas": replicas,
                 "journal": if replicas > 1 {
                     json!({"backend": "Postgres", "postgres": {"urlSecretRef": {"name": "pg", "key": "url"}}})
                 } else {
                     json!({"backend": "Sqlite"})
                 }},
    }))
    .unwrap();
    namespace
        .api::<TradingStrategy>()
        .create(&PostParams::default(), &strategy)
        .await
        .unwrap();
}

/// Plays the operator for one strategy: whenever the spec changes, writes the status it
/// would (observedGeneration, phase, lastRestartAt, lastSwitchoverAt, leader).
fn play_operator(namespace: &TestNamespace, name: &str) -> tokio::task::JoinHandle<()> {
    let api = namespace.api::<TradingStrategy>();
    let name = name.to_string();
    tokio::spawn(async move {
        loop {
            if let Ok(strategy) = api.get(&name).await {
                let spec = &strategy.spec;
                let halted = spec.suspend == Some(true);
                let switched = spec.switchover_at.is_some();
                let status = json!({"status": {
                    "observedGeneration": strategy.metadata.generation,
                    "phase": if halted { "Halted" } else { "Trading" },
                    "leader": if switched { "pod-b" } else { "pod-a" },
                    "lastRestartAt": spec.restart_at,
                    "lastSwitchoverAt": spec.switchover_at,
                }});
                let _ = api
                    .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
                    .await;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    })
}

fn action(name: &str, timeout: u64) -> ActionArgs {
    ActionArgs {
        name: name.into(),
        timeout: Duration::from_secs(timeout),
    }
}

#[tokio::test]
async fn plugin_against_a_real_api_server() {
    let cluster = PrivateCluster::start("etcd,apiserver,controller-manager").unwrap();
    let client = cluster.client().await.unwrap();
    install_crds(&client).await.unwrap();
    let namespace = TestNamespace::create(&client, "plugin").await.unwrap();
    let target = Target::new(client.clone(), &namespace.name);
    create_strategy(&namespace, "alpha", 2).await;
    create_strategy(&namespace, "beta", 1).await;

    // An unknown name lists the strategies there are.
    let error = status::gather(&target, "gamma").await.err().unwrap();
    assert_eq!(
        error.to_string(),
        format!(
            "no strategy 'gamma' in namespace '{}'; strategies here: alpha, beta",
            namespace.name
        )
    );

    // Actions: success only once the status confirms; a timeout when nobody does.
    let mut out = Vec::new();
    let timeout = actions::run(
        &target,
        actions::Action::Restart,
        &action("beta", 2),
        &mut out,
    )
    .await
    .err()
    .unwrap();
    assert!(matches!(timeout, Error::Timeout { .. }), "{timeout}");
    let operator = play_operator(&namespace, "alpha");
    for (act, expected) in [
        (actions::Action::Suspend, "strategy 'alpha' suspended"),
        (
            actions::Action::Resume,
            "strategy 'alpha' resumed: phase Trading",
        ),
        (actions::Action::Restart, "strategy 'alpha' restarted"),
        (
            actions::Action::Switchover,
            "switched over: leader pod-a → pod-b",
        ),
    ] {
        let mut out = Vec::new();
        actions::run(&target, act, &action("alpha", 30), &mut out)
            .await
            .unwrap_or_else(|e| panic!("{act:?}: {e}"));
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains(expected), "{act:?}: {text}");
    }
    operator.abort();
    let alpha = namespace
        .api::<TradingStrategy>()
        .get("alpha")
        .await
        .unwrap();
    assert_eq!(alpha.spec.suspend, None, "resume removes spec.suspend");
    let status = alpha.status.unwrap();
    assert_eq!(status.last_restart_at, alpha.spec.restart_at);
    let refused = actions::run(
        &target,
        actions::Action::Switchover,
        &action("beta", 5),
        &mut Vec::new(),
    )
    .await
    .err()
    .unwrap();
    assert!(refused.to_string().contains("needs a standby"), "{refused}");

    // No Service yet: status still renders, and names the Service and port it tried.
    let view = status::gather(&target, "alpha").await.unwrap();
    let text = kubectl_tradeplane::render::status::render(
        &view,
        chrono::Utc::now(),
        kubectl_tradeplane::render::Style::PLAIN,
    );
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        text.contains(&format!(
            "not reachable through Service {}/alpha-metrics port 'http-metrics'",
            namespace.name
        )),
        "{text}"
    );

    namespace.delete().await.unwrap();
}
