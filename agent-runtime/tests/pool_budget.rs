//! An AgentPool's `dailyBudgetUSD` holds for the whole pool: two worker replicas, run as
//! host processes in place of pods with a token of the ServiceAccount the operator renders
//! for them (so the Role is what is tested, not an admin's rights), share the spend ledger
//! ConfigMap and together stop within the documented overshoot bound; the pool's status
//! shows the day's spend per provider (the `kubectl get ap` Spend column) and raises
//! `BudgetExhausted`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up: fail loudly

mod journal_support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use agent_runtime::config::RuntimeConfig;
use agent_runtime::worker::{ANALYSES_PATH, AnalysisResponse};
use e2e::conditions::has_condition;
use e2e::fixtures::pool_controller;
use e2e::http::{free_port, wait_ready};
use e2e::wait_for;
use journal_support::TempDir;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{ConfigMap, Secret, ServiceAccount};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use kube::config::Kubeconfig;
use serde_json::json;
use standins::openai::{OpenAiStandin, Reply};
use tradeplane_operator::api::agent_pool::AgentPool;

const WAIT: Duration = Duration::from_secs(30);
const POOL: &str = "research";
const LEDGER: &str = "research-agents-llm-ledger";
/// $1 per million input tokens, 1,000 tokens a call: every call costs $0.001.
const CALL_USD: f64 = 0.001;
const BUDGET_USD: f64 = 0.02;
const REPLICAS: usize = 2;
/// Analyses each test client keeps in flight per replica (one LLM seat each).
const IN_FLIGHT: usize = 3;

struct Worker(Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A kubeconfig for the cluster in `KUBECONFIG` that authenticates with `token` only.
fn token_kubeconfig(token: &str, namespace: &str, path: &Path) {
    let admin = Kubeconfig::read().unwrap();
    let cluster = serde_json::to_value(&admin.clusters[0].cluster).unwrap();
    let config = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "local", "cluster": cluster}],
        "users": [{"name": "worker", "user": {"token": token}}],
        "contexts": [{"name": "worker", "context": {"cluster": "local", "user": "worker", "namespace": namespace}}],
        "current-context": "worker",
    });
    std::fs::write(path, serde_yaml::to_string(&config).unwrap()).unwrap();
}

/// Sends analyses to `base`, `IN_FLIGHT` at a time, until one comes back from the fallback
/// (the pool's budget is spent, as this replica sees it); returns how many were answered by
/// the model.
async fn analyse_until_refused(base: String, bars: Vec<agent_runtime::domain::Bar>) -> usize {
    let http = reqwest::Client::new();
    let mut answered = 0;
    for _round in 0..100 {
        let requests = (0..IN_FLIGHT).map(|_| {
            http.post(format!("{base}{ANALYSES_PATH}"))
                .json(&json!({"strategy": "desk/momo", "symbol": "AAPL", "bars": bars}))
                .send()
        });
        let mut refused = false;
        for response in futures::future::join_all(requests).await {
            let body: AnalysisResponse = response.unwrap().json().await.unwrap();
            if body.reports[0].source.starts_with("llm:") {
                answered += 1;
            } else {
                assert_eq!(body.reports[0].source, "fallback:hold".into(), "{body:?}");
                refused = true;
            }
        }
        if refused {
            return answered;
        }
    }
    panic!("{base} never stopped: {answered} answers");
}

