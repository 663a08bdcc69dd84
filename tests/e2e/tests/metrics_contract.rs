//! The metrics contract against the real binaries: `docs/metrics.md` lists exactly what the
//! operator, a trader and a worker export (name, type, labels, which process), and every
//! metric a shipped dashboard or alert rule reads is one of them.
//!
//! One scrape serves every test here. It runs the operator process against the shared
//! control plane (watching a namespace of its own, with a BrokerAccount whose broker is down,
//! so reconcile errors are real), an AgentPool worker with a spend ledger ConfigMap, and a
//! trader that uses the worker, one LLM provider that answers (the OpenAI stand-in, with a
//! budget) and one that does not (so its seat falls back) — every path the table names.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up: a failure should stop the test loudly

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use e2e::http::free_port;
use e2e::metrics_table::{self, Family, Row};
use e2e::runtime_process::{RuntimeProcess, sample_sum};
use e2e::{OperatorProcess, TestNamespace, install_crds, shared_client};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use standins::openai::{OpenAiStandin, Reply};
use tokio::sync::OnceCell;
use tradeplane_operator::api::{BrokerAccount, TradingStrategy};
use tradeplane_operator::controllers::monitoring_files::render_manifest;

const WAIT: Duration = Duration::from_secs(60);

/// Series Prometheus itself adds to every target; rules may read them.
const PROMETHEUS_OWN: &[&str] = &["up"];

/// The `/metrics` text of each process, by what the table's "where" column calls it.
struct Exported(BTreeMap<&'static str, String>);

impl Exported {
    /// The `tradeplane_` families of one process.
    fn families(&self, process: &str) -> BTreeMap<String, Family> {
        metrics_table::families(&self.0[process])
            .into_iter()
            .filter(|(name, _)| name.starts_with("tradeplane_"))
            .collect()
    }

    /// Every family any process exports, and Prometheus's own.
    fn names(&self) -> BTreeSet<String> {
        let mut names: BTreeSet<String> = self
            .0
            .values()
            .flat_map(|text| metrics_table::families(text).into_keys())
            .collect();
        names.extend(PROMETHEUS_OWN.iter().map(|s| s.to_string()));
        names
    }
}

static EXPORTED: OnceCell<Exported> = OnceCell::const_new();

async fn exported() -> &'static Exported {
    EXPORTED.get_or_init(|| async { scrape().await }).await
}

fn trader_config(llm: &str, worker_port: u16) -> String {
    format!(
        "apiVersion: runtime.tradeplane.io/v1alpha1\n\
         identity: {{namespace: metrics, name: observed}}\n\
         symbols: [AAPL, MSFT]\n\
         schedule: {{intervalSeconds: 1}}\n\
         analysts:\n\
         - {{role: trend, kind: quant, method: trend}}\n\
         - {{role: news, kind: llm, providers: [local], model: m}}\n\
         - {{role: macro, kind: llm, providers: [down], model: m}}\n\
         providers:\n\
         - {{name: local, baseUrl: \"{llm}\", dailyBudgetUsd: 5, inputPricePerMillion: 1, outputPricePerMillion: 2}}\n\
         - {{name: down, baseUrl: \"http://127.0.0.1:{down}\", maxRetries: 0, timeoutSeconds: 1}}\n\
         agentPool: {{url: \"http://127.0.0.1:{worker_port}\", timeoutSeconds: 10}}\n\
         decision: {{minConfidence: 0.05}}\n\
         journal: {{backend: sqlite, path: \"{{dir}}/journal.db\"}}\n\
         server: {{listen: \"127.0.0.1:{{port}}\"}}\n",
        down = free_port().unwrap(),
    )
}

fn worker_config(llm: &str, namespace: &str) -> String {
    format!(
        "apiVersion: runtime.tradeplane.io/v1alpha1\n\
         identity: {{namespace: {namespace}, name: research}}\n\
         analysts:\n\
         - {{role: research, kind: llm, providers: [pool], model: m}}\n\
         - {{role: macro, kind: llm, providers: [down], model: m}}\n\
         providers:\n\
         - {{name: pool, baseUrl: \"{llm}\", dailyBudgetUsd: 5, inputPricePerMillion: 1}}\n\
         - {{name: down, baseUrl: \"http://127.0.0.1:{down}\", maxRetries: 0, timeoutSeconds: 1}}\n\
         spendLedger: {{configMap: research-ledger, refreshSeconds: 1, publishEveryUsd: 0.0001}}\n\
         server: {{listen: \"127.0.0.1:{{port}}\"}}\n",
        down = free_port().unwrap(),
    )
}

