//! Failover of a two-replica strategy, with runtime processes standing in for its pods (see
//! `e2e::runtime_pods`): each runs the config the operator rendered, with a token for the
//! strategy's own ServiceAccount, against a real PostgreSQL journal and an Alpaca stand-in that
//! refuses a client order id it has seen.
//!
//! - SIGKILL of the leader at random moments, ten times: the standby takes the Lease and trades within a
//!   lease duration and a second or two; over the run the broker never receives a client order
//!   id twice, and the journal and the broker agree order by order.
//! - SIGTERM of the leader: the standby leads within 1.5 s.
//! - SIGSTOP of the leader past its lease: the standby takes over; after SIGCONT the old
//!   leader places nothing and stands by.
//! - The leader's part of the status (last cycle, equity, P&L) fills in.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up: a failure should stop the test loudly

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::Command as StdCommand;
use std::time::{Duration, Instant};

use agent_runtime::journal::Journal;
use e2e::runtime_pods::{RuntimePod, StrategyPods};
use e2e::{InProcessController, TestNamespace, apply_strict, cli, install_crds, shared_client};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{DynamicObject, ListParams};
use rand::Rng;
use serde_json::json;
use standins::alpaca::AlpacaStandin;
use tradeplane_operator::controllers::trading_strategy;

const STRATEGY: &str = "ha";
/// The defaults the operator renders: a dead leader is taken over within these plus a poll.
const LEASE: Duration = Duration::from_secs(4);
/// Kills of the leader in one run.
const KILLS: usize = 10;

/// A private PostgreSQL (tests/postgres), stopped on drop.
struct Postgres {
    dir: PathBuf,
    url: String,
}

impl Postgres {
    fn start(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("tp-{test}-pg-{}", std::process::id()));
        let scripts = e2e::repo_root().join("tests/postgres");
        let status = StdCommand::new("bash")
            .arg(scripts.join("up.sh"))
            .arg(&dir)
            .status()
            .unwrap();
        assert!(status.success(), "tests/postgres/up.sh failed");
        let url = std::fs::read_to_string(dir.join("url"))
            .unwrap()
            .trim()
            .to_string();
        Self { dir, url }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let scripts = e2e::repo_root().join("tests/postgres");
        let _ = StdCommand::new("bash")
            .arg(scripts.join("down.sh"))
            .arg(&self.dir)
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct Setup {
    client: kube::Client,
    namespace: TestNamespace,
    controller: InProcessController,
    broker: AlpacaStandin,
    postgres: Postgres,
    pods: StrategyPods,
    binary: PathBuf,
}

async fn setup(prefix: &str) -> Setup {
    let client = shared_client().await.unwrap();
    install_crds(&client).await.unwrap();
    let namespace = TestNamespace::create(&client, prefix).await.unwrap();
    let postgres = Postgres::start(prefix);
    let broker = AlpacaStandin::start("key-id", "secret-key").await.unwrap();
    for symbol in ["AAPL", "MSFT"] {
        broker.set_price(symbol, 100.0);
    }
    let ns = namespace.name.clone();
    let manifests = [
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "alpaca"},
               "stringData": {"APCA_API_KEY_ID": "key-id", "APCA_API_SECRET_KEY": "secret-key"}}),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "journal"},
               "stringData": {"url": postgres.url}}),
        json!({"apiVersion": "tradeplane.io/v1alpha1", "kind": "BrokerAccount",
               "metadata": {"name": "alpaca"},
               "spec": {"broker": "Alpaca", "environment": "Paper", "endpoint": broker.base_url(),
                        "credentialsSecretRef": {"name": "alpaca"}}}),
        json!({"apiVersion": "tradeplane.io/v1alpha1", "kind": "TradingStrategy",
               "metadata": {"name": STRATEGY},
               "spec": {"symbols": ["AAPL", "MSFT"], "brokerAccountRef": {"name": "alpaca"},
                        "replicas": 2, "schedule": {"intervalSeconds": 1},
                        "risk": {"positionSizePercent": 5},
                        "decision": {"minConfidence": 0.2},
                        "marketData": {"source": "Replay", "replay": {"barsPerCycle": 3}},
                        "journal": {"backend": "Postgres",
                                    "postgres": {"urlSecretRef": {"name": "journal", "key": "url"}}}}}),
    ];
    for manifest in &manifests {
        apply_strict(&client, &ns, manifest).await.unwrap().unwrap();
    }
    let controller = InProcessController::start(&client, &ns, |context, ns, shutdown| async move {
        trading_strategy::run(context, Some(&ns), shutdown).await
    })
    .unwrap();
    let binary = cli::runtime_binary().await.unwrap();
    let root = std::env::temp_dir().join(format!("tp-failover-{ns}"));
    let pods = StrategyPods {
        namespace: ns,
        strategy: STRATEGY.into(),
        admin_kubeconfig: PathBuf::from(std::env::var("KUBECONFIG").unwrap()),
        binary: binary.clone(),
        root,
    };
    Setup {
        client,
        namespace,
        controller,
        broker,
        postgres,
        pods,
        binary,
    }
}

