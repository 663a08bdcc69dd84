//! A strategy with two replicas on a real PostgreSQL journal and an Alpaca stand-in that
//! refuses a client order id it has seen, with runtime processes for its pods (see
//! [`crate::runtime_pods`]) and the TradingStrategy controller running in-process: what the
//! failover tests and the failover bench kill, stop and measure.
//!
//! The readings are the ones a failover is judged by: who holds the Lease, when the journal
//! shows the next cycle that was run, which client order ids the broker was sent more than
//! once, where the journal and the broker disagree, and which slots were run twice.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use agent_runtime::domain::OrderStatus;
use agent_runtime::journal::{CycleRecord, CycleStatus, Journal, OrderRecord};
use anyhow::{Context, bail};
use chrono::Utc;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::ListParams;
use serde_json::{Value, json};
use standins::alpaca::{AlpacaStandin, StandinBar};
use tradeplane_operator::controllers::trading_strategy;

use crate::postgres::Postgres;
use crate::runtime_pods::{RuntimePod, StrategyPods};
use crate::{InProcessController, TestNamespace, apply_strict, cli, install_crds};

/// The strategy's name; its Lease is `ha-leader`.
pub const STRATEGY: &str = "ha";
/// The symbols it trades: each cycle journals one decision for each.
pub const SYMBOLS: [&str; 2] = ["AAPL", "MSFT"];
/// The Lease duration the operator renders by default: a dead leader is taken over within it
/// and a retry period.
pub const LEASE: Duration = Duration::from_secs(4);

/// Where the strategy's bars come from.
#[derive(Clone, Copy, Debug)]
pub enum Feed {
    /// The runtime's built-in history, three bars a cycle, one cycle a second (about 150
    /// cycles in all, then it idles).
    Replay,
    /// The stand-in's market data API (rising daily bars), one cycle per slot of the live
    /// schedule: as many cycles as the run lasts.
    Live { interval_seconds: u32 },
}

impl Feed {
    fn spec(self) -> Value {
        match self {
            Self::Replay => json!({
                "schedule": {"intervalSeconds": 1},
                "marketData": {"source": "Replay", "replay": {"barsPerCycle": 3}},
            }),
            Self::Live { interval_seconds } => json!({
                "schedule": {"intervalSeconds": interval_seconds},
                "marketData": {"source": "Broker"},
            }),
        }
    }
}

pub struct FailoverRig {
    pub client: kube::Client,
    pub namespace: TestNamespace,
    controller: InProcessController,
    pub broker: AlpacaStandin,
    pub postgres: Postgres,
    pub pods: StrategyPods,
    /// The `agent-runtime` binary every pod runs.
    pub binary: PathBuf,
}