/// 2026-12-01T00:00:00Z, the backup the strategy's status records.
const BACKED_UP_AT: i64 = 1_796_083_200;

/// A strategy whose status records a backup (as the backup process writes it), and a
/// reconcile of it after that (status changes alone wake none).
async fn backed_up_strategy(namespace: &TestNamespace) {
    let accounts = namespace.api::<BrokerAccount>();
    let paper: BrokerAccount = serde_json::from_value(json!({
        "apiVersion": "tradeplane.io/v1alpha1", "kind": "BrokerAccount",
        "metadata": {"name": "paper"}, "spec": {"broker": "Paper"},
    }))
    .unwrap();
    accounts
        .create(&PostParams::default(), &paper)
        .await
        .unwrap();
    let strategies = namespace.api::<TradingStrategy>();
    let strategy: TradingStrategy = serde_json::from_value(json!({
        "apiVersion": "tradeplane.io/v1alpha1", "kind": "TradingStrategy",
        "metadata": {"name": "backed-up"},
        "spec": {"symbols": ["AAPL"], "brokerAccountRef": {"name": "paper"}},
    }))
    .unwrap();
    strategies
        .create(&PostParams::default(), &strategy)
        .await
        .unwrap();
    let at = k8s_openapi::jiff::Timestamp::from_second(BACKED_UP_AT).unwrap();
    let record = json!({"name": "backed-up-1", "completionTime": at.to_string()});
    strategies
        .patch_status(
            "backed-up",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"lastBackup": record}})),
        )
        .await
        .unwrap();
    let nudge = json!({"metadata": {"annotations": {"e2e.tradeplane.io/nudge": "1"}}});
    strategies
        .patch(
            "backed-up",
            &PatchParams::default(),
            &Patch::Merge(nudge.clone()),
        )
        .await
        .unwrap();
    // A Shadow strategy whose analysis the status shows; its account is missing, so each
    // reconcile is blocked and keeps that analysis as it stands.
    let shadowed: TradingStrategy = serde_json::from_value(json!({
        "apiVersion": "tradeplane.io/v1alpha1", "kind": "TradingStrategy",
        "metadata": {"name": "shadowed"},
        "spec": {"symbols": ["AAPL"], "brokerAccountRef": {"name": "missing"},
                 "rollout": {"strategy": "Shadow"}},
    }))
    .unwrap();
    strategies
        .create(&PostParams::default(), &shadowed)
        .await
        .unwrap();
    let rollout = json!({"shadowRevision": "r2", "verdict": "Running", "agreement": "0.75"});
    strategies
        .patch_status(
            "shadowed",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"rollout": rollout}})),
        )
        .await
        .unwrap();
    strategies
        .patch("shadowed", &PatchParams::default(), &Patch::Merge(nudge))
        .await
        .unwrap();
}