impl Setup {
    /// The pods the Deployment made (kwok runs nothing in them), one process each.
    async fn start_pods(&self) -> Vec<RuntimePod> {
        let pods: Api<Pod> = self.namespace.api();
        let selector = format!("tradeplane.io/strategy={STRATEGY}");
        let deadline = Instant::now() + Duration::from_secs(120);
        let names = loop {
            let listed = pods
                .list(&ListParams::default().labels(&selector))
                .await
                .unwrap();
            let names: Vec<String> = listed
                .items
                .iter()
                .filter_map(|p| p.metadata.name.clone())
                .collect();
            if names.len() == 2 {
                break names;
            }
            assert!(Instant::now() < deadline, "the Deployment made {names:?}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        let mut started = Vec::new();
        for name in names {
            started.push(self.pods.start(&self.client, &name).await.unwrap());
        }
        started
    }

    async fn holder(&self) -> Option<String> {
        let leases: Api<Lease> = self.namespace.api();
        let lease = leases.get(&format!("{STRATEGY}-leader")).await.ok()?;
        lease.spec?.holder_identity.filter(|h| !h.is_empty())
    }

    /// Waits until someone other than `not` holds the Lease; who, and how long it took.
    async fn new_holder(&self, not: Option<&str>, within: Duration) -> (String, Duration) {
        let started = Instant::now();
        loop {
            if let Some(holder) = self.holder().await
                && Some(holder.as_str()) != not
            {
                return (holder, started.elapsed());
            }
            assert!(
                started.elapsed() < within,
                "no new leader within {within:?} (still {not:?})"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn journal(&self) -> Journal {
        Journal::open_postgres(&self.postgres.url).await.unwrap()
    }

    /// The journal's newest cycle id.
    async fn last_cycle(&self, journal: &Journal) -> Option<String> {
        journal
            .cycles()
            .await
            .unwrap()
            .last()
            .map(|c| c.cycle_id.clone())
    }

    /// Waits until the journal has a cycle newer than `after`.
    async fn next_cycle(&self, journal: &Journal, after: Option<&str>, within: Duration) {
        let started = Instant::now();
        while self.last_cycle(journal).await.as_deref() <= after {
            assert!(
                started.elapsed() < within,
                "no cycle after {after:?} within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every client order id the broker was sent, with how many times.
    fn sent(&self) -> BTreeMap<String, usize> {
        let mut sent = BTreeMap::new();
        for request in self.broker.requests() {
            if request.method == "POST"
                && let Some(id) = request.client_order_id
            {
                *sent.entry(id).or_insert(0) += 1;
            }
        }
        sent
    }

    /// Checks the money invariants over the whole run.
    async fn check_orders(&self, journal: &Journal) {
        let sent = self.sent();
        let twice: Vec<_> = sent.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "sent more than once: {twice:?}");
        let orders = journal.orders().await.unwrap();
        let journalled: BTreeMap<String, ()> = orders
            .iter()
            .map(|o| (o.request.client_order_id.clone(), ()))
            .collect();
        let broker: BTreeMap<String, ()> = self
            .broker
            .orders()
            .iter()
            .map(|o| (o.client_order_id.clone(), ()))
            .collect();
        assert_eq!(
            journalled.keys().collect::<Vec<_>>(),
            broker.keys().collect::<Vec<_>>(),
            "the journal and the broker disagree"
        );
        // Each cycle id once, in order: no bar was replayed twice by two leaders.
        let cycles = journal.cycles().await.unwrap();
        let mut seen = HashMap::new();
        for cycle in &cycles {
            *seen.entry(cycle.cycle_id.clone()).or_insert(0) += 1;
        }
        assert!(seen.values().all(|n| *n == 1));
    }

    async fn teardown(self, pods: Vec<RuntimePod>) {
        drop(pods);
        self.controller.stop().await.unwrap();
        self.broker.stop().await;
        let _ = std::fs::remove_dir_all(&self.pods.root);
        self.namespace.delete().await.unwrap();
    }
}

/// Orders a process sent to the broker (every outcome but "not sent: not the leader").
async fn placed(pod: &RuntimePod) -> f64 {
    pod.metric("tradeplane_orders_total", "").await
        - pod
            .metric("tradeplane_orders_total", "outcome=\"not_leader\"")
            .await
}

fn by_name<'a>(pods: &'a mut [RuntimePod], name: &str) -> &'a mut RuntimePod {
    pods.iter_mut().find(|p| p.name == name).unwrap()
}

#[tokio::test]
async fn a_killed_leader_is_replaced_within_the_lease_and_no_order_is_placed_twice() {
    let setup = setup("failover-kill").await;
    let mut pods = setup.start_pods().await;
    let journal = setup.journal().await;
    let (mut leader, _) = setup.new_holder(None, Duration::from_secs(30)).await;
    setup
        .next_cycle(&journal, None, Duration::from_secs(30))
        .await;
    let mut takeovers = Vec::new();
    for _ in 0..KILLS {
        let wait = rand::rng().random_range(500..2500);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        let before = setup.last_cycle(&journal).await;
        by_name(&mut pods, &leader).signal("KILL").unwrap();
        let killed_at = Instant::now();
        let (next, _) = setup
            .new_holder(Some(&leader), LEASE + Duration::from_secs(3))
            .await;
        setup
            .next_cycle(&journal, before.as_deref(), Duration::from_secs(5))
            .await;
        let trading = killed_at.elapsed();
        takeovers.push(trading);
        assert!(
            trading <= LEASE + Duration::from_secs(2),
            "the standby traded {trading:?} after the kill"
        );
        // The kubelet restarts the killed container in the same pod.
        let killed = by_name(&mut pods, &leader);
        let _ = killed.wait().await;
        killed.restart(&setup.binary).unwrap();
        leader = next;
    }
    println!("takeover (kill → new leader's first cycle): {takeovers:?}");
    setup.check_orders(&journal).await;
    assert!(
        !journal.orders().await.unwrap().is_empty(),
        "no order was placed at all: the invariants above were not exercised"
    );
    // Both replicas are ready: the leader, and the restarted one as a hot standby.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for pod in &pods {
        assert_eq!(
            pod.readyz().await,
            200,
            "{} is not ready:\n{}",
            pod.name,
            pod.log()
        );
    }

    // A switchover: the leader hands over to the ready standby, which keeps the Lease (the
    // request it was elected by is done, so it does not hand straight back).
    let strategies_typed: Api<tradeplane_operator::api::TradingStrategy> = setup.namespace.api();
    strategies_typed
        .patch(
            STRATEGY,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"spec": {"switchoverAt": "2026-12-01T12:00:00Z"}})),
        )
        .await
        .unwrap();
    let (after_switchover, took) = setup
        .new_holder(Some(&leader), Duration::from_secs(10))
        .await;
    println!("switchover moved the Lease from {leader} to {after_switchover} in {took:?}");
    tokio::time::sleep(LEASE + Duration::from_secs(2)).await;
    assert_eq!(
        setup.holder().await.as_deref(),
        Some(after_switchover.as_str()),
        "the Lease moved again after the switchover"
    );

    // The leader's part of the status is there, written under the runtime's own manager.
    let strategies: Api<DynamicObject> = Api::namespaced_with(
        setup.client.clone(),
        &setup.namespace.name,
        &agent_runtime::status_report::strategy_resource(),
    );
    let strategy = strategies.get(STRATEGY).await.unwrap();
    let status = &strategy.data["status"];
    let logs: Vec<String> = pods.iter().map(RuntimePod::log).collect();
    assert!(
        status["lastCycleTime"].is_string(),
        "{status}\n{}",
        logs.join("\n")
    );
    assert!(status["equity"].is_string(), "{status}");
    assert!(status["profitAndLoss"].is_string(), "{status}");
    setup.teardown(pods).await;
}

#[tokio::test]
async fn a_terminated_leader_hands_over_at_once_and_a_frozen_one_places_nothing() {
    let setup = setup("failover-term").await;
    let mut pods = setup.start_pods().await;
    let journal = setup.journal().await;
    let (leader, _) = setup.new_holder(None, Duration::from_secs(30)).await;
    setup
        .next_cycle(&journal, None, Duration::from_secs(30))
        .await;

    // SIGTERM: the leader finishes its cycle, releases the Lease, and the standby takes it.
    by_name(&mut pods, &leader).signal("TERM").unwrap();
    let (standby, handover) = setup
        .new_holder(Some(&leader), Duration::from_secs(10))
        .await;
    println!("graceful handover took {handover:?}");
    assert!(handover <= Duration::from_millis(1500), "{handover:?}");
    let code = by_name(&mut pods, &leader).wait().await.unwrap();
    assert_eq!(code, Some(0), "{}", by_name(&mut pods, &leader).log());
    by_name(&mut pods, &leader).restart(&setup.binary).unwrap();

    // SIGSTOP past the lease: the other takes over; the frozen one wakes up and trades nothing.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let placed_before = placed(by_name(&mut pods, &standby)).await;
    by_name(&mut pods, &standby).signal("STOP").unwrap();
    setup
        .new_holder(Some(&standby), LEASE + Duration::from_secs(5))
        .await;
    by_name(&mut pods, &standby).signal("CONT").unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let woken = by_name(&mut pods, &standby);
    assert_eq!(
        placed(woken).await,
        placed_before,
        "the woken old leader placed orders:\n{}",
        woken.log()
    );
    assert_eq!(
        woken.metric("tradeplane_role", "role=\"standby\"").await,
        1.0,
        "the woken old leader did not stand by"
    );
    setup.check_orders(&journal).await;
    setup.teardown(pods).await;
}