impl FailoverRig {
    /// A namespace `<prefix>-…` with the strategy, its account and its journal, and the
    /// controller reconciling them; no runtime runs yet ([`Self::start_pods`]).
    pub async fn start(
        client: &kube::Client,
        admin_kubeconfig: &Path,
        prefix: &str,
        feed: Feed,
    ) -> anyhow::Result<Self> {
        install_crds(client).await?;
        let namespace = TestNamespace::create(client, prefix).await?;
        let postgres = Postgres::start(prefix)?;
        let broker = AlpacaStandin::start("key-id", "secret-key").await?;
        for symbol in SYMBOLS {
            broker.set_price(symbol, 100.0);
            broker.set_bars(symbol, daily_bars(120, true));
        }
        let mut spec = json!({
            "symbols": SYMBOLS, "brokerAccountRef": {"name": "alpaca"}, "replicas": 2,
            "risk": {"positionSizePercent": 5}, "decision": {"minConfidence": 0.2},
            "journal": {"backend": "Postgres",
                        "postgres": {"urlSecretRef": {"name": "journal", "key": "url"}}},
        });
        if let (Some(spec), Value::Object(feed)) = (spec.as_object_mut(), feed.spec()) {
            spec.extend(feed);
        }
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
                   "metadata": {"name": STRATEGY}, "spec": spec}),
        ];
        let ns = namespace.name.clone();
        for manifest in &manifests {
            apply_strict(client, &ns, manifest)
                .await?
                .map_err(|warnings| {
                    anyhow::anyhow!("warnings applying {manifest}: {warnings:?}")
                })?;
        }
        let controller =
            InProcessController::start(client, &ns, |context, ns, shutdown| async move {
                trading_strategy::run(context, Some(&ns), shutdown).await
            })?;
        // A bench names the binary it wants; otherwise the one `cargo test --workspace` built.
        let binary = match std::env::var_os("TRADEPLANE_RUNTIME_BIN") {
            Some(path) => PathBuf::from(path),
            None => cli::runtime_binary().await?,
        };
        let pods = StrategyPods {
            root: std::env::temp_dir().join(format!("tp-failover-{ns}")),
            namespace: ns,
            strategy: STRATEGY.into(),
            admin_kubeconfig: admin_kubeconfig.to_path_buf(),
            binary: binary.clone(),
        };
        Ok(Self {
            client: client.clone(),
            namespace,
            controller,
            broker,
            postgres,
            pods,
            binary,
        })
    }

    /// The names of the two pods the Deployment made (kwok runs nothing in them).
    pub async fn pod_names(&self) -> anyhow::Result<Vec<String>> {
        let pods: Api<Pod> = self.namespace.api();
        let selector = format!("tradeplane.io/strategy={STRATEGY}");
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let listed = pods.list(&ListParams::default().labels(&selector)).await?;
            let names: Vec<String> = listed
                .items
                .iter()
                .filter_map(|p| p.metadata.name.clone())
                .collect();
            if names.len() == 2 {
                return Ok(names);
            }
            if Instant::now() > deadline {
                bail!("the Deployment made {names:?}, not two pods");
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// One runtime process for each pod.
    pub async fn start_pods(&self) -> anyhow::Result<Vec<RuntimePod>> {
        let mut started = Vec::new();
        for name in self.pod_names().await? {
            started.push(self.pods.start(&self.client, &name).await?);
        }
        Ok(started)
    }

    /// Starts the processes and waits until one leads and has run a cycle: the processes,
    /// the journal, and the leader's name.
    pub async fn start_trading(&self) -> anyhow::Result<(Vec<RuntimePod>, Journal, String)> {
        let pods = self.start_pods().await?;
        let journal = self.journal().await?;
        let (leader, _) = self.new_holder(None, Duration::from_secs(60)).await?;
        next_run(&journal, None, Duration::from_secs(60)).await?;
        Ok((pods, journal, leader))
    }

    /// Who holds the Lease now (`None`: nobody, or it was released).
    pub async fn holder(&self) -> Option<String> {
        let leases: Api<Lease> = self.namespace.api();
        let lease = leases.get(&format!("{STRATEGY}-leader")).await.ok()?;
        lease.spec?.holder_identity.filter(|h| !h.is_empty())
    }

    /// Waits until someone other than `not` holds the Lease; who, and how long it took.
    pub async fn new_holder(
        &self,
        not: Option<&str>,
        within: Duration,
    ) -> anyhow::Result<(String, Duration)> {
        let started = Instant::now();
        loop {
            if let Some(holder) = self.holder().await
                && Some(holder.as_str()) != not
            {
                return Ok((holder, started.elapsed()));
            }
            if started.elapsed() > within {
                bail!("no new leader within {within:?} (still {not:?})");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn journal(&self) -> anyhow::Result<Journal> {
        Ok(Journal::open_postgres(&self.postgres.url).await?)
    }

    /// Sets the stand-in's bars to a rising or a falling trend (live feed): the quant analyst
    /// buys on the one and sells what it holds on the other, so a flip makes the leader trade.
    pub fn set_trend(&self, rising: bool) {
        for symbol in SYMBOLS {
            self.broker.set_bars(symbol, daily_bars(120, rising));
        }
    }

    /// Every client order id the broker was sent, with how many times.
    pub fn sent(&self) -> BTreeMap<String, usize> {
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

    /// The client order ids the broker was sent more than once: a decision placed twice.
    pub fn sent_twice(&self) -> BTreeMap<String, usize> {
        self.sent().into_iter().filter(|(_, n)| *n > 1).collect()
    }

    /// The client order ids the journal or the broker knows and the other does not — leaving
    /// out the orders a leader journalled and died before sending, which the next leader
    /// found missing at the broker and closed ([`Self::never_sent`]).
    pub async fn disagreements(&self, journal: &Journal) -> anyhow::Result<Vec<String>> {
        let never_sent: BTreeSet<String> = self.never_sent(journal).await?.into_iter().collect();
        let journalled: BTreeMap<String, OrderRecord> = journal
            .orders()
            .await?
            .into_iter()
            .filter(|o| !never_sent.contains(&o.request.client_order_id))
            .map(|o| (o.request.client_order_id.clone(), o))
            .collect();
        let at_broker: BTreeSet<String> = self
            .broker
            .orders()
            .into_iter()
            .map(|o| o.client_order_id)
            .collect();
        let sent = self.sent();
        let times_sent = |id: &str| sent.get(id).copied().unwrap_or(0);
        // Each entry says which side lacks the order, and what the journal and the broker
        // saw of it: enough to tell a race from a rejection when a run fails.
        let mut found: Vec<String> = journalled
            .iter()
            .filter(|(id, _)| !at_broker.contains(*id))
            .map(|(id, o)| {
                format!(
                    "{id}: journalled {:?} ({}) for cycle {:?}, sent {} times, not at the broker",
                    o.status,
                    o.message.as_deref().unwrap_or("no message"),
                    o.cycle_id,
                    times_sent(id)
                )
            })
            .collect();
        found.extend(
            at_broker
                .iter()
                .filter(|id| !journalled.contains_key(*id))
                .map(|id| {
                    format!(
                        "{id}: at the broker, sent {} times, not journalled",
                        times_sent(id)
                    )
                }),
        );
        Ok(found)
    }

    /// The orders journalled as rejected without a broker order id that the broker indeed
    /// never received: intent written, process killed before the request went out.
    pub async fn never_sent(&self, journal: &Journal) -> anyhow::Result<Vec<String>> {
        let sent = self.sent();
        Ok(journal
            .orders()
            .await?
            .into_iter()
            .filter(|o| o.status == OrderStatus::Rejected && o.broker_order_id.is_none())
            .map(|o| o.request.client_order_id)
            .filter(|id| !sent.contains_key(id))
            .collect())
    }

    /// Stops the processes and the controller, removes the namespace.
    pub async fn teardown(self, pods: Vec<RuntimePod>) -> anyhow::Result<()> {
        drop(pods);
        self.controller.stop().await?;
        self.broker.stop().await;
        let _ = std::fs::remove_dir_all(&self.pods.root);
        self.namespace.delete().await
    }
}

/// The newest cycle some leader ran (started), missed slots aside.
pub async fn last_run(journal: &Journal) -> anyhow::Result<Option<CycleRecord>> {
    Ok(journal
        .cycles()
        .await?
        .into_iter()
        .rfind(|c| c.status != CycleStatus::Missed))
}

/// Waits until the journal shows a cycle run after the one with id `after`; how long it took.
pub async fn next_run(
    journal: &Journal,
    after: Option<&str>,
    within: Duration,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        let last = last_run(journal).await?;
        if last.as_ref().map(|c| c.cycle_id.as_str()) > after {
            return Ok(started.elapsed());
        }
        if started.elapsed() > within {
            bail!("no cycle was run after {after:?} within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The cycles journalled with more decisions than the strategy has symbols: slots two
/// leaders both ran (the cycles table keeps one row per slot, the decisions pile up).
pub async fn slots_run_twice(journal: &Journal) -> anyhow::Result<Vec<String>> {
    let mut twice = Vec::new();
    for cycle in journal.cycles().await? {
        if journal.decisions(&cycle.cycle_id).await?.len() > SYMBOLS.len() {
            twice.push(cycle.cycle_id);
        }
    }
    Ok(twice)
}

/// Orders a process sent to the broker (every outcome but "not sent: not the leader").
pub async fn placed(pod: &RuntimePod) -> f64 {
    pod.metric("tradeplane_orders_total", "").await
        - pod
            .metric("tradeplane_orders_total", "outcome=\"not_leader\"")
            .await
}

/// The process standing in for pod `name`.
pub fn by_name<'a>(pods: &'a mut [RuntimePod], name: &str) -> anyhow::Result<&'a mut RuntimePod> {
    pods.iter_mut()
        .find(|p| p.name == name)
        .with_context(|| format!("no process for pod {name}"))
}

/// Daily bars rising (or falling) by half a point a day, the newest from yesterday (so the
/// runtime's look-back from now takes them in).
pub fn daily_bars(days: u32, rising: bool) -> Vec<StandinBar> {
    let yesterday = Utc::now().date_naive() - chrono::Days::new(1);
    let step = if rising { -0.5 } else { 0.5 };
    (0..days)
        .filter_map(|age| {
            let day = yesterday.checked_sub_days(chrono::Days::new(u64::from(age)))?;
            let close = 130.0 + f64::from(age) * step;
            Some(StandinBar {
                time: day.and_hms_opt(5, 0, 0)?.and_utc(),
                open: close - 0.2,
                high: close + 0.6,
                low: close - 0.6,
                close,
                volume: 10_000.0,
            })
        })
        .rev()
        .collect()
}