#[tokio::test]
async fn two_replicas_stop_at_the_pool_budget_and_the_status_says_so() {
    let (ns, controller) = pool_controller("pool-budget").await.unwrap();
    let client = ns.client().clone();
    let llm = OpenAiStandin::start().await.unwrap();
    for _ in 0..200 {
        llm.push(Reply::verdict("bullish", 0.7, "steady").usage(1_000, 0));
    }
    let pools: Api<AgentPool> = ns.api();
    let pool = json!({
        "apiVersion": "tradeplane.io/v1alpha1", "kind": "AgentPool",
        "metadata": {"name": POOL},
        "spec": {
            "replicas": REPLICAS,
            "agents": [{"role": "news", "providers": ["local"], "model": "m", "fallback": "Hold"}],
            "providers": [{"name": "local", "kind": "OpenAICompatible", "baseURL": llm.base_url(),
                           "dailyBudgetUSD": BUDGET_USD, "inputPricePerMillionUSD": 1.0}],
        },
    });
    pools
        .patch(
            POOL,
            &PatchParams::apply("e2e-user").force(),
            &Patch::Apply(&pool),
        )
        .await
        .unwrap();

    // What the operator rendered: the ledger, the identity, the workers' config.
    let ledgers: Api<ConfigMap> = ns.api();
    wait_for(
        &ledgers,
        LEDGER,
        "the ledger",
        WAIT,
        |_: Option<&ConfigMap>| true,
    )
    .await
    .unwrap();
    // A replica of an earlier day, long gone: counts for nothing, and is pruned.
    ledgers
        .patch(
            LEDGER,
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"research-agents-old": r#"{"day":"2020-01-01","spentUsd":{"local":99}}"#}})),
        )
        .await
        .unwrap();
    let secrets: Api<Secret> = ns.api();
    let config = wait_for(
        &secrets,
        "research-agents-config",
        "the config",
        WAIT,
        |_: Option<&Secret>| true,
    )
    .await
    .unwrap();
    let yaml = config.data.unwrap()["config.yaml"].0.clone();
    let mut config: RuntimeConfig = serde_yaml::from_slice(&yaml).unwrap();
    let accounts: Api<ServiceAccount> = ns.api();
    wait_for(
        &accounts,
        LEDGER,
        "the workers' ServiceAccount",
        WAIT,
        |_: Option<&ServiceAccount>| true,
    )
    .await
    .unwrap();
    let token = accounts
        .create_token_request(
            LEDGER,
            &PostParams::default(),
            &TokenRequest {
                spec: Some(TokenRequestSpec {
                    expiration_seconds: Some(3600),
                    ..TokenRequestSpec::default()
                }),
                ..TokenRequest::default()
            },
        )
        .await
        .unwrap()
        .status
        .unwrap()
        .token
        .unwrap();

    let dir = TempDir::new("pool-budget");
    let kubeconfig = dir.0.join("worker.kubeconfig");
    token_kubeconfig(&token, &ns.name, &kubeconfig);
    let mut workers = Vec::new();
    let mut bases = Vec::new();
    for replica in 0..REPLICAS {
        let port = free_port().unwrap();
        config.server.listen = format!("127.0.0.1:{port}");
        let path = dir.0.join(format!("worker-{replica}.yaml"));
        std::fs::write(&path, serde_yaml::to_string(&config).unwrap()).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_agent-runtime"))
            .args(["worker", "--config", path.to_str().unwrap()])
            .env("POD_NAME", format!("research-agents-{replica}"))
            .env("KUBECONFIG", &kubeconfig)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.0.join(format!("w{replica}.out"))).unwrap())
            .stderr(std::fs::File::create(dir.0.join(format!("w{replica}.err"))).unwrap())
            .spawn()
            .unwrap();
        workers.push(Worker(child));
        bases.push(format!("http://127.0.0.1:{port}"));
    }
    for (replica, base) in bases.iter().enumerate() {
        let stderr = dir.0.join(format!("w{replica}.err"));
        wait_ready(&format!("{base}/readyz"), WAIT, || {
            std::fs::read_to_string(&stderr).unwrap_or_default()
        })
        .await
        .unwrap();
    }
    let bars = agent_runtime::market::synthetic::generate(
        &["AAPL".to_string()],
        agent_runtime::market::synthetic::default_start(),
        60,
    )["AAPL"]
        .clone();

    let answered = futures::future::join_all(
        bases
            .iter()
            .map(|base| analyse_until_refused(base.clone(), bars.clone())),
    )
    .await;

    // Every call the stand-in answered was billed: that is what the pool spent.
    let calls = llm.requests().len();
    assert_eq!(answered.iter().sum::<usize>(), calls, "{answered:?}");
    let spent = calls as f64 * CALL_USD;
    // The bound (agent-runtime/src/worker/ledger.rs): B + (R+1)·(X + K·C), X = B / (100·R).
    let publish_every = BUDGET_USD / (100.0 * REPLICAS as f64);
    let bound =
        BUDGET_USD + (REPLICAS as f64 + 1.0) * (publish_every + IN_FLIGHT as f64 * CALL_USD);
    println!(
        "pool spent ${spent:.3} of ${BUDGET_USD:.3} in {calls} calls ({answered:?} per replica); bound ${bound:.4}"
    );
    assert!(spent >= BUDGET_USD - 1e-9, "stopped early: ${spent}");
    assert!(spent <= bound + 1e-9, "${spent} is past the bound ${bound}");
    // Without the shared ledger each replica would have spent the whole budget.
    assert!(spent < REPLICAS as f64 * BUDGET_USD);

    // The status: spend per provider, the condition, the printed column.
    let pool = wait_for(
        &pools,
        POOL,
        "BudgetExhausted",
        WAIT,
        |p: Option<&AgentPool>| has_condition(p, "BudgetExhausted", "True", "DailyBudgetSpent"),
    )
    .await
    .unwrap();
    let status = pool.status.unwrap();
    let local = &status.provider_spend[0];
    assert_eq!(local.provider, "local");
    assert!(
        (local.spent_usd - spent).abs() < 1e-6,
        "{local:?} vs {spent}"
    );
    let table = printed_columns(&client, &ns.name).await;
    assert!(
        table.contains(&format!("local=${spent:.2}/${BUDGET_USD:.2}")),
        "{table}"
    );

    let data = ledgers.get(LEDGER).await.unwrap().data.unwrap_or_default();
    assert!(!data.contains_key("research-agents-old"), "{data:?}");
    assert_eq!(data.len(), REPLICAS, "{data:?}");

    // The Event, and the metrics every replica serves (pool-wide spend, nothing left).
    let events: Api<k8s_openapi::api::core::v1::Event> = ns.api();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let listed = events.list(&Default::default()).await.unwrap();
        let reasons: Vec<_> = listed.items.iter().map(|e| e.reason.clone()).collect();
        if reasons
            .iter()
            .any(|r| r.as_deref() == Some("DailyBudgetSpent"))
        {
            break;
        }
        // The Event follows the status write that raised the condition.
        assert!(tokio::time::Instant::now() < deadline, "{reasons:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for base in &bases {
        let text = reqwest::get(format!("{base}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            text.contains(r#"tradeplane_llm_budget_remaining_usd{provider="local"} 0"#),
            "{text}"
        );
        assert!(text.contains(r#"tradeplane_llm_spent_today_usd{provider="local"}"#));
        assert!(
            text.contains(r#"tradeplane_llm_ledger_requests_total{outcome="ok",verb="patch"}"#)
        );
    }

    // The workers' token reaches the ledger and nothing else.
    let worker_client = {
        let file = Kubeconfig::read_from(&kubeconfig).unwrap();
        let config = kube::Config::from_custom_kubeconfig(file, &Default::default())
            .await
            .unwrap();
        kube::Client::try_from(config).unwrap()
    };
    let as_worker: Api<ConfigMap> = Api::namespaced(worker_client.clone(), &ns.name);
    assert!(as_worker.get(LEDGER).await.is_ok());
    let forbidden = |result: Result<_, kube::Error>| matches!(result, Err(kube::Error::Api(status)) if status.code == 403);
    assert!(forbidden(
        as_worker.list(&Default::default()).await.map(|_| ())
    ));
    assert!(forbidden(
        as_worker.get("kube-root-ca.crt").await.map(|_| ())
    ));
    let as_worker_secrets: Api<Secret> = Api::namespaced(worker_client, &ns.name);
    assert!(forbidden(
        as_worker_secrets
            .get("research-agents-config")
            .await
            .map(|_| ())
    ));

    drop(workers);
    controller.stop().await.unwrap();
    ns.delete().await.unwrap();
}

/// The AgentPool list as `kubectl get ap` prints it (the server's Table, printer columns).
async fn printed_columns(client: &kube::Client, namespace: &str) -> String {
    let request = axum::http::Request::get(format!(
        "/apis/tradeplane.io/v1alpha1/namespaces/{namespace}/agentpools"
    ))
    .header("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
    .body(Vec::new())
    .unwrap();
    let table: serde_json::Value = client.request(request).await.unwrap();
    let names: Vec<String> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap_or_default().to_string())
        .collect();
    let cells = &table["rows"][0]["cells"];
    assert!(names.contains(&"Spend".to_string()), "{names:?}");
    format!("{names:?} {cells}")
}