async fn scrape() -> Exported {
    let client = shared_client().await.unwrap();
    install_crds(&client).await.unwrap();
    let namespace = TestNamespace::create(&client, "metrics-contract")
        .await
        .unwrap();

    // The operator, with one account it cannot reach (a transient reconcile error).
    let operator = OperatorProcess::start(
        &e2e::cli::operator_binary().await.unwrap(),
        None,
        &namespace.name,
        "metrics-contract",
    )
    .unwrap();
    operator
        .wait_metric("tradeplane_operator_leader", WAIT, |v| v == 1.0)
        .await
        .unwrap();
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "keys"},
        "stringData": {"APCA_API_KEY_ID": "id", "APCA_API_SECRET_KEY": "secret"},
    }))
    .unwrap();
    namespace
        .api::<Secret>()
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let account: BrokerAccount = serde_json::from_value(json!({
        "apiVersion": "tradeplane.io/v1alpha1", "kind": "BrokerAccount",
        "metadata": {"name": "down"},
        "spec": {"broker": "Alpaca", "endpoint": format!("http://127.0.0.1:{}", free_port().unwrap()),
                 "credentialsSecretRef": {"name": "keys"}},
    }))
    .unwrap();
    namespace
        .api::<BrokerAccount>()
        .create(&PostParams::default(), &account)
        .await
        .unwrap();
    operator
        .wait_metric_where(
            "tradeplane_operator_reconcile_errors_total",
            "error=\"BrokerUnreachable\"",
            WAIT,
            |v| v >= 1.0,
        )
        .await
        .unwrap();
    backed_up_strategy(&namespace).await;
    operator
        .wait_metric(
            "tradeplane_operator_last_backup_timestamp_seconds",
            WAIT,
            |v| v == BACKED_UP_AT as f64,
        )
        .await
        .unwrap();
    operator
        .wait_metric("tradeplane_operator_shadow_agreement_ratio", WAIT, |v| {
            v == 0.75
        })
        .await
        .unwrap();

    // A worker with its pool's ledger, and a trader that asks it and two providers.
    let llm = OpenAiStandin::start().await.unwrap();
    for _ in 0..50 {
        llm.push(Reply::verdict("bullish", 0.7, "steady").usage(1_000, 100));
    }
    let ledger: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "research-ledger"}})).unwrap();
    namespace
        .api::<ConfigMap>()
        .create(&PostParams::default(), &ledger)
        .await
        .unwrap();
    let mut worker = RuntimeProcess::start(
        "worker",
        "metrics-worker",
        &worker_config(&llm.base_url(), &namespace.name),
        &[("POD_NAME", "research-agents-0")],
    )
    .await
    .unwrap();
    worker
        .wait_metrics("a worker serving metrics", WAIT, |t| {
            t.contains("tradeplane_worker_inflight_analyses")
        })
        .await
        .unwrap();
    let mut trader = RuntimeProcess::start(
        "trader",
        "metrics-trader",
        &trader_config(&llm.base_url(), worker.port),
        &[],
    )
    .await
    .unwrap();
    let trader_text = trader
        .wait_metrics("two completed cycles with a fallback", WAIT, |t| {
            sample_sum(t, "tradeplane_cycles_total", "outcome=\"ok\"") >= 2.0
                && sample_sum(t, "tradeplane_llm_fallbacks_total", "") >= 1.0
                && sample_sum(t, "tradeplane_llm_tokens_total", "") >= 1.0
        })
        .await
        .unwrap();
    let worker_text = worker
        .wait_metrics("served analyses and a ledger sync", WAIT, |t| {
            sample_sum(t, "tradeplane_worker_analyses_total", "outcome=\"ok\"") >= 1.0
                && sample_sum(t, "tradeplane_llm_ledger_requests_total", "") >= 1.0
                && sample_sum(t, "tradeplane_llm_fallbacks_total", "") >= 1.0
        })
        .await
        .unwrap();
    let operator_text = operator.metrics_text().await.unwrap();
    trader.stop().await;
    worker.stop().await;
    operator.kill_hard().await.unwrap();
    namespace.delete().await.unwrap();
    Exported(BTreeMap::from([
        ("operator", operator_text),
        ("trader", trader_text),
        ("worker", worker_text),
    ]))
}

#[tokio::test]
async fn the_metrics_table_lists_exactly_what_the_binaries_export() {
    let exported = exported().await;
    let rows = metrics_table::documented().unwrap();
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for row in &rows {
        if !seen.insert(row.name.as_str()) {
            problems.push(format!("{} is in the table twice", row.name));
        }
        check_row(exported, row, &mut problems);
    }
    for process in exported.0.keys() {
        for name in exported.families(process).keys() {
            match rows.iter().find(|r| &r.name == name) {
                None => problems.push(format!("{process} exports {name}, which the table lacks")),
                Some(row) if !row.exporters.contains(*process) => problems.push(format!(
                    "{process} exports {name}, but the table names only {:?}",
                    row.exporters
                )),
                Some(_) => {}
            }
        }
    }
    assert!(
        problems.is_empty(),
        "docs/metrics.md and the binaries disagree:\n{}",
        problems.join("\n")
    );
}

fn check_row(exported: &Exported, row: &Row, problems: &mut Vec<String>) {
    if row.exporters.is_empty() {
        problems.push(format!("{}: the table names no process", row.name));
    }
    for process in &row.exporters {
        if !exported.0.contains_key(process.as_str()) {
            problems.push(format!("{}: unknown process {process:?}", row.name));
            continue;
        }
        let families = exported.families(process);
        let Some(family) = families.get(&row.name) else {
            problems.push(format!("{process} does not export {}", row.name));
            continue;
        };
        if family.kind != row.kind {
            problems.push(format!(
                "{}: the table says {}, {process} exports a {}",
                row.name, row.kind, family.kind
            ));
        }
        if family.labels != row.labels {
            problems.push(format!(
                "{}: the table says labels {:?}, {process} sets {:?}",
                row.name, row.labels, family.labels
            ));
        }
    }
}

