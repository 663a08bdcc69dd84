//! `kubectl tradeplane status`, `journal` and `explain` against real runtime processes,
//! through the API server's service proxy — the path a user's kubectl takes.
//!
//! The strategy is the failover rig's: two replicas on a real PostgreSQL journal, the
//! TradingStrategy controller in-process, kwok's pods, and one `agent-runtime trader` per pod
//! listening on the IP kwok gave that pod (see `StrategyPods::start_on_pod_ip`). The
//! controller-manager fills the Service's Endpoints from those pods, so the service proxy
//! reaches the runtimes exactly as it reaches real pods; whichever replica it picks — the leader
//! or the standby reading the shared journal — answers. Every figure the plugin prints is
//! checked against the journal itself.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up: a failure should stop the test loudly

use std::path::PathBuf;
use std::time::{Duration, Instant};

use agent_runtime::domain::OrderStatus;
use agent_runtime::journal::{Journal, enum_name};
use e2e::failover_rig::{FailoverRig, Feed, STRATEGY};
use e2e::shared_client;
use kubectl_tradeplane::cli::{ExplainArgs, JournalArgs, OutputFormat};
use kubectl_tradeplane::cluster::Target;
use kubectl_tradeplane::render::status::RuntimeSection;
use kubectl_tradeplane::render::{self, Style};
use kubectl_tradeplane::{explain, journal, status};

#[tokio::test]
async fn status_journal_and_explain_show_what_the_runtimes_journalled() {
    let client = shared_client().await.unwrap();
    let admin = PathBuf::from(std::env::var("KUBECONFIG").unwrap());
    let rig = FailoverRig::start(&client, &admin, "plugin-live", Feed::Replay)
        .await
        .unwrap();
    let mut pods = Vec::new();
    eprintln!("waiting for the Deployment's pods");
    for name in rig.pod_names().await.unwrap() {
        eprintln!("starting the runtime of {name} on its pod IP");
        pods.push(rig.pods.start_on_pod_ip(&client, &name).await.unwrap());
    }
    let journal = rig.journal().await.unwrap();
    let (leader, _) = rig.new_holder(None, Duration::from_secs(60)).await.unwrap();
    eprintln!("{leader} leads; waiting for filled orders");
    let filled = wait_for_filled_orders(&journal, 2).await;
    let target = Target::new(client.clone(), &rig.namespace.name);

    // status: the leader from the Lease, both replicas, and the journal's own figures.
    let view = status::gather(&target, STRATEGY).await.unwrap();
    let text = render::status::render(&view, chrono::Utc::now(), Style::PLAIN);
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains(&format!("Leader {leader}")),
        "leader {leader}:\n{text}"
    );
    for pod in &pods {
        assert!(text.contains(&pod.name), "replica {}:\n{text}", pod.name);
    }
    let runtime = match &view.runtime {
        RuntimeSection::Answered(runtime) => runtime,
        RuntimeSection::Unavailable(why) => panic!("the journal API did not answer: {why}"),
    };
    let positions = journal.positions().await.unwrap();
    for position in positions.iter().filter(|p| p.quantity != 0.0) {
        let shown = format!("{} {}", position.symbol, position.quantity);
        assert!(flat.contains(&shown), "position {shown}:\n{text}");
    }
    assert!(
        !runtime.summary.positions.is_empty(),
        "the summary has no positions, the journal has {positions:?}"
    );
    let latest = journal.cycles().await.unwrap();
    assert!(!latest.is_empty());

    // journal: every filled order the journal has so far, as a line and in `-o json`.
    let listed = run_journal(&target, None).await;
    let as_json = run_journal(&target, Some(OutputFormat::Json)).await;
    let entries: serde_json::Value = serde_json::from_str(&as_json).unwrap();
    let listed_ids: Vec<&str> = entries
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "order")
        .filter_map(|e| e["item"]["clientOrderId"].as_str())
        .collect();
    for order in &filled {
        assert!(
            listed_ids.contains(&order.request.client_order_id.as_str()),
            "order {} not in -o json: {listed_ids:?}",
            order.request.client_order_id
        );
        let line = format!(
            "order {} {} {}",
            order.request.symbol,
            enum_name(&order.request.side),
            order.request.quantity
        );
        let flat: Vec<String> = listed
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        assert!(
            flat.iter().any(|l| l.contains(&line)),
            "no line with {line:?}:\n{listed}"
        );
    }

    // explain: the cycle of the first filled order, in full.
    let order = &filled[0];
    let cycle = order
        .cycle_id
        .clone()
        .expect("a decided order names its cycle");
    let mut out = Vec::new();
    explain::run(
        &target,
        &ExplainArgs {
            name: STRATEGY.into(),
            cycle: cycle.clone(),
            output: None,
        },
        &mut out,
    )
    .await
    .unwrap();
    let explained = String::from_utf8(out).unwrap();
    let decisions = journal.decisions(&cycle).await.unwrap();
    let decision = decisions
        .iter()
        .find(|d| d.decision.symbol == order.request.symbol)
        .expect("the order's decision is journalled");
    // The order's line fits 80 columns, so its client order id may end in "…".
    let id_start: String = order.request.client_order_id.chars().take(24).collect();
    for expected in [
        cycle.as_str(),
        id_start.as_str(),
        order.request.symbol.as_str(),
    ] {
        assert!(explained.contains(expected), "{expected}:\n{explained}");
    }
    let words = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    let explained_words = words(&explained);
    for report in &decision.decision.reports {
        assert!(
            explained_words.contains(&*report.role)
                && explained_words.contains(&words(&report.rationale)),
            "report of {}:\n{explained}",
            report.role
        );
    }
    let unknown = explain::run(
        &target,
        &ExplainArgs {
            name: STRATEGY.into(),
            cycle: "nope".into(),
            output: None,
        },
        &mut Vec::new(),
    )
    .await
    .err()
    .unwrap();
    assert!(unknown.to_string().contains("no cycle 'nope'"), "{unknown}");
    println!("{text}\n{explained}");
    rig.teardown(pods).await.unwrap();
}

async fn run_journal(target: &Target, output: Option<OutputFormat>) -> String {
    let args = JournalArgs {
        name: STRATEGY.into(),
        since: None,
        symbol: None,
        kind: None,
        follow: false,
        limit: 1000,
        output,
    };
    let mut out = Vec::new();
    journal::run(target, &args, &mut out).await.unwrap();
    String::from_utf8(out).unwrap()
}

/// The first `at_least` filled orders, once the leader has journalled them.
async fn wait_for_filled_orders(
    journal: &Journal,
    at_least: usize,
) -> Vec<agent_runtime::journal::OrderRecord> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let filled: Vec<_> = journal
            .orders()
            .await
            .unwrap()
            .into_iter()
            .filter(|o| o.status == OrderStatus::Filled)
            .collect();
        if filled.len() >= at_least {
            return filled;
        }
        assert!(
            Instant::now() < deadline,
            "only {} filled orders after 2 minutes",
            filled.len()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