/// The PromQL of every panel and template variable of a Grafana dashboard.
fn dashboard_queries(dashboard: &Value) -> Vec<String> {
    fn walk(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(expr)) = map.get("expr") {
                    out.push(expr.clone());
                }
                for value in map.values() {
                    walk(value, out);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut queries = Vec::new();
    walk(&dashboard["panels"], &mut queries);
    for variable in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let query = match &variable["query"] {
            Value::String(q) => q.clone(),
            other => other["query"].as_str().unwrap_or_default().to_string(),
        };
        // label_values(METRIC, LABEL): the metric is PromQL, the label is not.
        if let Some(args) = query
            .strip_prefix("label_values(")
            .and_then(|a| a.strip_suffix(')'))
        {
            let metric = args.rsplit_once(',').map_or(args, |(m, _)| m);
            queries.push(metric.to_string());
        } else if variable["type"] == "query" {
            queries.push(query);
        }
    }
    queries
}

/// The shipped dashboards, by file name.
fn dashboards() -> Vec<(String, Value)> {
    let dir = e2e::repo_root().join("charts/tradeplane/dashboards");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).unwrap();
            let value: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()));
            found.push((
                path.file_name().unwrap().to_string_lossy().into_owned(),
                value,
            ));
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

/// The expressions of the chart's own alert rules, rendered by helm.
async fn chart_rules() -> Vec<(String, String)> {
    let objects = e2e::helm::render("metrics: {prometheusRule: {enabled: true}}\n")
        .await
        .unwrap()
        .unwrap();
    let mut rules = Vec::new();
    for rule_object in e2e::helm::of_kind(&objects, "PrometheusRule") {
        for group in rule_object["spec"]["groups"].as_array().unwrap() {
            for rule in group["rules"].as_array().unwrap() {
                let name = rule["alert"].as_str().or(rule["record"].as_str()).unwrap();
                rules.push((name.to_string(), rule["expr"].as_str().unwrap().to_string()));
            }
        }
    }
    rules
}

/// A strategy and a pool that ask for every alert the operator renders.
const ALERTING: &str = "\
apiVersion: tradeplane.io/v1alpha1
kind: TradingStrategy
metadata: {name: observed}
spec:
  symbols: [AAPL]
  brokerAccountRef: {name: paper}
  replicas: 2
  journal: {backend: Postgres, postgres: {urlSecretRef: {name: journal, key: url}}}
  schedule: {intervalSeconds: 60}
  llmDailyBudgetUSD: 10
  backup: {schedule: '0 * * * *', destination: {volume: {}}}
  alerting: {enabled: true}
---
apiVersion: tradeplane.io/v1alpha1
kind: AgentPool
metadata: {name: research}
spec:
  agents: [{role: news, providers: [openai], model: m}]
  providers: [{name: openai, kind: OpenAICompatible, baseURL: 'https://llm.example/v1', dailyBudgetUSD: 20}]
  alerting: {enabled: true}
";

/// The expressions of the rules the operator renders for [`ALERTING`], with the operator's
/// own renderer (what its PrometheusRules hold).
fn rendered_rules() -> Vec<(String, String)> {
    let mut rules = Vec::new();
    for file in render_manifest(ALERTING, "desk").unwrap() {
        let spec: Value = serde_yaml::from_str(&file.yaml).unwrap();
        for group in spec["groups"].as_array().unwrap() {
            for rule in group["rules"].as_array().unwrap() {
                let name = rule["alert"].as_str().or(rule["record"].as_str()).unwrap();
                let expr = rule["expr"].as_str().unwrap().to_string();
                rules.push((format!("{} rule {name}", file.name), expr));
            }
        }
    }
    rules
}

#[tokio::test]
async fn dashboards_and_rules_read_only_metrics_the_binaries_export() {
    let names = exported().await.names();
    let mut queries: Vec<(String, String)> = Vec::new();
    let dashboards = dashboards();
    assert!(
        dashboards.len() >= 2,
        "a strategy and an operator dashboard"
    );
    for (file, dashboard) in &dashboards {
        let found = dashboard_queries(dashboard);
        assert!(!found.is_empty(), "{file} has no queries");
        queries.extend(found.into_iter().map(|q| (file.clone(), q)));
    }
    let rules = chart_rules().await;
    assert!(rules.len() >= 3, "{rules:?}");
    queries.extend(
        rules
            .into_iter()
            .map(|(name, expr)| (format!("chart rule {name}"), expr)),
    );
    let rendered = rendered_rules();
    assert!(rendered.len() >= 10, "{rendered:?}");
    queries.extend(rendered);

    let mut unknown = Vec::new();
    for (origin, query) in &queries {
        let read = metrics_table::promql_metrics(query);
        assert!(!read.is_empty(), "{origin}: no metric in {query:?}");
        for name in read {
            if !names.contains(metrics_table::resolve(&name, &names)) {
                unknown.push(format!("{origin}: {name} in {query:?}"));
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "metrics no binary exports:\n{}",
        unknown.join("\n")
    );
}
